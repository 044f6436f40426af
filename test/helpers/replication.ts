/**
 * Replication tests' shared steps: an edge with targets, a simulated day,
 * a pass now, the status, and the check that what the edge holds is on a
 * target byte for byte, with its metadata and custody.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli, TEST_USERS, TestDaemon } from './daemon.ts';
import { metaOf, sha256, SwiftAccount } from './swift-account.ts';

const CUSTODY = ['edgecd-sha256', 'edgecd-station', 'edgecd-received', 'edgecd-station-key', 'edgecd-video'];
const REPLICATED = /^(Users|Devices|RejectedContent_.*|.+_[^_]+_\d{8}T\d{6}Z)$/;

export interface Target {
  name: string;
  authUrl: string;
  user: string;
  key: string;
}

/** The central as an edge sees it: its auth URL and a replicator's credentials. */
export async function centralTarget(central: TestDaemon, name = 'central'): Promise<Target> {
  const file = await central.connectionFile();
  return { name, authUrl: file.AuthenticationTokenURI[0]!, user: TEST_USERS.replicator.user, key: TEST_USERS.replicator.key };
}

/** What an evidence clerk at the central reads with. */
export const centralReader = (t: Target) => SwiftAccount.login(t.authUrl, TEST_USERS.reader.user, TEST_USERS.reader.key);

export async function startEdge(
  targets: (Target & { bandwidthBytesPerSec?: number; concurrency?: number; schedule?: string })[],
  extra: object = {},
  start: { process?: boolean } = {},
): Promise<TestDaemon> {
  return TestDaemon.start({ ...start, config: { siteName: 'Station 7', replication: { targets: targets.map((t) => ({ schedule: '0 0 1 1 *', ...t })) }, ...extra } });
}

export async function simulateDay(edge: TestDaemon, args: string[] = []): Promise<void> {
  const res = await runCli([
    'simulate',
    '--connection',
    join(edge.dataDir, 'connection.json'),
    '--users',
    '3',
    '--devices',
    '2',
    '--recordings',
    '4',
    '--clips',
    '2',
    '--clip-bytes',
    '150000',
    '--extras',
    ...args,
  ]);
  assert.equal(res.code, 0, res.stderr);
}

export interface PassReport {
  target: string;
  outcome: string;
  reason?: string;
  objectsSent: number;
  objectsConfirmed: number;
  recordingsCompleted: number;
  bytesSent: number;
  jobsDeferred: number;
  failures: unknown[];
  startedAt: number;
  finishedAt: number;
}

export async function replicateNow(edge: TestDaemon, ...args: string[]): Promise<{ code: number | null; reports: PassReport[]; stderr: string }> {
  const res = await runCli(['replicate', '--now', '--data', edge.dataDir, ...args]);
  let reports: PassReport[] = [];
  try {
    reports = JSON.parse(res.stdout);
  } catch {
    // no report: the command failed (stderr says why)
  }
  return { code: res.code, reports, stderr: res.stderr };
}

export async function replicationStatus(
  edge: TestDaemon,
): Promise<{ targets: { name: string; alarm?: { reason: string }; backlog: { jobs: number; failed: number; waiting: number; lastError?: string } }[]; heldByAllTargets: number }> {
  const res = await runCli(['replication', 'status', '--json', '--data', edge.dataDir]);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout);
}

/**
 * Everything the edge holds that replicates is on the target: same bytes,
 * md5 and metadata, custody metadata matching, recordings Complete.
 */
export async function assertReplicated(edge: TestDaemon, target: SwiftAccount): Promise<number> {
  const { storageUrl, token } = await edge.auth('reader');
  const local = SwiftAccount.of(storageUrl, token);
  let objects = 0;
  for (const { name: container } of await local.containers()) {
    if (!REPLICATED.test(container)) continue;
    const [mine, theirs] = await Promise.all([local.req('HEAD', container), target.req('HEAD', container)]);
    assert.ok(theirs.status === 204 || theirs.status === 200, `${container} missing on the target (${theirs.status})`);
    assert.deepEqual(metaOf(theirs.headers, 'container'), metaOf(mine.headers, 'container'), `${container} metadata`);
    const [ours, their] = await Promise.all([local.objects(container), target.objects(container)]);
    assert.deepEqual(
      their.map((o) => o.name),
      ours.map((o) => o.name),
      `${container} objects`,
    );
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
      assert.match(theirMeta['edgecd-station-key'] ?? '', /^[A-Za-z0-9+/]{43}=$/, `${path} station key`);
      // A clip checked before it left carries the edge's signed-video verdict (random test bytes: unsupported).
      if (theirMeta['edgecd-video'] !== undefined)
        assert.match(theirMeta['edgecd-video'] ?? '', /^(authentic|tampered|unsigned|incomplete|unsupported|encrypted)\b/, `${path} video verdict`);
      for (const k of CUSTODY) delete theirMeta[k];
      assert.deepEqual(theirMeta, metaOf(a.headers, 'object'), `${path} metadata`);
      objects += 1;
    }
  }
  return objects;
}

/** Successful PUTs of evidence objects seen by the central, by decoded container/object (the station's audit anchors left out). */
export function objectPuts(central: TestDaemon, from = 0): Map<string, number> {
  const puts = new Map<string, number>();
  for (const line of central.logLines.slice(from)) {
    const entry = JSON.parse(line) as { msg?: string; method?: string; status?: number; path?: string };
    if (entry.msg !== 'request' || entry.method !== 'PUT' || entry.status !== 201) continue;
    const parts = entry.path!.split('?')[0]!.split('/').slice(3); // '', v1, account, container, object…
    if (parts.length < 2 || parts[0]!.startsWith('edgecd-audit-')) continue;
    const key = parts.map(decodeURIComponent).join('/');
    puts.set(key, (puts.get(key) ?? 0) + 1);
  }
  return puts;
}
