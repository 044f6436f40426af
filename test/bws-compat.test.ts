/**
 * What a real camera system sends, as firmware of several ages sends it, is
 * seen, replicated and shown: recording names of firmware before 10.11,
 * containers a station cannot classify (kept, flagged, replicated as they
 * are), bookmark locations (v1.6.11), clip locations of older firmware
 * (removed in v1.6.12), key files under every naming, times that cannot be
 * right, and the ContainerType the cameras were first told.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminGet, adminStream } from '../src/admin/admin-client.ts';
import { RecordingCatalogue } from '../src/bws/catalogue.ts';
import { pairKeyFiles } from '../src/bws/key-files.ts';
import { classifyContainer } from '../src/bws/names.ts';
import { connectionOptions, simulate } from '../src/simulator/body-worn-system.ts';
import { parseLocation } from '../src/bws/gnss.ts';
import { createLogger } from '../src/lib/log.ts';
import { ObjectStore } from '../src/store/object-store.ts';
import { runCli, SwiftSession, TEST_USERS, TestDaemon } from './helpers/daemon.ts';

const day = (offset: number) => new Date(Math.floor(Date.now() / 86_400_000 - offset) * 86_400_000);

describe('key files pair with what they unlock', () => {
  const clip = (name: string, start: number) => ({ name, meta: { starttime: String(start / 1000) } });
  const key = (name: string, start?: number) => ({ name, meta: { filetype: 'key', ...(start !== undefined ? { starttime: String(start / 1000) } : {}) } });
  const T = Date.UTC(2026, 11, 2, 10, 0, 0);
  const track = { name: '20261202_100000_1000_B8A4_gpstrail.json', meta: { filetype: 'json' } };

  it("a clip's key by the spec's name, and by the reference's <file>.key", () => {
    assert.deepEqual(
      [...pairKeyFiles([clip('20261202T100000Z_1000.mkv', T), key('20261202T100000Z_1000.key', T)]).keyOf],
      [['20261202T100000Z_1000.mkv', '20261202T100000Z_1000.key']],
    );
    assert.deepEqual(
      [...pairKeyFiles([clip('20261202T100000Z_1000.mkv', T), key('20261202T100000Z_1000.mkv.key', T)]).keyOf],
      [['20261202T100000Z_1000.mkv', '20261202T100000Z_1000.mkv.key']],
    );
  });

  it("a track's key named after the track, or as the spec names it (the recording's start), and both in one recording", () => {
    const start = T - 30_000;
    assert.deepEqual([...pairKeyFiles([track, key('20261202_100000_1000_B8A4_gpstrail.key', start)], start).keyOf], [[track.name, '20261202_100000_1000_B8A4_gpstrail.key']]);
    const both = pairKeyFiles([clip('20261202T100000Z_1000.mkv', T), key('20261202T100000Z_1000.key', T), track, key('20261202T095930Z_1000.key', start)], start);
    assert.deepEqual(Object.fromEntries(both.keyOf), { '20261202T100000Z_1000.mkv': '20261202T100000Z_1000.key', [track.name]: '20261202T095930Z_1000.key' });
    assert.deepEqual(both.unmatched, []);
  });

  it('a key that matches nothing, or more than one thing, is reported, never guessed', () => {
    assert.deepEqual(pairKeyFiles([clip('20261202T100000Z_1000.mkv', T), key('stray.key', T + 999_000)]).unmatched, ['stray.key']);
    // Two clips start at once (their names differ): a key stamped with that time cannot say which.
    const twins = pairKeyFiles([clip('20261202T100000Z_1000.mkv', T), clip('20261202T100000Z_2000.mkv', T), key('unnamed.key', T)]);
    assert.deepEqual([...twins.keyOf], []);
    assert.deepEqual(twins.unmatched, ['unnamed.key']);
  });
});

describe('locations in metadata (<lat><long><accuracy><epoch>)', () => {
  it('reads ISO 6709-style signed numbers, and tolerates separators and brackets', () => {
    assert.deepEqual(parseLocation('+55.718409+013.221184+8+1661255290'), { lat: 55.718409, lon: 13.221184, accuracy: 8, time: '2022-08-23T11:48:10Z' });
    assert.deepEqual(parseLocation('-33.8688,151.2093,5.5,1661255290'), { lat: -33.8688, lon: 151.2093, accuracy: 5.5, time: '2022-08-23T11:48:10Z' });
    assert.deepEqual(parseLocation('<55.7><13.2>'), { lat: 55.7, lon: 13.2 });
  });
  it('gives nothing for what is not a place on Earth (shown as sent instead)', () => {
    assert.equal(parseLocation('north of the station'), undefined);
    assert.equal(parseLocation('+95.0+013.2+5+1661255290'), undefined);
    assert.equal(parseLocation('55.71840913.221184'), undefined);
  });
});

describe('a day of every firmware, replicated to a central and pulled back', () => {
  let central: TestDaemon;
  let edge: TestDaemon;
  let work: string;
  let legacy: string[];
  let encrypted: string[];
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'edgecd-compat-'));
    central = await TestDaemon.start();
    const centralFile = join(work, 'central.json');
    await writeFile(centralFile, await readFile(join(central.dataDir, 'connection.json')), { mode: 0o600 });
    edge = await TestDaemon.start({ config: { siteName: 'Station 7', replication: { targets: [{ name: 'hq', connectionFile: centralFile, schedule: '0 0 1 1 *' }] } } });
    const bws = connectionOptions(await edge.connectionFile());
    // Firmware before 10.11, with clip locations (dropped in v1.6.12) on every other clip.
    legacy = (
      await simulate({
        ...bws,
        users: 1,
        devices: 1,
        recordings: 2,
        clipsPerRecording: 2,
        clipBytes: 20_000,
        extras: true,
        concurrency: 1,
        firstTrigger: day(2),
        legacyNames: true,
        clipLocations: true,
      })
    ).recordings;
    // Current firmware, encrypting, with the spec's key names (a track's key stamped with the recording's start).
    encrypted = (
      await simulate({
        ...bws,
        users: 1,
        devices: 1,
        recordings: 1,
        clipsPerRecording: 2,
        clipBytes: 20_000,
        extras: true,
        concurrency: 1,
        firstTrigger: day(1),
        keyNames: 'spec',
        encryption: { publicKey: keys.publicKey, publicKeyId: 'hq-key' },
      })
    ).recordings;
    // What a station cannot classify: a Swift client's container, and a name from some future firmware.
    const s = await SwiftSession.open(edge);
    for (const c of ['scratch', 'u9_B8A4_2026-12-02T10.00.00']) {
      assert.equal((await s.req('PUT', `/${encodeURIComponent(c)}`, { 'X-Container-Meta-Note': encodeURIComponent('kept as it is') })).status, 201);
      assert.equal((await s.req('PUT', `/${encodeURIComponent(c)}/notes.txt`, { 'X-Object-Meta-Written-By': 'ops' }, 'an object')).status, 201);
    }
  });
  after(async () => {
    await edge?.cleanup();
    await central?.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it('old firmware names are recordings: catalogued, listed with their trigger time, refused nothing', async () => {
    assert.match(legacy[0]!, /^[0-9a-f-]{36}_B8A44F\d{6}_\d{8}_\d{6}$/);
    const res = await runCli(['recordings', '--data', edge.dataDir]);
    const { recordings } = JSON.parse(res.stdout) as {
      recordings: { name: string; kind: string; triggerOn?: string; status: string; bookmarks: { location?: { lat: number } }[] }[];
    };
    for (const name of legacy) {
      const r = recordings.find((x) => x.name === name)!;
      assert.equal(r.kind, 'recording');
      assert.equal(r.status, 'Complete');
      const [date, time] = name.split('_').slice(-2) as [string, string];
      assert.equal(r.triggerOn, `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6)}T${time.slice(0, 2)}:${time.slice(2, 4)}:${time.slice(4)}.000Z`);
      assert.equal(r.bookmarks[0]!.location?.lat, 55.7188, 'the bookmark says where it was set');
    }
  });

  it('nothing is invisible: every container is catalogued, a registry, or flagged "unrecognised name"', async () => {
    const admin = await edge.auth('admin');
    const status = JSON.parse((await edge.request('GET', '/status', { 'X-Auth-Token': admin.token })).text) as {
      containers: { unrecognisedName: { count: number; names: string[] } };
    };
    assert.equal(status.containers.unrecognisedName.count, 2);
    const replication = (await adminGet<{ unrecognisedName: { names: string[] } }>(join(edge.dataDir, 'admin.sock'), '/replication'))!;
    assert.deepEqual(replication.unrecognisedName.names, status.containers.unrecognisedName.names);
    const { storageUrl, token } = await edge.auth('reader');
    const listed = (await (await fetch(`${storageUrl}?format=json`, { headers: { 'X-Auth-Token': token } })).json()) as { name: string }[];
    const catalogued = new Set<string>();
    // The catalogue the console and searches read, straight from the index.
    await edge.stop();
    const store = await ObjectStore.open(edge.dataDir, { maxObjectBytes: Infinity, log: createLogger('silent') });
    try {
      const catalogue = RecordingCatalogue.of(store.index);
      const account = storageUrl
        .split('/')
        .pop()!
        .replace(/^AUTH_/, '');
      for (const e of (await catalogue.query(account, { limit: 1000 })).entries) catalogued.add(e.container);
      const flagged = new Set((await catalogue.unrecognisedContainers(1000, account)).names);
      for (const { name } of listed) {
        const where = [catalogued.has(name) && 'catalogued', flagged.has(name) && 'flagged', classifyContainer(name) === 'registry' && 'registry'].filter(Boolean);
        assert.equal(where.length, 1, `${name}: ${where.join(', ') || 'invisible'}`);
      }
      for (const name of [...legacy, ...encrypted]) assert.ok(catalogued.has(name), `${name} catalogued`);
      assert.deepEqual([...flagged].sort(), ['scratch', 'u9_B8A4_2026-12-02T10.00.00']);
    } finally {
      await store.close();
    }
    edge = await TestDaemon.start({ dataDir: edge.dataDir });
  });

  it('replication takes all of it: legacy recordings Complete, unrecognised containers as they are', async () => {
    let reports: { outcome: string; recordingsCompleted: number }[] | undefined;
    await adminStream(join(edge.dataDir, 'admin.sock'), '/replicate', (line) => void (reports ??= (line as { reports?: typeof reports }).reports));
    assert.equal(reports?.[0]?.outcome, 'done');
    assert.equal(reports[0]!.recordingsCompleted, 3);
    const reader = await central.auth('reader');
    const get = (path: string) => fetch(`${reader.storageUrl}/${path}`, { headers: { 'X-Auth-Token': reader.token } });
    for (const name of legacy)
      assert.equal((await fetch(`${reader.storageUrl}/${name}`, { method: 'HEAD', headers: { 'X-Auth-Token': reader.token } })).headers.get('x-container-meta-status'), 'Complete');
    const opaque = await get(`${encodeURIComponent('u9_B8A4_2026-12-02T10.00.00')}/notes.txt`);
    assert.equal(await opaque.text(), 'an object');
    assert.equal(opaque.headers.get('x-object-meta-written-by'), 'ops');
    const container = await fetch(`${reader.storageUrl}/scratch`, { method: 'HEAD', headers: { 'X-Auth-Token': reader.token } });
    assert.equal(container.headers.get('x-container-meta-note'), encodeURIComponent('kept as it is'));
  });

  it('the pulled folders carry bookmark locations, a waypoint beside the track, and decrypt with every key paired', async () => {
    const userId = legacy[0]!.split('_')[0]!;
    const to = join(work, 'pulled');
    const reader = TEST_USERS.reader;
    const res = await runCli([
      'pull',
      '--from',
      (await central.connectionFile()).AuthenticationTokenURI[0]!,
      '--user',
      reader.user,
      '--key',
      reader.key,
      '--user-id',
      userId,
      '--to',
      to,
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual((await readdir(to)).sort(), [...legacy].sort(), 'selected by user: the old names too');
    const folder = join(to, legacy[0]!);
    const metadata = JSON.parse(await readFile(join(folder, 'metadata.json'), 'utf8')) as {
      objects: { name: string; bookmark?: { location?: { lat: number; lon: number; accuracy: number; time: string } }; metadata: Record<string, string> }[];
    };
    const bookmark = metadata.objects.find((o) => o.bookmark)!;
    assert.deepEqual(bookmark.bookmark!.location, { lat: 55.7188, lon: 13.2218, accuracy: 6, time: bookmark.bookmark!.location!.time });
    const clips = metadata.objects.filter((o) => o.name.endsWith('.mkv'));
    assert.ok(clips.some((c) => c.metadata.startlocation) && clips.some((c) => !c.metadata.startlocation), 'clips with and without Start/StopLocation');
    const geo = JSON.parse(await readFile(join(folder, 'track.geojson'), 'utf8')) as {
      features: { geometry: { type: string; coordinates: number[] }; properties: { name?: string } }[];
    };
    const waypoint = geo.features.find((f) => f.geometry.type === 'Point')!;
    assert.deepEqual(waypoint.geometry.coordinates, [13.2218, 55.7188]);
    assert.match(waypoint.properties.name!, /^bookmark_/);
    const gpx = await runCli(['export', 'gnss', folder, '--format', 'gpx']);
    assert.match(gpx.stdout, /<wpt lat="55.7188" lon="13.2218"><time>[^<]+<\/time><name>bookmark_/);

    const secret = join(work, 'hq.pem');
    await writeFile(secret, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const enc = join(work, 'pulled-encrypted');
    assert.equal(
      (
        await runCli([
          'pull',
          '--from',
          (await central.connectionFile()).AuthenticationTokenURI[0]!,
          '--user',
          reader.user,
          '--key',
          reader.key,
          '--recording',
          encrypted[0]!,
          '--to',
          enc,
        ])
      ).code,
      0,
    );
    const decrypt = await runCli(['decrypt', '--private-key', `hq-key=${secret}`, join(enc, encrypted[0]!)]);
    assert.equal(decrypt.code, 0, decrypt.stdout + decrypt.stderr);
    const names = (await readdir(join(enc, encrypted[0]!, 'decrypted'))).filter((n) => n !== 'manifest.sha256');
    assert.equal(names.length, 3, "two clips and the track, whose key the spec names after the recording's start");
    const track = JSON.parse(await readFile(join(enc, encrypted[0]!, 'decrypted', names.find((n) => n.endsWith('_gpstrail.json'))!), 'utf8')) as { CoordinateEntries: unknown[] };
    assert.equal(track.CoordinateEntries.length, 5);
  });

  it("the console shows a bookmark's note though the recording is encrypted, and where it was set", async () => {
    const reader = await edge.consoleSession(TEST_USERS.reader.user, TEST_USERS.reader.key);
    const page = await (await fetch(`${edge.base}/console/recordings/${encodeURIComponent(encrypted[0]!)}`, { headers: reader })).text();
    assert.match(page, /<blockquote>Note for recording 0: suspect left on foot<\/blockquote>/);
    assert.doesNotMatch(page, /\(encrypted\)/);
    assert.match(page, /at 55.7188, 13.2218 \(±6 m\)/);
    const plain = await (await fetch(`${edge.base}/console/recordings/${encodeURIComponent(legacy[0]!)}`, { headers: reader })).text();
    assert.match(plain, /class="track-flag"/, 'the bookmark is a flag on the track');
  });
});

describe('times and formats a BWS must not be told to change', () => {
  let daemon: TestDaemon;
  let s: SwiftSession;
  const USER = 'aa5f0c1d-0000-4000-8000-000000000001';
  const rec = `/${USER}_B0001_20240102T080000Z`;
  const clip = (start: number, stop: number, extra: Record<string, string> = {}) => ({
    'X-Object-Meta-Starttime': String(start),
    'X-Object-Meta-Stoptime': String(stop),
    ...extra,
  });
  const T = Date.UTC(2024, 0, 2, 8) / 1000;

  before(async () => {
    daemon = await TestDaemon.start();
    s = await SwiftSession.open(daemon);
    await s.req('PUT', '/Users');
    await s.req('PUT', '/Devices');
    await s.req('PUT', `/Users/${USER}`, { 'X-Object-Meta-Name': 'Officer' }, '');
    await s.req('PUT', '/Devices/B0001', { 'X-Object-Meta-Model': 'W100' }, '');
    assert.equal((await s.req('PUT', rec, { 'X-Container-Meta-Starttime': String(T - 30), 'X-Container-Meta-Status': 'Transferring' })).status, 201);
  });
  after(() => daemon.cleanup());

  it('a clip inside its recording is stored, with or without the Start/StopLocation older firmware sends', async () => {
    assert.equal(
      (
        await s.req(
          'PUT',
          `${rec}/20240102T080000Z_1.mkv`,
          clip(T, T + 59, { 'X-Object-Meta-Startlocation': '+55.7+013.2+8+' + T, 'X-Object-Meta-Stoplocation': '+55.8+013.3+8+' + (T + 59) }),
          'a',
        )
      ).status,
      201,
    );
    assert.equal((await s.req('PUT', `${rec}/20240102T080100Z_1.mkv`, clip(T + 60, T + 119), 'b')).status, 201);
  });

  it('a clip whose times cannot be right is refused with the reason, and nothing is stored', async () => {
    const early = await s.req('PUT', `${rec}/19991231T235959Z_1.mkv`, clip(946684799, 946684800), 'x');
    assert.equal(early.status, 400);
    assert.match(early.text, /its StartTime is before 2000-01-01/);
    const before = await s.req('PUT', `${rec}/20240102T070000Z_1.mkv`, clip(T - 3600, T - 3540), 'x');
    assert.equal(before.status, 400);
    assert.match(before.text, /it starts 3570 s before its recording .*validation\.clipSlackSeconds is 600/);
    const future = await s.req('PUT', `${rec}/20990101T000000Z_1.mkv`, clip(Date.UTC(2099, 0, 1) / 1000, Date.UTC(2099, 0, 1) / 1000 + 60), 'x');
    assert.equal(future.status, 400);
    for (const name of ['19991231T235959Z_1.mkv', '20240102T070000Z_1.mkv', '20990101T000000Z_1.mkv']) assert.equal((await s.req('HEAD', `${rec}/${name}`)).status, 404);
    // Once the recording's StopTime is known, a clip may not end long after it.
    assert.equal((await s.req('POST', rec, { 'X-Container-Meta-Stoptime': String(T + 120) })).status, 204);
    const late = await s.req('PUT', `${rec}/20240102T080200Z_1.mkv`, clip(T + 120, T + 2000), 'x');
    assert.equal(late.status, 400);
    assert.match(late.text, /it ends 1880 s after its recording/);
  });

  it("a GNSS track written POINT(x, y), as the spec's prose has it, is read like POINT(x y)", async () => {
    const rec2 = `/${USER}_B0001_20240102T090000Z`;
    assert.equal((await s.req('PUT', rec2, { 'X-Container-Meta-Status': 'Transferring' })).status, 201);
    const track = JSON.stringify({
      CoordinateEntries: [
        { LocationWKT: 'point(13.221184, 55.718409)', SecondsFromStart: 0 },
        { LocationWKT: 'POINT(13.2207 55.7187)', SecondsFromStart: 10 },
      ],
    });
    assert.equal((await s.req('PUT', `${rec2}/20240102_090000_1_B0001_gpstrail.json`, { 'X-Object-Meta-Filetype': 'json' }, track)).status, 201);
    const { recordings } = JSON.parse((await runCli(['recordings', '--data', daemon.dataDir, '--since', '2024-01-02', '--until', '2024-01-02'])).stdout) as {
      recordings: { name: string; gnssTracks: { valid: boolean; points: number }[] }[];
    };
    assert.deepEqual(recordings.find((r) => `/${r.name}` === rec2)!.gnssTracks, [{ name: '20240102_090000_1_B0001_gpstrail.json', valid: true, points: 2 }]);
  });

  it('ContainerType stays as first issued: another one stops the start, with the date and the reason', async () => {
    await daemon.stop();
    await writeFile(join(daemon.dataDir, 'edgecd.json'), JSON.stringify({ connection: { containerType: 'mp4' } }), { mode: 0o600 });
    const res = await runCli(['serve', '--data', daemon.dataDir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off', '--plain-http']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /ContainerType was issued as mkv on .*; the spec gives no way to change it/);
    assert.equal(JSON.parse(await readFile(join(daemon.dataDir, 'connection.json'), 'utf8')).ContainerType, 'mkv');
    await writeFile(join(daemon.dataDir, 'edgecd.json'), JSON.stringify({ quota: { reservePercent: 0 } }), { mode: 0o600 });
    daemon = await TestDaemon.start({ dataDir: daemon.dataDir });
  });
});

describe('edgecd keys generate', () => {
  it('writes a private key (0600) and a public key, prints the configuration, and never writes into a data directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgecd-keys-'));
    try {
      const res = await runCli(['keys', 'generate', '--out', join(dir, 'office'), '--id', 'hq-2026', '--bits', '2048']);
      assert.equal(res.code, 0, res.stderr);
      assert.equal((await stat(join(dir, 'office', 'hq-2026.private.pem'))).mode & 0o777, 0o600);
      const pem = await readFile(join(dir, 'office', 'hq-2026.public.pem'), 'utf8');
      assert.ok(Buffer.from(pem).toString('base64').length <= 2048, 'fits PublicKey in a connection file');
      assert.match(res.stdout, /"wantEncryption": true/);
      assert.match(res.stdout, /"publicKeyId": "hq-2026"/);
      assert.match(res.stdout, /WARNING: the private key/);
      const again = await runCli(['keys', 'generate', '--out', join(dir, 'office'), '--id', 'hq-2026']);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /exists: a key is never overwritten/);
      // A station's data directory: refused, nothing written.
      const station = join(dir, 'station');
      assert.equal((await runCli(['init', '--data', station])).code, 0);
      const inside = await runCli(['keys', 'generate', '--out', join(station, 'keys')]);
      assert.equal(inside.code, 1);
      assert.match(inside.stderr, /inside the data directory .*: the private key must not stay on the station/);
      assert.equal(
        await stat(join(station, 'keys')).then(
          () => true,
          () => false,
        ),
        false,
      );
      // The public key works as the station's: its connection file asks the cameras to encrypt for it.
      await writeFile(
        join(station, 'edgecd.json'),
        JSON.stringify({ connection: { wantEncryption: true, publicKeyFile: join(dir, 'office', 'hq-2026.public.pem'), publicKeyId: 'hq-2026' } }),
      );
      assert.equal((await runCli(['init', '--data', station])).code, 0);
      const file = JSON.parse(await readFile(join(station, 'connection.json'), 'utf8')) as { WantEncryption: boolean; PublicKeyId: string };
      assert.deepEqual([file.WantEncryption, file.PublicKeyId], [true, 'hq-2026']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
