/** Single byte-range requests (RFC 9110 §14). Multi-range requests are served whole. */
import { EdgeError } from '../lib/errors.ts';
import type { ByteRange } from '../store/object-store.ts';

export type { ByteRange };

/**
 * undefined: serve the whole body (no header, a syntax we ignore, or several ranges);
 * 'unsatisfiable': answer 416.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined; // invalid: ignored, per RFC 9110
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Number(m[2]);
  return { start, end: Math.min(end, size - 1) };
}

/** ObjectStore.readObject's range choice for a Range header: 416 (with the size) when it cannot be met. */
export function rangePicker(header: string | undefined): (size: number) => ByteRange | undefined {
  return (size) => {
    const range = parseRange(header, size);
    if (range === 'unsatisfiable') throw new EdgeError('RangeNotSatisfiable', 'Requested range not satisfiable', { size });
    return range;
  };
}
