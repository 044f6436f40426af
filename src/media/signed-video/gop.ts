/**
 * What both validation engines (current and legacy layout) share: the pending
 * picture item, the per-validation report, hash-list matching and the
 * library's rule for folding reports into one accumulated verdict.
 *
 * An item keeps only hashes and bookkeeping (about 100 bytes), never
 * picture data, so a pending GOP costs memory in proportion to its length.
 */
import type { LibraryVerdict } from '../verdict.ts';

export interface PictureItem {
  /** Position in the stream (NAL unit count), to order items against SEIs. */
  seq: number;
  /** 0-based primary-slice count at this unit (the frame it belongs to). */
  frame: number;
  primarySlice: boolean;
  firstInGop: boolean;
  /** I (GOP start): h(I); any other unit: h(h(I) ‖ h(F)); an unsigned SEI: its document hash. */
  hash: Uint8Array;
  /** I only: h(previous reference ‖ h(I)), how the legacy layout lists it at the end of the previous GOP. */
  linkedHash?: Uint8Array;
  timeMs?: number;
}

/** One validation, as the library reports it. */
export interface ValidationReport {
  result: LibraryVerdict;
  firstFrame: number;
  frames: number;
  /** Frame of the first unit marked NOT OK or missing, when there is one. */
  firstBadFrame?: number;
  startMs?: number;
  reason?: string;
}

/** The library's SignedVideoAuthenticityResult order: a lower value is worse, except the first two. */
const RANK: Record<LibraryVerdict, number> = {
  'NOT SIGNED': 0,
  'SIGNATURE PRESENT': 1,
  'NOT OK': 2,
  'OK WITH MISSING INFO': 3,
  OK: 4,
  'VERSION MISMATCH': 5,
};

/** update_accumulated_validation(): the first real result replaces "not signed/present", then only worse ones do. */
export function accumulate(acc: LibraryVerdict, latest: LibraryVerdict): LibraryVerdict {
  if (RANK[acc] <= RANK['SIGNATURE PRESENT']) return latest;
  return RANK[latest] < RANK[acc] ? latest : acc;
}

export type ItemStatus = 'ok' | 'bad';

export interface HashListMatch {
  status: ItemStatus[];
  /** For each item, how many listed hashes were skipped (missing units) right before it. */
  missingBefore: number[];
  /** Listed hashes never matched after the last match (missing at the end). */
  missingAtEnd: number;
  anyMatch: boolean;
}

/**
 * The library's greedy matching (verify_hashes_with_hash_list): each item is
 * searched in the list from just after the previous match; a hit is OK and
 * the skipped list entries (minus the unmatched items since) are missing
 * units; no hit is NOT OK.
 */
export function matchHashList(itemHashes: Uint8Array[], list: Uint8Array, hashSize: number): HashListMatch {
  const expected = Math.floor(list.length / hashSize);
  const status: ItemStatus[] = [];
  const missingBefore: number[] = [];
  let latestMatch = -1;
  let invalidSinceMatch = 0;
  let anyMatch = false;
  for (const hash of itemHashes) {
    let found = -1;
    for (let idx = latestMatch + 1; idx < expected; idx++) {
      if (equalAt(list, idx * hashSize, hash)) {
        found = idx;
        break;
      }
    }
    if (found >= 0) {
      status.push('ok');
      missingBefore.push(Math.max(0, found - latestMatch - 1 - invalidSinceMatch));
      latestMatch = found;
      invalidSinceMatch = 0;
      anyMatch = true;
    } else {
      status.push('bad');
      missingBefore.push(0);
      invalidSinceMatch++;
    }
  }
  const lastWasMatch = status.length > 0 && status[status.length - 1] === 'ok';
  const missingAtEnd = !anyMatch ? Math.max(0, expected - invalidSinceMatch) : lastWasMatch ? expected - 1 - latestMatch : 0;
  return { status, missingBefore, missingAtEnd, anyMatch };
}

function equalAt(list: Uint8Array, offset: number, hash: Uint8Array): boolean {
  for (let i = 0; i < hash.length; i++) if (list[offset + i] !== hash[i]) return false;
  return true;
}

export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function isAllZero(a: Uint8Array): boolean {
  for (const b of a) if (b !== 0) return false;
  return true;
}

/** Builds a report from per-item outcomes; the first bad or missing item fixes firstBadFrame. */
export function reportFromItems(items: PictureItem[], status: ItemStatus[], missingBefore: number[], missingAtEnd: number, reason: string | undefined): ValidationReport {
  let firstBadFrame: number | undefined;
  let invalid = 0;
  let missing = missingAtEnd;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as PictureItem;
    const gap = missingBefore[i] ?? 0;
    missing += gap;
    // A missing unit sits before this item: sv_validate attributes it to this item's frame.
    if (gap > 0 && firstBadFrame === undefined) firstBadFrame = item.frame;
    if (status[i] === 'bad') {
      invalid++;
      if (firstBadFrame === undefined) firstBadFrame = item.frame;
    }
  }
  const last = items[items.length - 1];
  if (missingAtEnd > 0 && firstBadFrame === undefined && last) firstBadFrame = last.frame;
  const result: LibraryVerdict = invalid > 0 ? 'NOT OK' : missing > 0 ? 'OK WITH MISSING INFO' : 'OK';
  const report: ValidationReport = { result, firstFrame: items[0]?.frame ?? 0, frames: countFrames(items) };
  if (result !== 'OK' && firstBadFrame !== undefined) report.firstBadFrame = firstBadFrame;
  if (items[0]?.timeMs !== undefined) report.startMs = items[0].timeMs;
  if (result === 'OK WITH MISSING INFO') report.reason = 'frames the camera signed are missing (nothing signed was altered)';
  else if (result !== 'OK' && reason) report.reason = reason;
  return report;
}

export function countFrames(items: PictureItem[]): number {
  let n = 0;
  for (const item of items) if (item.primarySlice) n++;
  return n;
}
