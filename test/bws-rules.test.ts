/** Body-worn rules on top of Swift: sealed recordings, licence limits, unique UserIDs. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SwiftSession, TEST_USERS, TestDaemon, runCli } from './helpers/daemon.ts';

const USER = '5f0c1d2e-0000-4000-8000-000000000001';
let daemon: TestDaemon;
let s: SwiftSession;

before(async () => {
  daemon = await TestDaemon.start({ config: { limits: { maxUsers: 4, maxDevices: 2 } } });
  s = await SwiftSession.open(daemon);
  await s.req('PUT', '/Users');
  await s.req('PUT', '/Devices');
  await s.req('PUT', `/Users/${USER}`, { 'X-Object-Meta-Name': 'Officer', 'X-Object-Meta-Active': 'True' }, '');
  await s.req('PUT', '/Devices/B0001', { 'X-Object-Meta-Model': 'W100', 'X-Object-Meta-Active': 'True' }, '');
});
after(() => daemon.cleanup());

describe('sealing', () => {
  const rec = `/${USER}_B0001_20240101T120000Z`;

  it('a Complete recording refuses every change (403) and keeps what it had', async () => {
    await s.req('PUT', rec, { 'X-Container-Meta-Status': 'Transferring' });
    assert.equal((await s.req('PUT', `${rec}/20240101T120000Z_1.mkv`, {}, 'clip one')).status, 201);
    assert.equal((await s.req('PUT', `${rec}/20240101T120000Z_1.mkv`, {}, 'clip one, retried')).status, 201, 'replaceable until sealed');
    assert.equal((await s.req('POST', rec, { 'X-Container-Meta-Status': 'Complete' })).status, 204);

    assert.equal((await s.req('PUT', `${rec}/20240101T120500Z_1.mkv`, {}, 'late clip')).status, 403);
    assert.equal((await s.req('PUT', `${rec}/20240101T120000Z_1.mkv`, {}, 'overwrite')).status, 403);
    assert.equal((await s.req('POST', `${rec}/20240101T120000Z_1.mkv`, { 'X-Object-Meta-A': '1' })).status, 403);
    assert.equal((await s.req('POST', rec, { 'X-Container-Meta-Status': 'Transferring' })).status, 403);
    assert.equal((await s.req('PUT', rec, { 'X-Container-Meta-Extra': 'x' })).status, 403);

    assert.equal((await s.req('HEAD', `${rec}/20240101T120500Z_1.mkv`)).status, 404);
    assert.equal((await s.req('GET', `${rec}/20240101T120000Z_1.mkv`)).text, 'clip one, retried');
    const head = await s.req('HEAD', rec);
    assert.equal(head.headers['x-container-meta-status'], 'Complete');
    assert.equal(head.headers['x-container-object-count'], '1');
  });

  it('a retry that changes nothing still succeeds', async () => {
    assert.equal((await s.req('POST', rec, { 'X-Container-Meta-Status': 'Complete' })).status, 204);
    assert.equal((await s.req('PUT', rec)).status, 202);
  });
});

describe('licence limits', () => {
  it('one user or device more than licensed is 402 and is not stored; existing ones may be re-sent', async () => {
    for (const u of ['u1', 'u2', 'u3']) assert.equal((await s.req('PUT', `/Users/${u}`, { 'X-Object-Meta-Name': u }, '')).status, 201);
    const over = await s.req('PUT', '/Users/u4', { 'X-Object-Meta-Name': 'u4' }, '');
    assert.equal(over.status, 402);
    assert.match(over.text, /limits\.maxUsers/);
    assert.equal((await s.req('HEAD', '/Users/u4')).status, 404);
    assert.equal((await s.req('PUT', '/Users/u1', { 'X-Object-Meta-Name': 'renamed' }, '')).status, 201);
    assert.equal((await s.req('PUT', '/Devices/B0001', { 'X-Object-Meta-Model': 'W100' }, '')).status, 201);
    assert.equal((await s.req('PUT', '/Devices/B0002', { 'X-Object-Meta-Model': 'W100' }, '')).status, 201);
    assert.equal((await s.req('PUT', '/Devices/B0003', { 'X-Object-Meta-Model': 'W100' }, '')).status, 402);
  });
});

describe('UserID (StoreUserIDKey)', () => {
  it('is empty or unique: a clash is 400 and changes nothing', async () => {
    assert.equal((await s.req('POST', '/Users/u1', { 'X-Object-Meta-Userid': 'BADGE-7' })).status, 202);
    const clash = await s.req('POST', '/Users/u2', { 'X-Object-Meta-Userid': 'BADGE-7' });
    assert.equal(clash.status, 400);
    assert.match(clash.text, /already belongs to user u1/);
    assert.equal((await s.req('HEAD', '/Users/u2')).headers['x-object-meta-userid'], undefined);
    assert.equal((await s.req('POST', '/Users/u1', { 'X-Object-Meta-Userid': 'BADGE-7', 'X-Object-Meta-Name': 'again' })).status, 202, 'its own id');
    assert.equal((await s.req('POST', '/Users/u2', { 'X-Object-Meta-Userid': 'BADGE-8' })).status, 202);
    assert.equal((await s.req('POST', '/Users/u3', { 'X-Object-Meta-Userid': '' })).status, 202);
    assert.equal((await s.req('PUT', '/Users/u3', { 'X-Object-Meta-Userid': encodeURIComponent('BADGE-8') }, '')).status, 400, 'compared decoded');
  });
});

describe('recordings', () => {
  const name = (user: string, device: string, time: string) => `/${user}_${device}_${time}`;

  it('needs a registered user and camera; a refusal says why and creates nothing', async () => {
    const unknownUser = await s.req('PUT', name('0000-nobody', 'B0001', '20240102T080000Z'));
    assert.equal(unknownUser.status, 400);
    assert.match(unknownUser.text, /user 0000-nobody is not registered in Users\//);
    assert.equal((await s.req('HEAD', name('0000-nobody', 'B0001', '20240102T080000Z'))).status, 404);
    const unknownCamera = await s.req('PUT', name(USER, 'B9999', '20240102T080000Z'));
    assert.equal(unknownCamera.status, 400);
    assert.match(unknownCamera.text, /camera B9999 is not registered/);
    assert.equal((await s.req('PUT', name(USER, 'B0001', '20240102T080000Z'), { 'X-Container-Meta-Status': 'Transferring' })).status, 201);
  });

  it('needs a real trigger time from 2000 on', async () => {
    assert.match((await s.req('PUT', name(USER, 'B0001', '19991231T235959Z'))).text, /before 2000-01-01/);
    assert.match((await s.req('PUT', name(USER, 'B0001', '20240230T120000Z'))).text, /not a real date/);
  });

  it('a trigger time in the future is refused when the clock is synchronised; an absurd one always', async () => {
    const admin = await daemon.auth('admin');
    const { clock } = JSON.parse((await daemon.request('GET', '/status', { 'X-Auth-Token': admin.token })).text) as { clock: { synchronised: boolean } };
    const compact = (ms: number) =>
      new Date(ms)
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
    // A month ahead: a Pi without its clock could be that wrong; a synchronised one cannot.
    const soon = await s.req('PUT', name(USER, 'B0001', compact(Date.now() + 30 * 86_400_000)));
    assert.equal(soon.status, clock.synchronised ? 400 : 201, soon.text);
    // 2099 is not a plausible time, whatever the clock says.
    const absurd = await s.req('PUT', name(USER, 'B0001', '20991231T120000Z'));
    assert.equal(absurd.status, 400);
    assert.match(absurd.text, clock.synchronised ? /more than a day in the future/ : /more than 366 days after this station's clock, which is not synchronised/);
    assert.equal((await s.req('HEAD', name(USER, 'B0001', '20991231T120000Z'))).status, 404);
  });

  it('metadata that repeats the name must agree with it', async () => {
    const rec = name(USER, 'B0001', '20240103T090000Z');
    const triggerOn = String(Date.UTC(2024, 0, 3, 9) / 1000);
    assert.equal(
      (await s.req('PUT', rec, { 'X-Container-Meta-Userid': USER, 'X-Container-Meta-Bwcserialnumber': 'B0001', 'X-Container-Meta-Triggerontime': triggerOn })).status,
      201,
    );
    const wrong = await s.req('POST', rec, { 'X-Container-Meta-Bwcserialnumber': 'B0002' });
    assert.equal(wrong.status, 400);
    assert.match(wrong.text, /BWCSerialNumber metadata "B0002" differs/);
    assert.match((await s.req('POST', rec, { 'X-Container-Meta-Triggerontime': '1704272401' })).text, /TriggerOnTime metadata/);
    assert.equal((await s.req('HEAD', rec)).headers['x-container-meta-bwcserialnumber'], 'B0001');
  });

  it('a clip needs a duration and a ContainerType that matches its name', async () => {
    const rec = name(USER, 'B0001', '20240102T080000Z');
    const backwards = await s.req('PUT', `${rec}/20240102T080000Z_7.mkv`, { 'X-Object-Meta-Starttime': '1704182400', 'X-Object-Meta-Stoptime': '1704182399' }, 'x');
    assert.equal(backwards.status, 400);
    assert.match(backwards.text, /no duration/);
    const subSecond = await s.req('PUT', `${rec}/20240102T080000Z_7.mkv`, { 'X-Object-Meta-Starttime': '1704182400.250', 'X-Object-Meta-Stoptime': '1704182400.250' }, 'x');
    assert.equal(subSecond.status, 400, 'equal sub-second times: no duration');
    const shortTail = await s.req('PUT', `${rec}/20240102T080100Z_7.mkv`, { 'X-Object-Meta-Starttime': '1704182460', 'X-Object-Meta-Stoptime': '1704182460' }, 'x');
    assert.equal(shortTail.status, 201, 'equal whole seconds: a clip shorter than a second');
    const wrongType = await s.req('PUT', `${rec}/20240102T080000Z_7.mkv`, { 'X-Object-Meta-Containertype': 'mp4' }, 'x');
    assert.equal(wrongType.status, 400);
    assert.equal((await s.req('HEAD', `${rec}/20240102T080000Z_7.mkv`)).status, 404);
    const ok = await s.req(
      'PUT',
      `${rec}/20240102_080000_7.mkv`,
      { 'X-Object-Meta-Starttime': '1704182400', 'X-Object-Meta-Stoptime': '1704182460', 'X-Object-Meta-Containertype': 'mkv' },
      'x',
    );
    assert.equal(ok.status, 201, 'the <date>_<time> form of StartTime is a clip name too');
    assert.equal(
      (await s.req('PUT', `${rec}/20240102_080000_7.mp4`, { 'X-Object-Meta-Containertype': 'mp4' }, 'x')).status,
      201,
      'another type than the connection file is accepted',
    );
  });

  it('rejected content is never refused for what it is', async () => {
    const rc = '/RejectedContent_UnknownTime_8d1c7a2e-1111-4000-8000-000000000009';
    assert.equal((await s.req('PUT', rc, { 'X-Container-Meta-Rejectedcontentoriginalcontainer': 'nobody_B9_20240101T000000Z' })).status, 201);
    assert.equal((await s.req('PUT', `${rc}/20240101T000000Z_1.mkv`, { 'X-Object-Meta-Starttime': '5', 'X-Object-Meta-Stoptime': '1' }, 'broken')).status, 201);
  });

  it('containers with other names are plain Swift containers', async () => {
    assert.equal((await s.req('PUT', '/exports-2024')).status, 201);
  });
});

describe('validation.strict: false', () => {
  it('accepts recordings of unregistered users and cameras, but still refuses impossible times', async () => {
    const lax = await TestDaemon.start({ config: { validation: { strict: false } } });
    try {
      const s2 = await SwiftSession.open(lax);
      assert.equal((await s2.req('PUT', '/old-firmware-user_B42_20230101T000000Z', { 'X-Container-Meta-Bwcserialnumber': 'B43' })).status, 201);
      assert.equal((await s2.req('PUT', '/old-firmware-user_B42_19990101T000000Z')).status, 400);
      assert.ok(lax.logLines.some((l) => l.includes('validation.strict is false')));
    } finally {
      await lax.cleanup();
    }
  });
});

describe('what the recordings view shows', () => {
  it('flags a malformed GNSS track (kept as evidence), reads key files, links rejected content both ways, names user and camera', async () => {
    const rec = `${USER}_B0001_20240104T100000Z`;
    await s.req('PUT', `/${rec}`, { 'X-Container-Meta-Status': 'Transferring' });
    assert.equal((await s.req('PUT', `/${rec}/20240104_100000_5_B0001_gpstrail.json`, {}, '{"CoordinateEntries":[{"LocationWKT":"POINT(13.2 north)"}]}')).status, 201);
    assert.equal((await s.req('PUT', `/${rec}/20240104_100500_5_B0001_gpstrail.json`, {}, '{"CoordinateEntries":[{"LocationWKT":"POINT(13.221184 55.718409)"}]}')).status, 201);
    const rc = 'RejectedContent_20240104T101000Z_7a2e';
    await s.req('PUT', `/${rc}`, { 'X-Container-Meta-Rejectedcontentoriginalcontainer': rec, 'X-Container-Meta-Rejectedcontentreason': encodeURIComponent('corrupt clip') });
    await s.req('PUT', `/${rc}/20240104T100000Z_5.mkv`, {}, 'broken bytes');

    const res = await runCli(['recordings', '--data', daemon.dataDir, '--since', '2024-01-04', '--until', '2024-01-04']);
    assert.equal(res.code, 0, res.stderr);
    // biome-ignore lint/suspicious/noExplicitAny: a report's JSON, read field by field
    const { recordings } = JSON.parse(res.stdout) as { recordings: Record<string, any>[] };
    const recording = recordings.find((r) => r.name === rec)!;
    assert.deepEqual(
      recording.gnssTracks.map((t: { valid: boolean }) => t.valid),
      [false, true],
    );
    assert.match(recording.gnssTracks[0].problem, /LocationWKT "POINT\(13\.2 north\)" is not POINT/);
    assert.deepEqual(recording.rejected, [rc]);
    assert.equal(recording.user.name, 'Officer');
    assert.equal(recording.device.model, 'W100');

    // biome-ignore lint/suspicious/noExplicitAny: a report's JSON, read field by field
    const all = JSON.parse((await runCli(['recordings', '--data', daemon.dataDir])).stdout).recordings as Record<string, any>[];
    const rejected = all.find((r) => r.name === rc)!;
    assert.equal(rejected.kind, 'rejected');
    assert.equal(rejected.originalContainer, rec);
    assert.equal(rejected.originalExists, true);
    assert.equal(rejected.rejectedReason, 'corrupt clip');
  });

  it('reads a key file for its key id', async () => {
    const rec = `${USER}_B0001_20240105T100000Z`;
    await s.req('PUT', `/${rec}`);
    await s.req(
      'PUT',
      `/${rec}/20240105T100000Z_9.key`,
      { 'X-Object-Meta-Filetype': 'key' },
      JSON.stringify({ EncryptedKey: 'AAAA', ContentEncryptionIV: 'BBBB', PublicKeyId: 'station-key-1' }),
    );
    await s.req('PUT', `/${rec}/20240105T100100Z_9.key`, {}, 'not json');
    const { recordings } = JSON.parse((await runCli(['recordings', '--data', daemon.dataDir, '--since', '2024-01-05', '--until', '2024-01-05'])).stdout);
    assert.deepEqual(
      recordings[0].keys.map((k: { valid: boolean; publicKeyId?: string }) => [k.valid, k.publicKeyId]),
      [
        [true, 'station-key-1'],
        [false, undefined],
      ],
    );
  });
});

describe('GNSS tracks a hostile uploader sends', () => {
  it('a deeply nested track is kept as evidence but never parsed; one over 16 MiB is refused with 413', async () => {
    const rec = `${USER}_B0001_20240107T100000Z`;
    assert.equal((await s.req('PUT', `/${rec}`, { 'X-Container-Meta-Status': 'Transferring' })).status, 201);
    const deep = `{"CoordinateEntries":[${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}]}`;
    const track = `20240107_100000_5_B0001_gpstrail.json`;
    assert.equal((await s.req('PUT', `/${rec}/${track}`, {}, deep)).status, 201, 'evidence is kept whatever its shape');

    const res = await runCli(['recordings', '--data', daemon.dataDir, '--since', '2024-01-07', '--until', '2024-01-07']);
    assert.equal(res.code, 0, res.stderr);
    const recording = (JSON.parse(res.stdout) as { recordings: { name: string; gnssTracks: { valid: boolean; problem?: string }[] }[] }).recordings.find((r) => r.name === rec)!;
    assert.equal(recording.gnssTracks[0]!.valid, false);
    assert.match(recording.gnssTracks[0]!.problem!, /nests deeper than 16 levels/);

    const reader = await daemon.consoleSession(TEST_USERS.reader.user, TEST_USERS.reader.key);
    const page = await fetch(`${daemon.base}/console/recordings/${encodeURIComponent(rec)}`, { headers: reader });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /not drawn: location file nests deeper than 16 levels/);

    // Declared too large: refused from the headers; sent chunked: cut off at the limit. Nothing stored either way.
    const big = await s.req('PUT', `/${rec}/20240107_100500_5_B0001_gpstrail.json`, { 'Content-Length': String(16 * 1024 * 1024 + 1) }, Buffer.alloc(0));
    assert.equal(big.status, 413);
    async function* chunks() {
      for (let i = 0; i < 17; i++) yield Buffer.alloc(1024 * 1024, 0x20);
    }
    assert.equal((await s.req('PUT', `/${rec}/20240107_101000_5_B0001_gpstrail.json`, {}, chunks())).status, 413);
    for (const name of ['20240107_100500_5_B0001_gpstrail.json', '20240107_101000_5_B0001_gpstrail.json']) assert.equal((await s.req('HEAD', `/${rec}/${name}`)).status, 404);
  });
});
