/**
 * Streams an upload body into a file while hashing it: md5 (Swift's Etag) and
 * SHA-256 (the evidence hash). Chunks are never collected: memory stays at the
 * stream's high-water mark whatever the object size. The file is fdatasync'ed
 * before this resolves.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EdgeError, asStorageError } from '../errors.ts';

export interface Received {
  bytes: number;
  md5: string;
  sha256: string;
}

export interface ReceiveOptions {
  /** Content-Length, when the client sent one. */
  expectedBytes?: number;
  maxBytes: number;
}

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
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  let bytes = 0;
  const limit = Math.min(options.maxBytes, options.expectedBytes ?? Infinity);
  const sink = new Writable({
    highWaterMark: 1 << 20,
    writev(chunks, callback) {
      const buffers = chunks.map((c) => c.chunk as Buffer);
      const start = bytes;
      for (const b of buffers) {
        md5.update(b);
        sha256.update(b);
        bytes += b.length;
      }
      if (bytes > limit) {
        callback(bytes > options.maxBytes
          ? new EdgeError('EntityTooLarge', `Object is larger than the maximum of ${options.maxBytes} bytes`)
          : new EdgeError('BadRequest', 'Body is longer than Content-Length'));
        return;
      }
      writeAll(handle, buffers, start).then(() => callback(), callback);
    },
    final(callback) {
      handle.datasync().then(() => callback(), callback);
    },
  });
  try {
    await pipeline(body, sink);
  } catch (err) {
    throw receiveError(err);
  } finally {
    await handle.close();
  }
  if (options.expectedBytes !== undefined && bytes !== options.expectedBytes) {
    throw new EdgeError('ClientDisconnected', `Body ended after ${bytes} of ${options.expectedBytes} bytes`);
  }
  return { bytes, md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}

function receiveError(err: unknown): unknown {
  if (err instanceof EdgeError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || (err as Error).message === 'aborted') {
    return new EdgeError('ClientDisconnected', 'Client disconnected during upload', {}, err);
  }
  return asStorageError(err);
}
