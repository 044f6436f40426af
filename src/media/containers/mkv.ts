/**
 * Matroska / WebM: the NAL units of the first H.264/H.265 video track.
 *
 * EBML is walked element by element straight from the file: only element
 * headers, the few small values we need (TimestampScale, the TrackEntry
 * fields, CodecPrivate) and block headers are read; everything else (Cues,
 * Tags, Attachments, Void, CRC-32, other tracks' blocks) is skipped by its
 * size without being read. A live recording's Segment and Clusters have
 * unknown size: such a Cluster ends where an element that cannot be inside
 * a Cluster begins, and such a Segment at the end of the file.
 *
 * Frames are length-prefixed like MP4 samples (CodecPrivate is the same
 * avcC/hvcC record), so splitting them is mp4.ts's.
 */
import { type ContainerStream, type FileReader, MediaFormatError, type NalUnit, readUint, type VideoCodec } from './byte-reader.ts';
import { type DecoderConfig, lengthPrefixedNalUnits, parseDecoderConfig } from './mp4.ts';

const ID = {
  EBML: 0x1a45dfa3,
  DocType: 0x4282,
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackType: 0x83,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  ContentEncodings: 0x6d80,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
  Cues: 0x1c53bb6b,
  Tags: 0x1254c367,
  Chapters: 0x1043a770,
  Attachments: 0x1941a469,
} as const;

/** IDs that cannot occur inside a Cluster: one of them ends a Cluster of unknown size. */
const NOT_IN_CLUSTER = new Set<number>([ID.EBML, ID.Segment, ID.SeekHead, ID.Info, ID.Tracks, ID.Cluster, ID.Cues, ID.Tags, ID.Chapters, ID.Attachments]);

const CODECS: Record<string, VideoCodec> = { 'V_MPEG4/ISO/AVC': 'h264', 'V_MPEGH/ISO/HEVC': 'h265' };

/** Largest CodecPrivate accepted (a decoder configuration record is a few hundred bytes). */
const MAX_CODEC_PRIVATE = 1024 * 1024;

interface Element {
  id: number;
  start: number;
  data: number;
  /** Payload end; Infinity when the size is unknown. */
  end: number;
}

const unknownSize = (e: Element) => e.end === Infinity;
const hexId = (id: number) => `0x${id.toString(16).toUpperCase()}`;

/** Length of the EBML variable-length integer starting with byte B (0 if invalid). */
const vintLength = (b: number) => (b === 0 ? 0 : Math.clz32(b) - 23);

async function readElement(reader: FileReader, pos: number): Promise<Element> {
  if (pos >= reader.size) throw new MediaFormatError('file ends where an EBML element should start (truncated?)', pos);
  const h = await reader.read(pos, Math.min(12, reader.size - pos), 'EBML element header');
  const idLength = vintLength(h[0] ?? 0);
  if (idLength === 0 || idLength > 4) throw new MediaFormatError('invalid EBML element ID', pos);
  const sizeLength = vintLength(h[idLength] ?? 0);
  if (h.length < idLength + 1 || sizeLength === 0) throw new MediaFormatError(h.length < idLength + 1 ? 'EBML element header truncated' : 'invalid EBML element size', pos);
  if (h.length < idLength + sizeLength) throw new MediaFormatError('EBML element header truncated', pos);
  const id = readUint(h, 0, idLength);
  const mask = 0xff >> sizeLength;
  let size = h[idLength]! & mask;
  let allOnes = size === mask;
  for (let i = 1; i < sizeLength; i++) {
    const b = h[idLength + i]!;
    size = size * 256 + b;
    allOnes &&= b === 0xff;
  }
  const data = pos + idLength + sizeLength;
  return { id, start: pos, data, end: allOnes ? Infinity : data + size };
}

/** The children of a known-size element, each checked to be of known size and to fit. */
async function* children(reader: FileReader, parent: Element): AsyncGenerator<Element> {
  for (let pos = parent.data; pos < parent.end; ) {
    const child = await readElement(reader, pos);
    if (unknownSize(child) || child.end > parent.end) throw new MediaFormatError(`element ${hexId(child.id)} does not fit in its parent ${hexId(parent.id)}`, pos);
    yield child;
    pos = child.end;
  }
}

async function readUintElement(reader: FileReader, e: Element): Promise<number> {
  if (e.end - e.data > 8) throw new MediaFormatError(`integer element ${hexId(e.id)} of ${e.end - e.data} bytes`, e.start);
  return readUint(await reader.read(e.data, e.end - e.data), 0, e.end - e.data);
}

async function readStringElement(reader: FileReader, e: Element): Promise<string> {
  if (e.end - e.data > 256) throw new MediaFormatError(`string element ${hexId(e.id)} of ${e.end - e.data} bytes`, e.start);
  return Buffer.from(await reader.read(e.data, e.end - e.data))
    .toString('latin1')
    .replace(/\0+$/, '');
}

interface Track {
  number: number;
  codec: VideoCodec;
  config: DecoderConfig;
}

async function readTracks(reader: FileReader, tracks: Element): Promise<Track> {
  const seen: string[] = [];
  for await (const entry of children(reader, tracks)) {
    if (entry.id !== ID.TrackEntry) continue;
    let number = 0;
    let type = 0;
    let codecId = '';
    let priv: Element | undefined;
    let encoded = false;
    for await (const e of children(reader, entry)) {
      if (e.id === ID.TrackNumber) number = await readUintElement(reader, e);
      else if (e.id === ID.TrackType) type = await readUintElement(reader, e);
      else if (e.id === ID.CodecID) codecId = await readStringElement(reader, e);
      else if (e.id === ID.CodecPrivate) priv = e;
      else if (e.id === ID.ContentEncodings) encoded = true;
    }
    seen.push(`${type}/${codecId}`);
    const codec = CODECS[codecId];
    if (type !== 1 || !codec) continue;
    // Compressed (header-stripped) or encrypted frames are not the codec's bytes.
    if (encoded) throw new MediaFormatError(`track ${number} uses ContentEncodings (compression or encryption): not supported`, entry.start);
    if (!priv) throw new MediaFormatError(`track ${number} (${codecId}) has no CodecPrivate`, entry.start);
    if (priv.end - priv.data > MAX_CODEC_PRIVATE) throw new MediaFormatError(`CodecPrivate of ${priv.end - priv.data} bytes`, priv.start);
    const record = await reader.readCopy(priv.data, priv.end - priv.data, 'CodecPrivate');
    return { number, codec, config: parseDecoderConfig(codec, record, priv.data) };
  }
  throw new MediaFormatError(`unsupported codec: no H.264/H.265 video track (tracks: ${seen.join(', ') || 'none'})`, tracks.start);
}

export async function openMkv(reader: FileReader): Promise<ContainerStream> {
  const ebml = await readElement(reader, 0);
  if (ebml.id !== ID.EBML || unknownSize(ebml)) throw new MediaFormatError('no EBML header', 0);
  for await (const e of children(reader, ebml)) {
    if (e.id !== ID.DocType) continue;
    const docType = await readStringElement(reader, e);
    if (docType !== 'matroska' && docType !== 'webm') throw new MediaFormatError(`EBML DocType '${docType}' is not Matroska`, e.start);
  }

  const segment = await readElement(reader, ebml.end);
  if (segment.id !== ID.Segment) throw new MediaFormatError(`expected a Segment, found element ${hexId(segment.id)}`, segment.start);
  // An unknown-size Segment (a live recording) lasts to the end of the file.
  const segmentEnd = unknownSize(segment) ? reader.size : segment.end;

  /** The next Segment child at POS, or undefined at the Segment's end; a known-size Segment that the file cuts short is an error. */
  const segmentChild = async (pos: number): Promise<Element | undefined> => {
    if (pos >= segmentEnd) return undefined;
    if (pos >= reader.size) throw new MediaFormatError(`file ends inside a Segment that claims to end at byte ${segmentEnd} (truncated?)`, reader.size);
    return readElement(reader, pos);
  };

  // Info and Tracks come before the first Cluster.
  let scale = 1_000_000;
  let track: Track | undefined;
  let firstCluster = segmentEnd;
  for (let pos = segment.data, e: Element | undefined; (e = await segmentChild(pos)); pos = e.end) {
    if (e.id === ID.Cluster) {
      firstCluster = pos;
      break;
    }
    if (unknownSize(e) || e.end > segmentEnd) throw new MediaFormatError(`element ${hexId(e.id)} does not fit in its Segment`, pos);
    if (e.id === ID.Info) {
      for await (const i of children(reader, e)) if (i.id === ID.TimestampScale) scale = await readUintElement(reader, i);
      if (scale === 0) throw new MediaFormatError('TimestampScale 0', e.start);
    } else if (e.id === ID.Tracks) track = await readTracks(reader, e);
  }
  if (!track) throw new MediaFormatError('unsupported codec: no Tracks before the first Cluster');
  const { number, codec, config } = track;

  async function* nalUnits(): AsyncGenerator<NalUnit> {
    for (const bytes of config.units) yield { bytes, origin: 'config', sample: -1 };
    let index = 0;

    /** The frames of one (Simple)Block in [start, end), if it is our track's. */
    async function* block(start: number, end: number, clusterTime: number | undefined): AsyncGenerator<NalUnit> {
      const head = await reader.read(start, Math.min(end - start, 11), 'block header');
      const trackLength = vintLength(head[0] ?? 0);
      if (trackLength === 0 || head.length < trackLength + 3) throw new MediaFormatError('invalid block header', start);
      if (readUint(head, 0, trackLength) - 2 ** (7 * trackLength) !== number) return; // the vint's marker bit is 2^(7 * length)
      const timecode = ((head[trackLength]! << 24) >> 16) | head[trackLength + 1]!; // signed 16-bit
      const flags = head[trackLength + 2]!;
      const timeMs = clusterTime === undefined ? undefined : ((clusterTime + timecode) * scale) / 1e6;
      const frames = await laceSizes(reader, flags, start + trackLength + 3, end);
      for (let pos = frames.data, f = 0; f < frames.sizes.length; f++) {
        const size = frames.sizes[f]!;
        for await (const bytes of lengthPrefixedNalUnits(reader, pos, size, config.lengthSize)) yield { bytes, origin: 'sample', sample: index, timeMs };
        index++;
        pos += size;
      }
    }

    /** The blocks of the Cluster E; returns where the next Segment child starts. */
    async function* cluster(e: Element): AsyncGenerator<NalUnit, number> {
      const end = unknownSize(e) ? segmentEnd : e.end;
      if (end > segmentEnd) throw new MediaFormatError('Cluster overruns its Segment', e.start);
      let time: number | undefined;
      let pos = e.data;
      for (let c: Element | undefined; (c = pos < end ? await segmentChild(pos) : undefined); pos = c.end) {
        if (unknownSize(e) && NOT_IN_CLUSTER.has(c.id)) return pos;
        if (unknownSize(c) || c.end > end) throw new MediaFormatError(`element ${hexId(c.id)} does not fit in its Cluster`, pos);
        if (c.id === ID.Timestamp) time = await readUintElement(reader, c);
        else if (c.id === ID.SimpleBlock) yield* block(c.data, c.end, time);
        else if (c.id === ID.BlockGroup) for await (const b of children(reader, c)) if (b.id === ID.Block) yield* block(b.data, b.end, time);
      }
      return pos;
    }

    for (let pos = firstCluster, e: Element | undefined; (e = await segmentChild(pos)); ) {
      if (e.id === ID.Cluster) pos = yield* cluster(e);
      else if (e.id === ID.EBML || e.id === ID.Segment)
        return; // a chained second Segment: only the first is read
      else if (unknownSize(e) || e.end > segmentEnd) throw new MediaFormatError(`element ${hexId(e.id)} does not fit in its Segment`, pos);
      else pos = e.end;
    }
  }

  return { codec, nalUnits };
}

/** Where a block's frame data starts and the frames' sizes, from its lacing (none, Xiph, fixed or EBML). */
async function laceSizes(reader: FileReader, flags: number, pos: number, end: number): Promise<{ data: number; sizes: number[] }> {
  const lacing = (flags >> 1) & 3;
  if (lacing === 0) return { data: pos, sizes: [end - pos] };
  const fail = (what: string) => new MediaFormatError(`block lacing: ${what}`, pos);
  const byte = async () => {
    if (pos >= end) throw fail('header runs past the block');
    return (await reader.read(pos++, 1))[0]!;
  };
  const frames = (await byte()) + 1;
  const sizes: number[] = [];
  if (lacing === 2) {
    // Fixed: equal frames.
    if ((end - pos) % frames !== 0) throw fail(`${end - pos} bytes do not split into ${frames} equal frames`);
    return { data: pos, sizes: new Array<number>(frames).fill((end - pos) / frames) };
  }
  if (lacing === 1) {
    // Xiph: each size but the last as a run of 255s and a final byte.
    for (let f = 0; f < frames - 1; f++) {
      let size = 0;
      for (let b = 255; b === 255; size += b) b = await byte();
      sizes.push(size);
    }
  } else {
    // EBML: the first size as a vint, the others as signed differences from the one before.
    for (let f = 0; f < frames - 1; f++) {
      const h = await reader.read(pos, Math.min(8, end - pos), 'lace size');
      const length = vintLength(h[0] ?? 0);
      if (length === 0 || length > h.length) throw fail('invalid size');
      const raw = readUint(h, 0, length) - 2 ** (7 * length);
      pos += length;
      const size = f === 0 ? raw : sizes[f - 1]! + raw - (2 ** (7 * length - 1) - 1);
      if (size < 0) throw fail('negative frame size');
      sizes.push(size);
    }
  }
  const laced = sizes.reduce((a, b) => a + b, 0);
  if (laced > end - pos) throw fail(`frames of ${laced} bytes in ${end - pos}`);
  sizes.push(end - pos - laced);
  return { data: pos, sizes };
}
