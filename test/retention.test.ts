/**
 * Retention rules (retention.keep) and the plan built from them: the longest
 * applicable rule wins, a category given later counts at once, a hold keeps
 * what retention would let go, and a category without a rule is warned about.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../src/config/config.ts';
import { retentionOf, type RetentionSubject } from '../src/lifecycle/retention.ts';
import { newestTombstones, readTombstones } from '../src/lifecycle/tombstones.ts';
import { appendLineDurably } from '../src/lib/durable.ts';
import { runCli, SwiftSession, TEST_USERS, TestDaemon, simulateOn } from './helpers/daemon.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const rulesOf = (keep: object) => parseConfig({ retention: { keep } }).retention.keep;
const subject = (s: Partial<RetentionSubject>): RetentionSubject => ({ kind: 'recording', categories: [], triggeredAt: T0, sealedAt: T0 + 3600_000, ...s });

describe('retention rules', () => {
  test('the longest applicable rule wins, in days or for ever', () => {
    const rules = rulesOf({ default: 30, uncategorised: 7, rejected: 90, categories: { traffic: 60, assault: 3650 }, users: { u1: 'forever' }, devices: { cam9: 100 } });
    assert.deepEqual(retentionOf(subject({}), rules), { keepUntil: T0 + 7 * DAY, rule: 'uncategorised: 7 days', unruledCategories: [] });
    assert.equal(retentionOf(subject({ categories: ['traffic', 'assault'] }), rules).keepUntil, T0 + 3650 * DAY);
    assert.equal(retentionOf(subject({ categories: ['traffic'], deviceSerial: 'cam9' }), rules).rule, 'camera cam9: 100 days');
    assert.deepEqual(retentionOf(subject({ categories: ['traffic'], userId: 'u1' }), rules), { keepUntil: null, rule: 'user u1: kept for ever', unruledCategories: [] });
    assert.equal(retentionOf(subject({ kind: 'rejected' }), rules).keepUntil, T0 + 90 * DAY);
    // A category no rule names gets the default, and is reported.
    const unruled = retentionOf(subject({ categories: ['traffic', 'other'] }), rules);
    assert.equal(unruled.keepUntil, T0 + 60 * DAY);
    assert.deepEqual(unruled.unruledCategories, ['other']);
  });

  test('"default" defers to the default; the period may start at the seal, and an unsealed recording then waits', () => {
    const rules = rulesOf({ default: 10, from: 'seal' });
    assert.equal(retentionOf(subject({}), rules).keepUntil, T0 + 3600_000 + 10 * DAY);
    assert.equal(retentionOf(subject({ sealedAt: undefined }), rules).keepUntil, null);
    assert.equal(retentionOf(subject({}), rulesOf({})).keepUntil, null, 'nothing is deleted until a rule says so');
  });

  test('bad rules are refused, naming the key', () => {
    assert.throws(() => rulesOf({ default: -1 }), /retention\.keep\.default: days \(0 to 36500\) or "forever", got -1/);
    assert.throws(() => rulesOf({ default: 'default' }), /retention\.keep\.default: days/);
    assert.throws(() => rulesOf({ categories: { '7': 'a year' } }), /retention\.keep\.categories\.7: days/);
    assert.throws(() => rulesOf({ forever: true }), /retention\.keep\.forever: unknown configuration key/);
  });
});

describe('retention plan', () => {
  let daemon: TestDaemon;
  let recordings: string[];
  let work: string;

  const plan = async (days: number) => {
    const res = await runCli(['retention', 'plan', '--days', String(days), '--json', '--data', daemon.dataDir]);
    assert.equal(res.code, 0, res.stderr);
    return JSON.parse(res.stdout) as { due: { recording: string; rule: string }[]; kept: { recording: string; keptBecause: string; rule: string }[]; unruledCategories: string[] };
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'edgecd-retention-'));
    daemon = await TestDaemon.start({ config: { retention: { keep: { default: 'forever', uncategorised: 1, categories: { '1': 3, '2': 400 } } } } });
    const categories = join(work, 'categories.json');
    await writeFile(
      categories,
      JSON.stringify([
        { Name: 'Traffic', Id: '1' },
        { Name: 'Assault', Id: '2' },
      ]),
    );
    assert.equal((await runCli(['categories', 'set', categories, '--data', daemon.dataDir])).code, 0);
    // Two recordings triggered yesterday, whose bookmarks file them under category 1 and 2 (in turn: one at a time, so the report lists them in that order).
    recordings = await simulateOn(daemon, { concurrency: 1, users: 1, devices: 1, recordings: 2, clips: 1, 'clip-bytes': 1000, extras: true });
  });
  after(async () => {
    await daemon?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('lists what the rules let go within the window, and why', async () => {
    assert.deepEqual((await plan(0)).due, [], 'nothing is due yet');
    const inTen = await plan(10);
    assert.deepEqual(
      inTen.due.map((d) => [d.recording, d.rule]),
      [[recordings[0], 'category 1: 3 days']],
    );
    assert.deepEqual((await plan(500)).due.map((d) => d.recording).sort(), [...recordings].sort());
    // A reader sees it on the recording's page.
    const reader = await daemon.consoleSession(TEST_USERS.reader.user, TEST_USERS.reader.key);
    const page = await fetch(`${daemon.base}/console/recordings/${encodeURIComponent(recordings[0]!)}`, { headers: reader });
    assert.match(await page.text(), /<dd data-field="retention">kept until <time[^>]*>[^<]+<\/time> <small>\(category 1: 3 days\)<\/small><\/dd>/);
  });

  test('a category given later counts at once, and a category without a rule is warned about', async () => {
    // A recording still transferring (a sealed one no longer changes): the BWS files its bookmark under category 1, then 2.
    const s = await SwiftSession.open(daemon);
    const [user, device] = recordings[0]!.split('_');
    const trigger = new Date(Math.floor(Date.now() / 1000 - 86_400) * 1000);
    const compact = trigger.toISOString().replace(/[-:]|\.\d{3}/g, '');
    const open = `${user}_${device}_${compact}`;
    // The metadata of a simulated recording, as a BWS sends it, but this one's name and time, and not sealed.
    const meta = Object.fromEntries(Object.entries((await s.req('HEAD', `/${recordings[0]}`)).headers).filter(([k]) => k.startsWith('x-container-meta-'))) as Record<
      string,
      string
    >;
    const headers: Record<string, string> = {
      ...meta,
      'x-container-meta-containername': open,
      'x-container-meta-triggerontime': String(trigger.getTime() / 1000),
      'x-container-meta-triggerontimeiso': trigger.toISOString(),
      'x-container-meta-status': 'Transferring',
    };
    delete headers['x-container-meta-stoptime'];
    delete headers['x-container-meta-triggeroff'];
    const made = await s.req('PUT', `/${open}`, headers);
    assert.equal(made.status, 201, made.text);
    const bookmark = `/${open}/bookmark_${compact}_1`;
    const category = (id: string) => ({ 'X-Object-Meta-Categoryid': id, 'X-Object-Meta-Categoryname': `Category ${id}` });
    assert.equal((await s.req('PUT', bookmark, category('1'), 'note')).status, 201);
    assert.deepEqual(
      (await plan(10)).kept.filter((k) => k.recording === open).map((k) => [k.keptBecause, k.rule]),
      [['not sealed: the body-worn system has not finished it', 'category 1: 3 days']],
    );
    const changed = await s.req('POST', bookmark, category('2'));
    assert.equal(changed.status, 202, changed.text);
    assert.ok(!(await plan(10)).kept.some((k) => k.recording === open), 'now category 2: 400 days');
    assert.equal((await s.req('POST', bookmark, category('9'))).status, 202);
    const withUnruled = await plan(10);
    assert.deepEqual(withUnruled.unruledCategories, ['9']);
    assert.ok(!withUnruled.kept.some((k) => k.recording === open), 'category 9 has no rule: the default (for ever) applies');
    const status = JSON.parse((await daemon.request('GET', '/status', { 'X-Auth-Token': (await daemon.auth('admin')).token })).text) as {
      retention: { unruledCategories: string[] };
    };
    assert.deepEqual(status.retention.unruledCategories, ['9']);
  });

  test('a legal hold keeps what retention would let go, and says so', async () => {
    assert.equal((await runCli(['user', 'add', 'custodian1', '--role', 'custodian', '--key', 'custodian-key-1', '--data', daemon.dataDir])).code, 0);
    const placed = await runCli([
      'hold',
      'add',
      '--recording',
      recordings[1]!,
      '--case',
      'C-7',
      '--reason',
      'appeal',
      '--as',
      'custodian1',
      '--key',
      'custodian-key-1',
      '--data',
      daemon.dataDir,
    ]);
    assert.equal(placed.code, 0, placed.stderr);
    const p = await plan(500);
    assert.ok(!p.due.some((d) => d.recording === recordings[1]));
    assert.match(p.kept.find((k) => k.recording === recordings[1])!.keptBecause, /^legal hold H-\d{8}-[0-9a-f]{6} \(case C-7\)$/);
  });
});

describe('tombstone file', () => {
  test('the newest tombstones are read from the end, across read chunks, with their restorations', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgecd-tombstones-'));
    try {
      const file = join(dir, 'tombstones.jsonl');
      // Manifests large enough that the file spans several 1 MiB reads, and lines cross their edges.
      const manifest = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`clip_${i}.mkv`, { sha256: 'a'.repeat(64), md5: 'b'.repeat(32), bytes: i }]));
      for (let i = 0; i < 3000; i++) {
        const recording = `rec-${i}`;
        const tombstone = {
          account: i % 3 === 0 ? 'other' : 'bws',
          recording,
          kind: 'recording',
          triggeredAt: '',
          keepUntil: '',
          rule: 'r',
          deletedAt: String(i),
          manifest,
          bytes: 1,
          holds: 'none',
          restorableUntil: 'x',
          trashStamp: `s${i}`,
        };
        await appendLineDurably(file, JSON.stringify(tombstone));
        if (i % 500 === 7) await appendLineDurably(file, JSON.stringify({ restoredAt: `r${i}`, restoredBy: 'c', account: tombstone.account, recording, trashStamp: `s${i}` }));
      }
      assert.ok((await stat(file)).size > 3 << 20);
      const all = await readTombstones(file);
      const bws = all.filter((t) => t.account === 'bws').reverse();
      assert.deepEqual(await newestTombstones(file, 1500, (t) => t.account === 'bws'), bws.slice(0, 1500));
      assert.deepEqual(await newestTombstones(file, 5000), all.reverse(), 'asked for more than there are: all of them');
      assert.equal(bws.filter((t) => t.restored).length, 4);
      assert.deepEqual(await newestTombstones(join(dir, 'none.jsonl'), 10), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('retention deletion: tombstones, trash, restore, purge', () => {
  let daemon: TestDaemon;
  let recordings: string[];
  const custodian = ['--as', 'custodian2', '--key', 'custodian-key-2'];
  const config = (graceDays: number) => ({ retention: { keep: { uncategorised: 0 }, delete: { graceDays } } });
  const cli = async (...args: string[]) => {
    const res = await runCli([...args, '--data', daemon.dataDir]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    return res.stdout;
  };
  const present = async (recording: string) => (await (await SwiftSession.open(daemon)).req('HEAD', `/${recording}`)).status === 204;

  before(async () => {
    daemon = await TestDaemon.start({ config: config(7) });
    await cli('user', 'add', 'custodian2', '--role', 'custodian', '--key', 'custodian-key-2');
    // Three recordings without bookmarks, triggered yesterday: uncategorised, 0 days, so all due now.
    recordings = await simulateOn(daemon, { users: 1, devices: 1, recordings: 3, clips: 2, 'clip-bytes': 5000 });
    await cli('hold', 'add', '--recording', recordings[2]!, '--case', 'C-9', '--reason', 'pending trial', ...custodian);
  });
  after(async () => {
    await daemon?.cleanup();
  });

  test('the job deletes exactly what the plan showed, writing a tombstone first, and the held recording stays', async () => {
    const planned = JSON.parse(await cli('retention', 'plan', '--json')) as { due: { recording: string }[]; kept: { recording: string }[] };
    assert.deepEqual(planned.due.map((d) => d.recording).sort(), recordings.slice(0, 2).sort());
    assert.deepEqual(
      planned.kept.map((k) => k.recording),
      [recordings[2]],
    );
    const s = await SwiftSession.open(daemon);
    const stored = new Map<string, string>();
    for (const r of recordings.slice(0, 2)) {
      for (const o of JSON.parse((await s.daemon.request('GET', `${s.account}/${r}?format=json`, { 'X-Auth-Token': s.readerToken })).text) as { name: string; hash: string }[]) {
        stored.set(`${r}/${o.name}`, o.hash);
      }
    }
    const report = JSON.parse(await cli('retention', 'run')) as { deleted: string[] };
    assert.deepEqual(report.deleted.sort(), planned.due.map((d) => d.recording).sort(), 'the preview is what the job does');
    const status = JSON.parse((await daemon.request('GET', '/status', { 'X-Auth-Token': (await daemon.auth('admin')).token })).text) as {
      retention: { lastRun: { deleted: number; kept: number } };
    };
    assert.deepEqual([status.retention.lastRun.deleted, status.retention.lastRun.kept], [2, 1]);
    for (const r of recordings.slice(0, 2)) assert.ok(!(await present(r)), `${r} deleted`);
    assert.ok(await present(recordings[2]!), 'held: kept');
    const tombstones = JSON.parse(await cli('deleted', '--json')) as {
      recording: string;
      deviceSerial: string;
      triggeredAt: string;
      manifest: Record<string, { md5: string }>;
      rule: string;
      restorableUntil: string;
    }[];
    assert.deepEqual(tombstones.map((t) => t.recording).sort(), recordings.slice(0, 2).sort());
    for (const t of tombstones) {
      assert.equal(t.rule, 'uncategorised: 0 days');
      assert.equal(t.deviceSerial, 'B8A44F000001');
      assert.equal(`${t.triggeredAt.replace(/[-:]|\.\d{3}/g, '')}`, t.recording.split('_').at(-1), 'the trigger time is the one in its name');
      for (const [name, { md5 }] of Object.entries(t.manifest)) assert.equal(md5, stored.get(`${t.recording}/${name}`));
    }
    const audit = await cli('audit', 'show', '--recording', recordings[0]!);
    assert.match(audit, /retention\.delete/);
  });

  test('restore brings a deleted recording back from the trash, under a hold; tombstones and holds survive the reindex', async () => {
    const before = JSON.parse((await (await SwiftSession.open(daemon)).req('GET', '/?format=json')).text) as unknown[];
    assert.equal(await daemon.stop(), 0);
    const wrongRole = await runCli([
      'restore',
      recordings[0]!,
      '--case',
      'C-10',
      '--reason',
      'r',
      '--as',
      TEST_USERS.admin.user,
      '--key',
      TEST_USERS.admin.key,
      '--data',
      daemon.dataDir,
    ]);
    assert.equal(wrongRole.code, 1);
    assert.match(wrongRole.stderr, /restoring needs a custodian/);
    assert.match(await cli('restore', recordings[0]!, '--case', 'C-10', '--reason', 'defence asked for it', ...custodian), /^restored .* under hold H-\d{8}-[0-9a-f]{6}$/m);
    daemon = await TestDaemon.start({ dataDir: daemon.dataDir });
    assert.ok(await present(recordings[0]!), 'back');
    assert.ok(!(await present(recordings[1]!)), 'the other stays deleted');
    assert.equal(JSON.parse((await (await SwiftSession.open(daemon)).req('GET', '/?format=json')).text).length, before.length + 1);
    const holds = JSON.parse(await cli('hold', 'list', '--json')) as { scope: { recording: string } }[];
    assert.deepEqual(holds.map((h) => h.scope.recording).sort(), [recordings[0], recordings[2]].sort(), 'the earlier hold survived the reindex');
    const tombstones = JSON.parse(await cli('deleted', '--json')) as { recording: string; restored?: { by: string } }[];
    assert.equal(tombstones.length, 2, 'tombstones are kept for ever');
    assert.equal(tombstones.find((t) => t.recording === recordings[0])?.restored?.by, 'custodian2');
    // Its video verdicts left with it: the check runs again (the simulator's random clips: unsupported).
    for (;;) {
      const { video } = JSON.parse((await daemon.request('GET', '/status', { 'X-Auth-Token': (await daemon.auth('admin')).token })).text) as { video: { queued: number } };
      if (video.queued === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const recheck = await cli('recordings');
    const restored = (JSON.parse(recheck) as { recordings: { name: string; video?: { verdict: string } }[] }).recordings.find((r) => r.name === recordings[0]);
    assert.equal(restored?.video?.verdict, 'unsupported');
    // The console's holds and deletions page: for custodians and admins, not readers.
    const lifecycle = await fetch(`${daemon.base}/console/lifecycle`, { headers: await daemon.consoleSession('custodian2', 'custodian-key-2') });
    assert.equal(lifecycle.status, 200);
    const html = await lifecycle.text();
    assert.equal(html.match(/<tr data-hold="H-/g)?.length, 2);
    assert.match(html, new RegExp(`<th scope="row">${recordings[0]}</th>(?:(?!</tr>).)*restored by custodian2`, 's'));
    assert.equal((await fetch(`${daemon.base}/console/lifecycle`, { headers: await daemon.consoleSession(TEST_USERS.reader.user, TEST_USERS.reader.key) })).status, 403);
    // Every tombstone as stored, with the restoration line after its tombstone.
    const download = await fetch(`${daemon.base}/console/tombstones.jsonl`, { headers: await daemon.consoleSession('custodian2', 'custodian-key-2') });
    const stored = (await readFile(join(daemon.dataDir, 'tombstones.jsonl'), 'utf8')).trim().split('\n');
    assert.deepEqual((await download.text()).trim().split('\n'), stored);
    assert.equal(stored.length, 3);
    const again = await runCli(['retention', 'run', '--data', daemon.dataDir]);
    assert.deepEqual((JSON.parse(again.stdout) as { deleted: string[] }).deleted, [], 'the restored recording is held');
    // The week in summary, through the daemon, and then in /status.
    const summary = JSON.parse(await cli('retention', 'summary')) as Record<string, number>;
    assert.deepEqual(
      {
        deleted: summary.deleted,
        restored: summary.restored,
        holdsPlaced: summary.holdsPlaced,
        holdsReleased: summary.holdsReleased,
        holdsInForce: summary.holdsInForce,
        dueNextWeek: summary.dueNextWeek,
      },
      { deleted: 2, restored: 1, holdsPlaced: 2, holdsReleased: 0, holdsInForce: 2, dueNextWeek: 0 },
    );
    assert.ok(summary.bytesDeleted! > 0);
    const status = JSON.parse((await daemon.request('GET', '/status', { 'X-Auth-Token': (await daemon.auth('admin')).token })).text) as { retention: { weeklySummary: unknown } };
    assert.deepEqual(status.retention.weeklySummary, summary);
  });

  test('after the grace period the trash is purged, and the purge is audited', async () => {
    assert.equal(await daemon.stop(), 0);
    daemon = await TestDaemon.start({ dataDir: daemon.dataDir, config: config(0) });
    const report = JSON.parse(await cli('retention', 'run')) as { purged: string[] };
    assert.equal(report.purged.length, 1);
    assert.match(report.purged[0]!, new RegExp(`${recordings[1]}@\\d{8}T\\d{6}Z$`));
    const restore = await runCli(['restore', recordings[1]!, '--case', 'C-11', '--reason', 'r', ...custodian, '--data', daemon.dataDir]);
    assert.equal(restore.code, 1, 'the daemon runs, and the trash is gone anyway');
  });
});
