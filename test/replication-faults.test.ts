/**
 * Replication when the central misbehaves, through a proxy that answers for
 * it on cue: 503 with Retry-After, a cut connection, a wrong Etag, refusals,
 * a full target, refused credentials.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli, TestDaemon } from './helpers/daemon.ts';
import { FaultProxy } from './helpers/fault-proxy.ts';
import { assertReplicated, centralReader, centralTarget, replicateNow, replicationStatus, simulateDay, startEdge } from './helpers/replication.ts';
import type { SwiftAccount } from './helpers/swift-account.ts';

describe('replication when the central misbehaves', () => {
  let central: TestDaemon;
  let proxy: FaultProxy;
  let edge: TestDaemon;
  let target: SwiftAccount;

  before(async () => {
    central = await TestDaemon.start();
    proxy = await FaultProxy.start(central.port);
    const t = await centralTarget(central);
    const proxied = { ...t, authUrl: t.authUrl.replace(`127.0.0.1:${central.port}`, `127.0.0.1:${proxy.port}`) };
    edge = await startEdge([proxied]);
    target = await centralReader(t);
  });
  after(async () => {
    await edge.cleanup();
    await proxy.close();
    await central.cleanup();
  });

  /** One sealed recording with one clip, uploaded as a BWS would. */
  async function recording(clipBytes: number): Promise<string> {
    const names = async () => {
      const res = await runCli(['recordings', '--data', edge.dataDir]);
      return (JSON.parse(res.stdout) as { recordings: { name: string; kind: string }[] }).recordings.filter((r) => r.kind === 'recording').map((r) => r.name);
    };
    const before = new Set(await names());
    await simulateDay(edge, ['--users', '1', '--devices', '1', '--recordings', '1', '--clips', '1', '--clip-bytes', String(clipBytes)]);
    const added = (await names()).filter((n) => !before.has(n));
    assert.equal(added.length, 1);
    return added[0]!;
  }

  test('503 with Retry-After: waits as told, then completes', async () => {
    await recording(100_000);
    proxy.clear();
    proxy.add({ method: 'PUT', path: /\.(mkv|mp4)$/, times: 2, fault: { kind: 'status', status: 503, headers: { 'Retry-After': '1' } } });
    const { code, reports } = await replicateNow(edge);
    assert.equal(code, 0);
    assert.equal(reports[0]!.outcome, 'done');
    assert.ok(reports[0]!.finishedAt - reports[0]!.startedAt >= 1900, 'Retry-After was honoured twice');
    assert.equal(proxy.requests.filter((r) => r.status === 503).length, 2);
    await assertReplicated(edge, target);
  });

  test('a connection dropped mid-body is retried; the central holds the whole object', async () => {
    await recording(2_000_000);
    proxy.clear();
    proxy.add({ method: 'PUT', path: /\.(mkv|mp4)$/, times: 1, fault: { kind: 'drop-mid-body', afterBytes: 500_000 } });
    const { code, reports } = await replicateNow(edge);
    assert.equal(code, 0);
    assert.equal(reports[0]!.outcome, 'done');
    assert.equal(proxy.requests.filter((r) => r.status === 'dropped').length, 1);
    await assertReplicated(edge, target);
  });

  test('a wrong Etag is never taken as verified: the job backs off, and completes later', async () => {
    const name = await recording(100_000);
    proxy.clear();
    proxy.add({ method: 'PUT', path: /\.(mkv|mp4)$/, times: Infinity, fault: { kind: 'wrong-etag' } });
    const first = await replicateNow(edge);
    assert.equal(first.code, 1);
    assert.equal(first.reports[0]!.outcome, 'deferred');
    let status = await replicationStatus(edge);
    assert.equal(status.targets[0]!.backlog.waiting, 1);
    assert.match(status.targets[0]!.backlog.lastError ?? '', /Etag/);
    // The central has the bytes but never saw Complete.
    const head = await target.req('HEAD', name);
    assert.equal(head.headers['x-container-meta-status'], 'Transferring');
    proxy.clear();
    const second = await replicateNow(edge);
    assert.equal(second.reports[0]!.outcome, 'done');
    status = await replicationStatus(edge);
    assert.equal(status.targets[0]!.backlog.waiting, 0);
    await assertReplicated(edge, target);
  });

  test("400/422 marks the object failed with the target's reason; it waits for --retry-failed", async () => {
    await recording(100_000);
    proxy.clear();
    proxy.add({ method: 'PUT', path: /\.(mkv|mp4)$/, times: Infinity, fault: { kind: 'status', status: 422, body: 'checksum mismatch at the central' } });
    const first = await replicateNow(edge);
    assert.equal(first.reports[0]!.outcome, 'deferred');
    assert.match(JSON.stringify(first.reports[0]!.failures), /checksum mismatch at the central/);
    const status = await replicationStatus(edge);
    assert.equal(status.targets[0]!.backlog.failed, 1);
    proxy.clear();
    const plain = await replicateNow(edge);
    assert.equal(plain.reports[0]!.objectsSent, 0, 'a refused job is not retried on its own');
    const retried = await replicateNow(edge, '--retry-failed');
    assert.equal(retried.reports[0]!.outcome, 'done');
    assert.equal((await replicationStatus(edge)).targets[0]!.backlog.failed, 0);
    await assertReplicated(edge, target);
  });

  test('507 pauses the target with an alarm; the next pass after space is freed clears it', async () => {
    await recording(100_000);
    proxy.clear();
    proxy.add({ method: 'PUT', path: /\.(mkv|mp4)$/, times: Infinity, fault: { kind: 'status', status: 507 } });
    const first = await replicateNow(edge);
    assert.equal(first.reports[0]!.outcome, 'target-full');
    const status = await replicationStatus(edge);
    assert.equal(status.targets[0]!.alarm?.reason, 'target-full');
    const admin = await edge.auth('admin');
    const health = JSON.parse((await edge.request('GET', '/status', { 'X-Auth-Token': admin.token })).text) as { replication: { targets: { alarm?: { reason: string } }[] } };
    assert.equal(health.replication.targets[0]!.alarm?.reason, 'target-full');
    assert.ok(edge.logLines.some((l) => l.includes('replication target paused')));
    proxy.clear();
    const second = await replicateNow(edge);
    assert.equal(second.reports[0]!.outcome, 'done');
    assert.equal((await replicationStatus(edge)).targets[0]!.alarm, undefined);
    await assertReplicated(edge, target);
  });

  test('401: authenticates once more and goes on; refused credentials raise an alarm', async () => {
    await recording(100_000);
    proxy.clear();
    proxy.add({ method: 'PUT', path: /\.(mkv|mp4)$/, times: 1, fault: { kind: 'status', status: 401 } });
    const once = await replicateNow(edge);
    assert.equal(once.reports[0]!.outcome, 'done');
    assert.ok(proxy.requests.filter((r) => r.path.includes('/auth/')).length >= 2, 'it authenticated again');

    await recording(100_000);
    proxy.clear();
    proxy.add({ times: Infinity, fault: { kind: 'status', status: 401 } });
    const refused = await replicateNow(edge);
    assert.equal(refused.reports[0]!.outcome, 'auth-refused');
    assert.equal((await replicationStatus(edge)).targets[0]!.alarm?.reason, 'auth-refused');
    proxy.clear();
    assert.equal((await replicateNow(edge)).reports[0]!.outcome, 'done');
    await assertReplicated(edge, target);
  });
});
