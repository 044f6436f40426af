/**
 * Legal holds on an edge that evicts replicated recordings to make room: a
 * hold on a recording, or on a query that also catches recordings arriving
 * later, keeps them whatever the disk needs (507, with the hold named in
 * /status); only a custodian places or releases one, and every attempt is in
 * the audit trail.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, SwiftSession, TEST_USERS, TestDaemon, simulateOn } from './helpers/daemon.ts';
import { centralTarget, replicateNow, startEdge } from './helpers/replication.ts';

const CUSTODIAN = { user: 'clerk-custodian', key: 'custodian-key-for-tests-only' };
const DEVICE_1 = 'B8A44F000001';

describe('legal holds', () => {
  let central: TestDaemon;
  let edge: TestDaemon;
  let session: SwiftSession;
  let first: string[];
  let later: string[];
  let deviceHold: string;

  const hold = (...args: string[]) => runCli(['hold', ...args, '--data', edge.dataDir]);
  const holdId = (stdout: string) => /^(H-\d{8}-[0-9a-f]{6})/m.exec(stdout)![1]!;
  const present = async (recording: string) => (await session.req('HEAD', `/${recording}`)).status === 204;
  const status = async () => {
    const res = await edge.request('GET', '/status', { 'X-Auth-Token': (await edge.auth('admin')).token });
    return JSON.parse(res.text) as { holds: { active: number; blockingEviction: { holds: { id: string; caseNumber: string; recordings: string[] }[] } | null } };
  };
  const simulate = () => simulateOn(edge, { users: 1, devices: 2, recordings: 2, clips: 2, 'clip-bytes': 500_000 });

  before(async () => {
    central = await TestDaemon.start();
    // Room for four recordings of about 1 MB, and not much more.
    edge = await startEdge([await centralTarget(central)], { quota: { maxBytes: 4_500_000 }, retention: { evictAfterReplication: true, minAgeHours: 0 } });
    const added = await runCli(['user', 'add', CUSTODIAN.user, '--role', 'custodian', '--key', CUSTODIAN.key, '--data', edge.dataDir]);
    assert.equal(added.code, 0, added.stderr);
    session = await SwiftSession.open(edge);
    first = await simulate();
  });
  after(async () => {
    await edge?.cleanup();
    await central?.cleanup();
  });

  test('only a custodian places a hold, with its key; every attempt is audited', async () => {
    const admin = await hold('add', '--device', DEVICE_1, '--case', 'C-1', '--reason', 'r', '--as', TEST_USERS.admin.user, '--key', TEST_USERS.admin.key);
    assert.equal(admin.code, 1);
    assert.match(admin.stderr, /is a admin: legal holds need a custodian/);
    const wrongKey = await hold('add', '--device', DEVICE_1, '--case', 'C-1', '--reason', 'r', '--as', CUSTODIAN.user, '--key', 'not-the-key');
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /unknown user or wrong key/);
    const noScope = await hold('add', '--case', 'C-1', '--reason', 'r', '--as', CUSTODIAN.user, '--key', CUSTODIAN.key);
    assert.equal(noScope.code, 1);
    assert.match(noScope.stderr, /a hold needs a recording, or a query/);
    assert.equal((await status()).holds.active, 0, 'nothing was placed');
    const lines = (await readFile(join(edge.dataDir, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { actor: string; action: string; result: string });
    assert.deepEqual(
      lines.filter((l) => l.action === 'hold.place').map((l) => [l.actor, l.result]),
      [
        [TEST_USERS.admin.user, 'refused'],
        [CUSTODIAN.user, 'refused'],
        [CUSTODIAN.user, 'refused'],
      ],
    );
  });

  test('a hold by query catches recordings that arrive later, and beats eviction', async () => {
    // The key from the environment, as a custodian would keep it off the command line.
    process.env.EDGECD_KEY = CUSTODIAN.key;
    const placed = await hold('add', '--device', DEVICE_1, '--case', 'C-2026-0042', '--reason', 'complaint about an arrest', '--as', CUSTODIAN.user).finally(
      () => delete process.env.EDGECD_KEY,
    );
    assert.equal(placed.code, 0, placed.stderr);
    deviceHold = holdId(placed.stdout);
    later = await simulate();
    assert.equal((await replicateNow(edge)).reports[0]!.outcome, 'done');
    // Oldest first, every recording is replicated: only camera 2's may go.
    assert.equal((await session.req('PUT', '/scratch')).status, 201);
    assert.equal((await session.req('PUT', '/scratch/a', {}, Buffer.alloc(2_000_000, 1))).status, 201);
    const onDevice1 = [first, later].map((r) => r.find((name) => name.includes(`_${DEVICE_1}_`))!);
    const onDevice2 = [first, later].map((r) => r.find((name) => !name.includes(`_${DEVICE_1}_`))!);
    for (const r of onDevice1) assert.ok(await present(r), `${r} is held: still here`);
    for (const r of onDevice2) assert.ok(!(await present(r)), `${r} was evicted`);
  });

  test('when only held recordings are left, the upload gets 507 and /status names the holds', async () => {
    assert.equal((await session.req('PUT', '/scratch/b', {}, Buffer.alloc(2_000_000, 2))).status, 507);
    const { holds } = await status();
    assert.equal(holds.active, 1);
    assert.deepEqual(
      holds.blockingEviction?.holds.map((h) => [h.id, h.caseNumber, h.recordings.length]),
      [[deviceHold, 'C-2026-0042', 2]],
    );
    const metrics = await edge.request('GET', '/metrics', { 'X-Auth-Token': (await edge.auth('admin')).token });
    assert.match(metrics.text, /^edgecd_eviction_blocked_by_holds 1$/m);
  });

  test('a hold on one recording still holds it when the query hold is released; released, the recordings may go', async () => {
    const held = [first, later].map((r) => r.find((name) => name.includes(`_${DEVICE_1}_`))!);
    const one = await hold('add', '--recording', held[1]!, '--case', 'C-2026-0043', '--reason', 'the same officer, another case', '--as', CUSTODIAN.user, '--key', CUSTODIAN.key);
    assert.equal(one.code, 0, one.stderr);
    const recordingHold = holdId(one.stdout);
    // An admin cannot release it.
    const byAdmin = await hold('release', deviceHold, '--reason', 'x', '--as', TEST_USERS.admin.user, '--key', TEST_USERS.admin.key);
    assert.equal(byAdmin.code, 1);
    const released = await hold('release', deviceHold, '--reason', 'case closed', '--as', CUSTODIAN.user, '--key', CUSTODIAN.key);
    assert.equal(released.code, 0, released.stderr);
    assert.match(released.stdout, /released by clerk-custodian .*: case closed/);
    // The older one may go now; the one under its own hold may not, so 2 MB cannot be freed.
    assert.equal((await session.req('PUT', '/scratch/b', {}, Buffer.alloc(2_000_000, 2))).status, 507);
    assert.ok(!(await present(held[0]!)));
    assert.ok(await present(held[1]!));
    assert.deepEqual(
      (await status()).holds.blockingEviction?.holds.map((h) => h.id),
      [recordingHold],
    );
    // Its chain of custody shows the hold, and the list shows both holds.
    const custody = await runCli(['audit', 'show', '--recording', held[1]!, '--data', edge.dataDir]);
    assert.match(custody.stdout, /hold\.place/);
    const list = await hold('list', '--all', '--json');
    const all = JSON.parse(list.stdout) as { id: string; released?: { by: string } }[];
    assert.deepEqual(
      all.map((h) => [h.id, h.released?.by ?? null]).sort(),
      [
        [deviceHold, CUSTODIAN.user],
        [recordingHold, null],
      ].sort(),
    );
    assert.equal(JSON.parse((await hold('list', '--json')).stdout).length, 1, 'in force only, by default');
    // A reader sees the hold on the recording's page.
    const reader = await edge.consoleSession(TEST_USERS.reader.user, TEST_USERS.reader.key);
    const page = await fetch(`${edge.base}/console/recordings/${encodeURIComponent(held[1]!)}`, { headers: reader });
    assert.match(await page.text(), new RegExp(`<dd data-field="holds"><ul class="holds"><li data-hold="${recordingHold}"><strong>${recordingHold}</strong>, case C-2026-0043`));
  });
});
