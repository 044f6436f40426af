/**
 * Validation of the current SEI layout (signed-video-framework ≥ 2.0, reserved
 * byte bits 0x30 set), after sv_auth.c:
 *   - an SEI covers one GOP of pending units before it (or `numSent` units
 *     when the signer split a long GOP);
 *   - the GOP hash h(0x01 ‖ hash₁ ‖ …) and the linked hash (the first hash of
 *     the previous GOP) must match, and the signature over the SEI's document
 *     must verify;
 *   - if only the GOP hash fails and the SEI has a hash list, units are
 *     checked one by one, so a changed or dropped frame is pinpointed.
 *
 * Which GOP an SEI covers: the library tracks SEI counters and sync state; we
 * look for the pending GOP whose hashes the SEI carries (GOP hash, or the
 * first listed hash) and treat older pending units as covered by no SEI,
 * hence NOT OK — the same outcome as the library for lost SEIs, clips that
 * start mid-GOP and a first GOP failing at GOP level (checked with
 * sv_validate on such cases).
 *
 * Simplifications (kept on purpose, see the report): SEIs without a
 * signature (one signature for several GOPs) are not supported and reported
 * as "signature present"; golden SEIs are not validated; the first
 * validation may be put off ("signature present") once only.
 */
import type { PendingSei, ValidationEngine } from './engine.ts';
import { bytesEqual, type ItemStatus, isAllZero, matchHashList, type PictureItem, reportFromItems, type ValidationReport } from './gop.ts';
import { GopHasher, HASH_SIZE } from './hashing.ts';

/** How many pending GOPs an SEI is tried against before falling back to the oldest. */
const MAX_CANDIDATE_GOPS = 8;

export class CurrentLayoutEngine implements ValidationEngine {
  private pending: PictureItem[] = [];
  /** h(first unit) of the last GOP dealt with: what the next SEI's linked hash must equal. */
  private previousFirstHash: Uint8Array | undefined;
  private firstValidation = true;

  constructor(private readonly verifySignature: (sei: PendingSei) => boolean | undefined) {}

  addPicture(item: PictureItem): ValidationReport[] {
    this.pending.push(item);
    return [];
  }

  /** Nothing is queued here but pending units, which the verifier caps. */
  capped(): boolean {
    return false;
  }

  pendingItems(): readonly PictureItem[] {
    return this.pending;
  }

  dropOldest(count: number): void {
    this.pending.splice(0, count);
  }

  addSei(sei: PendingSei): ValidationReport[] {
    const { doc } = sei;
    if (sei.sei.golden) return [];
    if (!sei.sei.signed) {
      return [{ result: 'SIGNATURE PRESENT', firstFrame: sei.frame, frames: 0, reason: 'an SEI without signature (one signature for several GOPs) is not supported' }];
    }
    // Checked before looking at the pending units, so SEIs that cannot be checked cost O(1).
    const decoded = doc.general !== undefined && doc.error === undefined;
    const signatureOk = decoded ? this.verifySignature(sei) : false;
    if (signatureOk === undefined) {
      return [{ result: 'SIGNATURE PRESENT', firstFrame: sei.frame, frames: 0, reason: 'the stream carries no public key to verify its signatures' }];
    }
    const segments = this.segmentsBefore(sei);
    if (segments.length === 0) return [];
    if (!decoded) {
      const gop = segments[0] as PictureItem[];
      this.pending.splice(0, gop.length);
      const reason = `a signed-video SEI could not be decoded (${doc.error ?? 'no general tag'})`;
      return [
        reportFromItems(
          gop,
          gop.map((): ItemStatus => 'bad'),
          [],
          0,
          reason,
        ),
      ];
    }
    const chosen = this.chooseSegment(sei, segments);
    const stale = segments.slice(0, chosen).flat();
    const gop = segments[chosen] as PictureItem[];
    // The linked hash points at the GOP just before this one, stale or not.
    const lastStale = segments[chosen - 1];
    const computedLink = lastStale ? lastStale[0]?.hash : this.previousFirstHash;
    return [this.validate(sei, signatureOk, stale, gop, computedLink)];
  }

  /** Pending units before the SEI, split at GOP starts (a split GOP's part limited to numSent). */
  private segmentsBefore(sei: PendingSei): PictureItem[][] {
    const segments: PictureItem[][] = [];
    const limit = sei.doc.general?.triggeredPartialGop ? sei.doc.general.numSent : undefined;
    let current: PictureItem[] = [];
    for (const item of this.pending) {
      if (item.seq > sei.seq) break;
      if (current.length > 0 && (item.firstInGop || (limit !== undefined && current.length >= limit))) {
        segments.push(current);
        current = [];
      }
      current.push(item);
    }
    if (current.length > 0) segments.push(current);
    return segments;
  }

  /** The first pending GOP the SEI's hashes belong to; the oldest if none does. */
  private chooseSegment(sei: PendingSei, segments: PictureItem[][]): number {
    const general = sei.doc.general!;
    const firstListed = sei.doc.hashList && sei.doc.hashList.length >= HASH_SIZE ? sei.doc.hashList.subarray(0, HASH_SIZE) : undefined;
    for (let i = 0; i < Math.min(segments.length, MAX_CANDIDATE_GOPS); i++) {
      const segment = segments[i] as PictureItem[];
      if (firstListed && bytesEqual(segment[0]?.hash, firstListed)) return i;
      if (general.gopHash && bytesEqual(gopHashOf(segment), general.gopHash)) return i;
    }
    return 0;
  }

  private validate(sei: PendingSei, signatureOk: boolean, stale: PictureItem[], gop: PictureItem[], computedLink: Uint8Array | undefined): ValidationReport {
    const general = sei.doc.general!;
    const gopHashOk = general.gopHash !== undefined && bytesEqual(gopHashOf(gop), general.gopHash);
    const linkOk = !computedLink || isAllZero(computedLink) || bytesEqual(computedLink, general.linkedHash);

    let status: ItemStatus[];
    let missingBefore: number[] = gop.map(() => 0);
    let missingAtEnd = 0;
    let reason: string;
    if (linkOk && !gopHashOk && sei.doc.hashList && sei.doc.hashList.length > 0) {
      const match = matchHashList(
        gop.map((g) => g.hash),
        sei.doc.hashList,
        HASH_SIZE,
      );
      status = match.status.map((s) => (s === 'ok' && signatureOk ? 'ok' : 'bad'));
      missingBefore = match.missingBefore;
      missingAtEnd = match.missingAtEnd;
      reason = signatureOk ? 'frames differ from the hashes the camera signed' : 'the SEI signature does not verify';
    } else {
      const allOk = gopHashOk && signatureOk;
      status = gop.map((_, i) => (allOk && (i > 0 || linkOk) ? 'ok' : 'bad'));
      missingAtEnd = Math.max(0, general.numSent - gop.length);
      reason = !signatureOk ? 'the SEI signature does not verify' : !gopHashOk ? 'the GOP hash does not match the signed one' : 'the GOP is not linked to the previous one';
    }
    const anyValid = status.includes('ok');
    // An SEI whose linked hash names the GOP's first unit signs the GOP after it: then the
    // GOP is in the clip and simply not signed any more, so its failure is real (library: in sync).
    const signsNextGop = bytesEqual(general.linkedHash, gop[0]?.hash);
    if (this.firstValidation && !anyValid && stale.length === 0 && !signsNextGop) {
      // The first SEI of a clip may sign a GOP from before the clip began: the
      // library calls that "signature present" and keeps the units pending.
      // We allow that once only, so a failing first GOP cannot stay pending for ever.
      this.firstValidation = false;
      return { result: 'SIGNATURE PRESENT', firstFrame: gop[0]?.frame ?? sei.frame, frames: 0, reason: 'the first signed-video SEI covers video from before this clip' };
    }
    this.firstValidation = false;
    if (gop[0]) this.previousFirstHash = gop[0].hash;
    this.pending.splice(0, stale.length + gop.length);
    if (stale.length > 0) {
      reason = 'frames are not covered by any signed-video SEI (an SEI was removed, or the clip starts mid-GOP)';
    }
    return reportFromItems([...stale, ...gop], [...stale.map((): ItemStatus => 'bad'), ...status], [...stale.map(() => 0), ...missingBefore], missingAtEnd, reason);
  }
}

function gopHashOf(items: PictureItem[]): Uint8Array {
  const hasher = new GopHasher();
  for (const item of items) hasher.add(item.hash);
  return hasher.digest();
}
