/** The simulator's end-to-end encryption: key files a clerk with the private key can use. */
import assert from 'node:assert/strict';
import { constants, createDecipheriv, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { SwiftSession, TestDaemon, runCli } from './helpers/daemon.ts';

let daemon: TestDaemon;
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

before(async () => {
  daemon = await TestDaemon.start();
});
after(() => daemon.cleanup());

it('uploads each clip and track with a key file that unwraps and decrypts it', async () => {
  const pem = join(daemon.dataDir, 'station-public.pem');
  await writeFile(pem, publicKey.export({ type: 'spki', format: 'pem' }));
  const sim = await runCli([
    'simulate',
    '--connection',
    join(daemon.dataDir, 'connection.json'),
    '--users',
    '1',
    '--devices',
    '1',
    '--recordings',
    '1',
    '--clips',
    '2',
    '--clip-bytes',
    '5000',
    '--extras',
    '--public-key',
    pem,
    '--public-key-id',
    'key-2024',
  ]);
  assert.equal(sim.code, 0, sim.stderr);
  const { recordings } = JSON.parse((await runCli(['recordings', '--data', daemon.dataDir])).stdout);
  const r = recordings[0];
  assert.equal(r.keyFiles, 3); // two clips and the track
  assert.ok(r.keys.every((k: { valid: boolean; publicKeyId: string }) => k.valid && k.publicKeyId === 'key-2024'));
  assert.deepEqual(
    r.gnssTracks.map((t: { encrypted?: boolean }) => t.encrypted),
    [true],
  );

  const s = await SwiftSession.open(daemon);
  for (const clip of Object.keys(r.manifest).filter((n) => n.endsWith('.mkv'))) {
    const keyFile = JSON.parse((await s.req('GET', `/${r.name}/${clip.replace('.mkv', '.key')}`)).text);
    const key = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, Buffer.from(keyFile.EncryptedKey, 'base64'));
    const d = createDecipheriv('aes-256-cbc', key, Buffer.from(keyFile.ContentEncryptionIV, 'base64'));
    const cipher = (await s.req('GET', `/${r.name}/${clip}`)).body;
    const plain = Buffer.concat([d.update(cipher), d.final()]);
    assert.equal(plain.length, 5000);
  }
  const track = Object.keys(r.manifest).find((n) => n.endsWith('_gpstrail.json'))!;
  const keyFile = JSON.parse((await s.req('GET', `/${r.name}/${track.replace('.json', '.key')}`)).text);
  const key = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, Buffer.from(keyFile.EncryptedKey, 'base64'));
  const d = createDecipheriv('aes-256-cbc', key, Buffer.from(keyFile.ContentEncryptionIV, 'base64'));
  const plain = Buffer.concat([d.update((await s.req('GET', `/${r.name}/${track}`)).body), d.final()]);
  assert.equal(JSON.parse(plain.toString('utf8')).CoordinateEntries.length, 5);
});
