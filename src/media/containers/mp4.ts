/**
 * ISO BMFF / MP4: the NAL units of the first H.264/H.265 video track.
 *
 * Only `moov` (capped at MAX_METADATA_BYTES) and, in a fragmented file, one
 * `moof` at a time are held in memory; wherever `moov` is (front or end), it is
 * found by walking the top-level box headers. Samples are then read one NAL
 * unit at a time from their offsets, walking the sample tables (stsz/stz2,
 * stco/co64, stsc, stts, ctts) in place rather than expanding them, and every
 * count from the file is checked against the bytes that could hold it.
 *
 * The avcC/hvcC parsing and the length-prefixed sample splitting are exported
 * for mkv.ts: Matroska's CodecPrivate and blocks use the same records.
 */
import { type ContainerStream, type FileReader, MAX_METADATA_BYTES, MAX_NAL_BYTES, MediaFormatError, type NalUnit, readUint, type VideoCodec } from './byte-reader.ts';

export interface DecoderConfig {
  /** Bytes in each NAL unit's length prefix: 1, 2 or 4. */
  lengthSize: number;
  /** Parameter sets (and any SEI) the record carries, in its order; copies. */
  units: Uint8Array[];
}

/** An AVCDecoderConfigurationRecord (avcC) or HEVCDecoderConfigurationRecord (hvcC); AT is its file offset, for messages. */
export function parseDecoderConfig(codec: VideoCodec, record: Uint8Array, at: number): DecoderConfig {
  const name = codec === 'h264' ? 'avcC' : 'hvcC';
  const fail = (what: string, i: number) => new MediaFormatError(`${name} ${what}`, at + i);
  const units: Uint8Array[] = [];
  let i = 0;
  const unit = () => {
    if (i + 2 > record.length) throw fail('ends inside its NAL unit list', i);
    const n = readUint(record, i, 2);
    if (i + 2 + n > record.length) throw fail(`NAL unit of ${n} bytes runs past its end`, i);
    const nal = withoutTrailingZeros(record.subarray(i + 2, i + 2 + n));
    if (nal.length > 0) units.push(new Uint8Array(nal)); // a copy (slice() would not copy a Buffer)
    i += 2 + n;
  };
  let lengthSize: number;
  if (codec === 'h264') {
    if (record.length < 7) throw fail(`too short (${record.length} bytes)`, 0);
    if (record[0] !== 1) throw fail(`configurationVersion ${record[0]} (expected 1)`, 0);
    lengthSize = (record[4]! & 3) + 1;
    const sps = record[5]! & 0x1f;
    i = 6;
    for (let k = 0; k < sps; k++) unit();
    if (i >= record.length) throw fail('ends before its PPS count', i);
    const pps = record[i++]!;
    for (let k = 0; k < pps; k++) unit();
  } else {
    if (record.length < 23) throw fail(`too short (${record.length} bytes)`, 0);
    lengthSize = (record[21]! & 3) + 1;
    const arrays = record[22]!;
    i = 23;
    for (let a = 0; a < arrays; a++) {
      if (i + 3 > record.length) throw fail('ends inside its NAL unit arrays', i);
      const n = readUint(record, i + 1, 2);
      i += 3;
      for (let k = 0; k < n; k++) unit();
    }
  }
  if (lengthSize === 3) throw fail('says NAL length prefixes are 3 bytes (must be 1, 2 or 4)', codec === 'h264' ? 4 : 21);
  return { lengthSize, units };
}

/**
 * A NAL unit's last byte is never 0x00 (H.264 7.4.1, H.265 7.4.2.2): zero bytes after it are padding some
 * encoders leave inside the length (the corpus's H.265 files end every slice with one). Annex B readers (ffmpeg, the Axis library) drop them as
 * trailing_zero_8bits, so we do too, and a unit reads the same from MP4, MKV and Annex B.
 */
export function withoutTrailingZeros(nal: Uint8Array): Uint8Array {
  let end = nal.length;
  while (end > 0 && nal[end - 1] === 0) end--;
  return end === nal.length ? nal : nal.subarray(0, end);
}

/** The NAL units of one sample (SIZE bytes at OFFSET), each preceded by a LENGTHSIZE-byte big-endian length. */
export async function* lengthPrefixedNalUnits(reader: FileReader, offset: number, size: number, lengthSize: number): AsyncGenerator<Uint8Array> {
  const end = offset + size;
  for (let pos = offset; pos < end; ) {
    if (pos + lengthSize > end) throw new MediaFormatError(`NAL length prefix runs past the end of the sample at byte ${offset}`, pos);
    const length = readUint(reader.peek(pos, lengthSize) ?? (await reader.read(pos, lengthSize, 'NAL length prefix')), 0, lengthSize);
    if (length > end - pos - lengthSize) throw new MediaFormatError(`NAL unit of ${length} bytes runs past the end of the sample at byte ${offset} (${size} bytes)`, pos);
    if (length > MAX_NAL_BYTES) throw new MediaFormatError(`NAL unit of ${length} bytes is larger than ${MAX_NAL_BYTES}`, pos);
    pos += lengthSize;
    const nal = length > 0 ? withoutTrailingZeros(reader.peek(pos, length) ?? (await reader.read(pos, length, 'NAL unit'))) : undefined;
    if (nal && nal.length > 0) yield nal;
    pos += length;
  }
}

// ---- Boxes ----

interface Box {
  type: string;
  /** Offsets in the buffer (or file) holding it: header start, payload start, end. */
  start: number;
  data: number;
  end: number;
}

const fourcc = (b: Uint8Array, at: number) => String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);

/** The boxes in BUF[from, to); BASE is BUF's file offset, for messages. */
function* boxes(buf: Uint8Array, from: number, to: number, base: number): Generator<Box> {
  // Fewer than 8 bytes left is padding some muxers leave (a 0 terminator in udta), not a box.
  for (let pos = from; to - pos >= 8; ) {
    const type = fourcc(buf, pos + 4);
    let size = readUint(buf, pos, 4);
    let data = pos + 8;
    if (size === 1) {
      if (to - pos < 16) throw new MediaFormatError(`box '${type}' header truncated`, base + pos);
      size = readUint(buf, pos + 8, 8);
      data = pos + 16;
    } else if (size === 0) size = to - pos;
    if (size < data - pos || size > to - pos) throw new MediaFormatError(`box '${type}' of ${size} bytes does not fit in its parent`, base + pos);
    yield { type, start: pos, data, end: pos + size };
    pos += size;
  }
}

/** An in-memory box tree (moov or moof) with bounds-checked field access. */
class BoxBuffer {
  constructor(
    readonly buf: Uint8Array,
    readonly base: number,
  ) {}

  children(parent: Box, skip = 0): Generator<Box> {
    return boxes(this.buf, parent.data + skip, parent.end, this.base);
  }

  child(parent: Box, type: string, skip = 0): Box | undefined {
    for (const b of this.children(parent, skip)) if (b.type === type) return b;
    return undefined;
  }

  /** The box at PATH (types) under PARENT. */
  path(parent: Box, ...types: string[]): Box | undefined {
    let box: Box | undefined = parent;
    for (const t of types) box = box && this.child(box, t);
    return box;
  }

  /** Unsigned field of LENGTH bytes at AT bytes into BOX's payload. */
  uint(box: Box, at: number, length: number): number {
    this.need(box, at + length);
    return readUint(this.buf, box.data + at, length);
  }

  fourcc(box: Box, at: number): string {
    this.need(box, at + 4);
    return fourcc(this.buf, box.data + at);
  }

  int32(box: Box, at: number): number {
    const v = this.uint(box, at, 4);
    return v >= 2 ** 31 ? v - 2 ** 32 : v;
  }

  need(box: Box, length: number): void {
    if (box.end - box.data < length) throw new MediaFormatError(`box '${box.type}' too short (${box.end - box.data} bytes, needs ${length})`, this.base + box.start);
  }

  /** A table of COUNT entries of ENTRY bytes starting AT bytes into BOX: checked to fit. */
  table(box: Box, at: number, count: number, entry: number): number {
    if (count * entry > box.end - box.data - at)
      throw new MediaFormatError(`box '${box.type}' claims ${count} entries, more than its ${box.end - box.data} bytes hold`, this.base + box.start);
    return box.data + at;
  }

  offset(box: Box): number {
    return this.base + box.start;
  }
}

// ---- moov ----

interface Sample {
  offset: number;
  size: number;
  timeMs: number | undefined;
}

interface Track {
  id: number;
  codec: VideoCodec;
  config: DecoderConfig;
  /** Media ticks → ms from the start of the presentation (edit list applied), or undefined without a timescale. */
  toMs: (ticks: number) => number | undefined;
  stbl: Box;
  /** Defaults from mvex/trex, for fragments. */
  trex: { duration: number; size: number } | undefined;
}

const SAMPLE_ENTRIES: Record<string, { codec: VideoCodec; config: string }> = {
  avc1: { codec: 'h264', config: 'avcC' },
  avc3: { codec: 'h264', config: 'avcC' },
  hvc1: { codec: 'h265', config: 'hvcC' },
  hev1: { codec: 'h265', config: 'hvcC' },
};

/** mvhd/mdhd timescale (version 0: 32-bit times; 1: 64-bit). */
function timescale(m: BoxBuffer, box: Box): number {
  return m.uint(box, m.uint(box, 0, 1) === 1 ? 20 : 12, 4);
}

function findTrack(m: BoxBuffer, moov: Box): Track {
  const seen: string[] = [];
  const mvhd = m.child(moov, 'mvhd');
  const movieScale = mvhd ? timescale(m, mvhd) : 0;
  for (const trak of m.children(moov)) {
    if (trak.type !== 'trak') continue;
    const hdlr = m.path(trak, 'mdia', 'hdlr');
    const handler = hdlr ? m.fourcc(hdlr, 8) : '????';
    const stbl = m.path(trak, 'mdia', 'minf', 'stbl');
    const stsd = stbl && m.child(stbl, 'stsd');
    const entries = stsd ? [...m.children(stsd, 8)] : [];
    seen.push(`${handler}/${entries.map((e) => e.type).join('+') || 'none'}`);
    const entry = handler === 'vide' ? entries.find((e) => e.type in SAMPLE_ENTRIES) : undefined;
    if (!entry || !stbl) continue;
    const { codec, config } = SAMPLE_ENTRIES[entry.type]!;
    // VisualSampleEntry: 8 bytes of SampleEntry + 70 of fixed fields before its child boxes.
    const record = m.child(entry, config, 78);
    if (!record) throw new MediaFormatError(`sample entry '${entry.type}' has no ${config}`, m.offset(entry));
    const tkhd = m.child(trak, 'tkhd');
    if (!tkhd) throw new MediaFormatError(`trak has no tkhd`, m.offset(trak));
    const id = m.uint(tkhd, m.uint(tkhd, 0, 1) === 1 ? 20 : 12, 4);
    const mdhd = m.path(trak, 'mdia', 'mdhd');
    const scale = mdhd ? timescale(m, mdhd) : 0;
    const shift = editShift(m, m.path(trak, 'edts', 'elst'), scale, movieScale);
    const mvex = m.child(moov, 'mvex');
    const trex = mvex && [...m.children(mvex)].find((b) => b.type === 'trex' && m.uint(b, 4, 4) === id);
    return {
      id,
      codec,
      config: parseDecoderConfig(codec, m.buf.subarray(record.data, record.end), m.base + record.data),
      toMs: (ticks) => (scale > 0 ? ((ticks - shift) * 1000) / scale : undefined),
      stbl,
      trex: trex && { duration: m.uint(trex, 12, 4), size: m.uint(trex, 16, 4) },
    };
  }
  throw new MediaFormatError(`unsupported codec: no H.264/H.265 video track (tracks: ${seen.join(', ') || 'none'})`);
}

/** Media ticks to subtract so that times count from the start of the presentation: the first edit's media_time, less any leading empty edits. */
function editShift(m: BoxBuffer, elst: Box | undefined, scale: number, movieScale: number): number {
  if (!elst) return 0;
  const v1 = m.uint(elst, 0, 1) === 1;
  const count = m.uint(elst, 4, 4);
  const size = v1 ? 20 : 12;
  const at = m.table(elst, 8, count, size) - elst.data;
  let empty = 0;
  for (let e = 0; e < count; e++) {
    const duration = m.uint(elst, at + e * size, v1 ? 8 : 4);
    const mediaTime = v1 ? m.uint(elst, at + e * size + 8, 8) : m.int32(elst, at + e * size + 4);
    const isEmpty = v1 ? mediaTime === 2 ** 64 - 1 || mediaTime >= 2 ** 63 : mediaTime === -1;
    if (!isEmpty) return mediaTime - (movieScale > 0 ? (empty * scale) / movieScale : 0);
    empty += duration;
  }
  return 0;
}

// ---- Sample tables ----

/** The samples of a (non-fragmented) stbl, in decode order, read off the tables in place. */
function* tableSamples(m: BoxBuffer, track: Track, fileSize: number): Generator<Sample> {
  const { stbl } = track;
  const get = (type: string) => m.child(stbl, type);
  const stsz = get('stsz');
  const stz2 = get('stz2');
  const chunkBox = get('stco') ?? get('co64');
  const stsc = get('stsc');
  if (!(stsz || stz2) || !chunkBox || !stsc) {
    if (get('stts') && m.uint(get('stts')!, 4, 4) > 0) throw new MediaFormatError('stbl lacks stsz, stco or stsc', m.offset(stbl));
    return; // an empty table (a fragmented file's moov)
  }

  let count: number;
  let sizeOf: (i: number) => number;
  if (stsz) {
    const uniform = m.uint(stsz, 4, 4);
    count = m.uint(stsz, 8, 4);
    if (uniform > 0) {
      if (count * uniform > fileSize) throw new MediaFormatError(`stsz claims ${count} samples of ${uniform} bytes, more than the file holds`, m.offset(stsz));
      sizeOf = () => uniform;
    } else {
      const at = m.table(stsz, 12, count, 4);
      sizeOf = (i) => readUint(m.buf, at + i * 4, 4);
    }
  } else {
    const field = m.uint(stz2!, 7, 1);
    count = m.uint(stz2!, 8, 4);
    if (field !== 4 && field !== 8 && field !== 16) throw new MediaFormatError(`stz2 field size ${field}`, m.offset(stz2!));
    const at = m.table(stz2!, 12, Math.ceil((count * field) / 8), 1);
    sizeOf = field === 4 ? (i) => (m.buf[at + (i >> 1)]! >> (i & 1 ? 0 : 4)) & 15 : (i) => readUint(m.buf, at + (i * field) / 8, field / 8);
  }

  const wide = chunkBox.type === 'co64';
  const chunks = m.uint(chunkBox, 4, 4);
  const chunkAt = m.table(chunkBox, 8, chunks, wide ? 8 : 4);
  const chunkOffset = (c: number) => readUint(m.buf, chunkAt + c * (wide ? 8 : 4), wide ? 8 : 4);
  const runs = m.uint(stsc, 4, 4);
  const runAt = m.table(stsc, 8, runs, 12);
  const times = new Timeline(m, get('stts'), get('ctts'));

  let sample = 0;
  for (let r = 0; r < runs && sample < count; r++) {
    const first = readUint(m.buf, runAt + r * 12, 4);
    const perChunk = readUint(m.buf, runAt + r * 12 + 4, 4);
    const next = r + 1 < runs ? readUint(m.buf, runAt + (r + 1) * 12, 4) : chunks + 1;
    if (first < 1 || next <= first) throw new MediaFormatError(`stsc entry ${r} is out of order (first chunk ${first}, next ${next})`, m.base + runAt + r * 12);
    for (let c = first; c < next && c <= chunks && sample < count; c++) {
      let offset = chunkOffset(c - 1);
      for (let k = 0; k < perChunk && sample < count; k++, sample++) {
        const size = sizeOf(sample);
        const ticks = times.next();
        yield { offset, size, timeMs: ticks === undefined ? undefined : track.toMs(ticks) };
        offset += size;
      }
    }
  }
  if (sample < count) throw new MediaFormatError(`stsc/stco place only ${sample} of the ${count} samples stsz lists`, m.offset(stsc));
}

/** Presentation ticks of successive samples from stts (decode deltas) and ctts (composition offsets), run by run. */
class Timeline {
  #dts = 0;
  #stts: Runs | undefined;
  #ctts: Runs | undefined;

  constructor(m: BoxBuffer, stts: Box | undefined, ctts: Box | undefined) {
    this.#stts = stts && new Runs(m, stts);
    this.#ctts = ctts && new Runs(m, ctts);
  }

  /** The next sample's composition time, or undefined once stts has run out. */
  next(): number | undefined {
    const delta = this.#stts?.next();
    if (delta === undefined) return undefined;
    const dts = this.#dts;
    this.#dts += delta;
    const offset = this.#ctts?.next() ?? 0;
    return dts + (offset >= 2 ** 31 ? offset - 2 ** 32 : offset); // ctts offsets are signed in practice, whatever the version says
  }
}

/** (count, value) runs, as in stts and ctts. */
class Runs {
  #at: number;
  #left: number;
  #remaining = 0;
  #value = 0;

  constructor(
    private readonly m: BoxBuffer,
    box: Box,
  ) {
    this.#left = m.uint(box, 4, 4);
    this.#at = m.table(box, 8, this.#left, 8);
  }

  next(): number | undefined {
    while (this.#remaining === 0) {
      if (this.#left === 0) return undefined;
      this.#remaining = readUint(this.m.buf, this.#at, 4);
      this.#value = readUint(this.m.buf, this.#at + 4, 4);
      this.#at += 8;
      this.#left--;
    }
    this.#remaining--;
    return this.#value;
  }
}

// ---- Fragments ----

/** Per-track state carried from one moof to the next. */
interface FragmentState {
  nextDts: number;
  /** Samples so far, across the file: each needs a byte of it, which bounds what a trun may claim. */
  samples: number;
}

/** Our track's samples in one moof (at file offset m.base), lazily: a trun's count may be large. */
function* fragmentSamples(m: BoxBuffer, moof: Box, track: Track, state: FragmentState, fileSize: number): Generator<Sample> {
  let previousEnd = m.base; // where the previous traf's data ended: the implicit base of the next
  for (const traf of m.children(moof)) {
    if (traf.type !== 'traf') continue;
    const tfhd = m.child(traf, 'tfhd');
    if (!tfhd) throw new MediaFormatError('traf without tfhd', m.offset(traf));
    const flags = m.uint(tfhd, 1, 3);
    const ours = m.uint(tfhd, 4, 4) === track.id;
    let at = 8;
    const field = (flag: number, length: number) => {
      if (!(flags & flag)) return undefined;
      const v = m.uint(tfhd, at, length);
      at += length;
      return v;
    };
    const baseOffset = field(0x01, 8);
    field(0x02, 4);
    const defaultDuration = field(0x08, 4) ?? (ours ? track.trex?.duration : undefined) ?? 0;
    const defaultSize = field(0x10, 4) ?? (ours ? track.trex?.size : undefined);
    const base = baseOffset ?? (flags & 0x020000 ? m.base : previousEnd);
    const tfdt = m.child(traf, 'tfdt');
    if (ours && tfdt) state.nextDts = m.uint(tfdt, 4, m.uint(tfdt, 0, 1) === 1 ? 8 : 4);

    let dataEnd = base;
    for (const trun of m.children(traf)) {
      if (trun.type !== 'trun') continue;
      const tf = m.uint(trun, 1, 3);
      const count = m.uint(trun, 4, 4);
      let p = 8;
      let offset = dataEnd;
      if (tf & 0x01) {
        offset = base + m.int32(trun, p);
        p += 4;
      }
      if (tf & 0x04) p += 4;
      const has = (flag: number) => (tf & flag ? 4 : 0);
      const entry = has(0x100) + has(0x200) + has(0x400) + has(0x800);
      m.table(trun, p, count, entry);
      if (!(tf & 0x200) && defaultSize === undefined) throw new MediaFormatError('trun gives no sample sizes and there is no default', m.offset(trun));
      if (!(tf & 0x200) && count * defaultSize! > fileSize)
        throw new MediaFormatError(`trun claims ${count} samples of ${defaultSize} bytes, more than the file holds`, m.offset(trun));
      if (count > fileSize - state.samples) throw new MediaFormatError(`trun claims ${count} samples, more than the file could hold`, m.offset(trun));
      state.samples += count;
      for (let i = 0; i < count; i++, p += entry) {
        let q = p;
        const take = (flag: number) => {
          if (!(tf & flag)) return undefined;
          q += 4;
          return m.uint(trun, q - 4, 4);
        };
        const duration = take(0x100) ?? defaultDuration;
        const size = take(0x200) ?? defaultSize!;
        take(0x400);
        const cto = tf & 0x800 ? m.int32(trun, q) : 0;
        if (ours) {
          yield { offset, size, timeMs: track.toMs(state.nextDts + cto) };
          state.nextDts += duration;
        }
        offset += size;
      }
      dataEnd = offset;
    }
    previousEnd = dataEnd;
  }
}

// ---- The file ----

/** A top-level box header read from the file. */
async function readBoxHeader(reader: FileReader, pos: number): Promise<Box> {
  if (reader.size - pos < 8) throw new MediaFormatError(`box header truncated (${reader.size - pos} bytes left)`, pos);
  const h = await reader.read(pos, Math.min(16, reader.size - pos), 'box header');
  const type = fourcc(h, 4);
  let size = readUint(h, 0, 4);
  let data = pos + 8;
  if (size === 1) {
    if (h.length < 16) throw new MediaFormatError(`box '${type}' header truncated`, pos);
    size = readUint(h, 8, 8);
    data = pos + 16;
  } else if (size === 0) size = reader.size - pos;
  if (size < data - pos) throw new MediaFormatError(`box '${type}' claims ${size} bytes, less than its header`, pos);
  return { type, start: pos, data, end: pos + size };
}

async function loadBox(reader: FileReader, box: Box): Promise<BoxBuffer> {
  const size = box.end - box.start;
  if (size > MAX_METADATA_BYTES) throw new MediaFormatError(`'${box.type}' of ${size} bytes is larger than ${MAX_METADATA_BYTES}`, box.start);
  return new BoxBuffer(await reader.readCopy(box.start, size, `'${box.type}' box`), box.start);
}

export async function openMp4(reader: FileReader): Promise<ContainerStream> {
  let moovBox: Box | undefined;
  for (let pos = 0; pos < reader.size && !moovBox; ) {
    const box = await readBoxHeader(reader, pos);
    if (box.type === 'moov') moovBox = box;
    else if (box.type === 'moof') throw new MediaFormatError(`'moof' before any 'moov'`, pos);
    else if (box.end > reader.size)
      throw new MediaFormatError(`'${box.type}' claims ${box.end - pos} bytes, past the end of the file, and no 'moov' came before it (truncated?)`, pos);
    pos = box.end;
  }
  if (!moovBox) throw new MediaFormatError(`no 'moov' box`);
  const m = await loadBox(reader, moovBox);
  const moov: Box = { ...moovBox, start: 0, data: moovBox.data - moovBox.start, end: moovBox.end - moovBox.start };
  const track = findTrack(m, moov);
  const fragmented = m.child(moov, 'mvex') !== undefined;
  const moovEnd = moovBox.end;

  async function* nalUnits(): AsyncGenerator<NalUnit> {
    for (const bytes of track.config.units) yield { bytes, origin: 'config', sample: -1 };
    let index = 0;
    async function* emit(samples: Iterable<Sample>): AsyncGenerator<NalUnit> {
      for (const s of samples) {
        for await (const bytes of lengthPrefixedNalUnits(reader, s.offset, s.size, track.config.lengthSize)) yield { bytes, origin: 'sample', sample: index, timeMs: s.timeMs };
        index++;
      }
    }
    yield* emit(tableSamples(m, track, reader.size));
    if (!fragmented) return;
    const state: FragmentState = { nextDts: 0, samples: 0 };
    for (let pos = moovEnd; pos < reader.size; ) {
      const box = await readBoxHeader(reader, pos);
      if (box.end > reader.size) throw new MediaFormatError(`'${box.type}' claims ${box.end - pos} bytes, past the end of the file (truncated?)`, pos);
      if (box.type === 'moof') {
        const f = await loadBox(reader, box);
        yield* emit(fragmentSamples(f, { ...box, start: 0, data: box.data - box.start, end: box.end - box.start }, track, state, reader.size));
      }
      pos = box.end;
    }
  }

  return { codec: track.codec, nalUnits };
}
