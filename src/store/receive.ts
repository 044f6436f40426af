/**
 * Streams an upload body into a file while hashing it (see hasher.ts). Each
 * network chunk is copied into a slot (upload-slots.ts) as it arrives; a full
 * slot is written and hashed at once, side by side. An upload holds at most
 * four slots (2 MiB; fewer while uploads share the budget, see slotsPerUpload) and the
 * sink's 64 KiB buffer, whatever the object size. The file is fdatasync'ed
 * before this resolves.
 *
 * A large body's full slots are written with O_DIRECT where the file system
 * allows it: the page cache copy cost this machine more CPU than hashing did
 * (dd of 512 MiB: 1.39 s of system time buffered, 0.11 s direct), and a
 * station's page cache is better spent on what is read. The final fdatasync
 * still makes the file durable (the device's cache, the file's extents); the
 * tail that is not a whole block goes through the page cache.
 *
 * A body declared small enough to be hashed inline (under OFFLOAD_BYTES,
 * hasher.ts) skips all that: it is gathered, hashed and written once
 * (receiveWhole).
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { EdgeError, asStorageError } from '../lib/errors.ts';
import { noteBodyBytes } from '../lib/young-gc.ts';
import { type BodyHasher, createHasher, offloadsHashing } from './hasher.ts';
import { copyIntoSlot, sharedSlots } from './upload-slots.ts';

export interface Received {
  bytes: number;
  md5: string;
  sha256: string;
}

export interface ReceiveOptions {
  /** Content-Length, when the client sent one. */
  expectedBytes?: number;
  maxBytes: number;
  /**
   * Told the running total before each chunk is accepted; may throw to refuse
   * it (507), or return a promise (making room) that the chunk waits for.
   */
  onProgress?: (bytes: number) => void | Promise<void>;
  /** A body that stops arriving for this long fails with 408 (0: never). */
  stallTimeoutMs?: number;
  /** The pace a body must keep, per stall window, while edgecd is ready to read (0: any). */
  minBytesPerSecond?: number;
  /** A whole upload must arrive within this (0: no deadline). */
  deadlineMs?: number;
}

/** What an upload's body must keep up, or it fails with 408 and gives up its slot and reservation. */
export interface BodyPace {
  stallMs: number;
  minBytesPerSecond: number;
  deadlineMs: number;
}

/** Uploads being received through the slots now. */
let receiving = 0;

/**
 * Slots an upload may hold: one filling while the others are written and
 * hashed. Four keep a lone upload's pipeline full. With more uploads at once
 * the cores are the limit, not any one pipeline's depth, so they share
 * SLOT_BUDGET slots (4 MiB), at least one each. A body waiting for a slot
 * waits in the socket, not in memory. 16 × 32 MiB (eight at a time, as
 * admitted) on a fresh daemon, three runs of three: 386–458 MB/s, peak RSS
 * 93–99 MB; with two slots each, 357–457 MB/s and 115–127 MB.
 */
const SLOT_BUDGET = 8;
const slotsPerUpload = () => Math.max(1, Math.min(4, Math.floor(SLOT_BUDGET / receiving)));
/** A datasync starts beside the writes after each this many bytes. */
const SYNC_EVERY_BYTES = 32 * 1024 * 1024;

/** O_DIRECT's alignment of memory, file offset and length: the largest logical block size in use. */
const DIRECT_ALIGN = 4096;
/** Cleared when the data directory's file system refuses O_DIRECT (tmpfs before Linux 6.6, some FUSE). */
let directSupported = true;

/** The file system or device will not do O_DIRECT (here, or for this alignment): from now on, the page cache. */
function refusesDirect(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'EINVAL' && code !== 'EOPNOTSUPP') return false;
  directSupported = false;
  return true;
}

/** A second descriptor of the new file, for O_DIRECT writes; undefined where the file system has none. */
async function openDirect(path: string): Promise<FileHandle | undefined> {
  if (!directSupported) return undefined;
  try {
    return await open(path, constants.O_WRONLY | constants.O_DIRECT);
  } catch (err) {
    if (refusesDirect(err)) return undefined;
    throw asStorageError(err);
  }
}

/**
 * Writes all of `bytes` at `position`: through `direct` when given (the caller
 * has checked the alignment), the rest of a short direct write buffered. A
 * device that wants a larger alignment refuses: then this write, and every
 * later one, goes through the page cache.
 */
async function writeFully(handle: FileHandle, direct: FileHandle | undefined, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0;
  if (direct && directSupported) {
    try {
      written = (await direct.write(bytes, 0, bytes.length, position)).bytesWritten;
    } catch (err) {
      if (!refusesDirect(err)) throw err;
    }
  }
  while (written < bytes.length) {
    written += (await handle.write(bytes, written, bytes.length - written, position + written)).bytesWritten;
  }
}

/** 'wx': a new file, never one that exists. */
const NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/** Receives `body` into a new file at `path` (which must not exist). */
export async function receiveToFile(body: Readable, path: string, options: ReceiveOptions): Promise<Received> {
  const expected = options.expectedBytes;
  if (expected !== undefined && !offloadsHashing(expected)) return receiveWhole(body, path, options, expected);
  const handle = await open(path, NEW_FILE, 0o640).catch((err) => {
    throw asStorageError(err);
  });
  let direct: FileHandle | undefined;
  let hasher: BodyHasher;
  try {
    direct = await openDirect(path);
    hasher = createHasher(true);
  } catch (err) {
    await closeBoth(handle, direct);
    throw err;
  }
  let bytes = 0;
  const limit = Math.min(options.maxBytes, options.expectedBytes ?? Infinity);
  // A full slot's write and hash both start at once: writes go out in order,
  // one at a time, and the hash thread takes slots in order. Neither waits
  // for the other. Every SYNC_EVERY_BYTES written, a datasync starts beside
  // the writes, so the one at the end has little left to flush.
  let slot: Buffer | undefined;
  let filled = 0;
  let queued = 0;
  let writing: Promise<unknown> = Promise.resolve();
  let syncing: Promise<unknown> = Promise.resolve();
  let syncedUpTo = 0;
  /** Slots taken and not yet given back, each settled once both its write and its hash are. */
  const inFlight = new Set<Promise<unknown>>();
  let failure: unknown;
  let slotFreed: (() => void) | undefined;
  const dispatch = () => {
    if (!slot || filled === 0) return;
    const taken = slot;
    const data = slot.subarray(0, filled);
    const position = queued;
    queued += filled;
    slot = undefined;
    filled = 0;
    const aligned = direct && sharedSlots.aligned(taken) && position % DIRECT_ALIGN === 0 && data.length % DIRECT_ALIGN === 0;
    const written = (writing = writing.then(() => (failure === undefined ? writeFully(handle, aligned ? direct : undefined, data, position) : undefined)));
    const hashed = failure === undefined ? hasher.update(data) : undefined;
    // The slot may be reused only when nothing reads it any more, failed or not.
    const done: Promise<unknown> = Promise.allSettled([written, hashed]).then(([w, h]) => {
      inFlight.delete(done);
      sharedSlots.give(taken);
      if (w.status === 'rejected') failure ??= w.reason;
      if (h.status === 'rejected') failure ??= h.reason;
      const wake = slotFreed;
      slotFreed = undefined;
      wake?.();
    });
    inFlight.add(done);
    if (queued - syncedUpTo >= SYNC_EVERY_BYTES) {
      syncedUpTo = queued;
      // After this slot's write, beside the next ones; one at a time.
      syncing = Promise.all([syncing, written])
        .then(() => (failure === undefined ? handle.datasync() : undefined))
        .catch((err: unknown) => {
          failure ??= err; // the rest of the body is not worth taking in
          throw err;
        });
      syncing.catch(() => undefined); // awaited by drained(), or the finally below
    }
  };
  const settled = () => Promise.allSettled([writing, syncing, ...inFlight]);
  const drained = async () => {
    dispatch();
    await settled();
    if (failure !== undefined) throw failure;
  };
  const accept = (chunk: Buffer, callback: (err?: Error | null) => void) => {
    let offset = 0;
    const copy = () => {
      while (offset < chunk.length) {
        if (failure !== undefined) return callback(failure as Error);
        if (!slot) {
          if (inFlight.size + 1 > slotsPerUpload()) return void (slotFreed = copy); // read on once one is free
          try {
            slot = sharedSlots.take();
          } catch (err) {
            return callback(err as Error); // out of memory: this upload fails, not the daemon
          }
        }
        const n = copyIntoSlot(slot, filled, chunk, offset);
        filled += n;
        offset += n;
        if (filled === slot.length) dispatch();
      }
      callback();
    };
    copy();
  };
  const sink = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      noteBodyBytes(chunk.length);
      admitChunk(bytes, limit, options, (err) => (err ? callback(err) : accept(chunk, callback)));
    },
    final(callback) {
      drained()
        .then(() => handle.datasync())
        .then(() => callback(), callback);
    },
  });
  receiving += 1;
  try {
    await drainInto(body, sink, { stallMs: options.stallTimeoutMs ?? 0, minBytesPerSecond: options.minBytesPerSecond ?? 0, deadlineMs: options.deadlineMs ?? 0 });
    if (options.expectedBytes !== undefined && bytes !== options.expectedBytes) {
      throw new EdgeError('ClientDisconnected', `Body ended after ${bytes} of ${options.expectedBytes} bytes`);
    }
    return { bytes, ...(await hasher.digest()) };
  } catch (err) {
    failure ??= err; // queued writes and syncs are skipped: the file is thrown away
    hasher.abort();
    throw receiveError(err);
  } finally {
    receiving -= 1;
    await settled(); // no write may outlive the handle, nor a slot be reused while read
    if (slot) sharedSlots.give(slot);
    await closeBoth(handle, direct);
  }
}

/**
 * The checks every body chunk passes before it is taken in: the size limits,
 * then the space reservation (`onProgress`, which may make room first).
 * `bytes` is the running total with this chunk; `then` is called once, with
 * the refusal if there is one.
 */
function admitChunk(bytes: number, limit: number, options: ReceiveOptions, then: (err?: Error) => void): void {
  if (bytes > limit) {
    then(
      bytes > options.maxBytes
        ? new EdgeError('EntityTooLarge', `Object is larger than the maximum of ${options.maxBytes} bytes`)
        : new EdgeError('BadRequest', 'Body is longer than Content-Length'),
    );
    return;
  }
  let waiting: void | Promise<void>;
  try {
    waiting = options.onProgress?.(bytes);
  } catch (err) {
    then(err as Error);
    return;
  }
  // A refusal is an error even if the promise was rejected with nothing.
  if (waiting)
    waiting.then(
      () => then(),
      (err: unknown) => then(err instanceof Error ? err : new EdgeError('InsufficientStorage', 'No room was made for the upload')),
    );
  else then();
}

/**
 * A body declared small enough to be hashed inline: gathered in memory (no
 * more than the slots would hold), hashed, then written to a new file with
 * one O_DSYNC write, which returns only once the bytes are as durable as a
 * write and an fdatasync would make them (an empty file, which has no write
 * to carry the sync, gets the fdatasync). For a 1 KiB upload the slot pool,
 * the write queue and the file held open while the body arrives cost more
 * main-thread time than the bytes do.
 */
async function receiveWhole(body: Readable, path: string, options: ReceiveOptions, expected: number): Promise<Received> {
  let data: Buffer | undefined; // taken with the first bytes, as a slot would be
  const limit = Math.min(options.maxBytes, expected);
  let bytes = 0;
  const sink = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      const at = bytes;
      bytes += chunk.length;
      noteBodyBytes(chunk.length);
      admitChunk(bytes, limit, options, (err) => {
        if (!err) chunk.copy((data ??= Buffer.allocUnsafe(expected)), at);
        callback(err);
      });
    },
  });
  try {
    await drainInto(body, sink, { stallMs: options.stallTimeoutMs ?? 0, minBytesPerSecond: options.minBytesPerSecond ?? 0, deadlineMs: options.deadlineMs ?? 0 });
  } catch (err) {
    throw receiveError(err);
  }
  if (bytes !== expected) throw new EdgeError('ClientDisconnected', `Body ended after ${bytes} of ${expected} bytes`);
  const whole = data ?? Buffer.alloc(0); // an empty body sent no chunk
  const hasher = createHasher(false);
  hasher.update(whole);
  const digests = await hasher.digest();
  try {
    const handle = await open(path, NEW_FILE | constants.O_DSYNC, 0o640);
    try {
      if (whole.length > 0) await writeFully(handle, undefined, whole, 0);
      else await handle.datasync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw asStorageError(err);
  }
  return { bytes, ...digests };
}

/** Closes the file's descriptors, each whatever became of the other. */
async function closeBoth(handle: FileHandle, direct: FileHandle | undefined): Promise<void> {
  const [a, b] = await Promise.allSettled([handle.close(), direct?.close()]);
  if (a.status === 'rejected') throw asStorageError(a.reason);
  if (b.status === 'rejected') throw asStorageError(b.reason);
}

/**
 * Pipes `body` into `sink`. Unlike stream.pipeline, a failing sink (disk full,
 * body too large) does not destroy the request: destroying it would reset
 * the connection, and the client would never see the 507 or 413.
 */
function drainInto(body: Readable, sink: Writable, pace: BodyPace): Promise<void> {
  return new Promise((resolve, reject) => {
    // The client may have gone while the upload waited (admission, locks):
    // a destroyed stream never emits again, so say so now.
    if (body.destroyed || body.readableAborted || body.errored) {
      sink.destroy();
      reject(new EdgeError('ClientDisconnected', 'Client disconnected before the upload started'));
      return;
    }
    // A client that stops sending mid-body, or trickles, is told 408 instead
    // of holding its slot and reservation: no bytes for stallMs, fewer than
    // minBytesPerSecond over a window of stallMs, or past the deadline. Time
    // paused for backpressure (or while room is made) is not the client's:
    // the silence clock restarts on resume, and the window does not run.
    const { stallMs, minBytesPerSecond, deadlineMs } = pace;
    const started = Date.now();
    let lastData = started;
    let windowBytes = 0;
    let windowMs = 0;
    const onResume = () => (lastData = Date.now());
    const onData = (chunk: Buffer) => {
      lastData = Date.now();
      windowBytes += chunk.length;
    };
    body.on('resume', onResume);
    const tickMs = Math.min(1000, stallMs);
    const watchdog =
      stallMs > 0
        ? setInterval(() => {
            const now = Date.now();
            if (deadlineMs > 0 && now - started > deadlineMs)
              return done(new EdgeError('RequestTimeout', `The upload took longer than ${Math.round(deadlineMs / 1000)} s (http.uploadMaxSeconds)`));
            if (body.isPaused()) return;
            if (now - lastData > stallMs) return done(new EdgeError('RequestTimeout', `No body bytes for ${Math.round(stallMs / 1000)} s`));
            windowMs += tickMs;
            if (windowMs < stallMs) return;
            const needed = Math.ceil((minBytesPerSecond * windowMs) / 1000);
            if (windowBytes < needed)
              return done(
                new EdgeError(
                  'RequestTimeout',
                  `The body arrives too slowly: ${windowBytes} bytes in ${Math.round(windowMs / 1000)} s, at least ${needed} needed (http.uploadMinBytesPerSecond)`,
                ),
              );
            windowBytes = 0;
            windowMs = 0;
          }, tickMs)
        : undefined;
    watchdog?.unref();
    body.on('data', onData);
    const done = (err?: unknown) => {
      clearInterval(watchdog);
      body.off('data', onData).off('resume', onResume);
      body.off('error', onBodyError).off('close', onBodyClose);
      sink.off('error', done).off('finish', onFinish);
      if (err === undefined) return resolve();
      body.unpipe(sink);
      sink.destroy();
      reject(err);
    };
    const onFinish = () => done();
    const onBodyError = (err: unknown) => done(new EdgeError('ClientDisconnected', 'Client disconnected during upload', {}, err));
    const onBodyClose = () => {
      if (!body.readableEnded) done(new EdgeError('ClientDisconnected', 'Client disconnected during upload'));
    };
    body.on('error', onBodyError).on('close', onBodyClose);
    sink.on('error', done).on('finish', onFinish);
    body.pipe(sink);
  });
}

function receiveError(err: unknown): unknown {
  if (err instanceof EdgeError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || (err as Error).message === 'aborted') {
    return new EdgeError('ClientDisconnected', 'Client disconnected during upload', {}, err);
  }
  return asStorageError(err);
}
