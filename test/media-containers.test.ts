/**
 * The container layer (src/media/containers) against ffmpeg: for every file
 * of the signed-video corpus, and for MP4/MKV variants made from them
 * (faststart, fragmented, live Matroska, unknown-size clusters, BlockGroups,
 * laced blocks), the sample NAL units must be ffmpeg's `-bsf:v
 * h264_mp4toannexb` output, unit for unit, once the parameter sets ffmpeg
 * inserts before IDRs are left out of both. The Annex B splitter that cuts
 * ffmpeg's output is checked on its own first. Then hostile files: cut,
 * random, bit-flipped, absurd counts; each must end in a MediaFormatError
 * or cleanly, having yielded only a prefix of the right units, and fast.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { needs, skipOrFail } from './helpers/peers.ts';
import { AnnexBSplitter, splitAnnexB } from '../src/media/containers/annexb.ts';
import { MediaFormatError, type NalUnit, openVideo, type VideoCodec, type VideoContainer } from '../src/media/containers/open-video.ts';

const CORPUS = '/work/shared/signed-video/corpus';
const corpus: { file: string; codec: VideoCodec; container: VideoContainer }[] = existsSync(join(CORPUS, 'corpus.json'))
  ? JSON.parse(readFileSync(join(CORPUS, 'corpus.json'), 'utf8')).files
  : [];
const noCorpus = corpus.length > 0 ? false : skipOrFail(`no signed-video corpus at ${CORPUS}`);
const noFfmpeg = noCorpus || needs('ffmpeg');

// ---- Helpers ----

function run(cmd: string, args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

interface Unit {
  bytes: Buffer;
  origin: NalUnit['origin'];
  sample: number;
  timeMs: number | undefined;
}

interface Read {
  container: VideoContainer;
  codec: VideoCodec;
  units: Unit[];
  /** The MediaFormatError that ended reading, if one did. */
  error?: MediaFormatError;
  bytesRead: number;
  size: number;
}

/** Everything openVideo yields for PATH (copied); a MediaFormatError ends it, anything else is thrown. */
async function readAll(path: string, options: Parameters<typeof openVideo>[1] = {}): Promise<Read> {
  const source = await openVideo(path, options);
  const units: Unit[] = [];
  try {
    for await (const u of source.nalUnits()) units.push({ bytes: Buffer.from(u.bytes), origin: u.origin, sample: u.sample, timeMs: u.timeMs });
  } catch (err) {
    if (!(err instanceof MediaFormatError)) throw err;
    return { container: source.container, codec: source.codec, units, error: err, bytesRead: source.bytesRead(), size: source.size };
  } finally {
    await source.close();
  }
  return { container: source.container, codec: source.codec, units, bytesRead: source.bytesRead(), size: source.size };
}

const nalType = (codec: VideoCodec, u: Uint8Array) => (codec === 'h264' ? u[0]! & 0x1f : (u[0]! >> 1) & 0x3f);
const isParameterSet = (codec: VideoCodec, u: Uint8Array) => (codec === 'h264' ? [7, 8] : [32, 33, 34]).includes(nalType(codec, u));
const isIdr = (codec: VideoCodec, u: Uint8Array) => (codec === 'h264' ? nalType(codec, u) === 5 : nalType(codec, u) >= 16 && nalType(codec, u) <= 21);
const withoutParameterSets = (codec: VideoCodec, units: Uint8Array[]) => units.filter((u) => !isParameterSet(codec, u)).map((u) => Buffer.from(u));
const sampleBytes = (r: Read) => r.units.filter((u) => u.origin === 'sample').map((u) => u.bytes);

/**
 * ffmpeg's Annex B rendering of PATH's first video stream, and the presentation time of each of its packets in ms
 * (a framecrc listing written to FRAMES by the same run: one ffmpeg start per file keeps the test fast).
 */
async function ffmpegAnnexB(path: string, codec: VideoCodec, frames: string): Promise<{ annexB: Buffer; ptsMs: number[] }> {
  const h264 = codec === 'h264';
  const annexB = await run('ffmpeg', [
    ...['-v', 'error', '-i', path],
    ...['-map', '0:v:0', '-c:v', 'copy', '-bsf:v', h264 ? 'h264_mp4toannexb' : 'hevc_mp4toannexb', '-f', h264 ? 'h264' : 'hevc', '-'],
    ...['-map', '0:v:0', '-c:v', 'copy', '-f', 'framecrc', '-y', frames],
  ]);
  const lines = (await readFile(frames, 'utf8')).split('\n');
  const [num, den] = lines
    .find((l) => l.startsWith('#tb 0:'))!
    .slice(6)
    .split('/')
    .map(Number);
  const ptsMs = lines.filter((l) => /^\d/.test(l)).map((l) => (Number(l.split(',')[2]) * 1000 * num!) / den!);
  return { annexB, ptsMs };
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Asserts that GOT is a prefix of WANT (the last unit of an Annex B stream cut short may itself be cut). */
function assertPrefix(got: Unit[], want: Unit[], what: string, lastMayBeCut: boolean): void {
  assert.ok(got.length <= want.length, `${what}: ${got.length} units, more than the ${want.length} of the whole file`);
  got.forEach((u, i) => {
    const w = want[i]!;
    const cut = lastMayBeCut && i === got.length - 1;
    assert.ok(cut ? w.bytes.subarray(0, u.bytes.length).equals(u.bytes) : w.bytes.equals(u.bytes), `${what}: unit ${i} differs`);
    assert.equal(u.sample, w.sample, `${what}: unit ${i} sample index`);
  });
}

// ---- Matroska rewriting (an independent EBML walk, to make what ffmpeg does not write) ----

interface Ebml {
  id: Buffer;
  data: number;
  end: number;
}

function ebmlAt(b: Buffer, p: number): Ebml {
  const idLength = Math.clz32(b[p]!) - 23;
  const sizeLength = Math.clz32(b[p + idLength]!) - 23;
  let size = b[p + idLength]! & (0xff >> sizeLength);
  for (let i = 1; i < sizeLength; i++) size = size * 256 + b[p + idLength + i]!;
  const data = p + idLength + sizeLength;
  const unknown = size === 2 ** (7 * sizeLength) - 1;
  return { id: b.subarray(p, p + idLength), data, end: unknown ? b.length : data + size };
}

/** An 8-byte EBML size field (or the unknown size). */
function ebmlSize(size: number | undefined): Buffer {
  const out = Buffer.alloc(8);
  out[0] = 1;
  if (size === undefined) out.fill(0xff, 1);
  else out.writeUIntBE(size, 2, 6);
  return out;
}

const element = (id: number[], payload: Buffer) => Buffer.concat([Buffer.from(id), ebmlSize(payload.length), payload]);

/** EBML lace size of length 4: unsigned, or (for deltas) signed. */
function laceVint(value: number, signed: boolean): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(2 ** 28 + (signed ? value + (2 ** 27 - 1) : value));
  return out;
}

type Rewrite = 'unknown-clusters' | 'blockgroups' | 'xiph' | 'ebml' | 'fixed';

/** MKV with its Clusters rewritten: of unknown size, or their SimpleBlocks as BlockGroups or laced in threes. */
function rewriteMkv(mkv: Buffer, how: Rewrite): Buffer {
  const header = ebmlAt(mkv, 0);
  const segment = ebmlAt(mkv, header.end);
  const out: Buffer[] = [mkv.subarray(0, header.end), segment.id, ebmlSize(undefined)];
  for (let p = segment.data; p < segment.end; ) {
    const e = ebmlAt(mkv, p);
    if (e.id.toString('hex') !== '1f43b675') out.push(mkv.subarray(p, e.end));
    else {
      const kids: Buffer[] = [];
      let group: Buffer[] = [];
      const flush = () => {
        if (group.length === 0) return;
        const first = group[0]!;
        const head = first.subarray(0, 4); // 1-byte track number, timecode, flags
        const frames = group.map((g) => g.subarray(4));
        const lacing = { xiph: 1, fixed: 2, ebml: 3 }[how as 'xiph'];
        const sizes: Buffer[] = [];
        frames.slice(0, -1).forEach((f, i) => {
          if (how === 'xiph') sizes.push(Buffer.from([...new Array<number>(Math.floor(f.length / 255)).fill(255), f.length % 255]));
          if (how === 'ebml') sizes.push(laceVint(i === 0 ? f.length : f.length - frames[i - 1]!.length, i > 0));
        });
        const flags = (head[3]! & ~6) | (lacing << 1);
        kids.push(element([0xa3], Buffer.concat([head.subarray(0, 3), Buffer.from([flags, frames.length - 1]), ...sizes, ...frames])));
        group = [];
      };
      for (let q = e.data; q < e.end; ) {
        const c = ebmlAt(mkv, q);
        const payload = mkv.subarray(c.data, c.end);
        if (c.id.toString('hex') === 'a3' && how === 'blockgroups') {
          const block = Buffer.from(payload);
          block[3]! &= 0x0e; // a Block has no keyframe/discardable bits
          kids.push(element([0xa0], element([0xa1], block)));
        } else if (c.id.toString('hex') === 'a3' && ['xiph', 'ebml', 'fixed'].includes(how)) {
          assert.equal(payload[0]! & 0x80, 0x80, 'one-byte track number');
          if (how === 'fixed' && group.length > 0 && group[0]!.length !== payload.length) flush();
          group.push(payload);
          if (group.length === 3) flush();
        } else {
          flush();
          kids.push(mkv.subarray(q, c.end));
        }
        q = c.end;
      }
      flush();
      const body = Buffer.concat(kids);
      out.push(e.id, ebmlSize(how === 'unknown-clusters' ? undefined : body.length), body);
    }
    p = e.end;
  }
  return Buffer.concat(out);
}

// ---- Annex B splitter ----

describe('Annex B splitter', () => {
  const split = (bytes: number[]) => splitAnnexB(Uint8Array.from(bytes)).map((u) => [...u]);

  test('cuts at 3- and 4-byte start codes, drops trailing zeros and empty units, keeps 00 00 03', () => {
    assert.deepEqual(split([0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 0, 0, 3, 1, 0, 0]), [
      [0x67, 1, 2],
      [0x68, 3],
      [0x65, 0, 0, 3, 1],
    ]);
    assert.deepEqual(split([0, 0, 1, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 0, 0, 0, 1]), [[0x09, 0xf0]]);
    assert.deepEqual(split([0xff, 0xfe, 0, 0, 1, 0x41]), [[0x41]], 'bytes before the first start code are not a unit');
    assert.deepEqual(split([0, 1, 0x41, 0, 1]), [], 'no start code');
    assert.deepEqual(split([]), []);
  });

  test('random streams: any chunking gives the units that were joined', () => {
    const rand = random(7);
    for (let round = 0; round < 40; round++) {
      const units: number[][] = [];
      const stream: number[] = [];
      for (let n = 1 + Math.floor(rand() * 30); n > 0; n--) {
        // A NAL unit never contains 00 00 0x (x <= 2) and never ends in 00: emulation prevention makes it so.
        const unit: number[] = [1 + Math.floor(rand() * 255)];
        for (let len = Math.floor(rand() * 40); len > 0; len--) {
          const b = rand() < 0.4 ? 0 : Math.floor(rand() * 256);
          if (unit.length >= 2 && unit.at(-1) === 0 && unit.at(-2) === 0 && b <= 3) unit.push(3);
          unit.push(b);
        }
        if (unit.at(-1) === 0) unit.push(0x80);
        units.push(unit);
        stream.push(...new Array<number>(Math.floor(rand() * 3)).fill(0), 0, 0, 1, ...unit);
      }
      stream.push(...new Array<number>(Math.floor(rand() * 3)).fill(0));
      const bytes = Uint8Array.from(stream);
      for (const chunk of [1, 2, 3, 4, 5, 6, 7, 13, 1 + Math.floor(rand() * 100), bytes.length]) {
        const splitter = new AnnexBSplitter();
        const got: number[][] = [];
        for (let i = 0; i < bytes.length; i += chunk) for (const u of splitter.push(bytes.subarray(i, i + chunk))) got.push([...u]);
        const last = splitter.end();
        if (last) got.push([...last]);
        assert.deepEqual(got, units, `round ${round}, chunks of ${chunk}`);
      }
    }
  });

  test('a unit longer than the limit, or no start code within it, is a MediaFormatError', () => {
    const push = (limit: number, bytes: Uint8Array) => {
      const s = new AnnexBSplitter(limit);
      for (let i = 0; i < bytes.length; i += 100) [...s.push(bytes.subarray(i, i + 100))];
      s.end();
    };
    assert.throws(() => push(1000, Uint8Array.from([0, 0, 1, ...new Array<number>(2000).fill(0x55)])), MediaFormatError);
    assert.throws(() => push(1000, new Uint8Array(2000).fill(0x55)), MediaFormatError);
    assert.throws(() => push(1000, Uint8Array.from([0, 0, 1, 0x41, ...new Array<number>(100_000).fill(0)])), MediaFormatError, 'a run of zeros is bounded too');
    push(1000, Uint8Array.from([0, 0, 1, ...new Array<number>(1000).fill(0x55), 0, 0, 1, 0x41]));
  });

  test('corpus .h264: the units and the start codes between them make up the file, in any chunking', { skip: noCorpus }, async () => {
    for (const { file } of corpus.filter((c) => c.container === 'annexb')) {
      const data = await readFile(join(CORPUS, file));
      const units = splitAnnexB(data);
      assert.ok(units.length > 10);
      let p = 0;
      for (const [i, u] of units.entries()) {
        let zeros = 0;
        while (data[p + zeros] === 0) zeros++;
        assert.ok(zeros >= 2 && data[p + zeros] === 1, `${file}: start code before unit ${i}`);
        p += zeros + 1;
        assert.ok(data.subarray(p, p + u.length).equals(u), `${file}: unit ${i}`);
        p += u.length;
      }
      assert.ok(
        data.subarray(p).every((b) => b === 0),
        `${file}: only zeros after the last unit`,
      );
      // Every chunking from 1 to 7 bytes over the first 24 KiB (some 25 units), and odd ones over the whole file.
      const head = data.subarray(0, 24 * 1024);
      const headUnits = splitAnnexB(head).map((u) => Buffer.from(u));
      for (const [chunk, bytes, want] of [
        ...[1, 2, 3, 4, 5, 6, 7].map((n) => [n, head, headUnits] as const),
        ...[997, 4093, 65_537].map((n) => [n, data, units.map((u) => Buffer.from(u))] as const),
      ]) {
        const s = new AnnexBSplitter();
        const got: Buffer[] = [];
        for (let i = 0; i < bytes.length; i += chunk) for (const u of s.push(bytes.subarray(i, i + chunk))) got.push(Buffer.from(u));
        got.push(Buffer.from(s.end()!));
        assert.deepEqual(got, want, `${file}: chunks of ${chunk}`);
      }
      // openVideo reading 7 bytes at a time (on the head: each read is a system call) and 4093 at a time.
      const headFile = join(tmpdir(), `edgecd-containers-head-${process.pid}.h264`);
      await writeFile(headFile, head);
      try {
        assert.deepEqual(sampleBytes(await readAll(headFile, { chunkBytes: 7 })), headUnits, `${file}: openVideo with 7-byte reads`);
      } finally {
        await rm(headFile, { force: true });
      }
      const whole = await readAll(join(CORPUS, file));
      assert.deepEqual(
        sampleBytes(whole),
        units.map((u) => Buffer.from(u)),
      );
      assert.deepEqual(sampleBytes(await readAll(join(CORPUS, file), { chunkBytes: 4093 })), sampleBytes(whole), `${file}: openVideo with 4093-byte reads`);
      assert.equal(whole.bytesRead, data.length);
    }
  });
});

// ---- Corpus and variants against ffmpeg ----

describe('containers against ffmpeg', { skip: noFfmpeg }, () => {
  let dir: string;
  /** Per corpus file: ffmpeg's units without parameter sets, and packet times. */
  const expected = new Map<string, { units: Buffer[]; pts: number[] }>();
  const variants: { name: string; path: string; from: string; codec: VideoCodec; times: boolean }[] = [];

  /** ffmpeg's raw H.265 stream (for the codec sniffing test). */
  let h265AnnexB: Buffer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgecd-containers-'));
    const sources = corpus.filter((c) => c.file.startsWith('signed_test_h26') && c.file.endsWith('.mp4') && !c.file.includes('modified'));
    const made = sources.flatMap(({ file, codec }) => [
      codec === 'h264'
        ? { name: `${codec} fragmented`, args: ['-movflags', 'frag_keyframe+empty_moov'], ext: 'mp4', file, codec }
        : { name: `${codec} fragmented, a fragment per frame, base is moof`, args: ['-movflags', 'frag_every_frame+empty_moov+default_base_moof'], ext: 'mp4', file, codec },
      { name: `${codec} faststart`, args: ['-movflags', '+faststart'], ext: 'mp4', file, codec },
      { name: `${codec} live matroska`, args: ['-live', '1', '-f', 'matroska'], ext: 'mkv', file, codec },
    ]);
    await Promise.all([
      ...corpus.map(async ({ file, codec }, i) => {
        const { annexB, ptsMs } = await ffmpegAnnexB(join(CORPUS, file), codec, join(dir, `${i}.framecrc`));
        expected.set(file, { units: withoutParameterSets(codec, splitAnnexB(annexB)), pts: ptsMs });
        if (file === 'signed_test_h265.mp4') h265AnnexB = annexB;
      }),
      ...made.map(async (v, i) => {
        const path = join(dir, `${i}.${v.ext}`);
        await run('ffmpeg', ['-v', 'error', '-i', join(CORPUS, v.file), '-map', '0:v:0', '-c', 'copy', ...v.args, path]);
        variants.push({ name: v.name, path, from: v.file, codec: v.codec, times: true });
        if (v.ext !== 'mkv') return;
        // What ffmpeg does not write: unknown-size Clusters, BlockGroups, laced blocks.
        const mkv = await readFile(path);
        for (const how of ['unknown-clusters', 'blockgroups', 'xiph', 'ebml', 'fixed'] as const) {
          const rewritten = join(dir, `${i}-${how}.mkv`);
          await writeFile(rewritten, rewriteMkv(mkv, how));
          variants.push({ name: `${v.codec} matroska, ${how}`, path: rewritten, from: v.file, codec: v.codec, times: how === 'unknown-clusters' || how === 'blockgroups' });
        }
      }),
    ]);
    variants.sort((a, b) => a.name.localeCompare(b.name));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const { file, codec, container } of corpus) {
    test(file, async () => {
      const path = join(CORPUS, file);
      const read = await readAll(path);
      assert.equal(read.error, undefined);
      assert.equal(read.container, container);
      assert.equal(read.codec, codec);
      const want = expected.get(file)!;
      const got = withoutParameterSets(codec, sampleBytes(read));
      assert.equal(got.length, want.units.length, 'unit count');
      for (const [i, u] of got.entries()) assert.ok(u.equals(want.units[i]!), `unit ${i} differs from ffmpeg's`);
      assert.equal(read.bytesRead, read.size);
      // Reads smaller than the file: windows are refilled after moov/Tracks were read, which must not disturb them.
      assert.deepEqual(sampleBytes(await readAll(path, { chunkBytes: 4093 })), sampleBytes(read), '4093-byte reads');

      const config = read.units.filter((u) => u.origin === 'config');
      if (container === 'annexb') {
        assert.equal(config.length, 0);
        assert.ok(read.units.every((u) => u.sample === -1 && u.timeMs === undefined));
        return;
      }
      const types = config.map((u) => nalType(codec, u.bytes));
      for (const t of codec === 'h264' ? [7, 8] : [32, 33, 34]) assert.ok(types.includes(t), `config has NAL type ${t}`);
      assert.ok(read.units.findIndex((u) => u.origin === 'sample') >= config.length, 'config first');

      // Samples are numbered from 0, in order, and timed as ffmpeg times the packets.
      const samples = read.units.filter((u) => u.origin === 'sample');
      for (const [i, u] of samples.entries()) if (i > 0) assert.ok(u.sample === samples[i - 1]!.sample || u.sample === samples[i - 1]!.sample + 1);
      assert.equal(samples[0]!.sample, 0);
      for (const u of samples) assert.ok(Math.abs(u.timeMs! - want.pts[u.sample]!) < 1, `sample ${u.sample} at ${u.timeMs} ms, ffmpeg says ${want.pts[u.sample]}`);
      if (container === 'mkv') {
        let last = -Infinity;
        for (const u of samples) {
          if (isIdr(codec, u.bytes)) last = -Infinity;
          assert.ok(u.timeMs! >= last, `time goes back within a GOP at sample ${u.sample}`);
          last = u.timeMs!;
        }
      }
    });
  }

  test('variants: faststart, fragmented, live Matroska, unknown-size clusters, BlockGroups, lacing', async () => {
    assert.equal(variants.length, 2 * 8);
    for (const v of variants) {
      const read = await readAll(v.path);
      assert.equal(read.error, undefined, v.name);
      assert.equal(read.codec, v.codec, v.name);
      assert.deepEqual(withoutParameterSets(v.codec, sampleBytes(read)), expected.get(v.from)!.units, v.name);
      if (v.times) {
        const pts = expected.get(v.from)!.pts;
        for (const u of read.units.filter((u) => u.origin === 'sample')) assert.ok(Math.abs(u.timeMs! - pts[u.sample]!) < 1, `${v.name}: time of sample ${u.sample}`);
      }
      // Reads smaller than the file refill the window after the metadata was read; tiny ones cross every boundary there is.
      assert.deepEqual(sampleBytes(await readAll(v.path, { chunkBytes: 4093 })), sampleBytes(read), `${v.name}, 4093-byte reads`);
      if (v.name.includes('fragmented') || v.name.includes('xiph') || v.name.includes('unknown')) {
        assert.deepEqual(sampleBytes(await readAll(v.path, { chunkBytes: 7 })), sampleBytes(read), `${v.name}, 7-byte reads`);
      }
    }
  });

  test('cut files yield a prefix of the right units, then a MediaFormatError or the end', { timeout: 30_000 }, async () => {
    const cases = [
      ...corpus.filter((c) => ['signed_test_h264.mp4', 'signed_test_h265.mkv', 'signed_vendor_axis.h264'].includes(c.file)).map((c) => join(CORPUS, c.file)),
      ...variants.filter((v) => /^h264 (faststart|fragmented)|^h265 (fragmented|live|matroska, unknown)/.test(v.name)).map((v) => v.path),
    ];
    assert.equal(cases.length, 8);
    for (const path of cases) {
      const data = await readFile(path);
      const whole = await readAll(path);
      const annexB = whole.container === 'annexb';
      const cut = join(dir, 'cut');
      // Every 997th length, or a multiple of it for a big file: some 15 cuts per file.
      const step = 997 * Math.ceil(data.length / 997 / 15);
      for (let length = 0; length < data.length; length += step) {
        await writeFile(cut, data.subarray(0, length));
        let read: Read;
        try {
          read = await readAll(cut, annexB ? { codecHint: whole.codec } : {});
        } catch (err) {
          assert.ok(err instanceof MediaFormatError, `${path} cut at ${length}: ${err}`);
          continue;
        }
        assertPrefix(read.units, whole.units, `${path} cut at ${length}`, annexB);
      }
    }
  });

  test('bit flips in real files: a MediaFormatError or the end, nothing else, never a hang', { timeout: 30_000 }, async () => {
    const rand = random(42);
    const sources = [
      join(CORPUS, 'signed_test_h265.mp4'),
      join(CORPUS, 'signed_test_h265.mkv'),
      ...variants.filter((v) => /h265 (fragmented|matroska, ebml)/.test(v.name)).map((v) => v.path),
    ];
    assert.equal(sources.length, 4);
    const flipped = join(dir, 'flipped');
    for (const path of sources) {
      const data = await readFile(path);
      for (let round = 0; round < 15; round++) {
        const copy = Buffer.from(data);
        // Mostly in the metadata (the start and the end), where the structure is.
        for (let n = 1 + Math.floor(rand() * 4); n > 0; n--) {
          const at = rand() < 0.5 ? Math.floor(rand() * 4096) : rand() < 0.5 ? copy.length - 1 - Math.floor(rand() * 4096) : Math.floor(rand() * copy.length);
          copy[Math.max(0, at)] = Math.floor(rand() * 256);
        }
        await writeFile(flipped, copy);
        try {
          await readAll(flipped);
        } catch (err) {
          assert.ok(err instanceof MediaFormatError, `${path} round ${round}: ${err}`);
        }
      }
    }
  });

  test('a sample whose NAL length runs past its end is a MediaFormatError naming the offset', async () => {
    const path = join(CORPUS, 'signed_test_h264.mp4');
    const data = await readFile(path);
    const whole = await readAll(path);
    const first = whole.units.find((u) => u.origin === 'sample')!.bytes;
    const at = data.indexOf(first) - 4;
    const bad = Buffer.from(data);
    bad.writeUInt32BE(0x7fffffff, at);
    const file = join(dir, 'bad-length.mp4');
    await writeFile(file, bad);
    const read = await readAll(file);
    assert.ok(read.error?.message.includes(`at byte ${at}`), read.error?.message);
    assert.ok(read.units.every((u) => u.origin === 'config'));
  });

  test('Annex B codec: from the hint, the extension, or the first NAL headers', async () => {
    const h264 = join(dir, 'stream.bin');
    await writeFile(h264, await readFile(join(CORPUS, 'signed_vendor_axis.h264')));
    assert.equal((await readAll(h264)).codec, 'h264');
    const h265 = join(dir, 'stream.dat');
    await writeFile(h265, h265AnnexB);
    const sniffed = await readAll(h265);
    assert.equal(sniffed.codec, 'h265');
    assert.deepEqual(withoutParameterSets('h265', sampleBytes(sniffed)), expected.get('signed_test_h265.mp4')!.units);
    assert.equal((await readAll(h265, { codecHint: 'h264' })).codec, 'h264', 'the hint wins');
    const named = join(dir, 'stream.265');
    await writeFile(named, Buffer.from([0, 0, 1, 0x41, 0x01]));
    assert.equal((await readAll(named)).codec, 'h265', 'the extension');
  });
});

// ---- Hostile files that need no ffmpeg ----

describe('hostile files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgecd-containers-hostile-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const ftyp = Buffer.from('0000001866747970697336640000000069736f6d69736f36', 'hex');
  const ebmlHeader = element([0x1a, 0x45, 0xdf, 0xa3], element([0x42, 0x82], Buffer.from('matroska')));
  const liveSegment = Buffer.concat([Buffer.from([0x18, 0x53, 0x80, 0x67]), ebmlSize(undefined)]);

  /** Reads PATH to the end; it must end in a MediaFormatError, quickly. */
  async function mustFail(path: string, what: string): Promise<MediaFormatError> {
    const started = performance.now();
    let error: unknown;
    try {
      const read = await readAll(path);
      error = read.error;
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof MediaFormatError, `${what}: ${error ?? 'no error'}`);
    assert.ok(performance.now() - started < 2000, `${what}: took ${performance.now() - started} ms`);
    return error;
  }

  test('random bytes after an ftyp box or an EBML header (and a Segment) are a MediaFormatError', async () => {
    const rand = random(1);
    const path = join(dir, 'random');
    for (let round = 0; round < 80; round++) {
      const noise = Buffer.from(Array.from({ length: 16 + Math.floor(rand() * 4000) }, () => Math.floor(rand() * 256)));
      const prefix = [ftyp, Buffer.concat([ftyp, Buffer.from('00100000' + '6d6f6f76', 'hex')]), ebmlHeader, Buffer.concat([ebmlHeader, liveSegment])][round % 4]!;
      if (round % 4 === 1) prefix.writeUInt32BE(noise.length + 8, ftyp.length); // a moov holding the noise
      await writeFile(path, Buffer.concat([prefix, noise]));
      await mustFail(path, `round ${round}`);
    }
  });

  test('absurd counts fail fast: stsz with 2^31 samples, as a table and of uniform size', async () => {
    // A minimal moov: one video trak whose stbl lists 2^31 samples.
    const box = (type: string, ...parts: Buffer[]) => {
      const body = Buffer.concat(parts);
      const head = Buffer.alloc(8);
      head.writeUInt32BE(body.length + 8);
      head.write(type, 4, 'latin1');
      return Buffer.concat([head, body]);
    };
    const u32 = (...v: number[]) => Buffer.concat(v.map((n) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255])));
    const avcC = box('avcC', Buffer.from([1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0, 0x1e, 1, 0, 2, 0x68, 0xce]));
    const avc1 = box('avc1', Buffer.alloc(78), avcC);
    const moov = (stsz: Buffer) =>
      box(
        'moov',
        box(
          'trak',
          box('tkhd', u32(0, 0, 0, 1), Buffer.alloc(80)),
          box(
            'mdia',
            box('mdhd', u32(0, 0, 0, 1000, 0), Buffer.alloc(4)),
            box('hdlr', u32(0, 0), Buffer.from('vide'), Buffer.alloc(13)),
            box(
              'minf',
              box('stbl', box('stsd', u32(0, 1), avc1), box('stts', u32(0, 1, 2 ** 31 - 1, 1)), box('stsc', u32(0, 1, 1, 2 ** 31 - 1, 1)), box('stco', u32(0, 1, 8)), stsz),
            ),
          ),
        ),
      );
    const path = join(dir, 'absurd.mp4');
    for (const [what, stsz] of [
      ['table', box('stsz', u32(0, 0, 2 ** 31), u32(10, 10, 10))],
      ['uniform', box('stsz', u32(0, 1, 2 ** 31))],
    ] as const) {
      await writeFile(path, Buffer.concat([ftyp, moov(stsz)]));
      const err = await mustFail(path, what);
      assert.match(err.message, /'?stsz'? claims 2147483648/);
    }
    // The same moov with a sane count reads (the structure above is right), then fails on its made-up sample.
    await writeFile(path, Buffer.concat([ftyp, moov(box('stsz', u32(0, 0, 1, 4)))]));
    const read = await readAll(path);
    assert.equal(read.units.filter((u) => u.origin === 'config').length, 2);
  });

  test('boxes and elements that claim more than the file or their parent, or are missing, are MediaFormatErrors', async () => {
    const path = join(dir, 'claims');
    const cases: [string, Buffer][] = [
      ['moov past the end', Buffer.concat([ftyp, Buffer.from('7fffffff6d6f6f76', 'hex')])],
      ['64-bit box size past the end', Buffer.concat([ftyp, Buffer.from('000000016d646174ffffffffffffffff', 'hex')])],
      ['box size smaller than its header', Buffer.concat([ftyp, Buffer.from('000000046d646174', 'hex')])],
      ['no moov', ftyp],
      ['EBML without a Segment', ebmlHeader],
      ['Segment without Tracks', Buffer.concat([ebmlHeader, liveSegment])],
      ['unknown-size Tracks', Buffer.concat([ebmlHeader, liveSegment, Buffer.from([0x16, 0x54, 0xae, 0x6b]), ebmlSize(undefined)])],
      ['Cluster before Tracks', Buffer.concat([ebmlHeader, liveSegment, element([0x1f, 0x43, 0xb6, 0x75], Buffer.alloc(0))])],
      ['element past its parent', Buffer.concat([ebmlHeader, liveSegment, element([0x16, 0x54, 0xae, 0x6b], Buffer.from([0xae, 0x90]))])],
      ['a DocType that is not Matroska', element([0x1a, 0x45, 0xdf, 0xa3], element([0x42, 0x82], Buffer.from('other')))],
      ['a vint of 0x00', Buffer.concat([ebmlHeader, Buffer.alloc(16)])],
    ];
    for (const [what, bytes] of cases) {
      await writeFile(path, bytes);
      await mustFail(path, what);
    }
  });

  test('another codec is an unsupported-codec MediaFormatError', { skip: noCorpus }, async () => {
    // Corpus files with the sample entry / CodecID renamed to MPEG-4 Part 2 (same length, so nothing else moves).
    for (const [file, from, to] of [
      ['signed_test_h264.mp4', 'avc1', 'mp4v'],
      ['signed_test_h265.mp4', 'hev1', 'mp4v'],
      ['signed_test_h264.mkv', 'V_MPEG4/ISO/AVC', 'V_MPEG4/ISO/ASP'],
    ] as const) {
      const path = join(dir, `other-${file}`);
      await writeFile(path, Buffer.from((await readFile(join(CORPUS, file))).toString('latin1').replaceAll(from, to), 'latin1'));
      await assert.rejects(openVideo(path), (err) => err instanceof MediaFormatError && err.message.includes('unsupported codec') && err.message.includes(to));
    }
  });

  test('Annex B: not H.264/H.265 without a hint; 65 MiB without a start code is refused', async () => {
    const noise = join(dir, 'noise.bin');
    await writeFile(noise, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) & 0xff)));
    await mustFail(noise, 'noise');
    // A sparse file of zeros, cheap to make. (A unit that long is refused the same way, but filling 64 MiB of fresh
    // memory to show it takes a second: the splitter's tests show it with a smaller limit.)
    const path = join(dir, 'huge.h264');
    await writeFile(path, '');
    await truncate(path, 65 * 1024 * 1024);
    const read = await readAll(path);
    assert.match(read.error?.message ?? '', /no Annex B start code in the first 67108864 bytes/);
    assert.equal(read.units.length, 0);
  });

  test('not a regular file is a MediaFormatError; a missing file is the file system error', async () => {
    await assert.rejects(openVideo(dir), MediaFormatError);
    await assert.rejects(openVideo(join(dir, 'missing.mp4')), { code: 'ENOENT' });
  });
});
