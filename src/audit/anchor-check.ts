/**
 * The station's audit trail checked against the signed heads a central holds
 * (`edgecd audit verify --against`). Each anchor vouches that line `seq`
 * hashed to `hash`; the chain ties every earlier line to it. So:
 *
 * - rewritten: a line an anchor covers hashes otherwise now (the chain was
 *   recomputed to hide it): history changed at or before that line, after
 *   the last anchor that still matches;
 * - truncated: an anchor names a line the trail no longer has;
 * - forged after the head: a line after the newest anchor that is dated
 *   before that anchor was signed. Lines are written in time order, and an
 *   anchor covers every line written before it (a minute's slack for lines
 *   queued while it was signed): such a line was added later and back-dated,
 *   or the clock stepped back, which is worth a look too.
 *
 * Lines after the newest anchor and dated after it are simply not anchored
 * yet: counted, not failed.
 */
import { readAuditChain } from './audit-reader.ts';
import type { SignedHead } from './station-key.ts';

export interface AnchorCheckReport {
  ok: boolean;
  /** Lines in the local trail. */
  lines: number;
  anchors: number;
  /** The newest anchor that matches the trail. */
  verifiedThrough?: { seq: number; time: string };
  /** Lines after the newest anchor (not yet vouched for from outside). */
  unanchored: number;
  problems: string[];
}

/** Slack for lines queued while an anchor was signed (they may be dated a moment before it). */
const QUEUED_SLACK_MS = 60_000;

export async function checkAgainstAnchors(file: string, anchorList: SignedHead[]): Promise<AnchorCheckReport> {
  const anchors = [...anchorList].sort((a, b) => a.seq - b.seq);
  const newest = anchors.at(-1);
  const problems: string[] = [];
  let verifiedThrough: SignedHead | undefined;
  let next = 0;
  let lines = 0;
  let backdated = 0;
  for await (const { line, hash } of readAuditChain(file)) {
    lines += 1;
    while (next < anchors.length && anchors[next]!.seq === lines) {
      const anchor = anchors[next++]!;
      if (anchor.hash === hash) {
        verifiedThrough = anchor;
      } else {
        const since = verifiedThrough ? `after line ${verifiedThrough.seq} (anchored ${verifiedThrough.time}, still matching)` : 'from the first line on';
        problems.push(`rewritten: line ${lines} is not the line anchored ${anchor.time} (hash ${anchor.hash}); history was changed at or before it, ${since}`);
      }
    }
    if (newest && lines > newest.seq && typeof line !== 'string' && Date.parse(line.time) < Date.parse(newest.time) - QUEUED_SLACK_MS) {
      if (backdated++ === 0)
        problems.push(
          `forged after the head: line ${lines} is dated ${line.time}, before the newest anchor (line ${newest.seq}, signed ${newest.time}), yet comes after it: added later and back-dated (or the clock stepped back)`,
        );
    }
  }
  if (backdated > 1) problems.push(`${backdated} lines after the newest anchor are dated before it`);
  const missing = anchors.slice(next).filter((a) => a.seq > lines);
  if (missing.length > 0) problems.push(`truncated: an anchor signed ${missing.at(-1)!.time} names line ${missing.at(-1)!.seq}, but the trail ends at line ${lines}`);
  return {
    ok: problems.length === 0,
    lines,
    anchors: anchors.length,
    ...(verifiedThrough ? { verifiedThrough: { seq: verifiedThrough.seq, time: verifiedThrough.time } } : {}),
    unanchored: Math.max(0, lines - (newest?.seq ?? 0)),
    problems,
  };
}
