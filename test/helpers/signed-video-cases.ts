/**
 * Test media for Axis Signed Video verification, each file judged by the
 * reference library (signed-video-framework, through the shared sv-validate)
 * in the same run: the expectation of every case is what the reference
 * printed for that very file, never a value written down here.
 *
 * The cases start from the unsigned corpus streams (../shared/signed-video/
 * corpus/test_h26x.mp4), signed here with sv_sign and fresh keys, edited at
 * the NAL-unit level on Annex B and muxed to MP4 or MKV with ffmpeg stream
 * copy. See the shared README for the tools and the reference's JSON.
 */
import { execFile, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Authenticity, LibraryVerdict } from '../../src/media/verdict.ts';
import { missingPeers } from './peers.ts';
import { ROOT } from './root.ts';

const run = promisify(execFile);

/** The reference's verdict in edgecd's words (the mapping). */
export const AUTHENTICITY: Record<LibraryVerdict, Authenticity> = {
  OK: 'authentic',
  'NOT OK': 'tampered',
  'NOT SIGNED': 'unsigned',
  'OK WITH MISSING INFO': 'incomplete',
  'SIGNATURE PRESENT': 'incomplete',
  'VERSION MISMATCH': 'unsupported',
};

export type Codec = 'h264' | 'h265';
export type Container = 'mp4' | 'mkv';

/** What sv-validate printed for a file, the fields the comparison needs. */
export interface ReferenceVerdict {
  verdict: LibraryVerdict;
  /** first_failure.frame_index: 0-based count of primary picture slices; null when nothing failed (or the failure has no frame). */
  firstFailureFrame: number | null;
  /** Primary picture slices in the stream the library saw. */
  frames: number;
  gops: { reports: number; ok: number; okWithMissingInfo: number; notOk: number; notSigned: number; signaturePresent: number; versionMismatch: number };
  /** From the reserved byte of the signed-video SEIs; null when there are none. */
  seiFormat: 'current' | 'legacy' | 'onvif' | null;
  /** The signer's library version from the SEIs, e.g. "v2.3.8"; undefined when none. */
  signingVersion?: string;
  /** Whether an Axis attestation verified: "yes", "no" or "not feasible" (no attestation). */
  axisAttestation: 'yes' | 'no' | 'not feasible';
}

export interface SignedVideoCase {
  name: string;
  /** What was done to make it, in a sentence. */
  description: string;
  file: string;
  codec: Codec;
  container: Container;
  expected: ReferenceVerdict;
}

/**
 * The cases makeSignedVideoCases makes, by name (`<what>-<container>`, or
 * `corpus-<file>`), for a test to name its tests before they exist. The
 * generator checks that it made exactly these.
 */
export const CASE_NAMES: readonly string[] = [
  'unsigned-h264-mp4',
  'unsigned-h265-mkv',
  'signed-h264-ecdsa-frame-mp4',
  'signed-h265-rsa-frame-mp4',
  'signed-h264-ecdsa-frame-mkv',
  'signed-h265-rsa-frame-mkv',
  'signed-h264-rsa-gop-mkv',
  'signed-h265-ecdsa-gop-mp4',
  'signed-h264-ecdsa-frame-eos-mkv',
  'signed-h264-rsa-gop-eos-mp4',
  'signed-h265-ecdsa-frame-eos-mkv',
  'h264-iframe-bytes-mp4',
  'h265-iframe-bytes-mkv',
  'h264-gop-iframe-bytes-mkv',
  'h264-pframe-bytes-mkv',
  'h265-pframe-bytes-mp4',
  'h265-gop-pframe-bytes-mp4',
  'h264-sei-bytes-mkv',
  'h264-sei-signature-bytes-mp4',
  'h265-gop-sei-bytes-mkv',
  'signed-h264-bframes-mp4',
  'h264-bframe-bytes-mkv',
  'h264-gop-deleted-mp4',
  'h264-first-gop-deleted-mkv',
  'h265-gop-level-gop-deleted-mkv',
  'h264-gop-duplicated-mkv',
  'h265-gop-level-gop-duplicated-mp4',
  'h264-gops-reordered-mp4',
  'h265-gops-reordered-mkv',
  'h264-frame-deleted-mp4',
  'h264-frames-deleted-mkv',
  'h264-frame-duplicated-mkv',
  'h264-frames-swapped-mp4',
  'h265-gop-level-frame-deleted-mkv',
  'h264-truncated-mid-gop-mkv',
  'h265-truncated-mid-gop-mp4',
  'h264-truncated-mid-nal-mp4',
  'h265-truncated-mid-nal-mkv',
  'h264-truncated-after-sei-mkv',
  'h264-gop-level-truncated-after-sei-mp4',
  'h264-seis-stripped-mp4',
  'h265-gop-level-seis-stripped-mkv',
  'h264-one-sei-stripped-mkv',
  'h264-sei-moved-later-mkv',
  'h264-sei-moved-earlier-mp4',
  'h265-gop-level-sei-moved-later-mp4',
  'h264-resigned-other-key-mkv',
  'h264-spliced-two-keys-mp4',
  'h264-double-signed-mkv',
  'h265-mkv-in-place-pframe-bytes-mkv',
  'h264-mkv-file-truncated-mkv',
  'corpus-signed_test_h264.mp4',
  'corpus-signed_test_h265.mkv',
  'corpus-signed_test_h264_modified_frame_137.mp4',
  'corpus-signed_test_h264_tamper_pframe_bytes.mkv',
  'corpus-signed_test_h265_seis_stripped.mkv',
  'corpus-signed_vendor_axis.mkv',
];
/** Made only when ffmpeg has libx264 (the corpus streams have no B-frames). */
export const OPTIONAL_CASES: ReadonlySet<string> = new Set(['signed-h264-bframes-mp4', 'h264-bframe-bytes-mkv']);

// ---------------------------------------------------------------- tools

/** The shared signed-video folder (sv-validate, corpus): beside the checkout, or the fixed one. */
function sharedDir(): string | undefined {
  return [join(ROOT, '../shared/signed-video'), '/work/shared/signed-video'].find((d) => existsSync(join(d, 'sv-validate')));
}

const buildDir = () => process.env.SV_BUILD ?? '/tmp/sv-build';

/** Why the reference tools cannot run here, or undefined when they can. */
export function referenceUnavailable(): string | undefined {
  const shared = sharedDir();
  if (!shared) return 'the shared signed-video folder (../shared/signed-video, with sv-validate and the corpus) is not here';
  for (const bin of ['sv_validate', 'sv_sign']) {
    if (!existsSync(join(buildDir(), bin))) return `${join(buildDir(), bin)} is missing (run SV_BUILD=${buildDir()} ${shared}/build.sh)`;
  }
  return missingPeers('ffmpeg');
}

function shared(): string {
  const d = sharedDir();
  if (!d) throw new Error('the shared signed-video folder is not here');
  return d;
}

/** Runs ffmpeg quietly; its error output is the exception's message when it fails. */
async function ffmpeg(args: string[]): Promise<void> {
  await run('ffmpeg', ['-nostdin', '-hide_banner', '-v', 'error', '-y', ...args], { maxBuffer: 16 << 20 });
}

const rawFormat = (codec: Codec) => (codec === 'h264' ? 'h264' : 'hevc');

/** A container's first video stream as Annex B (the same conversion sv-validate makes). */
async function toAnnexB(input: string, codec: Codec, output: string): Promise<void> {
  const bsf = codec === 'h264' ? 'h264_mp4toannexb' : 'hevc_mp4toannexb';
  await ffmpeg(['-i', input, '-map', '0:v:0', '-c:v', 'copy', '-bsf:v', bsf, '-f', rawFormat(codec), output]);
}

/**
 * Muxes Annex B streams into MP4 or MKV by stream copy, with 25 fps
 * timestamps (raw streams have none), several per ffmpeg run: ffmpeg takes
 * longer to start (about 0.2 s of CPU) than to copy one of these streams.
 * Streams with B-frames go to MKV through MP4: ffmpeg's raw demuxer leaves
 * their presentation times unset and the Matroska muxer refuses that, while
 * MP4's fills them in.
 */
async function mux(items: { annexB: string; codec: Codec; output: string; bFrames?: boolean }[]): Promise<void> {
  const input = (i: { annexB: string; codec: Codec }) => ['-fflags', '+genpts', '-f', rawFormat(i.codec), '-framerate', '25', '-i', i.annexB];
  const output = (n: number, file: string) => ['-map', `${n}:v:0`, '-c', 'copy', '-fflags', '+bitexact', file];
  const viaMp4 = items.filter((i) => i.bFrames && i.output.endsWith('.mkv'));
  const direct = items.filter((i) => !viaMp4.includes(i));
  if (direct.length > 0) await ffmpeg([...direct.flatMap(input), ...direct.flatMap((i, n) => output(n, i.output))]);
  for (const i of viaMp4) {
    const mp4 = `${i.output}.tmp.mp4`;
    await ffmpeg([...input(i), ...output(0, mp4)]);
    await ffmpeg(['-i', mp4, ...output(0, i.output)]);
    await rm(mp4);
  }
}

async function sign(codec: Codec, key: string, input: string, output: string, options: { level?: 'frame' | 'gop'; eos?: boolean } = {}): Promise<void> {
  const args = ['--codec', codec, '--key', key, '--level', options.level ?? 'frame', ...(options.eos ? ['--eos'] : []), input, output];
  await run(join(buildDir(), 'sv_sign'), args);
}

interface RawReference {
  verdict: LibraryVerdict;
  first_failure: { frame_index?: number } | null;
  gops: Record<string, number>;
  stream: { frames: number; signed_video_seis: number; seis_current_format: number; seis_legacy_format: number; onvif_media_signing_seis: number };
  engine: { version_on_signing_side: string };
  axis_attestation: { verified: 'yes' | 'no' | 'not feasible' };
}

/** The reference library's verdict for a file (MP4, MKV or Annex B), through the shared sv-validate. */
export async function referenceVerdict(file: string, codec: Codec): Promise<ReferenceVerdict> {
  const { stdout } = await run(join(shared(), 'sv-validate'), ['--brief', '--codec', codec, file], {
    env: { ...process.env, SV_BUILD: buildDir() },
    maxBuffer: 16 << 20,
  });
  const r = JSON.parse(stdout) as RawReference;
  const s = r.stream;
  const n = (k: string) => r.gops[k] ?? 0;
  return {
    verdict: r.verdict,
    firstFailureFrame: r.first_failure?.frame_index ?? null,
    frames: s.frames,
    gops: {
      reports: n('reports'),
      ok: n('ok'),
      okWithMissingInfo: n('ok_with_missing_info'),
      notOk: n('not_ok'),
      notSigned: n('not_signed'),
      signaturePresent: n('signature_present'),
      versionMismatch: n('version_mismatch'),
    },
    seiFormat: s.onvif_media_signing_seis > 0 ? 'onvif' : s.seis_current_format > 0 ? 'current' : s.seis_legacy_format > 0 ? 'legacy' : null,
    ...(r.engine.version_on_signing_side ? { signingVersion: r.engine.version_on_signing_side } : {}),
    axisAttestation: r.axis_attestation.verified,
  };
}

// ---------------------------------------------------------------- Annex B at the NAL-unit level

/** "Signed Video...0": the UUID of a signed-video SEI's user_data_unregistered payload. */
const SIGNED_VIDEO_UUID = Buffer.from('5369676e656420566964656f2e2e2e30', 'hex');

export interface NalUnit {
  /** The NAL unit as it was in the stream, start code included (3 or 4 bytes), trailing zero bytes dropped. */
  bytes: Buffer;
  /** Where the NAL unit header starts in bytes: the start code's length. */
  at: number;
  /** nal_unit_type. */
  type: number;
  /** A picture's first slice (what the reference counts as a frame), as the library decides it. */
  primary: boolean;
  /** A coded slice of an IDR/IRAP picture (H.264 type 5, H.265 types 16-21). */
  intra: boolean;
  /** A signed-video SEI (user data unregistered with the Signed Video UUID). */
  signedVideoSei: boolean;
}

function findStartCode(d: Buffer, from: number): number {
  // 00 00 01 marks a NAL unit; emulation prevention guarantees it appears nowhere inside one.
  const i = d.indexOf(START_CODE, from);
  return i < 0 ? d.length : i;
}
const START_CODE = Buffer.from([0, 0, 1]);

/**
 * Splits an Annex B byte stream into NAL units the way sv_validate and sv_sign
 * do: a unit runs from its start code to the next; the trailing zero bytes
 * before the next start code (trailing_zero_8bits, or the first byte of a
 * 4-byte start code) are dropped, and a zero byte right before 00 00 01 is
 * kept as part of a 4-byte start code.
 */
export function splitAnnexB(d: Buffer, codec: Codec): NalUnit[] {
  const units: NalUnit[] = [];
  let pos = findStartCode(d, 0);
  while (pos < d.length) {
    const header = pos + 3;
    const next = findStartCode(d, header);
    let end = next;
    while (end > header && d[end - 1] === 0) end--;
    const start = pos > 0 && d[pos - 1] === 0 ? pos - 1 : pos;
    if (end > header) units.push(describe(Buffer.from(d.subarray(start, end)), header - start, codec));
    pos = next;
  }
  return units;
}

function describe(bytes: Buffer, at: number, codec: Codec): NalUnit {
  const b0 = bytes[at] ?? 0;
  if (codec === 'h264') {
    const type = b0 & 0x1f;
    // first_mb_in_slice == 0 codes as a single 1 bit: the first bit after the one-byte header.
    const primary = (type === 1 || type === 5) && ((bytes[at + 1] ?? 0) & 0x80) !== 0;
    return { bytes, at, type, primary, intra: type === 5, signedVideoSei: type === 6 && isSignedVideoSei(bytes, at + 1) };
  }
  const type = (b0 >> 1) & 0x3f;
  // first_slice_segment_in_pic_flag: the first bit after the two-byte header. The library counts
  // only TRAIL and IRAP pictures (not RASL/RADL/TSA/STSA) as frames.
  const picture = type <= 1 || (type >= 16 && type <= 21);
  const primary = picture && ((bytes[at + 2] ?? 0) & 0x80) !== 0;
  return { bytes, at, type, primary, intra: type >= 16 && type <= 21, signedVideoSei: (type === 39 || type === 40) && isSignedVideoSei(bytes, at + 2) };
}

/** Whether an SEI's first message is user data unregistered (payload type 5) with the Signed Video UUID. */
function isSignedVideoSei(bytes: Buffer, payload: number): boolean {
  if (bytes[payload] !== 5) return false;
  let i = payload + 1;
  while (bytes[i] === 0xff) i++; // payload size, coded in 0xFF steps
  return bytes.subarray(i + 1, i + 17).equals(SIGNED_VIDEO_UUID);
}

export const joinAnnexB = (units: NalUnit[]): Buffer => Buffer.concat(units.map((u) => u.bytes));

/**
 * A stream cut into GOPs: each starts at the parameter sets (and access unit
 * delimiter or non-signed-video SEIs) right before an intra picture's first
 * slice, and runs to the next one. sv_sign puts a GOP's signed-video SEI
 * after its intra slice, so the SEI travels with its GOP (it signs the GOP
 * before it).
 */
export interface Gops {
  /** NAL units before the first GOP (none in the corpus streams). */
  head: NalUnit[];
  gops: NalUnit[][];
}

export function splitGops(units: NalUnit[], codec: Codec): Gops {
  const isPreamble = (u: NalUnit) =>
    codec === 'h264' ? [7, 8, 9, 13, 15].includes(u.type) || (u.type === 6 && !u.signedVideoSei) : [32, 33, 34, 35].includes(u.type) || (u.type === 39 && !u.signedVideoSei);
  const starts: number[] = [];
  units.forEach((u, i) => {
    if (!(u.intra && u.primary)) return;
    let s = i;
    while (s > 0 && isPreamble(units[s - 1] as NalUnit) && !starts.includes(s - 1)) s--;
    starts.push(s);
  });
  const gops = starts.map((s, k) => units.slice(s, starts[k + 1] ?? units.length));
  return { head: units.slice(0, starts[0] ?? units.length), gops };
}

const flat = (g: Gops): NalUnit[] => [...g.head, ...g.gops.flat()];

/**
 * The NAL unit with a few bytes XORed well inside its payload: past the
 * header and the first bytes after it (slice header or SEI payload type,
 * size and UUID stay intact, so the unit is still the same kind of unit and
 * still a picture's first slice) and before the last byte (rbsp_stop_bit).
 * Only bytes above 3 that stay above 3 are changed: such a byte is not part
 * of a start code or an emulation prevention sequence (00 00 0x) before the
 * change and cannot form one after it, so the NAL unit structure of the
 * stream does not change.
 */
export function withBytesChanged(u: NalUnit, fractions: number[], skip = 4, mask = 0xa5): NalUnit {
  const bytes = Buffer.from(u.bytes);
  const first = u.at + skip;
  const last = bytes.length - 2;
  if (last <= first) throw new Error(`NAL unit of ${bytes.length} bytes is too short to change inside`);
  const changed = new Set<number>();
  for (const f of fractions) {
    let p = first + Math.floor((last - first) * f);
    const ok = (i: number) => !changed.has(i) && (bytes[i] as number) > 3 && ((bytes[i] as number) ^ mask) > 3;
    while (p <= last && !ok(p)) p++;
    if (p > last) throw new Error('no byte to change in the NAL unit');
    bytes[p] = (bytes[p] as number) ^ mask;
    changed.add(p);
  }
  return { ...u, bytes };
}

/** H.264 slice_type of a slice NAL unit (ue(v) after first_mb_in_slice), from its first bytes. */
function h264SliceType(u: NalUnit): number {
  // Emulation prevention bytes removed from the first bytes of the payload: enough for two ue(v).
  const rbsp: number[] = [];
  for (let i = u.at + 1; i < u.bytes.length && rbsp.length < 16; i++) {
    const b = u.bytes[i] as number;
    if (b === 3 && rbsp.length >= 2 && rbsp[rbsp.length - 1] === 0 && rbsp[rbsp.length - 2] === 0) continue;
    rbsp.push(b);
  }
  let bit = 0;
  const readBit = () => ((rbsp[bit >> 3] ?? 0) >> (7 - (bit++ & 7))) & 1;
  const ue = () => {
    let zeros = 0;
    while (readBit() === 0 && zeros < 32) zeros++;
    let v = 0;
    for (let i = 0; i < zeros; i++) v = (v << 1) | readBit();
    return (1 << zeros) - 1 + v;
  };
  ue(); // first_mb_in_slice
  return ue() % 5; // 0 P, 1 B, 2 I, 3 SP, 4 SI
}

// ---------------------------------------------------------------- the cases

/** Runs fn over items, at most `limit` at a time, keeping the order of results. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function writeKey(type: 'ec' | 'rsa'): string {
  // sv_sign reads PKCS#8 PEM (and SEC1 "EC PRIVATE KEY"); node:crypto spares us openssl.
  const { privateKey } =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
      : generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  return privateKey;
}

/** A case before the reference has judged it: its Annex B (or finished container file) and how to mux it. */
interface Draft {
  name: string;
  description: string;
  codec: Codec;
  container: Container;
  /** The edited stream, to mux. */
  annexB?: Buffer;
  /** Or a container file made otherwise (edited in place, truncated, from the corpus). */
  file?: string;
  bFrames?: boolean;
}

/**
 * Makes the cases in `dir` (created if missing; best empty) and judges each
 * with the reference. Takes a few seconds: every step is ffmpeg stream
 * copy, sv_sign or sv_validate on streams of a few hundred kilobytes, run
 * in parallel.
 */
export async function makeSignedVideoCases(dir: string): Promise<SignedVideoCase[]> {
  const why = referenceUnavailable();
  if (why) throw new Error(why);
  const corpus = join(shared(), 'corpus');
  const work = join(dir, 'work');
  await mkdir(work, { recursive: true });
  const w = (name: string) => join(work, name);

  // Keys: two ECDSA P-256 (the second for re-signing) and one RSA 2048.
  const keys = { ec1: w('ec1.pem'), ec2: w('ec2.pem'), rsa: w('rsa.pem') };
  await Promise.all([writeFile(keys.ec1, writeKey('ec')), writeFile(keys.ec2, writeKey('ec')), writeFile(keys.rsa, writeKey('rsa'))]);

  // Unsigned sources: the corpus streams as Annex B, and, when ffmpeg has libx264, a short
  // encoded clip with B-frames (the corpus streams have I and P slices only).
  const hasX264 = spawnSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8' }).stdout?.includes('libx264') ?? false;
  await Promise.all([
    toAnnexB(join(corpus, 'test_h264.mp4'), 'h264', w('u264.h264')),
    toAnnexB(join(corpus, 'test_h265.mp4'), 'h265', w('u265.h265')),
    hasX264
      ? ffmpeg([
          ...'-f lavfi -i testsrc2=size=320x240:rate=25 -frames:v 96 -c:v libx264 -preset veryfast -bf 2 -g 32 -keyint_min 32 -sc_threshold 0 -f h264'.split(' '),
          w('ub264.h264'),
        ])
      : Promise.resolve(),
  ]);

  // Signed streams: both codecs, both key types, both authenticity levels, with and without EOS.
  const signed = {
    h264ecFrame: w('h264-ecdsa-frame.h264'),
    h264ec2Frame: w('h264-ecdsa2-frame.h264'),
    h264rsaGop: w('h264-rsa-gop.h264'),
    h265rsaFrame: w('h265-rsa-frame.h265'),
    h265ecGop: w('h265-ecdsa-gop.h265'),
    h264ecFrameEos: w('h264-ecdsa-frame-eos.h264'),
    h264rsaGopEos: w('h264-rsa-gop-eos.h264'),
    h265ecFrameEos: w('h265-ecdsa-frame-eos.h265'),
    b264ecFrame: w('b264-ecdsa-frame.h264'),
  };
  await Promise.all([
    sign('h264', keys.ec1, w('u264.h264'), signed.h264ecFrame),
    sign('h264', keys.ec2, w('u264.h264'), signed.h264ec2Frame),
    sign('h264', keys.rsa, w('u264.h264'), signed.h264rsaGop, { level: 'gop' }),
    sign('h265', keys.rsa, w('u265.h265'), signed.h265rsaFrame),
    sign('h265', keys.ec1, w('u265.h265'), signed.h265ecGop, { level: 'gop' }),
    sign('h264', keys.ec1, w('u264.h264'), signed.h264ecFrameEos, { eos: true }),
    sign('h264', keys.rsa, w('u264.h264'), signed.h264rsaGopEos, { level: 'gop', eos: true }),
    sign('h265', keys.ec1, w('u265.h265'), signed.h265ecFrameEos, { eos: true }),
    hasX264 ? sign('h264', keys.ec1, w('ub264.h264'), signed.b264ecFrame) : Promise.resolve(),
  ]);
  const load = async (file: string, codec: Codec) => splitGops(splitAnnexB(await readFile(file), codec), codec);
  const h264 = await load(signed.h264ecFrame, 'h264');
  const h264k2 = await load(signed.h264ec2Frame, 'h264');
  const h264gop = await load(signed.h264rsaGop, 'h264');
  const h265 = await load(signed.h265rsaFrame, 'h265');
  const h265gop = await load(signed.h265ecGop, 'h265');

  // Re-signed: key 1's SEIs stripped, then signed again with key 2; and signed over key 1's SEIs without stripping.
  await writeFile(w('h264-stripped.h264'), joinAnnexB(flat(h264).filter((u) => !u.signedVideoSei)));
  await Promise.all([sign('h264', keys.ec2, w('h264-stripped.h264'), w('h264-resigned.h264')), sign('h264', keys.ec2, signed.h264ecFrame, w('h264-double-signed.h264'))]);

  const drafts: Draft[] = [];
  const add = (d: Draft) => drafts.push(d);
  const stream = (g: Gops | NalUnit[]) => joinAnnexB(Array.isArray(g) ? g : flat(g));
  /** A copy of the GOPs with GOP `k` replaced. */
  const withGop = (g: Gops, k: number, units: NalUnit[]): Gops => ({ head: g.head, gops: g.gops.map((x, i) => (i === k ? units : x)) });
  const gopAt = (g: Gops, k: number): NalUnit[] => {
    const gop = g.gops[k];
    if (!gop) throw new Error(`no GOP ${k}`);
    return gop;
  };
  /**
   * GOP k with its n-th slice of the wanted kind changed, counting only slices of 48 bytes or more
   * (the smallest P slices, 20 bytes of a still picture, have too few bytes to change safely).
   */
  const changeFrame = (g: Gops, k: number, pick: (u: NalUnit) => boolean, n = 0): Gops => {
    const gop = gopAt(g, k);
    const idx = gop.map((u, i) => (pick(u) && u.bytes.length >= 48 ? i : -1)).filter((i) => i >= 0)[n];
    if (idx === undefined) throw new Error(`GOP ${k} has no such NAL unit`);
    return withGop(
      g,
      k,
      gop.map((u, i) => (i === idx ? withBytesChanged(u, [0.4, 0.55, 0.7]) : u)),
    );
  };
  const isSei = (u: NalUnit) => u.signedVideoSei;
  const isI = (u: NalUnit) => u.intra && u.primary;
  const isP = (u: NalUnit) => u.primary && !u.intra;
  const seiOf = (g: Gops, k: number): NalUnit => {
    const sei = gopAt(g, k).find(isSei);
    if (!sei) throw new Error(`GOP ${k} has no signed-video SEI`);
    return sei;
  };

  // Intact streams: the baselines.
  add({ name: 'unsigned-h264', description: 'the unsigned corpus H.264 stream, remuxed', codec: 'h264', container: 'mp4', annexB: await readFile(w('u264.h264')) });
  add({ name: 'unsigned-h265', description: 'the unsigned corpus H.265 stream, remuxed', codec: 'h265', container: 'mkv', annexB: await readFile(w('u265.h265')) });
  for (const container of ['mp4', 'mkv'] as const) {
    add({ name: 'signed-h264-ecdsa-frame', description: 'signed, ECDSA P-256, frame level', codec: 'h264', container, annexB: stream(h264) });
    add({ name: 'signed-h265-rsa-frame', description: 'signed, RSA 2048, frame level', codec: 'h265', container, annexB: stream(h265) });
  }
  add({ name: 'signed-h264-rsa-gop', description: 'signed, RSA 2048, GOP level', codec: 'h264', container: 'mkv', annexB: stream(h264gop) });
  add({ name: 'signed-h265-ecdsa-gop', description: 'signed, ECDSA P-256, GOP level', codec: 'h265', container: 'mp4', annexB: stream(h265gop) });
  add({
    name: 'signed-h264-ecdsa-frame-eos',
    description: 'signed with --eos (a final SEI signs the last GOP), frame level',
    codec: 'h264',
    container: 'mkv',
    annexB: await readFile(signed.h264ecFrameEos),
  });
  add({ name: 'signed-h264-rsa-gop-eos', description: 'signed with --eos, GOP level', codec: 'h264', container: 'mp4', annexB: await readFile(signed.h264rsaGopEos) });
  add({ name: 'signed-h265-ecdsa-frame-eos', description: 'signed with --eos, frame level', codec: 'h265', container: 'mkv', annexB: await readFile(signed.h265ecFrameEos) });

  // Bytes changed in one picture (GOP 2, the middle one, signed by GOP 3's SEI) or in a SEI.
  add({ name: 'h264-iframe-bytes', description: 'GOP 2: 3 bytes XORed inside the IDR slice', codec: 'h264', container: 'mp4', annexB: stream(changeFrame(h264, 2, isI)) });
  add({ name: 'h265-iframe-bytes', description: 'GOP 2: 3 bytes XORed inside the IRAP slice', codec: 'h265', container: 'mkv', annexB: stream(changeFrame(h265, 2, isI)) });
  add({
    name: 'h264-gop-iframe-bytes',
    description: 'GOP level, GOP 2: 3 bytes XORed inside the IDR slice',
    codec: 'h264',
    container: 'mkv',
    annexB: stream(changeFrame(h264gop, 2, isI)),
  });
  add({
    name: 'h264-pframe-bytes',
    description: 'GOP 2: 3 bytes XORed inside its 10th P slice of 48+ bytes',
    codec: 'h264',
    container: 'mkv',
    annexB: stream(changeFrame(h264, 2, isP, 9)),
  });
  add({
    name: 'h265-pframe-bytes',
    description: 'GOP 2: 3 bytes XORed inside its 10th P slice of 48+ bytes',
    codec: 'h265',
    container: 'mp4',
    annexB: stream(changeFrame(h265, 2, isP, 9)),
  });
  add({
    name: 'h265-gop-pframe-bytes',
    description: 'GOP level, GOP 2: 3 bytes XORed inside its 10th P slice of 48+ bytes',
    codec: 'h265',
    container: 'mp4',
    annexB: stream(changeFrame(h265gop, 2, isP, 9)),
  });
  add({
    name: 'h264-sei-bytes',
    description: "GOP 3's signed-video SEI (signs GOP 2): 3 bytes XORed inside its TLV data",
    codec: 'h264',
    container: 'mkv',
    annexB: stream(
      withGop(
        h264,
        3,
        gopAt(h264, 3).map((u) => (isSei(u) ? withBytesChanged(u, [0.4, 0.55, 0.7], 32) : u)),
      ),
    ),
  });
  add({
    name: 'h264-sei-signature-bytes',
    description: "GOP 3's signed-video SEI: 1 byte XORed near its end (the signature TLV comes last)",
    codec: 'h264',
    container: 'mp4',
    annexB: stream(
      withGop(
        h264,
        3,
        gopAt(h264, 3).map((u) => (isSei(u) ? withBytesChanged(u, [0.98], 32) : u)),
      ),
    ),
  });
  add({
    name: 'h265-gop-sei-bytes',
    description: "GOP level, GOP 3's signed-video SEI: 3 bytes XORed inside its TLV data",
    codec: 'h265',
    container: 'mkv',
    annexB: stream(
      withGop(
        h265gop,
        3,
        gopAt(h265gop, 3).map((u) => (isSei(u) ? withBytesChanged(u, [0.4, 0.55, 0.7], 32) : u)),
      ),
    ),
  });
  if (hasX264) {
    const b264 = await load(signed.b264ecFrame, 'h264');
    const isB = (u: NalUnit) => u.primary && u.type === 1 && h264SliceType(u) === 1;
    add({
      name: 'signed-h264-bframes',
      description: 'libx264 clip with B-frames, signed, ECDSA, frame level',
      codec: 'h264',
      container: 'mp4',
      annexB: stream(b264),
      bFrames: true,
    });
    add({
      name: 'h264-bframe-bytes',
      description: 'libx264 clip, GOP 1: 3 bytes XORed inside its 3rd B slice',
      codec: 'h264',
      container: 'mkv',
      annexB: stream(changeFrame(b264, 1, isB, 2)),
      bFrames: true,
    });
  }

  // Whole GOPs deleted, duplicated, reordered.
  const without = (g: Gops, ...ks: number[]): Gops => ({ head: g.head, gops: g.gops.filter((_, i) => !ks.includes(i)) });
  add({ name: 'h264-gop-deleted', description: 'GOP 2 (with its SEI) removed', codec: 'h264', container: 'mp4', annexB: stream(without(h264, 2)) });
  add({ name: 'h264-first-gop-deleted', description: 'GOP 0 removed (a recording whose start is lost)', codec: 'h264', container: 'mkv', annexB: stream(without(h264, 0)) });
  add({ name: 'h265-gop-level-gop-deleted', description: 'GOP level, GOP 2 removed', codec: 'h265', container: 'mkv', annexB: stream(without(h265gop, 2)) });
  const duplicated = (g: Gops, k: number): Gops => ({ head: g.head, gops: g.gops.flatMap((x, i) => (i === k ? [x, x] : [x])) });
  add({ name: 'h264-gop-duplicated', description: 'GOP 2 repeated right after itself', codec: 'h264', container: 'mkv', annexB: stream(duplicated(h264, 2)) });
  add({
    name: 'h265-gop-level-gop-duplicated',
    description: 'GOP level, GOP 2 repeated right after itself',
    codec: 'h265',
    container: 'mp4',
    annexB: stream(duplicated(h265gop, 2)),
  });
  const swapped = (g: Gops, a: number, b: number): Gops => ({ head: g.head, gops: g.gops.map((x, i) => (i === a ? gopAt(g, b) : i === b ? gopAt(g, a) : x)) });
  add({ name: 'h264-gops-reordered', description: 'GOPs 2 and 3 swapped', codec: 'h264', container: 'mp4', annexB: stream(swapped(h264, 2, 3)) });
  add({ name: 'h265-gops-reordered', description: 'GOPs 1 and 2 swapped', codec: 'h265', container: 'mkv', annexB: stream(swapped(h265, 1, 2)) });

  // Single pictures deleted, duplicated, swapped. The pictures picked are P slices with no
  // signed-video SEI before them (a GOP's SEI comes before its second picture). No case starts
  // inside a GOP: ffmpeg drops the P slices before the first keyframe, both when it muxes and when
  // sv-validate converts (stream copy without -copyinkf), so the reference would not see them.
  const units264 = flat(h264);
  const frameAt = (units: NalUnit[], n: number): number => {
    let seen = 0;
    const i = units.findIndex((u) => u.primary && seen++ === n);
    if (i < 0 || !isP(units[i] as NalUnit) || (units[i - 1] as NalUnit).signedVideoSei) throw new Error(`frame ${n} is not a plain P slice`);
    return i;
  };
  {
    const f150 = frameAt(units264, 150);
    const f151 = frameAt(units264, 151);
    const [a, b] = [units264[f150] as NalUnit, units264[f151] as NalUnit];
    add({
      name: 'h264-frame-deleted',
      description: 'frame 150 (a P slice in GOP 2) removed',
      codec: 'h264',
      container: 'mp4',
      annexB: stream(units264.filter((_, i) => i !== f150)),
    });
    add({
      name: 'h264-frames-deleted',
      description: 'frames 170-175 (P slices in GOP 2) removed',
      codec: 'h264',
      container: 'mkv',
      annexB: stream([...units264.slice(0, frameAt(units264, 170)), ...units264.slice(frameAt(units264, 175) + 1)]),
    });
    add({
      name: 'h264-frame-duplicated',
      description: 'frame 150 repeated right after itself',
      codec: 'h264',
      container: 'mkv',
      annexB: stream(units264.flatMap((u, i) => (i === f150 ? [u, u] : [u]))),
    });
    add({
      name: 'h264-frames-swapped',
      description: 'frames 150 and 151 swapped',
      codec: 'h264',
      container: 'mp4',
      annexB: stream(units264.map((u, i) => (i === f150 ? b : i === f151 ? a : u))),
    });
  }
  {
    const units265 = flat(h265gop);
    const f = frameAt(units265, 150);
    add({
      name: 'h265-gop-level-frame-deleted',
      description: 'GOP level, frame 150 (a P slice in GOP 2) removed',
      codec: 'h265',
      container: 'mkv',
      annexB: stream(units265.filter((_, i) => i !== f)),
    });
  }

  // Truncated: mid-GOP, mid-NAL unit, right after a SEI.
  const cutAfter = (g: Gops, k: number, keep: (gop: NalUnit[]) => NalUnit[]): NalUnit[] => [...g.head, ...g.gops.slice(0, k).flat(), ...keep(gopAt(g, k))];
  const firstFrames = (n: number) => (gop: NalUnit[]) => {
    // Up to (not including) the (n+1)-th primary slice.
    let seen = 0;
    const end = gop.findIndex((u) => u.primary && seen++ === n);
    return end < 0 ? gop : gop.slice(0, end);
  };
  const throughSei = (gop: NalUnit[]) => gop.slice(0, gop.findIndex(isSei) + 1);
  add({ name: 'h264-truncated-mid-gop', description: 'cut after 20 frames of GOP 3', codec: 'h264', container: 'mkv', annexB: stream(cutAfter(h264, 3, firstFrames(20))) });
  add({ name: 'h265-truncated-mid-gop', description: 'cut after 20 frames of GOP 3', codec: 'h265', container: 'mp4', annexB: stream(cutAfter(h265, 3, firstFrames(20))) });
  add({
    name: 'h264-truncated-mid-nal',
    description: "cut in the middle of GOP 3's IDR slice (its first half kept)",
    codec: 'h264',
    container: 'mp4',
    annexB: stream(
      cutAfter(h264, 3, (gop) => {
        const i = gop.findIndex(isI);
        const u = gop[i] as NalUnit;
        return [...gop.slice(0, i), { ...u, bytes: u.bytes.subarray(0, u.bytes.length >> 1) }];
      }),
    ),
  });
  add({
    name: 'h265-truncated-mid-nal',
    description: 'cut in the middle of the 10th P slice of GOP 3',
    codec: 'h265',
    container: 'mkv',
    annexB: stream(
      cutAfter(h265, 3, (gop) => {
        const i = gop.map((u, j) => (isP(u) ? j : -1)).filter((j) => j >= 0)[9] as number;
        const u = gop[i] as NalUnit;
        return [...gop.slice(0, i), { ...u, bytes: u.bytes.subarray(0, u.bytes.length >> 1) }];
      }),
    ),
  });
  add({
    name: 'h264-truncated-after-sei',
    description: "cut right after GOP 3's signed-video SEI",
    codec: 'h264',
    container: 'mkv',
    annexB: stream(cutAfter(h264, 3, throughSei)),
  });
  add({
    name: 'h264-gop-level-truncated-after-sei',
    description: "GOP level, cut right after GOP 3's signed-video SEI",
    codec: 'h264',
    container: 'mp4',
    annexB: stream(cutAfter(h264gop, 3, throughSei)),
  });

  // SEIs stripped or moved.
  const strip = (g: Gops, only?: number): Gops => ({ head: g.head, gops: g.gops.map((x, i) => (only === undefined || i === only ? x.filter((u) => !isSei(u)) : x)) });
  add({ name: 'h264-seis-stripped', description: 'every signed-video SEI removed', codec: 'h264', container: 'mp4', annexB: stream(strip(h264)) });
  add({ name: 'h265-gop-level-seis-stripped', description: 'GOP level, every signed-video SEI removed', codec: 'h265', container: 'mkv', annexB: stream(strip(h265gop)) });
  add({ name: 'h264-one-sei-stripped', description: "GOP 3's signed-video SEI (signing GOP 2) removed", codec: 'h264', container: 'mkv', annexB: stream(strip(h264, 3)) });
  /** The SEI of GOP `from` moved into GOP `to`, right after that GOP's own SEI. */
  const moveSei = (g: Gops, from: number, to: number): Gops => {
    const sei = seiOf(g, from);
    return {
      head: g.head,
      gops: g.gops.map((x, i) => {
        const rest = i === from ? x.filter((u) => u !== sei) : x;
        if (i !== to) return rest;
        const own = rest.findIndex(isSei);
        return [...rest.slice(0, own + 1), sei, ...rest.slice(own + 1)];
      }),
    };
  };
  add({
    name: 'h264-sei-moved-later',
    description: "GOP 2's signed-video SEI moved into GOP 3, after GOP 3's own",
    codec: 'h264',
    container: 'mkv',
    annexB: stream(moveSei(h264, 2, 3)),
  });
  add({
    name: 'h264-sei-moved-earlier',
    description: "GOP 3's signed-video SEI moved into GOP 2, after GOP 2's own",
    codec: 'h264',
    container: 'mp4',
    annexB: stream(moveSei(h264, 3, 2)),
  });
  add({
    name: 'h265-gop-level-sei-moved-later',
    description: "GOP level, GOP 2's signed-video SEI moved into GOP 3",
    codec: 'h265',
    container: 'mp4',
    annexB: stream(moveSei(h265gop, 2, 3)),
  });

  // Other keys: re-signed, spliced, signed twice.
  add({
    name: 'h264-resigned-other-key',
    description: 'signed with key 1, SEIs stripped, signed again with key 2',
    codec: 'h264',
    container: 'mkv',
    annexB: await readFile(w('h264-resigned.h264')),
  });
  add({
    name: 'h264-spliced-two-keys',
    description: 'GOPs 0-2 of the stream signed with key 1, then GOPs 3-4 of the same frames signed with key 2',
    codec: 'h264',
    container: 'mp4',
    annexB: stream([...h264.head, ...h264.gops.slice(0, 3).flat(), ...h264k2.gops.slice(3).flat()]),
  });
  add({
    name: 'h264-double-signed',
    description: "key 1's stream signed again with key 2 without stripping (two SEIs per GOP)",
    codec: 'h264',
    container: 'mkv',
    annexB: await readFile(w('h264-double-signed.h264')),
  });

  // Container-level edits: MKV changed in place, as the corpus's tamper_pframe_bytes was made, and an
  // MKV file cut short (a recording whose last write never finished).
  const inPlace = join(dir, 'h265-mkv-in-place-pframe-bytes.mkv');
  await mux([{ annexB: signed.h265rsaFrame, codec: 'h265', output: inPlace }]);
  {
    const mkv = await readFile(inPlace);
    // A P slice of GOP 2 big enough that its bytes occur once in the file; the MKV block holds
    // them unchanged (length-prefixed instead of start code, emulation prevention kept).
    const target = gopAt(h265, 2).filter((u) => isP(u) && u.bytes.length - u.at > 100)[9];
    if (!target) throw new Error('no P slice to change in place');
    const payload = target.bytes.subarray(target.at);
    const at = mkv.indexOf(payload);
    if (at < 0 || mkv.indexOf(payload, at + 1) >= 0) throw new Error('the P slice is not found exactly once in the MKV');
    const changed = withBytesChanged(target, [0.4, 0.55, 0.7]).bytes.subarray(target.at);
    changed.copy(mkv, at);
    await writeFile(inPlace, mkv);
  }
  add({
    name: 'h265-mkv-in-place-pframe-bytes',
    description: 'signed MKV (RSA, frame level), 3 bytes XORed in place inside a P slice of GOP 2',
    codec: 'h265',
    container: 'mkv',
    file: inPlace,
  });
  const cutMkv = join(dir, 'h264-mkv-file-truncated.mkv');
  await mux([{ annexB: signed.h264ecFrame, codec: 'h264', output: cutMkv }]);
  {
    const mkv = await readFile(cutMkv);
    await writeFile(cutMkv, mkv.subarray(0, Math.floor(mkv.length * 0.6)));
  }
  add({ name: 'h264-mkv-file-truncated', description: 'signed MKV (ECDSA, frame level) cut at 60% of its bytes, mid-cluster', codec: 'h264', container: 'mkv', file: cutMkv });

  // The shared corpus's containers as they are: legacy SEIs, an Axis attestation, Axis's own tampered file.
  for (const f of [
    'signed_test_h264.mp4',
    'signed_test_h265.mkv',
    'signed_test_h264_modified_frame_137.mp4',
    'signed_test_h264_tamper_pframe_bytes.mkv',
    'signed_test_h265_seis_stripped.mkv',
    'signed_vendor_axis.mkv',
  ]) {
    add({
      name: `corpus-${f}`,
      description: `the shared corpus's ${f}, unchanged`,
      codec: f.includes('h265') ? 'h265' : 'h264',
      container: f.endsWith('.mkv') ? 'mkv' : 'mp4',
      file: join(corpus, f),
    });
  }

  // Mux (several streams per ffmpeg run), then judge each file, a few processes at a time.
  const parallel = Math.max(2, availableParallelism());
  const named = drafts.map((d) => ({ ...d, name: d.name.startsWith('corpus-') ? d.name : `${d.name}-${d.container}` }));
  const made = named.map((d) => d.name);
  const unlisted = made.filter((n, i) => !CASE_NAMES.includes(n) || made.indexOf(n) !== i);
  const missing = CASE_NAMES.filter((n) => !made.includes(n) && !(OPTIONAL_CASES.has(n) && !hasX264));
  if (unlisted.length || missing.length) throw new Error(`cases made differ from CASE_NAMES: unlisted or twice ${unlisted.join(', ')}; missing ${missing.join(', ')}`);
  const toMux = await Promise.all(
    named
      .filter((d) => !d.file)
      .map(async (d) => {
        const annexB = w(`${d.name}.${rawFormat(d.codec)}`);
        await writeFile(annexB, d.annexB ?? Buffer.alloc(0));
        d.file = join(dir, `${d.name}.${d.container}`);
        return { annexB, codec: d.codec, output: d.file, bFrames: d.bFrames ?? false };
      }),
  );
  const batch = Math.ceil(toMux.length / parallel);
  await pool(
    Array.from({ length: parallel }, (_, i) => toMux.slice(i * batch, (i + 1) * batch)),
    parallel,
    (items) => mux(items),
  );
  return pool(named, parallel, async (d): Promise<SignedVideoCase> => {
    const file = d.file as string;
    return { name: d.name, description: d.description, file, codec: d.codec, container: d.container, expected: await referenceVerdict(file, d.codec) };
  });
}

// ---------------------------------------------------------------- a long clip, for benchmarks

export interface LongClip {
  file: string;
  bytes: number;
  frames: number;
  gops: number;
  /** Milliseconds spent looping the source, signing, muxing. */
  ms: { loop: number; sign: number; mux: number };
}

/**
 * A long signed MKV of about `approxBytes`: the unsigned corpus stream looped
 * whole (it starts with parameter sets and an intra picture, so every copy
 * is a valid continuation) in Annex B, signed in one sv_sign run (frame
 * level, ECDSA; sv_sign reads its whole input into memory: about the clip's
 * size, twice over with the library's own buffers at most) and muxed to MKV
 * with stream copy. Temporary Annex B files go beside `file` and are removed.
 */
export async function makeLongSignedClip(file: string, approxBytes: number, codec: Codec): Promise<LongClip> {
  const why = referenceUnavailable();
  if (why) throw new Error(why);
  const source = `${file}.source.${rawFormat(codec)}`;
  const looped = `${file}.looped.${rawFormat(codec)}`;
  const signedFile = `${file}.signed.${rawFormat(codec)}`;
  const key = `${file}.key.pem`;
  try {
    let t = performance.now();
    await writeFile(key, writeKey('ec'));
    await toAnnexB(join(shared(), 'corpus', codec === 'h264' ? 'test_h264.mp4' : 'test_h265.mp4'), codec, source);
    const unit = await readFile(source);
    // The SEIs add a few percent and MKV framing about 8 bytes a frame (4% of the H.265 source's
    // small pictures): make clips of one and two copies to learn what a copy weighs in the end (a
    // copy's first GOP gets a SEI only when a copy comes before it), so the clip lands near the size
    // asked for.
    const clipSize = async (n: number) => {
      await writeFile(looped, Buffer.concat(Array.from({ length: n }, () => unit)));
      await sign(codec, key, looped, signedFile);
      await mux([{ annexB: signedFile, codec, output: file }]);
      return (await stat(file)).size;
    };
    const one = await clipSize(1);
    const perCopy = (await clipSize(2)) - one;
    const copies = Math.max(1, Math.round((approxBytes - one) / perCopy) + 1);
    const units = splitAnnexB(unit, codec);
    const framesPerCopy = units.filter((u) => u.primary).length;
    const gopsPerCopy = units.filter((u) => u.primary && u.intra).length;
    // Written a few MiB at a time: one write per copy is thousands of small writes.
    const perChunk = Math.max(1, Math.floor((4 << 20) / unit.length));
    const chunk = Buffer.concat(Array.from({ length: perChunk }, () => unit));
    const out = createWriteStream(looped);
    for (let left = copies; left > 0; left -= perChunk) {
      if (!out.write(left >= perChunk ? chunk : chunk.subarray(0, left * unit.length))) await once(out, 'drain');
    }
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    const loop = performance.now() - t;
    t = performance.now();
    await sign(codec, key, looped, signedFile);
    await rm(looped);
    const signMs = performance.now() - t;
    t = performance.now();
    await mux([{ annexB: signedFile, codec, output: file }]);
    const muxMs = performance.now() - t;
    return { file, bytes: (await stat(file)).size, frames: framesPerCopy * copies, gops: gopsPerCopy * copies, ms: { loop, sign: signMs, mux: muxMs } };
  } finally {
    await Promise.all([source, looped, signedFile, key].map((f) => rm(f, { force: true })));
  }
}
