/**
 * Reading an audit trail another process may be appending to: verifying it
 * whole (verifyAuditLog), streaming its lines (readAuditLines, byTarget), and
 * its lines with their hashes for the anchor check (readAuditChain). Files
 * are streamed: bounded memory for any size. The format is audit-format.ts;
 * the writer is audit-log.ts.
 */
import { createReadStream } from 'node:fs';
import { lineHash, MAX_LINE, NL, parseLine, readHead, ZERO_HASH, type AuditHead, type AuditLine, type LineSegment } from './audit-format.ts';

export interface VerifyReport {
  ok: boolean;
  /** Complete lines read; on failure the scan stops at the first bad line. */
  lines: number;
  /** line is 1-based; 0 means the head file itself (missing or unreadable). */
  firstBad?: { line: number; reason: string };
  head?: { seq: number; hash: string };
}

/** Bytes read at a time. */
const CHUNK = 64 * 1024;

/**
 * Checks every line's JSON, seq continuity (1, 2, 3…), the prev chain, and the
 * head: the log may run past it (crash lag, or unprotected appends) but must
 * hold its line unchanged. A line whose successor's `prev` does not match is
 * blamed (N, not N+1): an edit to N leaves N's own seq/prev intact and shows
 * only in N+1. An incomplete last line (crash mid-write, or a write in
 * progress) is not a line yet and is ignored; open() cuts it.
 * Streams the file: bounded memory for any size.
 */
export async function verifyAuditLog(file: string, headFile: string): Promise<VerifyReport> {
  // The head first: everything it vouches for was synced to the log before it was
  // written, so a log read afterwards holds it even while a daemon appends.
  let head: AuditHead | undefined;
  let headProblem: string | undefined;
  try {
    head = await readHead(headFile);
  } catch (err) {
    headProblem = err instanceof Error ? err.message : String(err);
  }
  let lines = 0;
  const bad = (line: number, reason: string): VerifyReport => ({ ok: false, lines, firstBad: { line, reason }, ...(head && { head }) });

  let prev = ZERO_HASH;
  let headHash = head?.seq === 0 ? ZERO_HASH : undefined;
  try {
    for await (const { bytes, complete } of readLines(file)) {
      if (!complete) break;
      lines++;
      if (bytes === undefined) return bad(lines, `longer than ${MAX_LINE} bytes`);
      const line = parseLine(bytes);
      if (typeof line === 'string') return bad(lines, line);
      if (line.seq !== lines) return bad(lines, `seq ${line.seq} where ${lines} was expected: lines missing, inserted or reordered`);
      if (line.prev !== prev) {
        if (lines === 1) return bad(1, 'prev of the first line is not 64 zeros');
        return bad(lines - 1, `its hash does not match the prev of line ${lines}: line ${lines - 1} was altered (or line ${lines}'s prev was)`);
      }
      prev = lineHash(bytes);
      if (lines === head?.seq) headHash = prev;
    }
  } catch (err) {
    // No log but a head: judged like an empty log (truncated). Neither: a wrong path, not a verdict.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || (head === undefined && headProblem === undefined)) throw err;
  }

  if (headProblem !== undefined) return bad(0, headProblem);
  if (head === undefined) return lines === 0 ? { ok: true, lines } : bad(0, `${headFile} is missing: truncation cannot be ruled out`);
  if (head.seq > lines) return bad(lines + 1, `the log ends at seq ${lines} but the head says ${head.seq}: truncated`);
  if (headHash !== head.hash) return bad(head.seq, 'differs from the hash the head recorded: altered');
  return { ok: true, lines, head };
}

/** Streams the well-formed lines `filter` accepts, in order. Integrity is verifyAuditLog's job: damaged lines are skipped. */
export async function* readAuditLines(file: string, filter: (line: AuditLine) => boolean): AsyncGenerator<AuditLine> {
  for await (const { bytes, complete } of readLines(file)) {
    if (!complete || bytes === undefined) continue;
    const line = parseLine(bytes);
    if (typeof line !== 'string' && filter(line)) yield line;
  }
}

/** Every complete line with the SHA-256 of its text (what the next line's prev, and a signed head, name), in order; damaged lines as they are, with their problem. */
export async function* readAuditChain(file: string): AsyncGenerator<{ line: AuditLine | string; hash: string }> {
  for await (const { bytes, complete } of readLines(file)) {
    if (!complete) return;
    if (bytes === undefined) yield { line: `longer than ${MAX_LINE} bytes`, hash: '' };
    else yield { line: parseLine(bytes), hash: lineHash(bytes) };
  }
}

/** Filter for readAuditLines: a recording's chain of custody, i.e. target `prefix` itself or anything under `prefix/`. */
export function byTarget(prefix: string): (line: AuditLine) => boolean {
  return (line) => line.target !== undefined && (line.target === prefix || line.target.startsWith(prefix + '/'));
}

/** Lines from the start of the file, streamed. */
async function* readLines(file: string): AsyncGenerator<LineSegment> {
  let offset = 0; // file offset of the current line's start
  let parts: Buffer[] = [];
  let length = 0;
  let oversized = false;
  const take = (last: Buffer): Buffer | undefined => (oversized || length + last.length > MAX_LINE ? undefined : Buffer.concat([...parts, last]));
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK }) as AsyncIterable<Buffer>) {
    let from = 0;
    for (let nl = chunk.indexOf(NL); nl !== -1; nl = chunk.indexOf(NL, from)) {
      const piece = chunk.subarray(from, nl);
      const end = offset + length + piece.length;
      yield { start: offset, end, bytes: take(piece), complete: true };
      offset = end + 1;
      parts = [];
      length = 0;
      oversized = false;
      from = nl + 1;
    }
    const rest = chunk.subarray(from);
    if (oversized || length + rest.length > MAX_LINE) {
      oversized = true;
      parts = [];
    } else {
      parts.push(rest);
    }
    length += rest.length;
  }
  if (length > 0) yield { start: offset, end: offset + length, bytes: take(Buffer.alloc(0)), complete: false };
}
