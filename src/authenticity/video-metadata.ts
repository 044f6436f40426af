/**
 * The verdict a station recorded for a clip, carried with the clip when it
 * is replicated, as custody metadata (X-Object-Meta-Edgecd-Video):
 *
 *   authentic key=<sha256 of the signing key>
 *   tampered first-invalid-frame=137 key=<…>
 *   unsigned
 *
 * A central edgecd verifies the clip again and compares; only a replicating
 * station may set custody keys (custodyKeysOf), so an uploader cannot plant
 * a verdict.
 */
import { CUSTODY_STATION } from '../audit/custody-metadata.ts';
import type { Authenticity, VideoVerdict } from '../media/verdict.ts';
import { decodeMetaValue, type MetaMap } from '../swift/metadata.ts';
import type { RecordedElsewhere } from './video-ledger.ts';

export const CUSTODY_VIDEO = 'edgecd-video';

const VERDICTS: ReadonlySet<string> = new Set<Authenticity>(['authentic', 'tampered', 'unsigned', 'incomplete', 'unsupported', 'encrypted']);

/** The metadata value for a verdict. */
export function videoMetaValue(v: Pick<VideoVerdict, 'verdict' | 'firstInvalidFrame' | 'signer'>): string {
  return [v.verdict, ...(v.firstInvalidFrame !== null ? [`first-invalid-frame=${v.firstInvalidFrame}`] : []), ...(v.signer ? [`key=${v.signer.publicKeyFingerprint}`] : [])].join(
    ' ',
  );
}

/** What the sender recorded, from a replicated clip's metadata; undefined when absent or not in this form. */
export function recordedVerdict(meta: MetaMap): Omit<RecordedElsewhere, 'agrees'> | undefined {
  const raw = meta[CUSTODY_VIDEO];
  if (raw === undefined) return undefined;
  const [verdict, ...fields] = decodeMetaValue(raw).trim().split(/\s+/);
  if (!verdict || !VERDICTS.has(verdict)) return undefined;
  const field = (name: string) => fields.find((f) => f.startsWith(`${name}=`))?.slice(name.length + 1);
  const frame = field('first-invalid-frame');
  const fingerprint = field('key');
  const station = meta[CUSTODY_STATION] === undefined ? undefined : safeDecode(decodeMetaValue(meta[CUSTODY_STATION]));
  return {
    verdict: verdict as Authenticity,
    firstInvalidFrame: frame !== undefined && /^\d{1,10}$/.test(frame) ? Number(frame) : null,
    ...(fingerprint && /^[0-9a-f]{64}$/.test(fingerprint) ? { fingerprint } : {}),
    ...(station ? { station } : {}),
  };
}

/**
 * Whether this station's verdict agrees with the sender's: the same verdict
 * under the same key. An encrypted clip the sender could not check, that
 * this station could (it holds it decrypted), is not a disagreement.
 */
export function compareWithRecorded(mine: VideoVerdict, theirs: Omit<RecordedElsewhere, 'agrees'>): RecordedElsewhere {
  const sameKey = theirs.fingerprint === undefined || mine.signer === undefined || theirs.fingerprint === mine.signer.publicKeyFingerprint;
  const agrees = theirs.verdict === 'encrypted' || (theirs.verdict === mine.verdict && sameKey);
  return { ...theirs, agrees };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
