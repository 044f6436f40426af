/**
 * The audit log: who did what to which evidence, one JSON object per line,
 * append-only and hash-chained, in the data directory.
 *
 *   DIR/audit.jsonl   {"seq":1,"time":…,"actor":…,…,"prev":"000…0"}\n …   (0600)
 *   DIR/audit.head    {"seq":N,"hash":"<sha256 of line N>"}                  (0600)
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
 *
 * Durability: appends are group-committed. Lines queued while a write +
 * fdatasync is in flight go out together in the next one, in call order, so
 * many concurrent appends share one sync. append() resolves once its line is
 * on stable storage; the head follows in the background.
 *
 * One writer: a process holding the log open must be the only one appending to
 * it. Another writer is detected (the file's size moves under us) and stops
 * this one, rather than forking the chain.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncPath } from '../lib/durable.ts';

export interface AuditEvent {
  /** User name, 'system', or 'cli:<os user>'. */
  actor: string;
  /** 'uploader' | 'reader' | 'replicator' | 'admin' | undefined */
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

export interface AuditLogOptions {
  /** Repairs and oddities found on open (torn tail cut, head caught up). Default: process.emitWarning. */
  onWarning?: (message: string) => void;
  /** Failures nobody awaits: record()'s, and background head writes. Default: console.error. */
  onError?: (err: unknown) => void;
}

export interface VerifyReport {
  ok: boolean;
  /** Complete lines read; on failure the scan stops at the first bad line. */
  lines: number;
  /** line is 1-based; 0 means the head file itself (missing or unreadable). */
  firstBad?: { line: number; reason: string };
  head?: { seq: number; hash: string };
}

const ZERO_HASH = '0'.repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;
/** Longest line written or read: audit events are small, and readers must not buffer a runaway line. */
const MAX_LINE = 1024 * 1024;
const CHUNK = 64 * 1024;
const NL = 0x0a;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

interface Head {
  seq: number;
  hash: string;
}

interface Pending {
  /** The line's JSON between `"seq":N,` and `,"prev":…`, serialized at call time. */
  body: string;
  /** Absent for record(): its failures go to onError. */
  resolve?: () => void;
  reject?: (err: unknown) => void;
}

export class AuditLog {
  readonly #file: string;
  readonly #headFile: string;
  readonly #fh: FileHandle;
  /** The head's directory, kept open: each head write ends with its fsync. */
  readonly #headDir: FileHandle;
  readonly #onError: (err: unknown) => void;

  /** Last durable line and the log's durable size. Advanced only after a successful fdatasync. */
  #seq: number;
  #hash: string;
  #size: number;
  #headSeq: number;

  #queue: Pending[] = [];
  #draining = false;
  #headBusy = false;
  #idleWaiters: (() => void)[] = [];
  /** Set after a failure that leaves the file's state unknown; every later append fails with it. */
  #broken: Error | undefined;
  #brokenReported = false;
  #closing: Promise<void> | undefined;
  #syncs = 0;

  private constructor(file: string, headFile: string, fh: FileHandle, headDir: FileHandle, last: Head, size: number, headSeq: number, onError: (err: unknown) => void) {
    this.#file = file;
    this.#headFile = headFile;
    this.#fh = fh;
    this.#headDir = headDir;
    this.#seq = last.seq;
    this.#hash = last.hash;
    this.#size = size;
    this.#headSeq = headSeq;
    this.#onError = onError;
  }

  /** Why the log refuses appends, if it does (an fdatasync failed, or another writer touched the file). */
  get broken(): Error | undefined {
    return this.#broken;
  }

  /** The last durable line: its seq and the SHA-256 of its text (seq 0 and zeros for an empty log). */
  get head(): { seq: number; hash: string } {
    return { seq: this.#seq, hash: this.#hash };
  }

  /** fdatasyncs of the log so far (head writes not counted): appends / syncs = mean group size. */
  get syncs(): number {
    return this.#syncs;
  }

  /**
   * Opens (creating, mode 0600) the log at `file`; reads the tail backwards to
   * continue the chain; `headFile` records the last seq + hash durably so a
   * truncated log is detectable. A torn last line (crash mid-write) is cut off
   * with a warning. Refuses to open a log its head says was truncated or
   * altered: continuing would overwrite the head and erase the evidence.
   */
  static async open(file: string, headFile: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    const warn = options.onWarning ?? ((message: string) => process.emitWarning(message, 'AuditLogWarning'));
    const onError = options.onError ?? ((err: unknown) => console.error('audit log:', err));
    const head = await readHead(headFile);
    const fh = await open(file, 'a', 0o600);
    let headDir: FileHandle | undefined;
    try {
      // The log may have just been created: make its directory entry durable.
      await fsyncPath(dirname(file));
      const size = (await fh.stat()).size;
      const tail = await scanTail(file, size, head?.seq);
      const last = tail.last ?? { seq: 0, hash: ZERO_HASH };
      if (head === undefined) {
        // open() writes the head before the first append, so only a removed head is missing next to lines.
        if (last.seq > 0) throw headMismatch(file, `${headFile} is missing but the log has lines: truncation cannot be ruled out`);
      } else if (head.seq > last.seq) {
        throw headMismatch(file, `the log ends at seq ${last.seq} but ${headFile} says ${head.seq}: truncated`);
      } else if (tail.headHash !== head.hash) {
        throw headMismatch(file, `line ${head.seq} differs from the one ${headFile} recorded: altered`);
      }
      // Only after the head check: a cut must never remove a line the head vouches for.
      if (tail.goodEnd < size) {
        warn(`audit log ${file}: cut ${size - tail.goodEnd} bytes after seq ${last.seq} (a line torn by a crash mid-write)`);
        await fh.truncate(tail.goodEnd);
        await fh.datasync();
      }
      headDir = await open(dirname(headFile), 'r');
      const log = new AuditLog(file, headFile, fh, headDir, last, tail.goodEnd, head?.seq ?? -1, onError);
      if (head === undefined || head.seq !== last.seq) {
        if (head !== undefined) warn(`audit log ${file}: head was ${last.seq - head.seq} line(s) behind (crash between log sync and head write); caught up`);
        await log.#writeHead();
      }
      return log;
    } catch (err) {
      await headDir?.close();
      await fh.close();
      throw err;
    }
  }

  /** Appends; resolves once the line is on stable storage. Lines are written in call order. */
  append(event: AuditEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      const body = this.#accept(event);
      if (body instanceof Error) return reject(body);
      this.#enqueue({ body, resolve, reject });
    });
  }

  /** Fire-and-forget append for high-rate events: same queue and order; failures only reach onError. */
  record(event: AuditEvent): void {
    const body = this.#accept(event);
    if (body instanceof Error) return this.#report(body);
    this.#enqueue({ body });
  }

  /** Waits for queued lines and the head that covers them, then closes the file. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#idle();
      try {
        // A background head write may have failed: the last chance to cover every line.
        if (this.#headSeq !== this.#seq && !this.#broken) await this.#writeHead();
      } finally {
        await this.#fh.close();
        await this.#headDir.close();
      }
    })();
    return this.#closing;
  }

  /** The serialized body, or why the event cannot be logged. Time is taken here: when it happened. */
  #accept(event: AuditEvent): string | Error {
    if (this.#closing) return new Error(`audit log ${this.#file} is closed`);
    if (this.#broken) return this.#broken;
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

  #enqueue(pending: Pending): void {
    this.#queue.push(pending);
    if (this.#draining) return; // the running drain picks it up with the next group
    this.#draining = true;
    // Start after this turn's callbacks: callers resumed by the last sync re-append
    // together, and go out as one group rather than as a group of 1 and the rest.
    setImmediate(() => void this.#drain());
  }

  /** Group commit: whatever queued up while the previous write+sync ran goes out as one write and one fdatasync. */
  async #drain(): Promise<void> {
    for (;;) {
      const group = this.#queue;
      if (group.length === 0) {
        // Cleared in the same tick as the check: an append after this starts a new drain.
        this.#draining = false;
        this.#notifyIdle();
        return;
      }
      this.#queue = [];
      if (this.#broken) {
        this.#fail(group, this.#broken);
        continue;
      }

      let seq = this.#seq;
      let hash = this.#hash;
      const texts: string[] = [];
      for (const p of group) {
        const text = `{"seq":${++seq},${p.body},"prev":"${hash}"}`;
        hash = sha256(text);
        texts.push(text);
      }
      const bytes = Buffer.from(texts.join('\n') + '\n', 'utf8');

      try {
        // Someone else appending (or cutting) would fork the chain: stop instead.
        const { size } = await this.#fh.stat();
        if (size !== this.#size) throw new Error(`audit log ${this.#file} changed under this writer (${this.#size} → ${size} bytes): another writer or tampering; reopen it`);
      } catch (err) {
        this.#fail(group, (this.#broken = asError(err)));
        continue;
      }

      try {
        await writeAll(this.#fh, bytes);
      } catch (err) {
        // None of the group is acknowledged: cut what reached the file so the chain stays whole, and carry on.
        await this.#fh.truncate(this.#size).catch((cutErr: unknown) => {
          this.#broken = new Error(`audit log ${this.#file}: cannot cut a failed write back: ${asError(cutErr).message}`, { cause: cutErr });
        });
        this.#fail(group, err);
        continue;
      }

      try {
        await this.#fh.datasync();
        this.#syncs++;
      } catch (err) {
        // After a failed fdatasync the kernel may have dropped the dirty pages: what the file holds is unknown.
        this.#fail(group, (this.#broken = new Error(`audit log ${this.#file}: fdatasync failed, reopen it: ${asError(err).message}`, { cause: err })));
        continue;
      }

      this.#seq = seq;
      this.#hash = hash;
      this.#size += bytes.length;
      for (const p of group) p.resolve?.();
      this.#kickHead();
    }
  }

  /** At most one head write in flight; when it ends it writes the newest synced state, covering every group since. */
  #kickHead(): void {
    if (this.#headBusy) return;
    this.#headBusy = true;
    void (async () => {
      while (this.#headSeq !== this.#seq) {
        try {
          await this.#writeHead();
        } catch (err) {
          // The lines are durable; only the truncation check lags. The next group (or close) retries.
          this.#report(err);
          break;
        }
      }
      this.#headBusy = false;
      this.#notifyIdle();
    })();
  }

  /** Write-to-temp, fsync, rename, fsync the directory: the head is always the old one or the new one. */
  async #writeHead(): Promise<void> {
    const seq = this.#seq;
    const hash = this.#hash;
    const tmp = `${this.#headFile}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify({ seq, hash }) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.#headFile);
    await this.#headDir.sync();
    this.#headSeq = seq;
  }

  #fail(group: Pending[], err: unknown): void {
    let unawaited = false;
    for (const p of group) {
      if (p.reject) p.reject(err);
      else unawaited = true;
    }
    // Once per group, not per line: a full disk would flood the logger otherwise.
    if (unawaited) this.#report(err);
  }

  #report(err: unknown): void {
    // A broken log is reported once, not for every record() that follows.
    if (err === this.#broken) {
      if (this.#brokenReported) return;
      this.#brokenReported = true;
    }
    try {
      this.#onError(err);
    } catch {
      // An error handler that throws must not break the queue.
    }
  }

  #idle(): Promise<void> {
    if (!this.#draining && !this.#headBusy) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #notifyIdle(): void {
    if (this.#draining || this.#headBusy) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}

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
  let head: Head | undefined;
  let headProblem: string | undefined;
  try {
    head = await readHead(headFile);
  } catch (err) {
    headProblem = asError(err).message;
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
      prev = sha256(bytes);
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
    else yield { line: parseLine(bytes), hash: sha256(bytes) };
  }
}

/** Filter for readAuditLines: a recording's chain of custody, i.e. target `prefix` itself or anything under `prefix/`. */
export function byTarget(prefix: string): (line: AuditLine) => boolean {
  return (line) => line.target !== undefined && (line.target === prefix || line.target.startsWith(prefix + '/'));
}

// ---------------------------------------------------------------------------

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
function parseLine(bytes: Buffer): AuditLine | string {
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

/** The head file, undefined if there is none; throws if it is not a head. */
async function readHead(headFile: string): Promise<Head | undefined> {
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
  const h = head as Partial<Head> | undefined;
  if (typeof h?.seq !== 'number' || !Number.isSafeInteger(h.seq) || h.seq < 0 || typeof h.hash !== 'string' || !HEX64.test(h.hash)) {
    throw new Error(`${headFile} is not an audit head ({"seq":N,"hash":"<sha256>"})`);
  }
  return { seq: h.seq, hash: h.hash };
}

function headMismatch(file: string, reason: string): Error {
  return Object.assign(new Error(`audit log ${file}: ${reason}. Not continuing it (that would overwrite the evidence); move both files aside to start a new log`), {
    code: 'EAUDITHEAD',
  });
}

interface Tail {
  /** The last well-formed line, if any. */
  last: Head | undefined;
  /** Byte offset just after that line's '\n': everything from here on is torn. */
  goodEnd: number;
  /** Hash of the line with seq `headSeq`, if it was found. */
  headHash: string | undefined;
}

/**
 * Reads backwards from the end, only as far as needed: past any torn tail to
 * the last well-formed line, then on to the line the head names (normally the
 * same one, or one group earlier).
 */
async function scanTail(file: string, size: number, headSeq: number | undefined): Promise<Tail> {
  const tail: Tail = { last: undefined, goodEnd: 0, headHash: headSeq === 0 ? ZERO_HASH : undefined };
  const fh = await open(file, 'r');
  try {
    for await (const seg of linesBackward(fh, size)) {
      const line = seg.complete && seg.bytes ? parseLine(seg.bytes) : 'torn';
      if (tail.last === undefined) {
        if (typeof line === 'string') continue; // torn or garbage after the last good line: cut by open()
        tail.last = { seq: line.seq, hash: sha256(seg.bytes!) };
        tail.goodEnd = seg.end + 1;
        if (headSeq === undefined || headSeq >= line.seq) {
          if (headSeq === line.seq) tail.headHash = tail.last.hash;
          break;
        }
        continue;
      }
      // Walking back from the last line towards the head's: anything odd on the way means a mismatch.
      if (typeof line === 'string' || line.seq < headSeq!) break;
      if (line.seq === headSeq) {
        tail.headHash = sha256(seg.bytes!);
        break;
      }
    }
  } finally {
    await fh.close();
  }
  return tail;
}

interface Segment {
  /** Byte range of the line's text (without its '\n'). */
  start: number;
  end: number;
  /** The text; undefined if longer than MAX_LINE (not buffered). */
  bytes: Buffer | undefined;
  /** Followed by '\n'; false only for a fragment at the very end of the file. */
  complete: boolean;
}

/** Lines from the end of the file to its start, reading CHUNK bytes at a time. */
async function* linesBackward(fh: FileHandle, size: number): AsyncGenerator<Segment> {
  let pos = size; // bytes from `pos` on have been read
  let buf = Buffer.alloc(0); // bytes [pos, pos + buf.length): the unyielded start of the line ending at `end`
  let end = size;
  let oversized = false;
  const segment = (start: number, bytes: Buffer): Segment => ({ start, end, bytes: oversized || bytes.length > MAX_LINE ? undefined : bytes, complete: end !== size });
  for (;;) {
    const nl = buf.lastIndexOf(NL);
    if (nl !== -1) {
      const start = pos + nl + 1;
      // A file ending in '\n' has an empty "line" after it: nothing torn there.
      if (!(end === size && start === size)) yield segment(start, buf.subarray(nl + 1));
      buf = buf.subarray(0, nl);
      end = pos + nl;
      oversized = false;
      continue;
    }
    if (pos === 0) {
      if (!(end === size && size === 0)) yield segment(0, buf);
      return;
    }
    if (buf.length > MAX_LINE) {
      // Keep scanning for its start without holding a runaway line in memory.
      oversized = true;
      buf = Buffer.alloc(0);
    }
    const n = Math.min(CHUNK, pos);
    const chunk = Buffer.alloc(n);
    pos -= n;
    await readAll(fh, chunk, pos);
    buf = Buffer.concat([chunk, buf]);
  }
}

/** Lines from the start of the file, streamed. */
async function* readLines(file: string): AsyncGenerator<Segment> {
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

async function readAll(fh: FileHandle, buffer: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buffer.length; ) {
    const { bytesRead } = await fh.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) throw new Error('audit log shrank while being read');
    done += bytesRead;
  }
}

/** One write(2) normally; loops only if the kernel takes less. */
async function writeAll(fh: FileHandle, bytes: Buffer): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
