/**
 * Clip verdicts as they leave the station: custody.json's per-clip "video"
 * entry (pull, the console's download), and the /video endpoint a clerk's
 * pull reads them from.
 */
import { type Attestation, type Authenticity, type Signer, uncheckedVerdict, type VideoVerdict } from '../media/verdict.ts';
import { isVideoClip, type RecordedElsewhere, type VideoLedger, worse } from './video-ledger.ts';

/** A clip's signed-video verdict as custody.json carries it: what, about which bytes, by whom, and the signer. */
export interface ClipVideo {
  verdict: Authenticity;
  firstInvalidFrame: number | null;
  /** Who checked it (a station's name, the source, or this pull) and when. */
  checkedBy?: string;
  checkedAt?: string;
  /** The bytes it is about. */
  sha256?: string;
  signer?: Signer;
  attestation?: Attestation['kind'];
  frames?: number;
  gops?: { total: number; ok: number };
  reason?: string;
  /** On a central: the verdict the sending station recorded, and whether the two agree. */
  sender?: RecordedElsewhere;
}

/** The custody.json form of a full verdict. */
export function clipVideo(v: VideoVerdict, about: Pick<ClipVideo, 'checkedBy' | 'checkedAt' | 'sha256'>): ClipVideo {
  return {
    verdict: v.verdict,
    firstInvalidFrame: v.firstInvalidFrame,
    ...about,
    ...(v.signer ? { signer: v.signer } : {}),
    attestation: v.attestation.kind,
    frames: v.frames,
    gops: { total: v.gops.length, ok: v.gops.filter((g) => g.outcome === 'ok').length },
    ...(v.reason ? { reason: v.reason } : {}),
  };
}

/** Every checked clip of a recording, in custody.json's form, as checked by `station`. */
export async function recordedChecks(ledger: VideoLedger, account: string, container: string, station: string): Promise<Record<string, ClipVideo>> {
  const found: Record<string, ClipVideo> = {};
  for (const [name, check] of await ledger.recording(account, container)) {
    const about = { checkedBy: station, checkedAt: new Date(check.checkedAt).toISOString(), sha256: check.sha256 };
    found[name] = { ...clipVideo(check.verdict, about), ...(check.elsewhere ? { sender: check.elsewhere } : {}) };
  }
  return found;
}

/** The verdict of a clip that is end-to-end encrypted: nothing to check until it is decrypted. */
export const encryptedVerdict = (): VideoVerdict => uncheckedVerdict('encrypted', 'the clip is end-to-end encrypted (it has a key file): verify it after edgecd decrypt');

/** The verdict of a clip the station could not check at all (its verifier kept failing). */
export const notChecked = (reason: string): VideoVerdict => uncheckedVerdict('unsupported', reason);

/** A recording's signed-video state for `edgecd recordings`: its worst clip's verdict ('pending' while any waits), and each clip's. */
export interface RecordingVideo {
  verdict: Authenticity | 'pending';
  clips: Record<string, { verdict: Authenticity | 'pending'; firstInvalidFrame?: number | null; fingerprint?: string; attestation?: Attestation['kind'] }>;
}

/** Adds `video` to each recording that has clips. */
export async function withVideoVerdicts<T extends { name: string; manifest: Record<string, { sha256: string }> }>(
  ledger: VideoLedger,
  account: string,
  recordings: T[],
): Promise<(T & { video?: RecordingVideo })[]> {
  const out: (T & { video?: RecordingVideo })[] = [];
  for (const r of recordings) {
    const clips = Object.keys(r.manifest).filter(isVideoClip);
    if (clips.length === 0) {
      out.push(r);
      continue;
    }
    const checks = await ledger.recording(account, r.name);
    const video: RecordingVideo = { verdict: 'authentic', clips: {} };
    let worst: Authenticity | undefined;
    for (const name of clips) {
      const check = checks.get(name);
      if (!check || check.sha256 !== r.manifest[name]!.sha256) {
        video.clips[name] = { verdict: 'pending' };
        video.verdict = 'pending';
        continue;
      }
      const v = check.verdict;
      video.clips[name] = {
        verdict: v.verdict,
        firstInvalidFrame: v.firstInvalidFrame,
        ...(v.signer ? { fingerprint: v.signer.publicKeyFingerprint } : {}),
        attestation: v.attestation.kind,
      };
      worst = worse(worst, v.verdict);
    }
    if (video.verdict !== 'pending') video.verdict = worst!;
    out.push({ ...r, video });
  }
  return out;
}
