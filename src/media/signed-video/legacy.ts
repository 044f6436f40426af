/**
 * Validation of the legacy SEI layout (signed-video-framework before 2.0,
 * reserved byte bits 0x30 clear), after legacy/legacy_auth.c:
 *   - an SEI covers one GOP *and* the I picture that starts the next one,
 *     listed as h(h(I_prev) ‖ h(I_next)) — that is how GOPs are chained;
 *   - so a GOP can be validated once its SEI and the next I picture have both
 *     arrived, in whatever order (SEIs may come late when signing is slow);
 *   - the I picture closing a GOP opens the next, hashed plainly as h(I);
 *   - the signer's very first SEI lists only h(I) of the first I picture;
 *   - the signature covers the SEI's document (hash list) or, at GOP level,
 *     the recursive GOP hash.
 *
 * Which GOP an SEI covers is found from its first listed hash (the GOP's
 * opening I); pending units older than that GOP are covered by no SEI and
 * count as NOT OK, as in the library. Simplification: a mismatch of the
 * closing I picture is reported in the GOP it closes (the library reports it
 * one GOP later, at the same frame).
 */
import type { PendingSei, ValidationEngine } from './engine.ts';
import { bytesEqual, countFrames, type ItemStatus, matchHashList, type PictureItem, reportFromItems, type ValidationReport } from './gop.ts';
import { HASH_SIZE, LegacyGopHasher } from './hashing.ts';

/** SEIs waiting for the I picture that closes their GOP; more means SEIs without video. */
const MAX_PENDING_SEIS = 64;
/** How many pending GOP starts an SEI's first hash is looked for in. */
const MAX_CANDIDATE_GOPS = 8;

export interface LegacySignatureCheck {
  /** Over the SEI's document (hash list era). */
  document(sei: PendingSei): boolean | undefined;
  /** Over a precomputed GOP hash. */
  digest(sei: PendingSei, digest: Uint8Array): boolean | undefined;
}

type Placement = { start: number; end: number } | 'wait' | 'before-clip';

export class LegacyLayoutEngine implements ValidationEngine {
  private pending: PictureItem[] = [];
  /** The I picture (by stream position) that closed the previous GOP and now opens the next. */
  private openingSeq = -1;
  private seis: PendingSei[] = [];
  private firstValidation = true;
  /** SEIs dropped because too many waited for video. */
  private droppedSeis = 0;
  /** The oldest SEI waits for video after it: the next unit may complete its GOP. */
  private retryOnNextPicture = false;

  constructor(private readonly check: LegacySignatureCheck) {}

  capped(): boolean {
    return this.droppedSeis > 0;
  }

  pendingItems(): readonly PictureItem[] {
    return this.pending;
  }

  dropOldest(count: number): void {
    this.pending.splice(0, count);
  }

  addPicture(item: PictureItem): ValidationReport[] {
    this.pending.push(item);
    // Only an I picture, or the first unit after a waiting SEI, can complete a GOP: re-checking on
    // every unit would cost O(pending) each time.
    if (this.seis.length === 0 || !(item.firstInGop || this.retryOnNextPicture)) return [];
    return this.validatePending();
  }

  addSei(sei: PendingSei): ValidationReport[] {
    if (sei.sei.golden) return [];
    this.seis.push(sei);
    if (this.seis.length > MAX_PENDING_SEIS) {
      this.seis.shift();
      this.droppedSeis++;
    }
    return this.validatePending();
  }

  /** Index of the first I picture that can close a GOP (not the one opening the current GOP), or -1. */
  private closingIndex(from = 0): number {
    for (let i = from; i < this.pending.length; i++) {
      const item = this.pending[i] as PictureItem;
      if (item.firstInGop && item.seq !== this.openingSeq) return i;
    }
    return -1;
  }

  private validatePending(): ValidationReport[] {
    const reports: ValidationReport[] = [];
    this.retryOnNextPicture = false;
    // Each round consumes an SEI or waits; the bound only guards against a logic slip.
    for (let round = 0; round <= MAX_PENDING_SEIS && this.seis.length > 0; round++) {
      const sei = this.seis[0] as PendingSei;
      if (!sei.doc.general || sei.doc.error || !sei.doc.signature) {
        const end = this.closingIndex();
        if (end < 0) break;
        this.seis.shift();
        reports.push(this.failGop(end, `a signed-video SEI could not be decoded (${sei.doc.error ?? 'missing tags'})`));
        continue;
      }
      const placement = this.place(sei);
      if (placement === 'wait') {
        this.retryOnNextPicture = !this.pending.some((item) => item.seq > sei.seq);
        break;
      }
      this.seis.shift();
      if (placement === 'before-clip') {
        this.firstValidation = false;
        reports.push({
          result: 'SIGNATURE PRESENT',
          firstFrame: this.pending[0]?.frame ?? sei.frame,
          frames: 0,
          reason: 'the first signed-video SEI covers video from before this clip',
        });
        continue;
      }
      reports.push(this.validate(sei, placement.start, placement.end));
    }
    return reports;
  }

  /** Which pending units the SEI covers, from its first listed hash (the GOP's opening I). */
  private place(sei: PendingSei): Placement {
    const list = sei.doc.signature?.legacyHashType === 1 ? sei.doc.hashList : undefined;
    if (list && list.length >= HASH_SIZE) {
      const opening = list.subarray(0, HASH_SIZE);
      let candidates = 0;
      for (let i = 0; i < this.pending.length && candidates < MAX_CANDIDATE_GOPS; i++) {
        const item = this.pending[i] as PictureItem;
        if (!item.firstInGop) continue;
        candidates++;
        if (!bytesEqual(item.hash, opening)) continue;
        // The signer's first SEI lists only its first I picture.
        if (list.length === HASH_SIZE) return { start: i, end: i };
        const end = this.endIndex(sei, i);
        return end < 0 ? 'wait' : { start: i, end };
      }
      const firstI = this.pending.findIndex((item) => item.firstInGop);
      if (firstI < 0) return 'wait';
      if (this.firstValidation) {
        // Signed before the clip began: its GOP closes at the clip's first I picture.
        this.openingSeq = (this.pending[firstI] as PictureItem).seq;
        return 'before-clip';
      }
    }
    const end = this.endIndex(sei, 0);
    return end < 0 ? 'wait' : { start: 0, end };
  }

  /**
   * Where the GOP opened at `start` ends: its closing I picture or, if that
   * is missing although video follows the SEI, the first unit after the SEI
   * (the library validates then too, so a dropped I picture is noticed).
   */
  private endIndex(sei: PendingSei, start: number): number {
    const closing = this.closingIndex(start + 1);
    if (closing >= 0) return closing;
    for (let i = start + 1; i < this.pending.length; i++) if ((this.pending[i] as PictureItem).seq > sei.seq) return i;
    return -1;
  }

  private failGop(end: number, reason: string): ValidationReport {
    const gop = this.pending.slice(0, Math.max(end, 1));
    this.consume(end);
    return reportFromItems(
      gop,
      gop.map(() => 'bad'),
      [],
      0,
      reason,
    );
  }

  /** Drops the units before the closing I, which becomes the opening I of the next GOP. */
  private consume(end: number): void {
    const closing = this.pending[end];
    this.pending.splice(0, end);
    if (closing) this.openingSeq = closing.seq;
  }

  private validate(sei: PendingSei, start: number, end: number): ValidationReport {
    const general = sei.doc.general!;
    const signature = sei.doc.signature!;
    const stale = this.pending.slice(0, start);
    const items = this.pending.slice(start, end + 1);
    const closing = this.pending[end] as PictureItem;
    // The closing I is listed chained to the previous GOP; a GOP of one (the signer's first SEI) lists h(I).
    const hashes = items.map((item, i) => (i === items.length - 1 && start !== end ? (closing.linkedHash ?? closing.hash) : item.hash));
    let status: ItemStatus[];
    let missingBefore = items.map(() => 0);
    let missingAtEnd = 0;
    let reason: string;
    let expected = general.numSent;
    if (signature.legacyHashType === 0) {
      const hasher = new LegacyGopHasher();
      for (const h of hashes) hasher.add(h);
      hasher.add(sei.sei.documentHash);
      const verified = this.check.digest(sei, hasher.digest());
      if (verified === undefined) return this.noKey(items);
      status = items.map(() => (verified ? 'ok' : 'bad'));
      if (!this.firstValidation) missingAtEnd = Math.max(0, general.numSent - items.length);
      reason = 'the GOP hash does not verify against the signature';
    } else {
      const verified = this.check.document(sei);
      if (verified === undefined) return this.noKey(items);
      const list = sei.doc.hashList ?? new Uint8Array(0);
      expected = Math.floor(list.length / HASH_SIZE);
      if (!verified) {
        status = items.map(() => 'bad');
        reason = 'the SEI signature does not verify';
      } else {
        const match = matchHashList(hashes, list, HASH_SIZE);
        status = match.status;
        missingBefore = match.missingBefore;
        missingAtEnd = match.missingAtEnd;
        reason = 'frames differ from the hashes the camera signed';
      }
    }
    if (stale.length > 0) reason = 'frames are not covered by any signed-video SEI (an SEI was removed, or the clip starts mid-GOP)';
    const report = reportFromItems([...stale, ...items], [...stale.map((): ItemStatus => 'bad'), ...status], [...stale.map(() => 0), ...missingBefore], missingAtEnd, reason);
    // The closing I is counted with the GOP it opens.
    report.frames = countFrames(start === end ? items : [...stale, ...items.slice(0, -1)]);
    const missed = missingBefore.reduce((a, b) => a + b, missingAtEnd);
    if (!this.firstValidation && report.result === 'OK' && expected > 1 && missed >= expected - 1) {
      report.result = 'NOT OK';
      report.reason = 'almost none of the signed frames are present';
      report.firstBadFrame = items[0]?.frame ?? 0;
    }
    if (this.firstValidation && report.result !== 'OK' && stale.length === 0 && !status.includes('ok')) {
      this.firstValidation = false;
      this.consume(end);
      return { result: 'SIGNATURE PRESENT', firstFrame: items[0]?.frame ?? 0, frames: 0, reason: 'the first signed-video SEI covers video from before this clip' };
    }
    this.firstValidation = false;
    this.consume(end);
    return report;
  }

  /** Without a key nothing can be verified: the SEIs are dropped, the units stay pending. */
  private noKey(items: PictureItem[]): ValidationReport {
    this.seis.length = 0;
    return { result: 'SIGNATURE PRESENT', firstFrame: items[0]?.frame ?? 0, frames: 0, reason: 'the stream carries no public key to verify its signatures' };
  }
}
