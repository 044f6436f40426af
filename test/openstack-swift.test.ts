/**
 * edgecd with a real OpenStack Swift as its central: the replication plan
 * every kind of central passes, the refusals Swift gives, a simulated day
 * replicated by the ordinary target settings (authUrl, user, key), and a
 * clerk's pull back from Swift. One cluster serves the file: starting one
 * costs seconds of Python, so each suite gets an account of its own instead.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { skipOrFail } from './helpers/peers.ts';
import { refusals, scenario, swiftCentral } from './helpers/centrals.ts';
import { runCli, TestDaemon } from './helpers/daemon.ts';
import { copies, DAY_S, deleteAtAudit, deleteAts, edgeConfig, edgeWithRecordings, expectedDeleteAt, holdRecording } from './helpers/delete-at.ts';
import { objectExpirerAvailable, openStackSwiftAvailable, runObjectExpirer, startOpenStackSwift, type OpenStackSwift } from './helpers/openstack-swift.ts';
import { assertPulledFolders } from './helpers/pulled.ts';
import { assertReplicated, replicateNow, simulateDay, startEdge } from './helpers/replication.ts';
import { SwiftAccount } from './helpers/swift-account.ts';

const skip = openStackSwiftAvailable() ? false : skipOrFail('needs OpenStack Swift (apt-get install swift swift-proxy swift-object swift-container swift-account memcached)');
let swift: OpenStackSwift;

before(async () => {
  if (!skip) swift = await startOpenStackSwift({ accounts: ['targets', 'refusals', 'replication', 'pull', 'expiry'] });
});
after(async () => {
  await swift?.stop();
});

scenario('OpenStack Swift', () => swiftCentral(swift.account('targets')), skip);

refusals(
  'OpenStack Swift',
  async () => {
    const central = await swiftCentral(swift.account('refusals'));
    await central.declareEverything();
    return { central, upstreamPort: Number(new URL(swift.authUrl).port) };
  },
  skip,
);

describe('replication to OpenStack Swift', { skip }, () => {
  test('a simulated day arrives whole in a real Swift cluster', async () => {
    const account = swift.account('replication');
    const edge = await startEdge([{ name: 'swift', ...account }]);
    try {
      await simulateDay(edge);
      const { code, reports, stderr } = await replicateNow(edge);
      assert.equal(code, 0, stderr);
      assert.equal(reports[0]!.outcome, 'done');
      const objects = await assertReplicated(edge, await SwiftAccount.login(account.authUrl, account.user, account.key));
      assert.ok(objects >= 16);
      assert.equal((await replicateNow(edge)).reports[0]!.objectsSent, 0);
    } finally {
      await edge.cleanup();
    }
  });
});

describe('X-Delete-At on OpenStack Swift', {
  skip: skip || (objectExpirerAvailable() ? false : skipOrFail('needs swift-object-expirer (apt-get install swift-object-expirer)')),
}, () => {
  test("copies carry the station's retention as X-Delete-At; a hold takes it off, a longer rule moves it, and the object expirer takes only what retention let go", async () => {
    const account = swift.account('expiry');
    const target = { name: 'swift', ...account };
    let { edge, recordings } = await edgeWithRecordings(target, 30);
    const [free, held] = recordings as [string, string];
    try {
      const central = await SwiftAccount.login(account.authUrl, account.user, account.key);
      assert.equal((await replicateNow(edge)).reports[0]!.outcome, 'done');
      for (const r of recordings) assert.deepEqual(await deleteAts(central, r), new Set([expectedDeleteAt(r, 30)]), `HEAD ${r}`);
      const before = await copies(central, held);

      // A hold placed after replication: X-Delete-At goes, the metadata stays (Swift's POST replaces it all, so it is sent whole).
      await holdRecording(edge, held);
      assert.equal((await replicateNow(edge)).reports[0]!.outcome, 'done');
      const after = await copies(central, held);
      for (const [name, copy] of after) {
        assert.equal(copy.deleteAt, null, `${held}/${name}`);
        assert.deepEqual(copy.meta, before.get(name)!.meta, `${held}/${name}: metadata kept`);
        assert.ok(copy.meta['x-object-meta-edgecd-sha256'], 'custody metadata kept');
      }

      // Retention grows (a station's new rule): the free recording's copies follow.
      assert.equal(await edge.stop(), 0);
      edge = await TestDaemon.start({ dataDir: edge.dataDir, config: edgeConfig(target, 60) });
      assert.equal((await replicateNow(edge)).reports[0]!.outcome, 'done');
      assert.deepEqual(await deleteAts(central, free), new Set([expectedDeleteAt(free, 60)]));
      assert.deepEqual(await deleteAts(central, held), new Set([null]));
      const audit = await deleteAtAudit(edge);
      assert.ok(audit.some((l) => l.target.endsWith(`/${held}`) && l.details.deleteAt === null));
      assert.ok(audit.some((l) => l.target.endsWith(`/${free}`) && l.details.from === expectedDeleteAt(free, 30) && l.details.deleteAt === expectedDeleteAt(free, 60)));

      // Swift's own expirer, a day after the free recording's retention ends: it goes, the held one stays.
      const freeObjects = (await central.objects(free)).map((o) => o.name);
      const { expired } = await runObjectExpirer(swift, { now: (expectedDeleteAt(free, 60) + DAY_S) * 1000 });
      assert.equal(expired, freeObjects.length);
      assert.deepEqual(await central.objects(free), []);
      for (const name of freeObjects) assert.equal((await central.req('HEAD', `${free}/${name}`)).status, 404);
      assert.equal((await copies(central, held)).size, before.size, 'the held recording is whole');
    } finally {
      await edge.cleanup();
    }
  });
});

describe('pull from OpenStack Swift', { skip }, () => {
  test('recordings replicated there come back verified against the SHA-256 recorded at the station', async () => {
    const account = swift.account('pull');
    const edge = await TestDaemon.start({
      config: { siteName: 'Station 9', replication: { targets: [{ name: 'hq', ...account, schedule: '0 0 1 1 *' }] } },
    });
    const work = await mkdtemp(join(tmpdir(), 'edgecd-pull-swift-'));
    try {
      const simulated = await runCli([
        'simulate',
        '--connection',
        join(edge.dataDir, 'connection.json'),
        '--users',
        '2',
        '--devices',
        '1',
        '--recordings',
        '2',
        '--clips',
        '2',
        '--clip-bytes',
        '100000',
        '--extras',
      ]);
      assert.equal(simulated.code, 0, simulated.stderr);
      const recordings = (JSON.parse(simulated.stdout) as { recordings: string[] }).recordings;
      assert.equal((await runCli(['replicate', '--now', '--data', edge.dataDir])).code, 0);
      const res = await runCli(['pull', '--from', account.authUrl, '--user', account.user, '--key', account.key, '--to', work, '--since', '2000-01-01', '--until', '2100-01-01']);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      await assertPulledFolders(work, recordings);
      const custody = JSON.parse(await readFile(join(work, recordings[0]!, 'custody.json'), 'utf8')) as {
        objects: { sha256: string; sha256OnArrival: string; receivedBy: string }[];
        auditExcerpt: unknown;
      };
      assert.equal(custody.auditExcerpt, null, 'plain Swift keeps no audit trail');
      for (const o of custody.objects) {
        assert.equal(o.sha256, o.sha256OnArrival);
        assert.equal(o.receivedBy, 'Station 9');
      }
      await writeFile(join(work, 'done'), '');
    } finally {
      await edge.cleanup();
      await rm(work, { recursive: true, force: true });
    }
  });
});
