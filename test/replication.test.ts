/**
 * Replication, end to end on loopback: an edge edgecd with a simulated day of
 * recordings, replicating to a central edgecd (to a real OpenStack Swift:
 * openstack-swift.test.ts); and a pass cut by SIGKILL or SIGTERM. What
 * arrived is checked object by object over plain HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '../src/lib/log.ts';
import { ReplicationLedger } from '../src/replication/ledger.ts';
import { ObjectStore } from '../src/store/object-store.ts';
import { CLI_ARGS, ROOT, runCli, TestDaemon } from './helpers/daemon.ts';
import { assertReplicated, centralReader, centralTarget, objectPuts, replicateNow, replicationStatus, simulateDay, startEdge } from './helpers/replication.ts';
import { sha256, type SwiftAccount } from './helpers/swift-account.ts';

describe('replication to a central edgecd', () => {
  let central: TestDaemon;
  let edge: TestDaemon;
  let target: SwiftAccount;

  before(async () => {
    central = await TestDaemon.start();
    const t = await centralTarget(central);
    edge = await startEdge([t]);
    target = await centralReader(t);
  });
  after(async () => {
    await edge.cleanup();
    await central.cleanup();
  });

  test('a simulated day arrives whole: bytes, md5, metadata, custody, Complete', async () => {
    await simulateDay(edge);
    const before = await replicationStatus(edge);
    assert.equal(before.targets[0]!.backlog.jobs > 4, true, 'recordings and registry objects are queued');
    const { code, reports, stderr } = await replicateNow(edge);
    assert.equal(code, 0, stderr);
    assert.equal(reports[0]!.outcome, 'done');
    assert.equal(reports[0]!.recordingsCompleted, 4);
    const objects = await assertReplicated(edge, target);
    assert.ok(objects >= 4 * 4, `compared ${objects} objects`);
    const status = await replicationStatus(edge);
    assert.equal(status.targets[0]!.backlog.jobs, 0);
    assert.equal(status.heldByAllTargets, 4);
    const audit = (await readFile(join(edge.dataDir, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; details?: { to?: string } });
    assert.equal(audit.filter((l) => l.action === 'replicated' && l.details?.to === 'central').length, 4, 'each confirmed recording is in the audit trail');
  });

  test('the central sees Complete only after every object is there', async () => {
    // From the central's request log: for each recording, its Status POST comes after its last object PUT.
    const lines = central.logLines.map((l) => JSON.parse(l) as { msg?: string; method?: string; status?: number; path?: string });
    const lastPut = new Map<string, number>();
    const sealedAt = new Map<string, number>();
    lines.forEach((e, i) => {
      if (e.msg !== 'request' || !e.path) return;
      const parts = e.path.split('/').slice(3).map(decodeURIComponent);
      if (e.method === 'PUT' && parts.length >= 2) lastPut.set(parts[0]!, i);
      if (e.method === 'POST' && parts.length === 1) sealedAt.set(parts[0]!, i);
    });
    assert.ok(sealedAt.size >= 4);
    for (const [container, at] of sealedAt) assert.ok(at > (lastPut.get(container) ?? -1), `${container} sealed before its last object`);
  });

  test('a second pass sends nothing: verified objects are never sent again', async () => {
    const mark = central.logLines.length;
    const { code, reports } = await replicateNow(edge);
    assert.equal(code, 0);
    assert.equal(reports[0]!.objectsSent, 0);
    assert.equal(objectPuts(central, mark).size, 0);
  });

  test('a central edgecd refuses a replicated object whose SHA-256 does not match its bytes (422), storing nothing', async () => {
    // Custody metadata is a replicating station's to send (an uploader's is kept apart, unchecked: see security.test.ts).
    const replicator = await central.auth('replicator');
    const put = (path: string, headers: Record<string, string> = {}, body?: string) =>
      central.request('PUT', `${replicator.account}${path}`, { 'X-Auth-Token': replicator.token, ...headers }, body);
    assert.equal((await put('/plain')).status, 201);
    const res = await put('/plain/x', { 'X-Object-Meta-Edgecd-Sha256': '0'.repeat(64) }, 'evidence');
    assert.equal(res.status, 422);
    assert.equal((await central.request('HEAD', `${replicator.account}/plain/x`, { 'X-Auth-Token': replicator.token })).status, 404);
    const ok = await put('/plain/x', { 'X-Object-Meta-Edgecd-Sha256': sha256(Buffer.from('evidence')) }, 'evidence');
    assert.equal(ok.status, 201);
  });
});

describe('replication survives SIGKILL mid-pass', () => {
  test('restarted, it finishes: nothing verified is sent twice, nothing is missing', async () => {
    const central = await TestDaemon.start();
    const t = await centralTarget(central);
    // Slow enough (capped) that the kill lands mid-pass.
    let edge = await startEdge([{ ...t, bandwidthBytesPerSec: 1_000_000, concurrency: 2 }], {}, { process: true }); // killed with -9
    try {
      await simulateDay(edge, ['--recordings', '4', '--clip-bytes', '600000']);
      const pass = spawn(process.execPath, [...CLI_ARGS, 'replicate', '--now', '--data', edge.dataDir], { cwd: ROOT, stdio: 'ignore' });
      const passEnded = new Promise((resolve) => pass.once('exit', resolve));
      while ([...objectPuts(central).keys()].filter((k) => /\.(mkv|mp4)$/.test(k)).length < 3) await new Promise((r) => setTimeout(r, 50));
      await edge.kill9();
      await passEnded;

      // What the edge had recorded as verified when it died.
      const store = await ObjectStore.open(edge.dataDir, { maxObjectBytes: Infinity, log: createLogger('silent') });
      const ledger = ReplicationLedger.of(store.index);
      const verified = new Set<string>();
      for await (const [key, state] of ledger.objects.iterator()) {
        const [, , container, object] = key.split('\u0000');
        if (state.state === 'confirmed') verified.add(`${container}/${object}`);
      }
      const remaining = (await ledger.queue.keys().all()).length;
      await store.close();
      assert.ok(verified.size > 0, 'some objects were verified before the kill');
      assert.ok(remaining > 0, 'the kill left work in the queue');

      edge = await TestDaemon.start({ dataDir: edge.dataDir });
      const mark = central.logLines.length;
      const { code, reports, stderr } = await replicateNow(edge);
      assert.equal(code, 0, stderr);
      assert.equal(reports[0]!.outcome, 'done');
      const resent = [...objectPuts(central, mark).keys()].filter((k) => verified.has(k));
      assert.deepEqual(resent, [], 'objects verified before the kill were sent again');
      for (const [path, n] of objectPuts(central)) assert.ok(n <= 2, `${path} sent ${n} times`);
      await assertReplicated(edge, await centralReader(t));
    } finally {
      await edge.cleanup();
      await central.cleanup();
    }
  });
});

describe('replication on SIGTERM mid-pass', () => {
  test('the daemon stops promptly, the pass ends "stopped", and the next one finishes', async () => {
    const central = await TestDaemon.start();
    const t = await centralTarget(central);
    let edge = await startEdge([{ ...t, bandwidthBytesPerSec: 200_000 }]);
    try {
      await simulateDay(edge, ['--users', '1', '--devices', '1', '--recordings', '2', '--clips', '2', '--clip-bytes', '400000']);
      const pass = runCli(['replicate', '--now', '--data', edge.dataDir]);
      while (![...central.logLines].some((l) => l.includes('"method":"PUT"') && /\.(mkv|mp4)/.test(l))) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500)); // a clip is on its way
      const stopping = Date.now();
      assert.equal(await edge.stop(), 0);
      assert.ok(Date.now() - stopping < 8000, `stopping took ${Date.now() - stopping} ms`);
      const cut = await pass;
      assert.equal(cut.code, 1);
      assert.match(cut.stdout, /"outcome": "stopped"/);

      edge = await TestDaemon.start({ dataDir: edge.dataDir });
      const { code, reports, stderr } = await replicateNow(edge);
      assert.equal(code, 0, stderr);
      assert.equal(reports[0]!.outcome, 'done');
      await assertReplicated(edge, await centralReader(t));
    } finally {
      await edge.cleanup();
      await central.cleanup();
    }
  });
});
