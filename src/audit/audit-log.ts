/**
 * The audit log's writer: the AuditLog a daemon (or a CLI command) appends
 * to, one JSON line per event, hash-chained, and the head file that records
 * the last durable line. What a line and the head are: audit-format.ts;
 * reading and verifying a trail: audit-reader.ts.
 *
 *   DIR/audit.jsonl   the lines   (0600)
 *   DIR/audit.head    the head    (0600)
 *
 * Opening continues the chain from the log's tail, and refuses a log its head
 * says was truncated or altered (see audit-format.ts for what the head can
 * and cannot catch).
 *
 * Durability: appends are group-committed. Lines queued while a write +
 * fdatasync is in flight go out together in the next one, in call order, so
 * many concurrent appends share one sync. append() resolves once its line is
 * on stable storage; the head follows in the background, at most every
 * HEAD_EVERY_MS under steady appends, so it may lag the log but never lead it.
 *
 * One writer: a process holding the log open must be the only one appending to
 * it. Another writer is detected (the file's size moves under us) and stops
 * this one, rather than forking the chain.
 */
import { open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncPath } from '../lib/durable.ts';
import {
  chainLine,
  eventBody,
  formatHead,
  lineBody,
  lineHash,
  MAX_LINE,
  NL,
  parseLine,
  readHead,
  ZERO_HASH,
  type AuditEvent,
  type AuditHead,
  type LineSegment,
} from './audit-format.ts';

export interface AuditLogOptions {
  /** Repairs and oddities found on open (torn tail cut, head caught up). Default: process.emitWarning. */
  onWarning?: (message: string) => void;
  /** Failures nobody awaits: record()'s, and background head writes. Default: console.error. */
  onError?: (err: unknown) => void;
}

/** Bytes read at a time. */
const CHUNK = 64 * 1024;
/** The least time between head writes while appends keep coming: the head lags the log by about this, plus one write. */
const HEAD_EVERY_MS = 100;

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

  private constructor(file: string, headFile: string, fh: FileHandle, headDir: FileHandle, last: AuditHead, size: number, headSeq: number, onError: (err: unknown) => void) {
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
    const body = this.#accept(event);
    return body instanceof Error ? Promise.reject(body) : this.appendBody(body);
  }

  /** Appends a line made earlier by eventBody() (a carried line, audit/carried-lines.ts); as append(). */
  appendBody(body: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const refusal = this.#refusal();
      if (refusal) return reject(refusal);
      this.#enqueue({ body, resolve, reject });
    });
  }

  /**
   * Which of `wanted` (eventBody() texts) the durable lines after line
   * `after` hold, read backwards from the end, stopping once `enough` are
   * found: lines carried by commits were made when the log stood at some seq.
   */
  async holds(wanted: ReadonlySet<string>, after: number, enough = wanted.size): Promise<Set<string>> {
    const found = new Set<string>();
    const fh = await open(this.#file, 'r');
    try {
      for await (const seg of linesBackward(fh, this.#size)) {
        const line = seg.bytes ? parseLine(seg.bytes) : 'too long';
        if (typeof line === 'string' || line.seq <= after) break;
        const body = lineBody(line, seg.bytes!.toString('utf8'));
        if (wanted.has(body)) found.add(body);
        if (found.size >= enough) break;
      }
    } finally {
      await fh.close();
    }
    return found;
  }

  /** Fire-and-forget append for high-rate events: same queue and order; failures only reach onError. */
  record(event: AuditEvent): void {
    const body = this.#accept(event);
    if (body instanceof Error) {
      this.#report(body);
      return;
    }
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
    return this.#refusal() ?? eventBody(event);
  }

  /** Why the log takes no more lines, if it does not. */
  #refusal(): Error | undefined {
    if (this.#closing) return new Error(`audit log ${this.#file} is closed`);
    return this.#broken;
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
        const text = chainLine(++seq, p.body, hash);
        hash = lineHash(text);
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

  /**
   * At most one head write in flight; when it ends it writes the newest
   * synced state, covering every group since. Under steady appends it writes
   * at most every HEAD_EVERY_MS: each costs two fsyncs and a rename, which
   * small uploads would otherwise pay one of each.
   */
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
        if (this.#headSeq !== this.#seq && !this.#closing) await new Promise((resolve) => setTimeout(resolve, HEAD_EVERY_MS));
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
      await fh.writeFile(formatHead({ seq, hash }));
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

function headMismatch(file: string, reason: string): Error {
  return Object.assign(new Error(`audit log ${file}: ${reason}. Not continuing it (that would overwrite the evidence); move both files aside to start a new log`), {
    code: 'EAUDITHEAD',
  });
}

interface Tail {
  /** The last well-formed line, if any. */
  last: AuditHead | undefined;
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
        tail.last = { seq: line.seq, hash: lineHash(seg.bytes!) };
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
        tail.headHash = lineHash(seg.bytes!);
        break;
      }
    }
  } finally {
    await fh.close();
  }
  return tail;
}

/** Lines from the end of the file to its start, reading CHUNK bytes at a time. */
async function* linesBackward(fh: FileHandle, size: number): AsyncGenerator<LineSegment> {
  let pos = size; // bytes from `pos` on have been read
  let buf = Buffer.alloc(0); // bytes [pos, pos + buf.length): the unyielded start of the line ending at `end`
  let end = size;
  let oversized = false;
  const segment = (start: number, bytes: Buffer): LineSegment => ({ start, end, bytes: oversized || bytes.length > MAX_LINE ? undefined : bytes, complete: end !== size });
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
