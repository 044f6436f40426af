/**
 * X-Delete-At between a station and an edgecd central: the station gives its
 * copies its retention as X-Delete-At and takes it off while a hold covers a
 * recording; the central weighs it (in place of its default), takes it only
 * from replicating stations, and keeps a sealed recording's objects as they
 * are otherwise. The same against OpenStack Swift, with its object expirer,
 * is in openstack-swift.test.ts.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../src/config/config.ts';
import { retentionOf } from '../src/lifecycle/retention.ts';
import { runCli, SwiftSession, TEST_USERS, TestDaemon } from './helpers/daemon.ts';
import { simulate } from './helpers/centrals.ts';
import { DAY_S, deleteAtAudit, deleteAts, edgeConfig, edgeWithRecordings, expectedDeleteAt, holdRecording } from './helpers/delete-at.ts';
import { centralReader, centralTarget, replicateNow } from './helpers/replication.ts';
import { SwiftAccount } from './helpers/swift-account.ts';

describe('X-Delete-At at an edgecd central', () => {
  let central: TestDaemon;
  let edge: TestDaemon;
  let recordings: string[];
  let replicator: SwiftAccount;
  let clerk: SwiftAccount;
  /** Logs in to the central again (its tokens die with a restart). */
  let signIn: () => Promise<void>;

  before(async () => {
    central = await TestDaemon.start({ config: { siteName: 'Central' } });
    const target = await centralTarget(central);
    ({ edge, recordings } = await edgeWithRecordings(target, 30));
    signIn = async () => {
      replicator = await SwiftAccount.login(target.authUrl, TEST_USERS.replicator.user, TEST_USERS.replicator.key);
      clerk = await centralReader(target);
    };
    await signIn();
  });
  after(async () => {
    await edge?.cleanup();
    await central?.cleanup();
  });

  const centralPlan = async (days: number) => {
    const res = await runCli(['retention', 'plan', '--days', String(days), '--json', '--data', central.dataDir]);
    assert.equal(res.code, 0, res.stderr);
    return JSON.parse(res.stdout) as { due: { recording: string; rule: string; keepUntil: string }[]; kept: unknown[] };
  };

  test("the station's retention arrives as X-Delete-At, and the central's plan weighs it in place of its default", async () => {
    const { code, reports, stderr } = await replicateNow(edge);
    assert.equal(code, 0, stderr);
    assert.equal(reports[0]!.outcome, 'done', JSON.stringify(reports));
    for (const r of recordings) assert.deepEqual(await deleteAts(clerk, r), new Set([expectedDeleteAt(r, 30)]));
    // The central keeps everything by default; the stations' word lets these go after 30 days.
    assert.deepEqual((await centralPlan(20)).due, []);
    const due = (await centralPlan(40)).due;
    assert.deepEqual(due.map((d) => d.recording).sort(), [...recordings].sort());
    assert.equal(due[0]!.keepUntil, new Date(expectedDeleteAt(due[0]!.recording, 30) * 1000).toISOString());
    assert.match(due[0]!.rule, /^X-Delete-At from the replicating station: until /);
    // An index rebuilt from the disk knows them again: they are in the objects' own records.
    const { port } = central;
    assert.equal(await central.stop(), 0);
    const rebuilt = await runCli(['reindex', '--data', central.dataDir]);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    central = await TestDaemon.start({ dataDir: central.dataDir, args: ['--listen', `127.0.0.1:${port}`] });
    await signIn();
    assert.deepEqual((await centralPlan(40)).due.map((d) => d.recording).sort(), [...recordings].sort());
  });

  test('a hold at the station takes X-Delete-At off the central copies, and the central then keeps the recording', async () => {
    await holdRecording(edge, recordings[1]!);
    const { code, stderr } = await replicateNow(edge);
    assert.equal(code, 0, stderr);
    assert.deepEqual(await deleteAts(clerk, recordings[1]!), new Set([null]));
    assert.deepEqual(await deleteAts(clerk, recordings[0]!), new Set([expectedDeleteAt(recordings[0]!, 30)]));
    assert.deepEqual(
      (await centralPlan(40)).due.map((d) => d.recording),
      [recordings[0]],
    );
    const audit = await deleteAtAudit(edge);
    assert.ok(audit.some((l) => l.target.endsWith(`/${recordings[1]}`) && l.details.from === expectedDeleteAt(recordings[1]!, 30) && l.details.deleteAt === null));
    // Nothing changes on a pass with nothing to move.
    await replicateNow(edge);
    assert.equal((await deleteAtAudit(edge)).length, audit.length);
  });

  test('only a replicating station sets X-Delete-At, never in the past, and a sealed recording changes in nothing else', async () => {
    const camera = await SwiftSession.open(central);
    const object = (await clerk.objects(recordings[0]!))[0]!.name;
    const path = `/${recordings[0]}/${object}`;
    const later = String(Math.floor(Date.now() / 1000) + 90 * DAY_S);
    const byCamera = await camera.req('POST', path, { 'X-Delete-At': later });
    assert.equal(byCamera.status, 403, byCamera.text);
    assert.match(byCamera.text, /only from a replicating station/);
    const past = await replicator.req('POST', `${recordings[0]}/${object}`, { 'X-Delete-At': '1000000000' });
    assert.equal(past.status, 400);
    assert.match(past.body.toString(), /X-Delete-At in past/);
    // A POST whose metadata or type differs is a change to sealed evidence: refused, X-Delete-At and all.
    const before = await clerk.req('HEAD', `${recordings[0]}/${object}`);
    const same = Object.fromEntries(Object.entries(before.headers).filter(([k]) => k.startsWith('x-object-meta-'))) as Record<string, string>;
    const altered = await replicator.req('POST', `${recordings[0]}/${object}`, { ...same, 'X-Delete-At': later, 'X-Object-Meta-Note': 'changed' });
    assert.equal(altered.status, 403);
    const retyped = await replicator.req('POST', `${recordings[0]}/${object}`, { ...same, 'X-Delete-At': later, 'Content-Type': 'text/plain' });
    assert.equal(retyped.status, 403);
    assert.deepEqual(await deleteAts(clerk, recordings[0]!), new Set([expectedDeleteAt(recordings[0]!, 30)]));
    // The station's custody keys may differ (a video verdict that came later): X-Delete-At moves, the object's custody stays as received.
    const moved = await replicator.req('POST', `${recordings[0]}/${object}`, { ...same, 'X-Object-Meta-Edgecd-Video': 'tampered', 'X-Delete-At': later });
    assert.equal(moved.status, 202, moved.body.toString());
    const after = await clerk.req('HEAD', `${recordings[0]}/${object}`);
    assert.equal(after.headers['x-delete-at'], later);
    assert.equal(after.headers['x-object-meta-edgecd-video'], before.headers['x-object-meta-edgecd-video']);
    assert.equal(after.headers['content-type'], before.headers['content-type']);
  });
});

describe('tombstones at the central', () => {
  test("what the station's retention deleted reaches the central as records, byte for byte, once each", async () => {
    const central = await TestDaemon.start({ config: { siteName: 'Central' } });
    const target = await centralTarget(central);
    const edge = await TestDaemon.start({ config: { ...edgeConfig(target, 0), retention: { keep: { default: 0 }, delete: { graceDays: 7 } } } });
    try {
      const recordings = await simulate(edge, 2, 5_000);
      assert.equal((await replicateNow(edge)).reports[0]!.outcome, 'done');
      // Held by the central, due at once: the station deletes both, tombstones first.
      const run = await runCli(['retention', 'run', '--data', edge.dataDir]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual((JSON.parse(run.stdout) as { deleted: string[] }).deleted.sort(), [...recordings].sort());
      const { reports } = await replicateNow(edge);
      assert.deepEqual((reports[0] as { tombstones?: { sent: number } }).tombstones, { sent: 2 });
      const lines = (await readFile(join(edge.dataDir, 'tombstones.jsonl'), 'utf8')).trim().split('\n');
      const clerk = await centralReader(target);
      const held = await clerk.objects('edgecd-tombstones');
      assert.equal(held.length, 2);
      for (const line of lines) {
        const tombstone = JSON.parse(line) as { recording: string; trashStamp: string };
        const got = await clerk.req('GET', `edgecd-tombstones/${tombstone.recording}@${tombstone.trashStamp}.json`);
        assert.equal(got.status, 200);
        assert.equal(got.body.toString('utf8'), line);
        assert.equal(got.headers['x-object-meta-edgecd-station'], 'Station%2012');
      }
      // Sent once: the next pass has nothing new, and the central does not flag the container as unrecognised.
      assert.equal(((await replicateNow(edge)).reports[0] as { tombstones?: { sent: number } }).tombstones?.sent ?? 0, 0);
      const status = JSON.parse((await central.request('GET', '/status', { 'X-Auth-Token': (await central.auth('admin')).token })).text) as {
        containers: { unrecognisedName: { count: number } };
      };
      assert.equal(status.containers.unrecognisedName.count, 0);
    } finally {
      await edge.cleanup();
      await central.cleanup();
    }
  });
});

describe("a central's own rules and a station's X-Delete-At", () => {
  const rules = (keep: object) => parseConfig({ retention: { keep } }).retention.keep;
  const T0 = Date.UTC(2026, 0, 1);
  const subject = { kind: 'recording' as const, categories: ['7'], triggeredAt: T0, stationDeleteAt: T0 + 30 * DAY_S * 1000 };
  test("the station's word stands in for the default; rules set here still weigh, the longest winning; or it is ignored", () => {
    assert.equal(retentionOf(subject, rules({})).keepUntil, subject.stationDeleteAt, 'a default of for ever gives way');
    assert.equal(retentionOf(subject, rules({ default: 365 })).keepUntil, subject.stationDeleteAt);
    assert.equal(retentionOf(subject, rules({ categories: { 7: 90 } })).keepUntil, T0 + 90 * DAY_S * 1000);
    assert.equal(retentionOf(subject, rules({ categories: { 7: 10 } })).keepUntil, subject.stationDeleteAt);
    assert.equal(retentionOf(subject, rules({ stationDeleteAt: 'ignore' })).keepUntil, null);
  });
});
