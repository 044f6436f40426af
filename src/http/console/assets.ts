/**
 * The console's stylesheet and script, read once at start and served from
 * memory under names that carry their hash, so browsers may cache them for
 * good and never run a stale copy. `npm run build` copies them next to the
 * compiled code.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface Asset {
  path: string;
  body: Buffer;
  type: string;
}

export interface ConsoleAssets {
  css: Asset;
  js: Asset;
  byPath: Map<string, Asset>;
}

function load(file: string, type: string): Asset {
  const body = readFileSync(new URL(`./assets/${file}`, import.meta.url));
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  const [stem, ext] = file.split('.') as [string, string];
  return { path: `/console/assets/${stem}.${hash}.${ext}`, body, type };
}

export function loadConsoleAssets(): ConsoleAssets {
  const css = load('console.css', 'text/css; charset=utf-8');
  const js = load('console.js', 'text/javascript; charset=utf-8');
  return { css, js, byPath: new Map([css, js].map((a) => [a.path, a])) };
}
