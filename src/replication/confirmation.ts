/**
 * How a station knows a target holds an object. The strongest check the
 * target allows is used:
 *
 * - verified: its HEAD shows the size and an Etag equal to the md5 (and the
 *   custody SHA-256 where it keeps X-Object-Meta-Edgecd-*), as edgecd and
 *   OpenStack Swift do;
 * - read back: a GET with the target's reader credentials, hashed while it
 *   streams, gives the same md5 and SHA-256;
 * - acknowledged: it answered 2xx to the PUT (with the md5 as Etag when it
 *   sends one), and its HEAD shows the object with its metadata. The Axis
 *   reference server's HEAD shows metadata only, re-encoded: values are
 *   compared decoded.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { CONFIRMATION_LEVELS, type ConfirmationLevel } from '../config/config.ts';
import { etagOf, header } from '../swift/client.ts';
import { decodeMetaValue, type MetaMap } from '../swift/metadata.ts';
import { CUSTODY_SHA256 } from '../audit/custody-metadata.ts';

/** The weaker of two levels (undefined: none yet). */
export function weaker(a: ConfirmationLevel | undefined, b: ConfirmationLevel): ConfirmationLevel {
  if (a === undefined) return b;
  return CONFIRMATION_LEVELS.indexOf(a) >= CONFIRMATION_LEVELS.indexOf(b) ? a : b;
}

/** Whether `level` is at least as strong as `needed`. */
export function atLeast(level: ConfirmationLevel | undefined, needed: ConfirmationLevel): boolean {
  return CONFIRMATION_LEVELS.indexOf(level ?? 'verified') <= CONFIRMATION_LEVELS.indexOf(needed);
}

/** Whether a HEAD shows size and md5 at all (decided once per pass, from the first object HEAD). */
export const headShowsContent = (headers: IncomingHttpHeaders) => header(headers, 'content-length') !== undefined && etagOf(headers) !== undefined;

/** The size and md5 a HEAD shows are this object's. */
export const sameContent = (headers: IncomingHttpHeaders, bytes: number, md5: string) => Number(header(headers, 'content-length')) === bytes && etagOf(headers) === md5;

/** Every key that was sent is shown with the same value, compared decoded (targets may re-encode). */
export function showsMeta(headers: IncomingHttpHeaders, sent: MetaMap): boolean {
  for (const [key, value] of Object.entries(sent)) {
    const shown = header(headers, `x-object-meta-${key}`);
    if (shown === undefined || decodeMetaValue(shown) !== decodeMetaValue(value)) return false;
  }
  return true;
}

/**
 * Whether the target kept the custody metadata sent with an object, judged
 * from a HEAD that shows the object's other metadata; undefined when the
 * HEAD cannot tell (it shows no metadata of ours at all).
 */
export function keptCustody(headers: IncomingHttpHeaders, bwsMeta: MetaMap): boolean | undefined {
  if (header(headers, `x-object-meta-${CUSTODY_SHA256}`) !== undefined) return true;
  return Object.keys(bwsMeta).some((k) => header(headers, `x-object-meta-${k}`) !== undefined) ? false : undefined;
}
