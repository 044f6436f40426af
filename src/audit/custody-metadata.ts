/**
 * Chain-of-custody metadata: every object a station replicates carries the
 * SHA-256 it recorded on arrival, the station's name and when it arrived,
 * and the station's public signing key (whose signed audit heads vouch for
 * its history), as Swift object metadata, so the central (edgecd or plain
 * Swift) keeps them.
 * A central edgecd also checks the SHA-256 against the bytes it receives.
 */
import type { ObjectEntry } from '../store/object-store.ts';
import type { MetaMap } from '../swift/metadata.ts';

export const CUSTODY_SHA256 = 'edgecd-sha256';
export const CUSTODY_STATION = 'edgecd-station';
export const CUSTODY_RECEIVED = 'edgecd-received';
export const CUSTODY_STATION_KEY = 'edgecd-station-key';

/** The prefix of every custody key: only a replicating station may set one. */
export const CUSTODY_PREFIX = 'edgecd-';

/** The metadata without edgecd's custody keys: what the body-worn system itself said. */
export const withoutCustody = (meta: MetaMap): MetaMap => Object.fromEntries(Object.entries(meta).filter(([key]) => !key.startsWith(CUSTODY_PREFIX)));
/** Where a custody key sent by anyone else is kept: visible, never taken for custody. */
export const CLAIMED_PREFIX = 'claimed-edgecd-';

/**
 * Metadata as a writer of this role may set it: custody keys from anyone but
 * a replicating station are kept apart, under `claimed-edgecd-*`, so an
 * uploader cannot write who received the evidence and when.
 */
export function custodyKeysOf(role: string, meta: MetaMap): MetaMap {
  if (role === 'replicator') return meta;
  return Object.fromEntries(Object.entries(meta).map(([key, value]) => [key.startsWith(CUSTODY_PREFIX) ? CLAIMED_PREFIX + key.slice(CUSTODY_PREFIX.length) : key, value]));
}

export function custodyMeta(entry: ObjectEntry, station: string, stationKey?: string): MetaMap {
  return {
    [CUSTODY_SHA256]: entry.sha256,
    [CUSTODY_STATION]: encodeURIComponent(station),
    [CUSTODY_RECEIVED]: new Date(entry.lastModified).toISOString(),
    ...(stationKey ? { [CUSTODY_STATION_KEY]: stationKey } : {}),
  };
}
