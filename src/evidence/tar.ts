/**
 * POSIX tar (pax) headers, for handing over a folder as one download. Long
 * names and sizes over 8 GiB go in a pax extended header, as GNU tar,
 * bsdtar and Windows' tar.exe read them.
 */
const BLOCK = 512;
const USTAR_MAX_SIZE = 0o77777777777; // 11 octal digits

export interface TarFile {
  /** Path inside the archive, '/'-separated. */
  path: string;
  size: number;
  /** Modification time, ms. */
  mtime: number;
  mode?: number;
}

/** The header block(s) that come before a file's bytes. */
export function tarHeader(file: TarFile): Buffer {
  const pax: string[] = [];
  const plain = fallbackName(file.path) === file.path;
  if (!plain) pax.push(paxRecord('path', file.path));
  if (file.size > USTAR_MAX_SIZE) pax.push(paxRecord('size', String(file.size)));
  const mtime = Math.floor(file.mtime / 1000);
  const main = block(plain ? file.path : fallbackName(file.path), Math.min(file.size, USTAR_MAX_SIZE), mtime, file.mode ?? 0o640, '0');
  if (pax.length === 0) return main;
  const body = Buffer.from(pax.join(''), 'utf8');
  return Buffer.concat([block(`PaxHeaders/${fallbackName(file.path)}`.slice(0, 100), body.length, mtime, 0o644, 'x'), body, padding(body.length), main]);
}

/** Zeros after a file's bytes, up to the next block. */
export function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** Two empty blocks end an archive. */
export const tarEnd = (): Buffer => Buffer.alloc(BLOCK * 2);

/** "LEN key=value\n", where LEN counts itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restBytes = Buffer.byteLength(rest);
  let len = restBytes + 1;
  while (String(len).length + restBytes !== len) len += 1;
  return `${len}${rest}`;
}

/**
 * An ASCII stand-in name for readers without pax support, made of safe path
 * parts only: no part is empty, "." or ".." (leading dots become "_"), and
 * there is no leading "/". A path too long for the 100-byte field keeps its
 * folder (the first part) and file (the last), each shortened on its own, so
 * the name stays inside the folder however long the path.
 */
export function fallbackName(path: string): string {
  const parts = path.split('/').map((p) => p.replace(/[^\x20-\x7e]/g, '_').replace(/^\.+/, (dots) => '_'.repeat(dots.length)) || '_');
  const whole = parts.join('/');
  if (whole.length <= 100) return whole;
  if (parts.length === 1) return whole.slice(-100);
  const folder = parts[0]!.slice(0, 40);
  const file = parts
    .at(-1)!
    .slice(-(100 - folder.length - 1))
    .replace(/^\./, '_');
  return `${folder}/${file}`;
}

function block(name: string, size: number, mtime: number, mode: number, type: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'ascii');
  h.write(octal(mode, 7), 100);
  h.write(octal(0, 7), 108);
  h.write(octal(0, 7), 116);
  h.write(octal(size, 11), 124);
  h.write(octal(mtime, 11), 136);
  h.write(type, 156);
  h.write('ustar\u000000', 257, 'binary');
  return checksum(h);
}

function checksum(h: Buffer): Buffer {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 'binary');
  return h;
}

const octal = (n: number, width: number) => n.toString(8).padStart(width, '0') + '\u0000';
