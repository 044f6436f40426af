/**
 * Whether dist/ matches its inputs: dist/.built (written by npm run build) is
 * newer than every file in src/ and the files that configure the compiler.
 * The build skips itself when it is; the tests run dist/ only when it is.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(path: string): number {
  if (!statSync(path).isDirectory()) return statSync(path).mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

export function distIsFresh(root: string): boolean {
  const stamp = join(root, 'dist/.built');
  if (!existsSync(stamp)) return false;
  const inputs = ['src', 'package.json', 'tsconfig.json', 'tsconfig.build.json'].map((f) => join(root, f));
  return statSync(stamp).mtimeMs >= Math.max(...inputs.map(newest));
}
