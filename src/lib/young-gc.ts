/**
 * A young-generation collection after every few MiB of body, in or out.
 *
 * Node copies each network read of a request body into a new ArrayBuffer of
 * up to 64 KiB, and a file read for a download is another new buffer of
 * 256 KiB. Their JavaScript wrappers are tiny, so the young generation fills
 * slowly and V8 let ~64 MB of dead chunks pile up between collections: half
 * of the daemon's resident memory during uploads or downloads. A minor
 * collection of the (1 MB, see the unit) young generation takes well under
 * a millisecond and frees them. The systemd unit exposes gc(); elsewhere
 * (npm start, tests) it is enabled at run time, and without it this does nothing.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Body bytes between two collections. */
const EVERY_BYTES = 4 * 1024 * 1024;

type Gc = (options: { type: 'minor' }) => void;

function exposeGc(): Gc | undefined {
  if (typeof globalThis.gc === 'function') return globalThis.gc as Gc;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as Gc) : undefined;
  } catch {
    return undefined;
  }
}

const gc = exposeGc();
let sinceLast = 0;

/** Counts body bytes that passed through a new buffer; collects the young generation every EVERY_BYTES. */
export function noteBodyBytes(bytes: number): void {
  sinceLast += bytes;
  if (sinceLast < EVERY_BYTES) return;
  sinceLast = 0;
  gc?.({ type: 'minor' });
}
