/**
 * What the container parsers share: a buffered reader over a file, the error
 * they all throw, the NAL unit record they all yield, and the limits that keep
 * a hostile file from making them allocate or loop by a size it chose.
 *
 * The reader keeps one window of the file (1 MiB by default) and answers small
 * reads from it, so walking boxes, EBML elements and length prefixes costs one
 * system call per window, not one per field. Every read is checked against the
 * file size first: a size or offset from the file is never trusted to be there.
 */
import { type FileHandle, open } from 'node:fs/promises';

export type VideoCodec = 'h264' | 'h265';

export interface NalUnit {
  /**
   * The NAL unit: header + payload, emulation-prevention bytes kept, no start code, no length prefix, no trailing zero
   * bytes (padding, not part of the unit: see withoutTrailingZeros). A fresh or subarray view; the consumer will not
   * keep it past the next iteration unless it copies.
   */
  bytes: Uint8Array;
  /** 'config' for parameter sets taken from avcC/hvcC (MP4 stsd / MKV CodecPrivate), yielded once before the first sample; 'sample' for everything in the stream. */
  origin: 'config' | 'sample';
  /** 0-based index of the sample (MP4 sample / MKV block frame) this NAL unit came from; -1 for config and for Annex B. */
  sample: number;
  /** Presentation time of that sample in milliseconds from the start of the file, when the container says it; undefined otherwise. */
  timeMs?: number;
}

/** What a container parser hands to openVideo: the codec it found, and the NAL units in order. */
export interface ContainerStream {
  codec: VideoCodec;
  nalUnits(): AsyncGenerator<NalUnit>;
}

/** The file is not what it claims to be, or not a kind we read: says what is wrong and at which byte. */
export class MediaFormatError extends Error {
  override readonly name = 'MediaFormatError';
  /** Byte offset in the file where the problem is, when known. */
  readonly offset: number | undefined;

  constructor(message: string, offset?: number) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

export const DEFAULT_CHUNK_BYTES = 1024 * 1024;
/** Largest NAL unit accepted: far above any real frame, far below what would hurt. */
export const MAX_NAL_BYTES = 64 * 1024 * 1024;
/** Largest metadata structure (MP4 moov/moof) loaded whole. */
export const MAX_METADATA_BYTES = 64 * 1024 * 1024;

export class FileReader {
  readonly size: number;
  readonly chunkBytes: number;
  readonly #fh: FileHandle;
  readonly #window: Buffer;
  #windowStart = 0;
  #windowEnd = 0;
  #read = 0;

  private constructor(fh: FileHandle, size: number, chunkBytes: number) {
    this.#fh = fh;
    this.size = size;
    this.chunkBytes = chunkBytes;
    this.#window = Buffer.alloc(chunkBytes);
  }

  static async open(path: string, chunkBytes = DEFAULT_CHUNK_BYTES): Promise<FileReader> {
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new RangeError(`chunk size ${chunkBytes}`);
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new MediaFormatError(`${path} is not a regular file`);
      return new FileReader(fh, st.size, chunkBytes);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Bytes taken from the file so far (capped at its size: a moov at the end is read before the samples). */
  bytesRead(): number {
    return Math.min(this.size, this.#read);
  }

  /**
   * Bytes [offset, offset + length) as a view that is valid until the next read
   * (it may share the window). Throws MediaFormatError if any of it lies past
   * the end of the file; WHAT names it in the message.
   */
  async read(offset: number, length: number, what = 'data'): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new MediaFormatError(`${what} (${length} bytes) runs past the end of the file (${this.size} bytes); truncated?`, offset);
    }
    if (offset >= this.#windowStart && offset + length <= this.#windowEnd) {
      return this.#window.subarray(offset - this.#windowStart, offset - this.#windowStart + length);
    }
    if (length > this.chunkBytes) {
      const out = Buffer.allocUnsafe(length);
      await this.#fill(out, offset);
      return out;
    }
    const n = Math.min(this.chunkBytes, this.size - offset);
    this.#windowEnd = this.#windowStart = 0; // empty while refilling, in case the read fails
    await this.#fill(this.#window.subarray(0, n), offset);
    this.#windowStart = offset;
    this.#windowEnd = offset + n;
    return this.#window.subarray(0, length);
  }

  /** What read would return, if the window already holds it (no promise: the common case for small fields). */
  peek(offset: number, length: number): Uint8Array | undefined {
    if (offset < this.#windowStart || offset + length > this.#windowEnd || length < 0) return undefined;
    return this.#window.subarray(offset - this.#windowStart, offset - this.#windowStart + length);
  }

  /** Like read, but the bytes are the caller's to keep. */
  async readCopy(offset: number, length: number, what = 'data'): Promise<Uint8Array> {
    const view = await this.read(offset, length, what);
    // new Uint8Array(view) copies; a Buffer's slice() would not.
    return view.buffer === this.#window.buffer ? new Uint8Array(view) : view;
  }

  async close(): Promise<void> {
    await this.#fh.close();
  }

  async #fill(into: Buffer, offset: number): Promise<void> {
    for (let done = 0; done < into.length; ) {
      const { bytesRead } = await this.#fh.read(into, done, into.length - done, offset + done);
      if (bytesRead === 0) throw new MediaFormatError(`file ended early (it shrank while being read?)`, offset + done);
      done += bytesRead;
      this.#read += bytesRead;
    }
  }
}

/** Big-endian unsigned integer of 1..8 bytes (as a double: exact up to 2^53, which is beyond any file). */
export function readUint(bytes: Uint8Array, at: number, length: number): number {
  let v = 0;
  for (let i = 0; i < length; i++) v = v * 256 + bytes[at + i]!;
  return v;
}
