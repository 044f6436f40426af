/**
 * The audit trail's format: what a line is, how lines chain, and the head.
 * No appending (audit-log.ts) and no verifying (audit-reader.ts) here.
 *
 *   DIR/audit.jsonl   {"seq":1,"time":…,"actor":…,…,"prev":"000…0"}\n …   (0600)
 *   DIR/audit.head    {"seq":N,"hash":"<sha256 of line N>"}                  (0600)
 *
 * Line: one JSON object ended by '\n', at most MAX_LINE bytes, keys in a
 * fixed order: seq, the event (time first), prev.
 *
 * Chain: every line's `prev` is the sha256 (hex) of the previous line's exact
 * bytes without its '\n'; the first line's is 64 zeros. Editing, removing or
 * reordering a line breaks `seq` continuity or the chain at that point.
 *
 * Head: the chain alone cannot tell a log cut short from a shorter log, so the
 * last durable seq and hash are also kept in a second, atomically replaced
 * file. It is written after the log's fdatasync, so it may lag the log (by the
 * groups synced while a head write was in flight, or after a crash between the
 * two) but never lead it:
 *   - log has MORE lines than the head: normal, the head's line must match;
 *   - log has FEWER lines, or another line at head.seq: truncated / altered.
 * What the head cannot catch is what it does not cover: lines appended (or
 * forged with a correct `prev`) after the last head write, and a rewrite of
 * both files together. Neither file is signed; the head guards against cut-off
 * logs (bad restores, copy errors, careless tampering), not against root.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export interface AuditEvent {
  /** User name, 'system', or 'cli:<os user>'. */
  actor: string;
  /** 'uploader' | 'reader' | 'replicator' | 'admin' | 'custodian' | undefined */
  role?: string;
  /** Remote address, 'admin-socket', 'cli'. */
  source?: string;
  /** e.g. 'auth', 'auth-failed', 'object.put', 'object.get', 'container.post', 'denied', 'user.add', 'config', 'eviction' */
  action: string;
  /** e.g. 'AUTH_bws/container/object' */
  target?: string;
  /** e.g. '201', 'ok', 'denied', 'locked' */
  result: string;
  txId?: string;
  details?: Record<string, unknown>;
}

/** A line as stored: `prev` is the sha256 hex of the previous line's exact text (64 zeros for the first). */
export interface AuditLine extends AuditEvent {
  seq: number;
  time: string;
  prev: string;
}

/** What the head file holds: the last durable line's seq and hash. */
export interface AuditHead {
  seq: number;
  hash: string;
}

/** A line found in the file, by the readers that scan it (forwards or backwards). */
export interface LineSegment {
  /** Byte range of the line's text (without its '\n'). */
  start: number;
  end: number;
  /** The text; undefined if longer than MAX_LINE (not buffered). */
  bytes: Buffer | undefined;
  /** Followed by '\n'; false only for a fragment at the very end of the file. */
  complete: boolean;
}

/** The `prev` of the first line, and the hash of "no line yet". */
export const ZERO_HASH = '0'.repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;
/** Longest line written or read: audit events are small, and readers must not buffer a runaway line. */
export const MAX_LINE = 1024 * 1024;
/** What ends a line. */
export const NL = 0x0a;

/** The hash a line is chained and vouched for by: sha256 (hex) of its exact text, without the '\n'. */
export const lineHash = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/**
 * The event's part of a line (the JSON between `"seq":N,` and `,"prev":…`),
 * or why the event cannot be logged. Time is taken here: when it happened.
 */
export function eventBody(event: AuditEvent): string | Error {
  const reason = invalidEvent(event);
  if (reason) return new TypeError(`audit event: ${reason}`);
  const { actor, role, source, action, target, result, txId, details } = event;
  let json: string;
  try {
    // Fixed key order; JSON.stringify drops undefined ones.
    json = JSON.stringify({ time: new Date().toISOString(), actor, role, source, action, target, result, txId, details });
  } catch (err) {
    return new TypeError(`audit event: details are not serializable: ${(err as Error).message}`);
  }
  // Room for seq and prev; readers refuse longer lines rather than buffer them.
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_LINE - 200) return new RangeError(`audit event: ${bytes} bytes of JSON, at most ${MAX_LINE - 200}`);
  return json.slice(1, -1);
}

/** Line `seq`'s text (without '\n'), from an eventBody() and the previous line's hash. */
export function chainLine(seq: number, body: string, prev: string): string {
  return `{"seq":${seq},${body},"prev":"${prev}"}`;
}

/** The eventBody() of a well-formed line's text: chainLine() undone. */
export function lineBody(line: AuditLine, text: string): string {
  return text.slice(`{"seq":${line.seq},`.length, -`,"prev":"${line.prev}"}`.length);
}

function invalidEvent(event: AuditEvent): string | undefined {
  for (const key of ['actor', 'action', 'result'] as const) {
    if (typeof event[key] !== 'string' || event[key].length === 0) return `${key} must be a non-empty string`;
  }
  for (const key of ['role', 'source', 'target', 'txId'] as const) {
    if (event[key] !== undefined && typeof event[key] !== 'string') return `${key} must be a string`;
  }
  const d = event.details;
  if (d !== undefined && (typeof d !== 'object' || d === null || Array.isArray(d))) return 'details must be an object';
  return undefined;
}

/** The line if it is a well-formed audit line, else why not. */
export function parseLine(bytes: Buffer): AuditLine | string {
  if (!isUtf8(bytes)) return 'not UTF-8';
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const l = value as Record<string, unknown>;
  if (typeof l.seq !== 'number' || !Number.isSafeInteger(l.seq) || l.seq < 1) return 'seq is not a positive integer';
  if (typeof l.prev !== 'string' || !HEX64.test(l.prev)) return 'prev is not a sha256 hex digest';
  for (const key of ['time', 'actor', 'action', 'result']) {
    if (typeof l[key] !== 'string') return `${key} is missing or not a string`;
  }
  for (const key of ['role', 'source', 'target', 'txId']) {
    if (l[key] !== undefined && typeof l[key] !== 'string') return `${key} is not a string`;
  }
  if (l.details !== undefined && (typeof l.details !== 'object' || l.details === null || Array.isArray(l.details))) return 'details is not an object';
  return l as unknown as AuditLine;
}

/** The head file's text. */
export function formatHead(head: AuditHead): string {
  return JSON.stringify({ seq: head.seq, hash: head.hash }) + '\n';
}

/** The head file, undefined if there is none; throws if it is not a head. */
export async function readHead(headFile: string): Promise<AuditHead | undefined> {
  let text: string;
  try {
    text = await readFile(headFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let head: unknown;
  try {
    head = JSON.parse(text);
  } catch {
    head = undefined;
  }
  const h = head as Partial<AuditHead> | undefined;
  if (typeof h?.seq !== 'number' || !Number.isSafeInteger(h.seq) || h.seq < 0 || typeof h.hash !== 'string' || !HEX64.test(h.hash)) {
    throw new Error(`${headFile} is not an audit head ({"seq":N,"hash":"<sha256>"})`);
  }
  return { seq: h.seq, hash: h.hash };
}
