/**
 * Replication as it runs unattended: on its schedule, with the daemon
 * stopped, from a journal a crash left, under a bandwidth cap, and making
 * room by eviction once every target holds a recording.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/lib/log.ts';
import { ReplicationLedger, replicationHook } from '../src/replication/ledger.ts';
import type { Mutation } from '../src/store/index-db.ts';
import { ObjectStore } from '../src/store/object-store.ts';
import { runCli, SwiftSession, TestDaemon } from './helpers/daemon.ts';
import { assertReplicated, centralReader, centralTarget, replicateNow, replicationStatus, simulateDay, startEdge } from './helpers/replication.ts';
import { sha256 } from './helpers/swift-account.ts';

describe('replication without an operator, and with the daemon stopped', () => {
  test('the schedule runs passes by itself; a new target gets the backlog, confirmed without resending', async () => {
    const central = await TestDaemon.start();
    const t = await centralTarget(central);
    const edge = await startEdge([{ ...t, schedule: '*/2 * * * * *' }]); // every 2 s (node-cron's seconds field)
    try {
      await simulateDay(edge, ['--users', '1', '--devices', '1', '--recordings', '2', '--clips', '1', '--clip-bytes', '50000']);
      // Until the scheduled pass has run, however slow the machine (npm test's per-test timeout bounds a hang).
      let status = await replicationStatus(edge);
      while (status.targets[0]!.backlog.jobs > 0 || status.heldByAllTargets < 2) {
        await new Promise((r) => setTimeout(r, 500));
        status = await replicationStatus(edge);
      }
      assert.equal(status.targets[0]!.backlog.jobs, 0, 'the scheduled pass emptied the queue');
      await assertReplicated(edge, await centralReader(t));

      // Stopped daemon, second target (the same central under another name): run here, in this process.
      await edge.stop();
      const config = JSON.parse(await readFile(join(edge.dataDir, 'edgecd.json'), 'utf8'));
      config.replication.targets.push({ ...t, name: 'mirror', schedule: '0 0 1 1 *' });
      await writeFile(join(edge.dataDir, 'edgecd.json'), JSON.stringify(config));
      const { code, reports, stderr } = await replicateNow(edge, '--target', 'mirror');
      assert.equal(code, 0, stderr);
      assert.equal(reports[0]!.outcome, 'done');
      assert.equal(reports[0]!.recordingsCompleted, 2);
      assert.equal(reports[0]!.objectsSent, 0, 'what the target already holds is confirmed by HEAD, not sent');
      assert.ok(reports[0]!.objectsConfirmed > 0);
    } finally {
      await edge.cleanup();
      await central.cleanup();
    }
  });

  test('a seal a crash left in the journal gets its job, whichever command replays it', async () => {
    const central = await TestDaemon.start();
    const edge = await startEdge([await centralTarget(central)]); // registers the target
    try {
      await edge.stop();
      const account = `AUTH_${(await edge.connectionFile()).BlobAPIUserName}`;
      const recording = 'u1_CAM1_20261125T000000Z';
      const store = await ObjectStore.open(edge.dataDir, { maxObjectBytes: Infinity, log: createLogger('silent'), derivedOps: replicationHook });
      await store.putContainer(account, recording, { set: { status: 'Transferring' }, remove: [] });
      const m: Mutation = {
        txId: 'zz-crash-seal',
        account,
        container: recording,
        record: { op: 'container', name: recording, created: Date.now(), timestamp: '2.00000', meta: { status: 'Complete' } },
      };
      await store.index.write([{ type: 'put', sublevel: store.index.journal, key: m.txId, value: m }], true);
      await store.close(); // the crash: journaled, nothing more

      // An operator's status command, with no config at hand, replays it.
      const res = await runCli(['status', '--data', edge.dataDir]);
      assert.equal(res.code, 0, res.stderr);
      const reopened = await ObjectStore.open(edge.dataDir, { maxObjectBytes: Infinity, log: createLogger('silent') });
      const jobs = await ReplicationLedger.of(reopened.index).queue.keys().all();
      await reopened.close();
      assert.ok(
        jobs.some((k) => k.startsWith(`central\u0000${account}\u0000${recording}\u0000`)),
        'the sealed recording is queued for the target',
      );
    } finally {
      await edge.cleanup();
      await central.cleanup();
    }
  });

  test('a config holding replication keys must be private', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgecd-secret-'));
    try {
      await writeFile(join(dir, 'edgecd.json'), JSON.stringify({ replication: { targets: [{ name: 'hq', authUrl: 'http://127.0.0.1:1/auth/v1.0', user: 'u', key: 'k' }] } }), {
        mode: 0o644,
      });
      const res = await runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off']);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /readable by others.*chmod 600/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('replication bandwidth cap', () => {
  // The cap's accuracy (within 10 % over 20 s of transfer) is measured on a
  // virtual clock in throttle.test.ts; this checks a real pass is held to it.
  test('a real pass never goes faster than bandwidthBytesPerSec, and is not starved by it', async () => {
    const central = await TestDaemon.start();
    const cap = 400_000;
    const edge = await startEdge([{ ...(await centralTarget(central)), bandwidthBytesPerSec: cap, concurrency: 3 }]);
    try {
      // 2 MB of clips: 5 s at the cap.
      await simulateDay(edge, ['--users', '1', '--devices', '1', '--recordings', '2', '--clips', '2', '--clip-bytes', '500000']);
      const { code, reports } = await replicateNow(edge);
      assert.equal(code, 0);
      const r = reports[0]!;
      const rate = r.bytesSent / ((r.finishedAt - r.startedAt) / 1000);
      assert.ok(r.bytesSent >= 2_000_000);
      // At most the first quarter second's burst above the cap.
      assert.ok(rate <= cap * 1.1, `sent at ${Math.round(rate)} B/s against a cap of ${cap}`);
      assert.ok(rate >= cap * 0.5, `sent at ${Math.round(rate)} B/s: starved below the cap of ${cap}`);
    } finally {
      await edge.cleanup();
      await central.cleanup();
    }
  });
});

describe('eviction after replication', () => {
  test('replicated recordings make room for new uploads, oldest first, and each eviction is recorded', async () => {
    const central = await TestDaemon.start();
    const t = await centralTarget(central);
    // Room for about two simulated recordings of 2 × 500 kB.
    const edge = await startEdge([t], { quota: { maxBytes: 2_400_000 }, retention: { evictAfterReplication: true, minAgeHours: 0 } });
    try {
      await simulateDay(edge, ['--users', '1', '--devices', '1', '--recordings', '2', '--clips', '2', '--clip-bytes', '500000']);
      const session = await SwiftSession.open(edge);
      assert.equal((await session.req('PUT', '/scratch')).status, 201);
      const big = Buffer.alloc(900_000, 7);
      // Nothing replicated yet: nothing may go, so the upload is refused.
      assert.equal((await session.req('PUT', '/scratch/a', {}, big)).status, 507);

      assert.equal((await replicateNow(edge)).reports[0]!.outcome, 'done');
      // Chunked (no Content-Length): room is made as the body streams in.
      const chunked = async function* () {
        for (let i = 0; i < 9; i++) yield big.subarray(i * 100_000, (i + 1) * 100_000);
      };
      assert.equal((await session.req('PUT', '/scratch/a', {}, chunked())).status, 201);
      assert.equal((await session.req('PUT', '/scratch/b', {}, big)).status, 201);

      const records = (await readFile(join(edge.dataDir, 'evictions.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { recording: string; manifest: Record<string, { sha256: string }>; heldBy: { target: string }[] });
      assert.ok(records.length >= 1);
      const centralAccount = await centralReader(t);
      for (const r of records) {
        assert.deepEqual(
          r.heldBy.map((h) => h.target),
          ['central'],
        );
        assert.equal((await session.req('HEAD', `/${r.recording}`)).status, 404, 'evicted locally');
        for (const [object, { sha256: sum }] of Object.entries(r.manifest)) {
          const there = await centralAccount.req('GET', `${r.recording}/${object}`);
          assert.equal(sha256(there.body), sum, `${r.recording}/${object} is on the central`);
        }
      }
      assert.ok(edge.logLines.some((l) => l.includes('recording evicted')));
    } finally {
      await edge.cleanup();
      await central.cleanup();
    }
  });
});
