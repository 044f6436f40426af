/**
 * Axis signed-video verification (src/media/signed-video/) against the
 * reference verdicts of the shared corpus (corpus.json, made with the C
 * library), plus the parsers on hostile input: emulation-prevention removal,
 * TLV decoding, NAL headers, attestation checks and the verifier itself must
 * answer with a verdict or a typed error, never throw anything else or hang.
 *
 * NAL units come from the container layer (openVideo); without the shared
 * corpus the corpus tests are skipped with the reason.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openVideo } from '../src/media/containers/open-video.ts';
import { verifyAxisAttestation } from '../src/media/signed-video/attestation.ts';
import { decodeDocument } from '../src/media/signed-video/document.ts';
import { type NalInfo, parseNalUnit, readWithoutEmulationPrevention, removeEmulationPrevention } from '../src/media/signed-video/nal-unit.ts';
import { parseSignedVideoSei, type SignedVideoSei } from '../src/media/signed-video/sei.ts';
import { parsePublicKey, verifyDigest, verifyMessage } from '../src/media/signed-video/signature.ts';
import {
  decodeAxisVendor,
  decodeGeneral,
  decodeHashList,
  decodeProductInfo,
  decodePublicKey,
  decodeSignature,
  findTagOffset,
  splitTlvs,
  TlvError,
} from '../src/media/signed-video/tlv.ts';
import { SignedVideoVerifier } from '../src/media/signed-video/verifier.ts';
import type { GopOutcome, LibraryVerdict, VideoVerdict } from '../src/media/verdict.ts';
import { skipOrFail } from './helpers/peers.ts';
import { AUTHENTICITY } from './helpers/signed-video-cases.ts';

const CORPUS = ['/work/shared/signed-video/corpus', join(import.meta.dirname, '../../shared/signed-video/corpus')].find((d) => existsSync(join(d, 'corpus.json')));
const noCorpus = CORPUS ? false : skipOrFail('the shared signed-video corpus (corpus.json) is not here');

interface CorpusEntry {
  file: string;
  codec: 'h264' | 'h265';
  reference: {
    verdict: LibraryVerdict;
    gops: { reports: number; ok: number; ok_with_missing_info: number; not_ok: number; signature_present: number };
    first_failure: { frame_index?: number } | null;
    frames: number;
    sei_format: string | null;
    signing_version: string | null;
    product_info: { hardware_id: string; firmware_version: string; serial_number: string; manufacturer: string; address: string } | null;
    axis_attestation: { verified: 'yes' | 'no' | 'not feasible' };
  };
}

const corpusEntries: CorpusEntry[] = CORPUS ? JSON.parse(readFileSync(join(CORPUS, 'corpus.json'), 'utf8')).files : [];

async function verifyFile(path: string, codec: 'h264' | 'h265'): Promise<VideoVerdict> {
  const source = await openVideo(path, { codecHint: codec });
  try {
    const verifier = new SignedVideoVerifier(source.codec);
    for await (const nal of source.nalUnits()) verifier.add(nal.bytes, nal.timeMs === undefined ? undefined : { timeMs: nal.timeMs });
    return verifier.finish();
  } finally {
    await source.close();
  }
}

const count = (v: VideoVerdict, outcome: GopOutcome) => v.gops.filter((g) => g.outcome === outcome).length;

for (const entry of corpusEntries.length > 0 ? corpusEntries : [undefined]) {
  const name = entry ? `corpus: ${entry.file}` : 'corpus';
  test(name, { skip: noCorpus }, async () => {
    if (!entry || !CORPUS) return;
    const ref = entry.reference;
    const got = await verifyFile(join(CORPUS, entry.file), entry.codec);
    assert.equal(got.libraryVerdict, ref.verdict, 'library verdict');
    assert.equal(got.verdict, AUTHENTICITY[ref.verdict], 'verdict');
    assert.equal(got.firstInvalidFrame, ref.first_failure?.frame_index ?? null, 'first invalid frame');
    assert.equal(got.frames, ref.frames, 'frames');
    assert.deepEqual(
      { reports: got.gops.length, ok: count(got, 'ok'), missing: count(got, 'missing-info'), notOk: count(got, 'tampered'), present: count(got, 'pending') },
      { reports: ref.gops.reports, ok: ref.gops.ok, missing: ref.gops.ok_with_missing_info, notOk: ref.gops.not_ok, present: ref.gops.signature_present },
      'GOP reports',
    );
    assert.equal(got.format.sei, ref.sei_format ? ref.sei_format.split(' ')[0] : null, 'SEI format');
    assert.equal(got.format.signingVersion, ref.signing_version ?? undefined, 'signing version');
    if (ref.product_info) {
      const p = ref.product_info;
      assert.deepEqual(
        got.signer?.productInfo,
        { hardwareId: p.hardware_id, firmwareVersion: p.firmware_version, serialNumber: p.serial_number, manufacturer: p.manufacturer, address: p.address },
        'product info',
      );
    } else {
      assert.equal(got.signer?.productInfo, undefined, 'no product info');
    }
    assert.equal(got.attestation.kind, ref.axis_attestation.verified === 'yes' ? 'axis' : ref.axis_attestation.verified === 'no' ? 'axis-failed' : 'none', 'attestation');
    if (got.verdict !== 'authentic') assert.ok(got.reason, 'a reason for anything but authentic');
    if (ref.verdict !== 'NOT SIGNED') assert.match(got.signer?.publicKeyFingerprint ?? '', /^[0-9a-f]{64}$/);
  });
}

// ---------------------------------------------------------------- the Axis vendor tag

/** The first signed-video SEI of a corpus file, taken apart. */
async function firstSignedVideoSei(file: string, codec: 'h264' | 'h265'): Promise<SignedVideoSei> {
  const source = await openVideo(file, { codecHint: codec });
  try {
    for await (const nal of source.nalUnits()) {
      const info = parseNalUnit(codec, nal.bytes);
      if (info.sei?.uuidType === 'signed-video') return parseSignedVideoSei(nal.bytes, info);
    }
  } finally {
    await source.close();
  }
  throw new Error(`no signed-video SEI in ${file}`);
}

test('Axis attestation: covers only the attested key and serial number', { skip: noCorpus }, async () => {
  if (!CORPUS) return;
  const sei = await firstSignedVideoSei(join(CORPUS, 'signed_vendor_axis.h264'), 'h264');
  const doc = decodeDocument(sei.tlv, sei.legacyLayout);
  assert.ok(doc.axis && doc.publicKeyPem && doc.productInfo);
  const key = parsePublicKey(doc.publicKeyPem);
  assert.ok(key);
  const good = verifyAxisAttestation(doc.axis, key, doc.productInfo);
  assert.equal(good.kind, 'axis');
  assert.ok(good.kind === 'axis' && good.chipId?.startsWith('04005001') && good.serialNumber === 'B8A44F27E6D1');

  const otherSerial = verifyAxisAttestation(doc.axis, key, { ...doc.productInfo, serialNumber: 'ACCC8E000000' });
  assert.equal(otherSerial.kind, 'axis-failed');
  const fresh = parsePublicKey(Buffer.from(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' })));
  assert.ok(fresh);
  const wrongKey = verifyAxisAttestation(doc.axis, fresh, doc.productInfo);
  assert.equal(wrongKey.kind, 'axis-failed');
  assert.match(wrongKey.kind === 'axis-failed' ? wrongKey.reason : '', /public key/);

  const chainFromTestCa = verifyAxisAttestation(
    { attestation: doc.axis.attestation, certificateChain: readFileSync(join(CORPUS, 'cert_chain.pem'), 'latin1') },
    key,
    doc.productInfo,
  );
  assert.equal(chainFromTestCa.kind, 'axis-failed', 'a chain to a non-Axis root is refused');
  const garbage = verifyAxisAttestation({ attestation: new Uint8Array(3), certificateChain: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, key, doc.productInfo);
  assert.equal(garbage.kind, 'axis-failed');
  const expired = verifyAxisAttestation(doc.axis, key, doc.productInfo, new Date('2040-01-01'));
  assert.equal(expired.kind, 'axis-failed');
});

// ---------------------------------------------------------------- parsers on hostile input

test('emulation prevention: 00 00 03 loses the 03, nothing else changes', () => {
  const cases: [number[], number[]][] = [
    [
      [0x00, 0x00, 0x03, 0x01],
      [0x00, 0x00, 0x01],
    ],
    [
      [0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x02],
      [0x00, 0x00, 0x00, 0x00, 0x02],
    ],
    [
      [0x00, 0x03, 0x00],
      [0x00, 0x03, 0x00],
    ],
    [
      [0x00, 0x00, 0x03],
      [0x00, 0x00],
    ],
    [
      [0x00, 0x00, 0x00, 0x03, 0x03],
      [0x00, 0x00, 0x00, 0x03],
    ],
    [[], []],
    [
      [0x03, 0x03, 0x03],
      [0x03, 0x03, 0x03],
    ],
  ];
  for (const [input, expected] of cases) assert.deepEqual([...removeEmulationPrevention(Uint8Array.from(input))], expected, `from ${input}`);
  // Reading a fixed number of bytes past the end pads with zeros instead of throwing.
  const { out, consumed } = readWithoutEmulationPrevention(Uint8Array.from([0x00, 0x00, 0x03, 0x01]), 8);
  assert.deepEqual([...out], [0, 0, 1, 0, 0, 0, 0, 0]);
  assert.equal(consumed, 4);
});

/** Deterministic pseudo-random bytes. */
function* randomBuffers(seed: number, count: number, maxLength: number): Generator<Uint8Array> {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s;
  };
  for (let i = 0; i < count; i++) yield Uint8Array.from({ length: next() % maxLength }, () => next() & 0xff);
}

test('TLV: truncated tags and lengths past the end raise TlvError only', () => {
  const bad: number[][] = [[1], [1, 10, 1, 2], [2, 0xff, 0xff, 1], [4, 0x00], [99, 1, 0], [5, 0, 9, 2, 0, 0x40]];
  for (const bytes of bad) assert.throws(() => splitTlvs(Uint8Array.from(bytes)), TlvError, `splitTlvs(${bytes})`);
  assert.deepEqual(
    splitTlvs(Uint8Array.from([1, 1, 9, 4, 0, 2, 1, 7])).map((t) => [t.tag, [...t.value]]),
    [
      [1, [9]],
      [4, [1, 7]],
    ],
  );
  // Value decoders: short or inconsistent values are TlvError, never a RangeError from a DataView.
  const decoders = [
    (v: Uint8Array) => decodeGeneral(v, false),
    (v: Uint8Array) => decodeGeneral(v, true),
    decodePublicKey,
    (v: Uint8Array) => decodeProductInfo(v, false),
    decodeHashList,
    (v: Uint8Array) => decodeSignature(v, false),
    (v: Uint8Array) => decodeSignature(v, true),
    decodeAxisVendor,
  ];
  for (const value of [[], [1], [3, 0, 0], [2, 0, 0, 0, 0, 0, 5, 2, 0, 3, 1], [1, 200, 1, 2], [2, 1, 0, 0xff, 0xff]]) {
    for (const decode of decoders) {
      try {
        decode(Uint8Array.from(value));
      } catch (err) {
        assert.ok(err instanceof TlvError, `${decode.name}(${value}) threw ${err}`);
      }
    }
  }
  assert.throws(() => decodeHashList(new Uint8Array(1 + 64 * 300 + 1).fill(1, 0, 1)), TlvError, 'hash list larger than the library allows');
  // Random input: decodeDocument never throws, findTagOffset always ends.
  for (const buf of randomBuffers(7, 3000, 300)) {
    const doc = decodeDocument(buf, buf.length % 2 === 0);
    assert.ok(doc);
    const at = findTagOffset(buf, 0, buf.length, 5, true);
    assert.ok(at >= -1 && at < buf.length);
  }
});

test('NAL units: garbage headers and truncated SEIs are classified, not thrown on', () => {
  for (const codec of ['h264', 'h265'] as const) {
    for (const buf of randomBuffers(codec === 'h264' ? 11 : 13, 3000, 80)) {
      const info: NalInfo = parseNalUnit(codec, buf);
      assert.ok(info.hashableLength <= buf.length);
      if (info.sei?.uuidType === 'signed-video' && info.sei.valid) {
        try {
          parseSignedVideoSei(buf, info);
        } catch (err) {
          assert.equal((err as Error).name, 'SeiFormatError');
        }
      }
    }
  }
  // A signed-video SEI whose declared size runs past the unit.
  const uuid = [0x53, 0x69, 0x67, 0x6e, 0x65, 0x64, 0x20, 0x56, 0x69, 0x64, 0x65, 0x6f, 0x2e, 0x2e, 0x2e, 0x30];
  const truncated = Uint8Array.from([0x06, 0x05, 0xff, 0xff, 0x40, ...uuid, 0xb0, 1, 2]);
  const info = parseNalUnit('h264', truncated);
  assert.equal(info.sei?.uuidType, 'signed-video');
  assert.equal(info.sei?.valid, false);
});

test('verifier: random and damaged units give a verdict, never an exception', () => {
  for (const codec of ['h264', 'h265'] as const) {
    const verifier = new SignedVideoVerifier(codec);
    const uuid = [0x53, 0x69, 0x67, 0x6e, 0x65, 0x64, 0x20, 0x56, 0x69, 0x64, 0x65, 0x6f, 0x2e, 0x2e, 0x2e, 0x30];
    const seiHeader = codec === 'h264' ? [0x06] : [0x4e, 0x01];
    let i = 0;
    for (const buf of randomBuffers(codec === 'h264' ? 21 : 23, 2000, 200)) {
      // Every fourth unit a signed-video SEI with a random body, every fourth an I or P slice.
      if (i % 4 === 0) verifier.add(Uint8Array.from([...seiHeader, 0x05, Math.min(buf.length + 17, 255), ...uuid, 0xb0, ...buf, 0x80]));
      else if (i % 4 === 1) verifier.add(Uint8Array.from([...(codec === 'h264' ? [i % 8 === 1 ? 0x65 : 0x41] : [i % 8 === 1 ? 0x26 : 0x02, 0x01]), 0x88, ...buf]));
      else verifier.add(buf);
      i++;
    }
    verifier.add(new Uint8Array(0));
    const verdict = verifier.finish();
    assert.ok(['tampered', 'incomplete', 'unsupported', 'unsigned', 'authentic'].includes(verdict.verdict));
    assert.notEqual(verdict.verdict, 'authentic', 'random SEIs never authenticate anything');
    assert.equal(verdict.format.codec, codec);
  }
});

test('verifier: an ONVIF Media Signing stream is unsupported, not unsigned', () => {
  const onvifUuid = [0x00, 0x5b, 0xc9, 0x3f, 0x2d, 0x71, 0x5e, 0x95, 0xad, 0xa4, 0x79, 0x6f, 0x90, 0x87, 0x7a, 0x6f];
  const verifier = new SignedVideoVerifier('h264');
  verifier.add(Uint8Array.from([0x65, 0x88, 0x84, 0x21]));
  verifier.add(Uint8Array.from([0x06, 0x05, 20, ...onvifUuid, 1, 2, 3, 4, 0x80]));
  verifier.add(Uint8Array.from([0x41, 0x9a, 0x21]));
  const verdict = verifier.finish();
  assert.equal(verdict.verdict, 'unsupported');
  assert.equal(verdict.format.sei, 'onvif');
  assert.match(verdict.reason ?? '', /ONVIF/);
  assert.equal(verdict.frames, 2);
});

test('verifier: an unsigned stream is unsigned', () => {
  const verifier = new SignedVideoVerifier('h265');
  for (let i = 0; i < 100; i++) verifier.add(Uint8Array.from(i % 25 === 0 ? [0x26, 0x01, 0xaf, i] : [0x02, 0x01, 0xd0, i]));
  const verdict = verifier.finish();
  assert.equal(verdict.verdict, 'unsigned');
  assert.equal(verdict.libraryVerdict, 'NOT SIGNED');
  assert.equal(verdict.frames, 100);
  assert.equal(verdict.firstInvalidFrame, null);
  assert.equal(verdict.attestation.kind, 'none');
});

test('verifier: units waiting for a signature are capped, and the verdict says so', { skip: noCorpus }, async () => {
  if (!CORPUS) return;
  const source = await openVideo(join(CORPUS, 'signed_test_h264.mp4'));
  const verifier = new SignedVideoVerifier('h264');
  try {
    for await (const nal of source.nalUnits()) verifier.add(nal.bytes);
  } finally {
    await source.close();
  }
  // 26 000 more P slices that no SEI will ever cover: more than the verifier keeps.
  const slice = Uint8Array.from([0x41, 0x9a, 0, 0, 0x80]);
  for (let i = 0; i < 26_000; i++) {
    slice[2] = i & 0xff;
    slice[3] = (i >> 8) & 0xff;
    verifier.add(slice);
  }
  const verdict = verifier.finish();
  assert.equal(verdict.libraryVerdict, 'OK', 'what was signed verified');
  assert.equal(verdict.verdict, 'incomplete', 'but not everything could be kept for verification');
  assert.match(verdict.reason ?? '', /waited for a signature/);
  assert.equal(verdict.frames, 256 + 26_000);
});

test('signatures: ECDSA P-256 and RSA over a message and over a precomputed digest (legacy GOP hash)', () => {
  const message = Buffer.from('signed-video document');
  const digest = createHash('sha256').update(message).digest();
  for (const pair of [generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('rsa', { modulusLength: 2048 })]) {
    const key = parsePublicKey(Buffer.from(pair.publicKey.export({ format: 'pem', type: 'spki' })));
    assert.ok(key);
    const signature = sign('sha256', message, pair.privateKey);
    assert.equal(verifyMessage(key, 'sha256', message, signature), true);
    assert.equal(verifyDigest(key, digest, signature), true, `${key.algorithm} over the digest`);
    const other = Buffer.from(digest);
    other[0] = (other[0] as number) ^ 1;
    assert.equal(verifyDigest(key, other, signature), false);
    assert.equal(verifyMessage(key, 'sha256', Buffer.from('another document'), signature), false);
    // Malformed signatures are a failed check, not an exception.
    for (const bad of [new Uint8Array(0), Uint8Array.from([0x30, 0x02, 0x02, 0x00]), signature.subarray(0, 10), new Uint8Array(300).fill(0xff)]) {
      assert.equal(verifyMessage(key, 'sha256', message, bad), false);
      assert.equal(verifyDigest(key, digest, bad), false);
    }
  }
  assert.equal(parsePublicKey(Buffer.from('-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----')), undefined);
  assert.equal(parsePublicKey(Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x00])), undefined);
});
