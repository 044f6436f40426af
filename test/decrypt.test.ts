/**
 * Decrypting end-to-end encrypted evidence. The fixtures are encrypted with the
 * openssl CLI, not with the project's own encryptor, so the tests prove the
 * decrypter reads the standard format (AES-256-CBC + RSA-OAEP key file), and
 * the last test proves the project's encryptor writes it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decryptEvidence } from '../src/evidence/decrypt.ts';
import { loadPrivateKeys, type PrivateKeyEntry } from '../src/evidence/private-keys.ts';
import { encryptForKeyHolder } from '../src/simulator/body-worn-system.ts';
import { needs } from './helpers/peers.ts';

let root: string;
let scratch: string;
/** Key pairs by name: a (PKCS#8), b (PKCS#1), wrong (PKCS#8). */
const pairs: Record<string, { priv: string; pub: string; pem: string }> = {};
/** Whether this OpenSSL still has `rsautl -oaep` (the spec's example uses it). */
let rsautl = false;

const openssl = (args: string[], cwd?: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

async function newDir(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  return dir;
}

/**
 * Encrypts `plain` as a BWS would, with openssl alone: `<dir>/<name>` gets the
 * ciphertext and `<dir>/<base>.key` the key file.
 */
async function encryptWithOpenssl(dir: string, name: string, plain: Buffer, pair: string, publicKeyId: string, wrapWith: 'rsautl' | 'pkeyutl' = 'rsautl'): Promise<void> {
  const key = randomBytes(32);
  const iv = randomBytes(16);
  const tag = randomBytes(4).toString('hex');
  const plainPath = join(scratch, `${tag}.plain`);
  const keyPath = join(scratch, `${tag}.aes`);
  const wrappedPath = join(scratch, `${tag}.wrapped`);
  await writeFile(plainPath, plain);
  await writeFile(keyPath, key);
  openssl(['enc', '-aes-256-cbc', '-K', key.toString('hex'), '-iv', iv.toString('hex'), '-in', plainPath, '-out', join(dir, name)]);
  const pub = pairs[pair]!.pub;
  if (wrapWith === 'rsautl' && rsautl) {
    openssl(['rsautl', '-encrypt', '-oaep', '-pubin', '-inkey', pub, '-in', keyPath, '-out', wrappedPath]);
  } else {
    openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', pub, '-pkeyopt', 'rsa_padding_mode:oaep', '-in', keyPath, '-out', wrappedPath]);
  }
  const base = name.slice(0, name.lastIndexOf('.'));
  await writeFile(
    join(dir, `${base}.key`),
    JSON.stringify({
      EncryptedKey: (await readFile(wrappedPath)).toString('base64'),
      ContentEncryptionIV: iv.toString('base64'),
      PublicKeyId: publicKeyId,
    }),
  );
}

const sha256sum = (dir: string, names: string[]) => execFileSync('sha256sum', ['--', ...names], { cwd: dir }).toString();
const sha256 = (b: Buffer) => execFileSync('sha256sum', { input: b }).toString().slice(0, 64);
const key = (pair: string, id?: string): PrivateKeyEntry => (id === undefined ? { pem: pairs[pair]!.pem } : { id, pem: pairs[pair]!.pem });

// The keys and the BWS's encryption are made with the openssl CLI: without it there is nothing to test against.
const noOpenssl = needs('openssl');

before(async () => {
  if (noOpenssl) return;
  root = await mkdtemp(join(tmpdir(), 'edgecd-decrypt-'));
  scratch = await newDir('scratch');
  // Both private key encodings a key holder may have: PKCS#8 (genpkey) and PKCS#1 (genrsa -traditional).
  const make: Record<string, (out: string) => string[]> = {
    a: (out) => ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', out],
    b: (out) => ['genrsa', '-traditional', '-out', out, '2048'], // genrsa wants the bit count last
    wrong: (out) => ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', out],
  };
  for (const [name, args] of Object.entries(make)) {
    const priv = join(scratch, `${name}.pem`);
    const pub = join(scratch, `${name}.pub.pem`);
    openssl(args(priv));
    openssl(['rsa', '-in', priv, '-pubout', '-out', pub]);
    pairs[name] = { priv, pub, pem: await readFile(priv, 'utf8') };
  }
  assert.match(pairs.a!.pem, /BEGIN PRIVATE KEY/);
  assert.match(pairs.b!.pem, /BEGIN RSA PRIVATE KEY/);
  try {
    await writeFile(join(scratch, 'probe'), randomBytes(32));
    openssl(['rsautl', '-encrypt', '-oaep', '-pubin', '-inkey', pairs.a!.pub, '-in', join(scratch, 'probe'), '-out', join(scratch, 'probe.w')]);
    rsautl = true;
  } catch {
    rsautl = false; // removed in some OpenSSL builds; pkeyutl is the same OAEP
  }
});
after(() => (root ? rm(root, { recursive: true, force: true }) : undefined));

describe('decryptEvidence', { skip: noOpenssl }, () => {
  const clip = '20261125T000000Z_6a1f0c2e-rec1.mkv';
  const track = '20261125_000000_6a1f0c2e-rec1_BWC0042_gpstrail.json';
  const clipPlain = randomBytes(3 * 1024 * 1024 + 123); // > one stream chunk many times over, not block aligned
  const trackPlain = Buffer.from(JSON.stringify({ CoordinateEntries: [{ Latitude: 59.33, Longitude: 18.06, Time: '2026-11-25T00:00:01Z' }] }));
  let dir: string;

  before(async () => {
    dir = await newDir('folder');
    await encryptWithOpenssl(dir, clip, clipPlain, 'a', 'key-a', 'rsautl');
    await encryptWithOpenssl(dir, track, trackPlain, 'a', 'key-a', 'pkeyutl');
    // What an evidence export puts beside the content: all to be left alone.
    await writeFile(join(dir, 'metadata.json'), '{"RecordingID":"rec1"}');
    await writeFile(join(dir, 'custody.json'), '[]');
    await writeFile(join(dir, 'track.geojson'), '{"type":"FeatureCollection","features":[]}');
    const listed = (await readdir(dir)).sort();
    await writeFile(join(dir, 'manifest.sha256'), sha256sum(dir, listed));
  });

  it('decrypts a clip and a GNSS track byte-exact into decrypted/, with its own manifest; the evidence is not written to', async () => {
    const before = await readFile(join(dir, 'manifest.sha256'), 'utf8');
    const report = await decryptEvidence(dir, [key('a', 'key-a')]);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.skipped, []);
    assert.deepEqual(report.decrypted.map((d) => d.output).sort(), [
      join(dir, 'decrypted', '20261125T000000Z_6a1f0c2e-rec1.mkv'),
      join(dir, 'decrypted', '20261125_000000_6a1f0c2e-rec1_BWC0042_gpstrail.json'),
    ]);
    for (const [name, plain] of [
      [clip, clipPlain],
      [track, trackPlain],
    ] as const) {
      const d = report.decrypted.find((x) => x.source === join(dir, name))!;
      const out = await readFile(d.output);
      assert.ok(out.equals(plain), `${name} decrypts to its plaintext`);
      assert.equal(d.bytes, plain.length);
      assert.equal(d.outputSha256, sha256(plain));
      assert.equal(d.sourceSha256, sha256(await readFile(join(dir, name))));
    }
    assert.equal(await readFile(join(dir, 'manifest.sha256'), 'utf8'), before, "the pulled evidence's manifest is untouched");
    const outputs = await readFile(join(dir, 'decrypted', 'manifest.sha256'), 'utf8');
    assert.deepEqual(
      outputs
        .split('\n')
        .filter(Boolean)
        .map((l) => l.slice(66))
        .sort(),
      ['20261125T000000Z_6a1f0c2e-rec1.mkv', '20261125_000000_6a1f0c2e-rec1_BWC0042_gpstrail.json'],
    );
    execFileSync('sha256sum', ['--check', '--strict', 'manifest.sha256'], { cwd: dir }); // throws on any mismatch
    execFileSync('sha256sum', ['--check', '--strict', 'manifest.sha256'], { cwd: join(dir, 'decrypted') });
    assert.deepEqual(
      [...(await readdir(dir)), ...(await readdir(join(dir, 'decrypted')))].filter((n) => n.startsWith('.')),
      [],
      'no temp files left',
    );
  });

  it('skips outputs already decrypted on a rerun, and leaves the manifests alone', async () => {
    const manifest = await readFile(join(dir, 'decrypted', 'manifest.sha256'), 'utf8');
    const report = await decryptEvidence(dir, [key('a', 'key-a')]);
    assert.deepEqual(report.decrypted, []);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.skipped.map((s) => [s.file, s.reason]).sort(), [
      [join(dir, clip), 'already decrypted'],
      [join(dir, track), 'already decrypted'],
    ]);
    assert.equal(await readFile(join(dir, 'decrypted', 'manifest.sha256'), 'utf8'), manifest);
  });

  it('redoes an output older than its ciphertext without duplicating its manifest line', async () => {
    const output = join(dir, 'decrypted', '20261125_000000_6a1f0c2e-rec1_BWC0042_gpstrail.json');
    await utimes(output, new Date(2000, 0, 1), new Date(2000, 0, 1));
    const report = await decryptEvidence(join(dir, track), [key('a', 'key-a')]);
    assert.deepEqual(
      report.decrypted.map((d) => d.output),
      [output],
    );
    const lines = (await readFile(join(dir, 'decrypted', 'manifest.sha256'), 'utf8')).split('\n').filter((l) => l.endsWith('_gpstrail.json'));
    assert.equal(lines.length, 1);
    execFileSync('sha256sum', ['--check', '--strict', 'manifest.sha256'], { cwd: join(dir, 'decrypted') });
  });

  it('decrypts one file given by path, PKCS#1 key, without a manifest', async () => {
    const d = await newDir('single');
    await encryptWithOpenssl(d, 'clip.mp4', Buffer.from('sixteen bytes!!!'), 'b', 'key-b'); // block aligned: a whole padding block
    await writeFile(join(d, 'other.mp4'), 'not touched');
    const report = await decryptEvidence(join(d, 'clip.mp4'), [key('b', 'key-b')]);
    assert.deepEqual(
      report.decrypted.map((x) => x.output),
      [join(d, 'decrypted', 'clip.mp4')],
    );
    assert.equal(await readFile(join(d, 'decrypted', 'clip.mp4'), 'utf8'), 'sixteen bytes!!!');
    assert.deepEqual((await readdir(d)).sort(), ['clip.key', 'clip.mp4', 'decrypted', 'other.mp4']);
  });

  it('fails with the wrong private key, leaving no output and no temp file', async () => {
    const d = await newDir('wrong-key');
    await encryptWithOpenssl(d, 'clip.mkv', randomBytes(100_000), 'a', 'key-a');
    const files = (await readdir(d)).sort();
    const anonymous = await decryptEvidence(d, [key('wrong')]);
    assert.deepEqual(anonymous.decrypted, []);
    assert.equal(anonymous.failed.length, 1);
    assert.equal(anonymous.failed[0]!.file, join(d, 'clip.mkv'));
    assert.match(anonymous.failed[0]!.reason, /does not unwrap this content key \(wrong key\?\)/);
    const sameId = await decryptEvidence(d, [key('wrong', 'key-a')]);
    assert.match(sameId.failed[0]!.reason, /private key 'key-a' does not unwrap this content key/);
    const noMatch = await decryptEvidence(d, [key('b', 'key-b')]);
    assert.equal(noMatch.failed[0]!.reason, 'no private key for PublicKeyId key-a');
    assert.deepEqual((await readdir(d)).sort(), files, 'nothing written');
  });

  it('fails on corrupt ciphertext (bad padding, truncation, manifest mismatch) and cleans up', async () => {
    const d = await newDir('corrupt');
    const plain = randomBytes(50_000); // 50000 % 16 = 0 → the last block is all padding (16 × 0x10)
    await encryptWithOpenssl(d, 'pad.mkv', plain, 'a', 'key-a');
    const pad = await readFile(join(d, 'pad.mkv'));
    // In CBC the previous ciphertext block XORs into the plaintext: make the last padding byte 0, always invalid.
    pad[pad.length - 17]! ^= 0x10;
    await writeFile(join(d, 'pad.mkv'), pad);
    await encryptWithOpenssl(d, 'short.mkv', plain, 'a', 'key-a');
    await writeFile(join(d, 'short.mkv'), (await readFile(join(d, 'short.mkv'))).subarray(0, 40_001));
    await encryptWithOpenssl(d, 'listed.mkv', plain, 'a', 'key-a');
    await writeFile(join(d, 'manifest.sha256'), sha256sum(d, ['listed.mkv']));
    const listed = await readFile(join(d, 'listed.mkv'));
    listed[1000]! ^= 1; // a middle block: CBC decrypts it to garbage without error
    await writeFile(join(d, 'listed.mkv'), listed);
    const files = (await readdir(d)).sort();
    const manifest = await readFile(join(d, 'manifest.sha256'), 'utf8');

    const report = await decryptEvidence(d, [key('a', 'key-a')]);
    assert.deepEqual(report.decrypted, []);
    const reasons = Object.fromEntries(report.failed.map((f) => [f.file.slice(d.length + 1), f.reason]));
    assert.match(reasons['pad.mkv']!, /bad padding/);
    assert.match(reasons['short.mkv']!, /not a whole number of 16-byte blocks/);
    assert.match(reasons['listed.mkv']!, /does not match manifest\.sha256/);
    assert.deepEqual((await readdir(d)).sort(), files, 'no output, no temp file');
    assert.equal(await readFile(join(d, 'manifest.sha256'), 'utf8'), manifest);
  });

  it('picks the key by PublicKeyId, falls back to keys without id, and honours a forced keyId', async () => {
    const d = await newDir('two-keys');
    await encryptWithOpenssl(d, 'one.mkv', Buffer.from('for a'), 'a', 'key-a');
    await encryptWithOpenssl(d, 'two.mkv', Buffer.from('for b'), 'b', 'key-b');
    await encryptWithOpenssl(d, 'three.mkv', Buffer.from('for a, id unknown here'), 'a', 'retired-2023');

    const forced = await decryptEvidence(d, [key('a', 'key-a'), key('b', 'key-b')], { keyId: 'key-b' });
    assert.deepEqual(
      forced.decrypted.map((x) => x.source),
      [join(d, 'two.mkv')],
    );
    assert.deepEqual(forced.failed.map((f) => f.file).sort(), [join(d, 'one.mkv'), join(d, 'three.mkv')]);
    assert.match(
      forced.failed.find((f) => f.file.endsWith('one.mkv'))!.reason,
      /^the private key 'key-b' \(forced; key file says PublicKeyId key-a\) does not unwrap this content key \(wrong key\?\)$/,
    );
    assert.deepEqual(await readdir(join(d, 'decrypted')), ['manifest.sha256', 'two.mkv'].sort());

    // No id matches 'retired-2023': keys without id are tried in turn, the wrong one first.
    const report = await decryptEvidence(d, [key('b', 'key-b'), key('a', 'key-a'), key('wrong'), key('a')]);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.decrypted.map((x) => x.source).sort(), [join(d, 'one.mkv'), join(d, 'three.mkv')]);
    assert.deepEqual(report.skipped, [{ file: join(d, 'two.mkv'), reason: 'already decrypted' }]);
    assert.equal(await readFile(join(d, 'decrypted', 'one.mkv'), 'utf8'), 'for a');
    assert.equal(await readFile(join(d, 'decrypted', 'two.mkv'), 'utf8'), 'for b');
    assert.equal(await readFile(join(d, 'decrypted', 'three.mkv'), 'utf8'), 'for a, id unknown here');

    await assert.rejects(decryptEvidence(d, [key('a', 'key-a')], { keyId: 'nope' }), /no private key with id 'nope'/);
  });

  it('skips content without a key file as not encrypted, and ignores folder files', async () => {
    const d = await newDir('plain');
    await writeFile(join(d, '20261125T001000Z_rec2.mp4'), randomBytes(1000));
    for (const n of ['metadata.json', 'custody.json', 'track.geojson', 'orphan.key']) await writeFile(join(d, n), '{}');
    const report = await decryptEvidence(d, [key('a')]);
    assert.deepEqual(report, {
      decrypted: [],
      failed: [],
      skipped: [
        // A key that unlocks nothing is reported, never guessed.
        { file: join(d, 'orphan.key'), reason: 'a key file that pairs with no content file here (by name or by StartTime): not used' },
        { file: join(d, '20261125T001000Z_rec2.mp4'), reason: 'not encrypted: no key file' },
      ],
    });
  });

  it('a planted object that looks like an output is content like any other: the real clip is decrypted, nothing is overwritten', async () => {
    const d = await newDir('planted');
    await encryptWithOpenssl(d, 'X.mkv', Buffer.from('the real clip'), 'a', 'key-a');
    // An uploader added "X.decrypted.mkv" to the recording before it was sealed.
    await writeFile(join(d, 'X.decrypted.mkv'), 'planted');
    await writeFile(join(d, 'manifest.sha256'), sha256sum(d, ['X.decrypted.mkv', 'X.key', 'X.mkv']));
    const report = await decryptEvidence(d, [key('a', 'key-a')]);
    assert.deepEqual(
      report.decrypted.map((x) => x.source),
      [join(d, 'X.mkv')],
      'never "already decrypted"',
    );
    assert.equal(await readFile(join(d, 'decrypted', 'X.mkv'), 'utf8'), 'the real clip');
    assert.equal(await readFile(join(d, 'X.decrypted.mkv'), 'utf8'), 'planted', 'the pulled object is untouched');
    execFileSync('sha256sum', ['--check', '--strict', 'manifest.sha256'], { cwd: d });
  });
});

describe('loadPrivateKeys', { skip: noOpenssl }, () => {
  it('reads FILE and ID=FILE specs, PKCS#8 and PKCS#1', async () => {
    const keys = await loadPrivateKeys([pairs.a!.priv, `key-b=${pairs.b!.priv}`]);
    assert.deepEqual(keys, [{ pem: pairs.a!.pem }, { id: 'key-b', pem: pairs.b!.pem }]);
  });

  it('refuses unreadable, public, non-RSA and duplicate keys clearly', async () => {
    await assert.rejects(loadPrivateKeys([join(scratch, 'missing.pem')]), /cannot read private key file .*missing\.pem: ENOENT/);
    await assert.rejects(loadPrivateKeys([pairs.a!.pub]), /this is a public key; decryption needs the private key/);
    const ec = join(scratch, 'ec.pem');
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', ec]);
    await assert.rejects(loadPrivateKeys([`cam=${ec}`]), /a ec key, not RSA/);
    const junk = join(scratch, 'junk.pem');
    await writeFile(junk, 'hello');
    await assert.rejects(loadPrivateKeys([junk]), /not a PEM private key/);
    await assert.rejects(loadPrivateKeys([`k=${pairs.a!.priv}`, `k=${pairs.b!.priv}`]), /id 'k' given twice/);
  });
});

describe("the project's encryptor", { skip: noOpenssl }, () => {
  it('writes the standard format: openssl pkeyutl (OAEP) + enc -d recover the plaintext', async () => {
    const d = await newDir('interop');
    const plain = randomBytes(200_003);
    const { cipher, keyFile } = encryptForKeyHolder(plain, { publicKey: createPublicKey(pairs.a!.pem), publicKeyId: 'key-a' });
    const doc = JSON.parse(keyFile.toString('utf8')) as { EncryptedKey: string; ContentEncryptionIV: string; PublicKeyId: string };
    assert.equal(doc.PublicKeyId, 'key-a');
    await writeFile(join(d, 'clip.mkv'), cipher);
    await writeFile(join(d, 'clip.key'), keyFile);
    await writeFile(join(scratch, 'interop.wrapped'), Buffer.from(doc.EncryptedKey, 'base64'));

    const aes = openssl(['pkeyutl', '-decrypt', '-inkey', pairs.a!.priv, '-pkeyopt', 'rsa_padding_mode:oaep', '-in', join(scratch, 'interop.wrapped')]);
    assert.equal(aes.length, 32);
    const iv = Buffer.from(doc.ContentEncryptionIV, 'base64').toString('hex');
    const out = join(scratch, 'interop.plain');
    openssl(['enc', '-d', '-aes-256-cbc', '-K', aes.toString('hex'), '-iv', iv, '-in', join(d, 'clip.mkv'), '-out', out]);
    assert.ok((await readFile(out)).equals(plain), 'openssl decrypts it to the same bytes');

    const report = await decryptEvidence(d, [key('a', 'key-a')]);
    assert.equal(report.decrypted.length, 1);
    assert.ok((await readFile(join(d, 'decrypted', 'clip.mkv'))).equals(plain));
    assert.ok((await stat(join(d, 'decrypted', 'clip.mkv'))).size === plain.length);
  });
});
