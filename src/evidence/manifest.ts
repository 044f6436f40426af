/**
 * manifest.sha256, the file `sha256sum -c` checks an evidence folder with:
 * one `<sha256 hex>  <name>\n` line per file (GNU's format; a name holding
 * `\` or a newline is escaped and its line starts with `\`). Every manifest
 * edgecd writes is formatted here: the pulled folder's (folder.ts, for
 * `edgecd pull` and the console's download) and decrypt's outputs'.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from '../lib/durable.ts';

export const MANIFEST = 'manifest.sha256';

/** manifest.sha256 lines, kept as written, plus name → sha256 for lookups. */
export interface Manifest {
  lines: string[];
  hashes: Map<string, string>;
  mode: number;
  has(name: string): boolean;
  get(name: string): string | undefined;
  set(name: string, sha256: string): void;
}

/** A manifest's text: one line per file, in the order given. */
export function formatManifest(entries: { name: string; sha256: string }[]): string {
  return manifestText(entries.map((e) => manifestLine(e.name, e.sha256)));
}

/** A manifest.sha256 not written yet. */
export const emptyManifest = (): Manifest => manifestOf('', 0o640);

/** The folder's manifest.sha256 (sha256sum format), or undefined if it has none. */
export async function readManifest(dir: string): Promise<Manifest | undefined> {
  const path = join(dir, MANIFEST);
  try {
    return manifestOf(await readFile(path, 'utf8'), (await stat(path)).mode & 0o7777);
  } catch (e) {
    if ((e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Replaces manifest.sha256 whole: a crash leaves the old or the new one, never half. */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const path = join(dir, MANIFEST);
  const tmp = join(dir, `.${MANIFEST}.${randomBytes(6).toString('hex')}.partial`);
  try {
    const fh = await open(tmp, 'wx', manifest.mode);
    try {
      await fh.writeFile(manifestText(manifest.lines));
      await fh.chmod(manifest.mode); // open's mode is filtered by the umask
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncPath(dir);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

function manifestOf(text: string, mode: number): Manifest {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const hashes = new Map<string, string>();
  const lineOf = new Map<string, number>();
  lines.forEach((line, i) => {
    const parsed = parseManifestLine(line);
    if (parsed !== undefined) {
      hashes.set(parsed.name, parsed.sha256);
      lineOf.set(parsed.name, i);
    }
  });
  return {
    lines,
    hashes,
    mode,
    has: (name) => hashes.has(name),
    get: (name) => hashes.get(name),
    set(name, sha256) {
      if (hashes.get(name) === sha256) return; // no duplicate lines
      const line = manifestLine(name, sha256);
      const at = lineOf.get(name);
      // A stale line for an output we just rewrote would fail `sha256sum -c`: replace it.
      if (at !== undefined) lines[at] = line;
      else lineOf.set(name, lines.push(line) - 1);
      hashes.set(name, sha256);
    },
  };
}

/** `<hex>  <name>` or `<hex> *<name>`; GNU escapes names holding \ or newline with a leading \. */
function parseManifestLine(line: string): { sha256: string; name: string } | undefined {
  const m = /^(\\?)([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
  if (m === null) return undefined;
  const name = m[1] === '\\' ? m[3]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)) : m[3]!;
  return { sha256: m[2]!.toLowerCase(), name };
}

/** One line, without its '\n': two spaces (text mode), the name escaped GNU's way when it must be. */
function manifestLine(name: string, sha256: string): string {
  if (!/[\\\n]/.test(name)) return `${sha256}  ${name}`;
  return `\\${sha256}  ${name.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`;
}

/** Lines as the file holds them: each ended by '\n'. */
function manifestText(lines: string[]): string {
  return lines.map((l) => `${l}\n`).join('');
}
