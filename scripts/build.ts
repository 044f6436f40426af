/**
 * npm run build: src/ compiled into dist/, with the console's assets.
 *
 * A running edgecd, or a test, may be loading dist/ while it is rebuilt. So
 * the compiler writes into a scratch folder, and only files whose bytes
 * changed are moved into dist/, each by a rename: a reader sees a whole old
 * file or a whole new one, never half of one, and a rebuild of unchanged
 * sources changes nothing. dist/.built records when it last matched src/;
 * while it is newer than every input, the build does nothing.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distIsFresh } from './dist-fresh.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const SCRATCH = join(ROOT, `dist.${process.pid}.tmp`);

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

if (distIsFresh(ROOT)) {
  // Nothing changed since the last build: the compiler would only remake the same files.
  process.exit(0);
}

try {
  execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', SCRATCH], { stdio: 'inherit' });
  cpSync(join(ROOT, 'src/http/console/assets'), join(SCRATCH, 'http/console/assets'), { recursive: true });
  const built = new Set(files(SCRATCH));
  for (const file of built) {
    const from = join(SCRATCH, file);
    const to = join(DIST, file);
    if (existsSync(to) && readFileSync(to).equals(readFileSync(from))) continue;
    mkdirSync(dirname(to), { recursive: true });
    renameSync(from, to);
  }
  for (const file of files(DIST)) if (!built.has(file) && file !== '.built') rmSync(join(DIST, file));
  for (const dir of readdirSync(DIST, { withFileTypes: true, recursive: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(e.parentPath, e.name))
    .reverse()) {
    if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
  }
  writeFileSync(join(DIST, '.built'), `${new Date().toISOString()}\n`);
} finally {
  rmSync(SCRATCH, { recursive: true, force: true });
}
