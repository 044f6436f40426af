/**
 * Streams an upload body into a file while hashing it (see hasher.ts). Memory
 * per upload is bounded (PENDING_BATCHES of 512 KiB and the one filling, the
 * sink's 256 KiB buffer, the hasher's two slots) whatever the object size. The file is fdatasync'ed before this
 * resolves.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { EdgeError, asStorageError } from '../lib/errors.ts';
import { createHasher } from './hasher.ts';

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

/** Size of one disk write (and of one hashing batch; see hasher.ts). */
export const WRITE_BYTES = 512 * 1024;
/** Batches received but not yet both written and hashed, at most: the memory an upload holds. */
const PENDING_BATCHES = 4;
/** A datasync starts beside the writes after each this many bytes. */
const SYNC_EVERY_BYTES = 32 * 1024 * 1024;

async function writeAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<number> {
  let written = 0;
  let pending = buffers;
  for (;;) {
    const { bytesWritten } = await handle.writev(pending, position + written);
    written += bytesWritten;
    const total = pending.reduce((n, b) => n + b.length, 0);
    if (bytesWritten === total) return written;
    // Short write: drop what went out and continue with the rest.
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    pending = rest;
  }
}

/** Receives `body` into a new file at `path` (which must not exist). */
export async function receiveToFile(body: Readable, path: string, options: ReceiveOptions): Promise<Received> {
  const handle = await open(path, 'wx', 0o640).catch((err) => {
    throw asStorageError(err);
  });
  const hasher = createHasher(options.expectedBytes);
  let bytes = 0;
  const limit = Math.min(options.maxBytes, options.expectedBytes ?? Infinity);
  // Network reads arrive in ~64 KiB pieces; a write per piece costs a thread
  // pool round trip each and halves throughput, so they are batched. Each
  // batch goes to the disk and to the hasher, each in order but independently
  // of the other, so neither waits for the slower one batch by batch; the
  // body is read on while at most PENDING_BATCHES are not both written and
  // hashed. Every SYNC_EVERY_BYTES written, a datasync starts beside the
  // writes, so the one at the end has little left to flush.
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let queued = 0;
  let writing: Promise<unknown> = Promise.resolve();
  let hashing: Promise<unknown> = Promise.resolve();
  let syncing: Promise<unknown> = Promise.resolve();
  let syncedUpTo = 0;
  let pending = 0;
  let failure: unknown;
  let resumeReading: (() => void) | undefined;
  const settled = () => {
    pending -= 1;
    const resume = resumeReading;
    resumeReading = undefined;
    resume?.();
  };
  const fail = (err: unknown) => {
    failure ??= err;
    settled();
  };
  const flush = () => {
    if (batchBytes === 0) return;
    const buffers = batch;
    const position = queued;
    queued += batchBytes;
    batch = [];
    batchBytes = 0;
    pending += 1;
    const written = (writing = writing.then(() => (failure === undefined ? writeAll(handle, buffers, position) : undefined)));
    const hashed = (hashing = hashing.then(() => (failure === undefined ? hasher.update(buffers) : undefined)));
    Promise.all([written, hashed]).then(settled, fail);
    if (queued - syncedUpTo >= SYNC_EVERY_BYTES) {
      syncedUpTo = queued;
      // After this batch's write, beside the next ones; one at a time.
      syncing = Promise.all([syncing, written])
        .then(() => (failure === undefined ? handle.datasync() : undefined))
        .catch((err: unknown) => {
          failure ??= err; // the rest of the body is not worth taking in
          throw err;
        });
      syncing.catch(() => undefined); // awaited by drained(), or the finally below
    }
  };
  const drained = async () => {
    flush();
    await Promise.all([writing, hashing, syncing]);
    if (failure !== undefined) throw failure;
  };
  const accept = (chunk: Buffer, callback: (err?: Error | null) => void) => {
    batch.push(chunk);
    batchBytes += chunk.length;
    if (batchBytes >= WRITE_BYTES) flush();
    if (failure !== undefined) return callback(failure as Error);
    if (pending < PENDING_BATCHES) return callback();
    resumeReading = () => callback(failure === undefined ? undefined : (failure as Error));
  };
  const sink = new Writable({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > limit) {
        callback(
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
        callback(err as Error);
        return;
      }
      if (waiting) waiting.then(() => accept(chunk, callback), callback);
      else accept(chunk, callback);
    },
    final(callback) {
      drained()
        .then(() => handle.datasync())
        .then(() => callback(), callback);
    },
  });
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
    await Promise.allSettled([writing, hashing, syncing]); // no write may outlive the handle
    await handle.close();
  }
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
