/**
 * Annex B byte streams (.h264/.h265 files, ffmpeg's `-f h264` output): NAL
 * units separated by 00 00 01 / 00 00 00 01 start codes.
 *
 * A NAL unit ends where the next start code begins, minus any zero bytes
 * directly before it (trailing_zero_8bits): the same cut ffmpeg and the Axis
 * signed-video library make, so hashes over our units match theirs. The
 * splitter is fed chunk by chunk and finds start codes that straddle chunks;
 * it buffers at most one NAL unit (MAX_NAL_BYTES), so a file without start
 * codes fails instead of being read into memory.
 */
import { type FileReader, MAX_NAL_BYTES, MediaFormatError, type NalUnit, type VideoCodec } from './byte-reader.ts';

const ZERO_SLACK = 64 * 1024;

export class AnnexBSplitter {
  readonly #maxNalBytes: number;
  /** Bytes of the current NAL unit from earlier chunks. */
  #acc = new Uint8Array(0);
  #accLength = 0;
  /** Consecutive zero bytes at the end of everything pushed so far. */
  #zeros = 0;
  /** Whether a start code has been seen (bytes before the first one are not a NAL unit). */
  #started = false;
  /** File offset of the next chunk, and of the current NAL unit. */
  #offset = 0;
  #nalOffset = 0;

  constructor(maxNalBytes = MAX_NAL_BYTES) {
    this.#maxNalBytes = maxNalBytes;
  }

  /** The NAL units that CHUNK completes; each a view valid until the next push. */
  *push(chunk: Uint8Array): Generator<Uint8Array> {
    let segment = 0; // where the current NAL unit's bytes start in this chunk
    for (let from = 0; ; ) {
      const one = chunk.indexOf(1, from);
      if (one < 0) break;
      from = one + 1;
      let zeros = 0;
      while (one - zeros - 1 >= segment && chunk[one - zeros - 1] === 0) zeros++;
      if (one - zeros === 0) zeros += this.#zeros; // all zeros back to the chunk start: count those before it
      if (zeros < 2) continue;
      if (this.#started) {
        const nal = this.#complete(chunk.subarray(segment, one), zeros);
        if (nal.length > 0) yield nal;
      } else if (this.#offset + one > this.#maxNalBytes) {
        throw new MediaFormatError(`no Annex B start code in the first ${this.#maxNalBytes} bytes`, 0);
      }
      this.#started = true;
      this.#nalOffset = this.#offset + one + 1;
      this.#accLength = 0;
      segment = one + 1;
    }
    const rest = chunk.subarray(segment);
    let trailing = 0;
    while (trailing < rest.length && rest[rest.length - 1 - trailing] === 0) trailing++;
    this.#zeros = trailing === chunk.length ? this.#zeros + trailing : trailing;
    if (this.#started) this.#append(rest, this.#zeros);
    else if (this.#offset + chunk.length > this.#maxNalBytes) throw new MediaFormatError(`no Annex B start code in the first ${this.#maxNalBytes} bytes`, 0);
    this.#offset += chunk.length;
  }

  /** The last NAL unit, once the stream has ended (undefined if there is none). */
  end(): Uint8Array | undefined {
    if (!this.#started) return undefined;
    const nal = this.#acc.subarray(0, Math.max(0, this.#accLength - this.#zeros));
    this.#started = false;
    this.#accLength = 0;
    return nal.length > 0 ? nal : undefined;
  }

  /** Earlier bytes + TAIL, minus ZEROS trailing zero bytes. */
  #complete(tail: Uint8Array, zeros: number): Uint8Array {
    if (this.#accLength === 0) {
      this.#check(tail.length - zeros);
      return tail.subarray(0, Math.max(0, tail.length - zeros));
    }
    this.#append(tail, zeros);
    return this.#acc.subarray(0, Math.max(0, this.#accLength - zeros));
  }

  /** Adds BYTES to the current unit; the unit's last ZEROS bytes are zeros (not part of it if it ends here). */
  #append(bytes: Uint8Array, zeros: number): void {
    if (bytes.length === 0) return;
    const need = this.#accLength + bytes.length;
    // Trailing zeros are not part of the unit, but a run of them still costs memory: allow only a little.
    this.#check(need - Math.min(zeros, ZERO_SLACK));
    if (need > this.#acc.length) {
      const grown = new Uint8Array(Math.min(Math.max(need, this.#acc.length * 2, 64 * 1024), this.#maxNalBytes + ZERO_SLACK));
      grown.set(this.#acc.subarray(0, this.#accLength));
      this.#acc = grown;
    }
    this.#acc.set(bytes, this.#accLength);
    this.#accLength = need;
  }

  #check(length: number): void {
    if (length > this.#maxNalBytes) throw new MediaFormatError(`NAL unit longer than ${this.#maxNalBytes} bytes (no start code?)`, this.#nalOffset);
  }
}

/** All NAL units of an Annex B stream held in memory (e.g. ffmpeg's output), as copies. */
export function splitAnnexB(data: Uint8Array): Uint8Array[] {
  const splitter = new AnnexBSplitter(Math.max(MAX_NAL_BYTES, data.length));
  // new Uint8Array(u) copies, whatever DATA is (a Buffer's slice() would not).
  const units = [...splitter.push(data)].map((u) => new Uint8Array(u));
  const last = splitter.end();
  if (last) units.push(new Uint8Array(last));
  return units;
}

export async function* annexBNalUnits(reader: FileReader): AsyncGenerator<NalUnit> {
  const splitter = new AnnexBSplitter();
  for (let offset = 0; offset < reader.size; ) {
    const length = Math.min(reader.chunkBytes, reader.size - offset);
    const chunk = await reader.read(offset, length, 'Annex B data');
    offset += length;
    for (const bytes of splitter.push(chunk)) yield { bytes, origin: 'sample', sample: -1 };
  }
  const last = splitter.end();
  if (last) yield { bytes: last, origin: 'sample', sample: -1 };
}

/**
 * H.264 or H.265, from the headers of the first NAL units of an Annex B stream.
 * A stream starts with parameter sets, an access unit delimiter or SEI, and
 * those two-byte headers do not collide between the codecs: an H.265 header
 * has layer id 0 and temporal_id_plus1 >= 1; an H.264 SEI has nal_ref_idc 0.
 */
export async function sniffAnnexBCodec(reader: FileReader): Promise<VideoCodec | undefined> {
  const splitter = new AnnexBSplitter();
  const head = await reader.read(0, Math.min(reader.size, 1024 * 1024), 'Annex B data');
  const units = [...splitter.push(head)];
  const last = splitter.end();
  if (last) units.push(last);
  for (const unit of units.slice(0, 16)) {
    if (unit.length < 2 || unit[0]! & 0x80) continue;
    const b0 = unit[0]!;
    const b1 = unit[1]!;
    const h265Type = (b0 >> 1) & 0x3f;
    if ((b0 & 1) === 0 && b1 >> 3 === 0 && (b1 & 7) >= 1 && [32, 33, 34, 35, 39].includes(h265Type)) return 'h265';
    const h264Type = b0 & 0x1f;
    if ([7, 8, 9].includes(h264Type) || (h264Type === 6 && (b0 & 0x60) === 0)) return 'h264';
  }
  return undefined;
}
