/**
 * Replication, end to end on loopback: an edge edgecd with a simulated day of
 * recordings, replicating to a central edgecd (directly, or through a proxy
 * that misbehaves on cue), and to a real OpenStack Swift when installed.
 * What arrived is checked object by object over plain HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/log.ts';
import { ReplicationLedger, replicationHook } from '../src/replication/ledger.ts';
import type { Mutation } from '../src/store/index-db.ts';
import { ObjectStore } from '../src/store/object-store.ts';
import { CLI, ROOT, runCli, SwiftSession, TEST_USERS, TestDaemon } from './helpers/daemon.ts';
import { FaultProxy } from './helpers/fault-proxy.ts';
import { openStackSwiftAvailable, startOpenStackSwift, type OpenStackSwift } from './helpers/openstack-swift.ts';
import { metaOf, sha256, SwiftAccount } from './helpers/swift-account.ts';

const CUSTODY = ['edgecd-sha256', 'edgecd-station', 'edgecd-received'];
const REPLICATED = /^(Users|Devices|RejectedContent_.*|.+_[^_]+_\d{8}T\d{6}Z)$/;

interface Target { name: string; authUrl: string; user: string; key: string }

/** The central as an edge sees it: its auth URL and a replicator's credentials. */
async function centralTarget(central: TestDaemon, name = 'central'): Promise<Target> {
  const file = await central.connectionFile();
  return { name, authUrl: file.AuthenticationTokenURI[0]!, user: TEST_USERS.replicator.user, key: TEST_USERS.replicator.key };
}

/** What an evidence clerk at the central reads with. */
const centralReader = (t: Target) => SwiftAccount.login(t.authUrl, TEST_USERS.reader.user, TEST_USERS.reader.key);

async function startEdge(targets: (Target & { bandwidthBytesPerSec?: number; concurrency?: number; schedule?: string })[], extra: object = {}): Promise<TestDaemon> {
  return TestDaemon.start({ config: { siteName: 'Station 7', replication: { targets: targets.map((t) => ({ schedule: '0 0 1 1 *', ...t })) }, ...extra } });
}

async function simulateDay(edge: TestDaemon, args: string[] = []): Promise<void> {
  const res = await runCli(['simulate', '--connection', join(edge.dataDir, 'connection.json'), '--users', '3', '--devices', '2', '--recordings', '4', '--clips', '2', '--clip-bytes', '150000', '--extras', ...args]);
  assert.equal(res.code, 0, res.stderr);
}

interface PassReport { target: string; outcome: string; reason?: string; objectsSent: number; objectsConfirmed: number; recordingsCompleted: number; bytesSent: number; jobsDeferred: number; failures: unknown[]; startedAt: number; finishedAt: number }

async function replicateNow(edge: TestDaemon, ...args: string[]): Promise<{ code: number | null; reports: PassReport[]; stderr: string }> {
  const res = await runCli(['replicate', '--now', '--data', edge.dataDir, ...args]);
  let reports: PassReport[] = [];
  try {
    reports = JSON.parse(res.stdout);
  } catch {
    // no report: the command failed (stderr says why)
  }
  return { code: res.code, reports, stderr: res.stderr };
}

async function replicationStatus(edge: TestDaemon): Promise<{ targets: { name: string; alarm?: { reason: string }; backlog: { jobs: number; failed: number; waiting: number; lastError?: string } }[]; heldByAllTargets: number }> {
  const res = await runCli(['replication', 'status', '--json', '--data', edge.dataDir]);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout);
}

/**
 * Everything the edge holds that replicates is on the target: same bytes,
 * md5 and metadata, custody metadata matching, recordings Complete.
 */
async function assertReplicated(edge: TestDaemon, target: SwiftAccount): Promise<number> {
  const { storageUrl, token } = await edge.auth('reader');
  const local = SwiftAccount.of(storageUrl, token);
  let objects = 0;
  for (const { name: container } of await local.containers()) {
    if (!REPLICATED.test(container)) continue;
    const [mine, theirs] = await Promise.all([local.req('HEAD', container), target.req('HEAD', container)]);
    assert.ok(theirs.status === 204 || theirs.status === 200, `${container} missing on the target (${theirs.status})`);
    assert.deepEqual(metaOf(theirs.headers, 'container'), metaOf(mine.headers, 'container'), `${container} metadata`);
    const [ours, their] = await Promise.all([local.objects(container), target.objects(container)]);
    assert.deepEqual(their.map((o) => o.name), ours.map((o) => o.name), `${container} objects`);
    for (const o of ours) {
      const path = `${container}/${o.name}`;
      const [a, b] = await Promise.all([local.req('GET', path), target.req('GET', path)]);
      assert.equal(b.status, 200, path);
      assert.ok(a.body.equals(b.body), `${path} bytes differ`);
      assert.equal(b.headers.etag?.replace(/"/g, ''), a.headers.etag, `${path} Etag`);
      const theirMeta = metaOf(b.headers, 'object');
      assert.equal(theirMeta['edgecd-sha256'], sha256(a.body), `${path} custody SHA-256`);
      assert.equal(decodeURIComponent(theirMeta['edgecd-station']!), 'Station 7');
      assert.ok(!Number.isNaN(Date.parse(theirMeta['edgecd-received']!)), `${path} custody time`);
      for (const k of CUSTODY) delete theirMeta[k];
      assert.deepEqual(theirMeta, metaOf(a.headers, 'object'), `${path} metadata`);
      objects += 1;
    }
  }
  return objects;
}

/** Successful PUTs of objects seen by the central, by decoded container/object. */
function objectPuts(central: TestDaemon, from = 0): Map<string, number> {
  const puts = new Map<string, number>();
  for (const line of central.logLines.slice(from)) {
    const entry = JSON.parse(line) as { msg?: string; method?: string; status?: number; path?: string };
    if (entry.msg !== 'request' || entry.method !== 'PUT' || entry.status !== 201) continue;
    const parts = entry.path!.split('?')[0]!.split('/').slice(3); // '', v1, account, container, object…
    if (parts.length < 2) continue;
    const key = parts.map(decodeURIComponent).join('/');
    puts.set(key, (puts.get(key) ?? 0) + 1);
  }
  return puts;
}

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
    const audit = (await readFile(join(edge.dataDir, 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { action: string; details?: { to?: string } });
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

  test('a central edgecd refuses an object whose SHA-256 does not match its bytes (422), storing nothing', async () => {
    const session = await SwiftSession.open(central);
    assert.equal((await session.req('PUT', '/plain')).status, 201);
    const res = await session.req('PUT', '/plain/x', { 'X-Object-Meta-Edgecd-Sha256': '0'.repeat(64) }, 'evidence');
    assert.equal(res.status, 422);
    assert.equal((await session.req('HEAD', '/plain/x')).status, 404);
    const ok = await session.req('PUT', '/plain/x', { 'X-Object-Meta-Edgecd-Sha256': sha256(Buffer.from('evidence')) }, 'evidence');
    assert.equal(ok.status, 201);
  });
});

describe('replication survives SIGKILL mid-pass', () => {
  test('restarted, it finishes: nothing verified is sent twice, nothing is missing', async () => {
    const central = await TestDaemon.start();
    const t = await centralTarget(central);
    // Slow enough (capped) that the kill lands mid-pass.
    let edge = await startEdge([{ ...t, bandwidthBytesPerSec: 1_000_000, concurrency: 2 }]);
    try {
      await simulateDay(edge, ['--recordings', '4', '--clip-bytes', '600000']);
      const pass = spawn(process.execPath, ['--import', 'tsx', CLI, 'replicate', '--now', '--data', edge.dataDir], { cwd: ROOT, stdio: 'ignore' });
      const passEnded = new Promise((resolve) => pass.once('exit', resolve));
      const deadline = Date.now() + 30_000;
      while ([...objectPuts(central).keys()].filter((k) => /\.(mkv|mp4)$/.test(k)).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
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
      const deadline = Date.now() + 20_000;
      while (![...central.logLines].some((l) => l.includes('"method":"PUT"') && /\.(mkv|mp4)/.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
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

  test('400/422 marks the object failed with the target\'s reason; it waits for --retry-failed', async () => {
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

describe('replication without an operator, and with the daemon stopped', () => {
  test('the schedule runs passes by itself; a new target gets the backlog, confirmed without resending', async () => {
    const central = await TestDaemon.start();
    const t = await centralTarget(central);
    const edge = await startEdge([{ ...t, schedule: '*/2 * * * * *' }]); // every 2 s (node-cron's seconds field)
    try {
      await simulateDay(edge, ['--users', '1', '--devices', '1', '--recordings', '2', '--clips', '1', '--clip-bytes', '50000']);
      const deadline = Date.now() + 30_000;
      let status = await replicationStatus(edge);
      while ((status.targets[0]!.backlog.jobs > 0 || status.heldByAllTargets < 2) && Date.now() < deadline) {
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
      const m: Mutation = { txId: 'zz-crash-seal', account, container: recording, record: { op: 'container', name: recording, created: Date.now(), timestamp: '2.00000', meta: { status: 'Complete' } } };
      await store.index.write([{ type: 'put', sublevel: store.index.journal, key: m.txId, value: m }], true);
      await store.close(); // the crash: journaled, nothing more

      // An operator's status command, with no config at hand, replays it.
      const res = await runCli(['status', '--data', edge.dataDir]);
      assert.equal(res.code, 0, res.stderr);
      const reopened = await ObjectStore.open(edge.dataDir, { maxObjectBytes: Infinity, log: createLogger('silent') });
      const jobs = await ReplicationLedger.of(reopened.index).queue.keys().all();
      await reopened.close();
      assert.ok(jobs.some((k) => k.startsWith(`central\u0000${account}\u0000${recording}\u0000`)), 'the sealed recording is queued for the target');
    } finally {
      await edge.cleanup();
      await central.cleanup();
    }
  });

  test('a config holding replication keys must be private', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgecd-secret-'));
    try {
      await writeFile(join(dir, 'edgecd.json'), JSON.stringify({ replication: { targets: [{ name: 'hq', authUrl: 'http://127.0.0.1:1/auth/v1.0', user: 'u', key: 'k' }] } }), { mode: 0o644 });
      const res = await runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off']);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /readable by others.*chmod 600/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('replication bandwidth cap', () => {
  test('a 20 s transfer keeps within 10 % of bandwidthBytesPerSec', async () => {
    const central = await TestDaemon.start();
    const cap = 400_000;
    const edge = await startEdge([{ ...(await centralTarget(central)), bandwidthBytesPerSec: cap, concurrency: 3 }]);
    try {
      // 8 MB of clips: 20 s at the cap.
      await simulateDay(edge, ['--users', '1', '--devices', '1', '--recordings', '4', '--clips', '2', '--clip-bytes', '1000000']);
      const { code, reports } = await replicateNow(edge);
      assert.equal(code, 0);
      const r = reports[0]!;
      const rate = r.bytesSent / ((r.finishedAt - r.startedAt) / 1000);
      assert.ok(r.bytesSent >= 8_000_000);
      assert.ok(Math.abs(rate - cap) / cap <= 0.1, `sent at ${Math.round(rate)} B/s against a cap of ${cap}`);
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

      const records = (await readFile(join(edge.dataDir, 'evictions.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { recording: string; manifest: Record<string, { sha256: string }>; heldBy: { target: string }[] });
      assert.ok(records.length >= 1);
      const centralAccount = await centralReader(t);
      for (const r of records) {
        assert.deepEqual(r.heldBy.map((h) => h.target), ['central']);
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

describe('replication to OpenStack Swift', { skip: openStackSwiftAvailable() ? false : 'OpenStack Swift is not installed (.ci/run installs it)' }, () => {
  let swift: OpenStackSwift;
  before(async () => {
    swift = await startOpenStackSwift();
  });
  after(async () => {
    await swift?.stop();
  });

  test('a simulated day arrives whole in a real Swift cluster', async () => {
    const edge = await startEdge([{ name: 'swift', authUrl: swift.authUrl, user: swift.user, key: swift.key }]);
    try {
      await simulateDay(edge);
      const { code, reports, stderr } = await replicateNow(edge);
      assert.equal(code, 0, stderr);
      assert.equal(reports[0]!.outcome, 'done');
      const objects = await assertReplicated(edge, await SwiftAccount.login(swift.authUrl, swift.user, swift.key));
      assert.ok(objects >= 16);
      assert.equal((await replicateNow(edge)).reports[0]!.objectsSent, 0);
    } finally {
      await edge.cleanup();
    }
  });
});
