/**
 * Swift names ↔ file names. BWS names (UUIDs, serials, `20220823T114810Z_1234.mkv`)
 * stay readable; any other byte is %XX-encoded, so a name can never contain a
 * path separator, start with a dot or escape its directory. Names too long for
 * a file system entry keep a readable head and end in `~<hash>`; the container
 * log records the full name, which is what `reindex` trusts.
 */
import { createHash } from 'node:crypto';

const SAFE = /[A-Za-z0-9._\-+=,@]/;
const MAX_ENTRY_BYTES = 240;

function encodeAll(name: string): string {
  let out = '';
  for (const ch of name) {
    if (SAFE.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  // A leading dot would hide the file (and '.'/'..' would be special).
  return out.startsWith('.') ? '%2E' + out.slice(1) : out;
}

/** The directory-entry name for a container or object name. */
export function diskName(name: string): string {
  const encoded = encodeAll(name);
  if (encoded.length <= MAX_ENTRY_BYTES) return encoded;
  const digest = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 40);
  let head = encoded.slice(0, MAX_ENTRY_BYTES - 41);
  head = head.replace(/%[0-9A-F]?$/, ''); // never cut an escape in half
  return `${head}~${digest}`;
}

/** The name a disk entry stands for, or undefined for hashed (long) names and foreign files. */
export function nameFromDisk(entry: string): string | undefined {
  if (entry.includes('~') || entry.startsWith('.')) return undefined;
  try {
    const name = decodeURIComponent(entry);
    return diskName(name) === entry ? name : undefined;
  } catch {
    return undefined;
  }
}
