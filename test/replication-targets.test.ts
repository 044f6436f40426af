/**
 * Replication into any body-worn content destination, driven by the
 * central's own connection file, against the Axis reference CD (the API's
 * example server: HEAD shows metadata only, no GET) and a central edgecd;
 * OpenStack Swift, the third kind, is in openstack-swift.test.ts. For each:
 * the plan `target check` prints, the central's key handed to the edge's
 * cameras, a failover from a dead first URI, what arrives (bytes and
 * metadata as the BWS sent them, Complete, nothing the central does not
 * declare), decryption at the central's end, capabilities that appear later,
 * and no object sent twice. Then refusals (400 into rejected content, 402,
 * 507), eviction rules, and central connection files that cannot be used.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { skipOrFail } from './helpers/peers.ts';
import { axisCdUnavailable } from './helpers/axis-cd.ts';
import { axisCentral, edgecdCentral, publicPem, refusals, replicate, scenario, simulate, startEdge } from './helpers/centrals.ts';
import { runCli, SwiftSession, TestDaemon } from './helpers/daemon.ts';

const axisSkip = skipOrFail(axisCdUnavailable());

scenario('the Axis reference CD over HTTPS', () => axisCentral({ https: true }), axisSkip);
scenario('a central edgecd', () => edgecdCentral({ encrypt: true }), false);

refusals(
  'the Axis reference CD',
  async () => {
    const central = await axisCentral({ https: false });
    await central.declareEverything();
    return { central, upstreamPort: central.cd.port };
  },
  axisSkip,
);
refusals(
  'a central edgecd',
  async () => {
    const central = await edgecdCentral({ encrypt: false });
    await central.declareEverything();
    return { central, upstreamPort: central.daemon.port };
  },
  false,
);

describe('eviction and what a target has confirmed', { skip: axisSkip }, () => {
  test('refused while objects are held back or merely acknowledged; allowed, audited, once configured', async () => {
    const central = await axisCentral({ https: false });
    const work = await mkdtemp(join(tmpdir(), 'edgecd-evict-'));
    const file = join(work, 'central.json');
    await writeFile(file, JSON.stringify(central.connectionFile), { mode: 0o600 });
    const eviction = { quota: { maxBytes: 2_400_000 }, retention: { evictAfterReplication: true, minAgeHours: 0 } };
    let edge = await startEdge({ connectionFile: file }, eviction);
    const restart = async (target: object) => {
      await edge.stop();
      edge = await TestDaemon.start({
        dataDir: edge.dataDir,
        config: { siteName: 'Station 7', replication: { targets: [{ name: 'central', schedule: '0 0 1 1 *', connectionFile: file, ...target }] }, ...eviction },
      });
    };
    try {
      await simulate(edge, 2, 500_000);
      const report = await replicate(edge);
      assert.equal(report.outcome, 'done');
      assert.equal(report.confirmation, 'acknowledged');
      const upload = async () => {
        const session = await SwiftSession.open(edge);
        await session.req('PUT', '/scratch');
        return (await session.req('PUT', '/scratch/a', {}, Buffer.alloc(900_000, 7))).status;
      };
      assert.equal(await upload(), 507, 'acknowledged only, and bookmarks and tracks held back: nothing may go');
      await restart({ minConfirmation: 'acknowledged' });
      assert.equal(await upload(), 507, 'acknowledged is enough now, but objects are still held back');
      await restart({ minConfirmation: 'acknowledged', evictHeldBack: true });
      assert.equal(await upload(), 201);
      const records = (await readFile(join(edge.dataDir, 'evictions.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { heldBy: { target: string; confirmation: string; heldBack?: number }[] });
      assert.ok(records.length >= 1);
      assert.deepEqual(
        records[0]!.heldBy.map((h) => [h.target, h.confirmation, h.heldBack]),
        [['central', 'acknowledged', 2]],
      );
      const audit = await readFile(join(edge.dataDir, 'audit.jsonl'), 'utf8');
      assert.match(audit, /"action":"eviction.held-back"/);
      assert.ok(edge.logLines.some((l) => l.includes('evictHeldBack')));
    } finally {
      await edge.cleanup();
      await central.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe("a central's connection file that cannot be used, and keys that would change", () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'edgecd-central-file-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  async function serveWith(target: Record<string, unknown>, file: unknown, extra: object = {}, dir = join(work, `station-${Math.random().toString(36).slice(2)}`)) {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'central.json'), typeof file === 'string' ? file : JSON.stringify(file), { mode: 0o600 });
    await writeFile(join(dir, 'edgecd.json'), JSON.stringify({ replication: { targets: [{ name: 'hq', connectionFile: 'central.json', ...target }] }, ...extra }), { mode: 0o600 });
    return { dir, ...(await runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off', '--plain-http'])) };
  }
  const valid = {
    ConnectionFileVersion: '1.0',
    SiteName: 'HQ',
    ApplicationName: 'x',
    ApplicationVersion: '1',
    ContentDestinationAsNTPServer: false,
    AuthenticationTokenURI: ['http://127.0.0.1:9/auth/v1.0'],
    BlobAPIKey: 'secret-key',
    BlobAPIUserName: 'bws',
  };

  test('a bad file stops the daemon with one error naming the field', async () => {
    const broken = await serveWith({}, '{"AuthenticationTokenURI": [');
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /replication\.targets\[0\]\.connectionFile: .*central\.json is not a usable connection file:\n\s+not valid JSON/);
    const cert = Buffer.from(publicPem).toString('base64');
    const unpinned = await serveWith({}, { ...valid, AuthenticationTokenURI: ['https://a.example/auth/v1.0', 'https://b.example/auth/v1.0'], HTTPSCertificate: [cert] });
    assert.equal(unpinned.code, 1);
    assert.match(unpinned.stderr, /HTTPSCertificate: 1 certificates for 2 URIs/);
    const typed = await serveWith({}, { ...valid, FullStoreAndReadSupport: 'yes' });
    assert.match(typed.stderr, /FullStoreAndReadSupport: must be true or false/);
    const both = await serveWith({ authUrl: 'http://127.0.0.1:9/auth/v1.0' }, valid);
    assert.match(both.stderr, /connectionFile replaces authUrl/);
  });

  test("the reference server's own file, with BlobAPI and empty keys, is accepted", async () => {
    const dir = join(work, 'reference-file');
    await mkdir(dir);
    const file = join(dir, 'config.json');
    await writeFile(
      file,
      JSON.stringify({
        ...valid,
        ContentDestinationAsNTPServer: undefined,
        BlobAPI: 'Swift 1.0',
        PublicKey: '',
        PublicKeyId: '',
        WantEncryption: false,
        FullStoreAndReadSupport: false,
        ContainerType: 'mkv',
      }),
      { mode: 0o600 },
    );
    const res = await runCli(['target', 'check', '--connection-file', file]);
    assert.doesNotMatch(res.stdout, /not a usable connection file/);
    assert.match(res.stdout, /NOT usable/, 'nothing listens there, so it cannot be used; but the file itself is fine');
    assert.match(res.stdout, /warning: connection file: PublicKey: empty, taken as absent/);
  });

  test("the cameras' key never changes silently: another key already issued, or the station's own, is refused", async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const wanting = { ...valid, WantEncryption: true, PublicKey: Buffer.from(publicPem).toString('base64'), PublicKeyId: 'central-key' };
    // The station told its cameras to encrypt for its own key first.
    const dir = join(work, 'issued');
    await mkdir(dir);
    await writeFile(join(dir, 'own.pem'), other);
    const own = { connection: { wantEncryption: true, publicKeyFile: join(dir, 'own.pem'), publicKeyId: 'station-key' } };
    await writeFile(join(dir, 'edgecd.json'), JSON.stringify(own), { mode: 0o600 });
    assert.equal((await runCli(['init', '--data', dir])).code, 0);
    assert.equal(JSON.parse(await readFile(join(dir, 'connection.json'), 'utf8')).PublicKeyId, 'station-key');
    const later = await serveWith({}, wanting, {}, dir);
    assert.equal(later.code, 1);
    assert.match(later.stderr, /told on .* to encrypt content for key station-key; this configuration would tell them to use central-key \(another key\)/);
    // Asking for both at once.
    const both = await serveWith({}, wanting, own);
    assert.equal(both.code, 1);
    assert.match(
      both.stderr,
      /connection\.wantEncryption asks the cameras to encrypt for key station-key, but the central of replication target hq wants content encrypted for its key central-key/,
    );
  });
});
