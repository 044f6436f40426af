/**
 * Chain-of-custody metadata: every object a station replicates carries the
 * SHA-256 it recorded on arrival, the station's name and when it arrived, as
 * Swift object metadata, so the central (edgecd or plain Swift) keeps them.
 * A central edgecd also checks the SHA-256 against the bytes it receives.
 */
import type { ObjectEntry } from '../store/object-store.ts';
import type { MetaMap } from '../swift/metadata.ts';

export const CUSTODY_SHA256 = 'edgecd-sha256';
export const CUSTODY_STATION = 'edgecd-station';
export const CUSTODY_RECEIVED = 'edgecd-received';

export function custodyMeta(entry: ObjectEntry, station: string): MetaMap {
  return {
    [CUSTODY_SHA256]: entry.sha256,
    [CUSTODY_STATION]: encodeURIComponent(station),
    [CUSTODY_RECEIVED]: new Date(entry.lastModified).toISOString(),
  };
}
