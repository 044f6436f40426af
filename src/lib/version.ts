import { readFileSync } from 'node:fs';

/** edgecd's version, from package.json (two levels above src/lib/ and dist/lib/). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
