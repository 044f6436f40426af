/**
 * Centrals for replication tests, whatever they are: the Axis reference CD,
 * a real OpenStack Swift and a central edgecd, each seen through one
 * `Central` interface; an edge that replicates to one; and the two test
 * plans every kind of central must pass (`scenario`, `refusals`). The test
 * files choose which centrals to run them against.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { adminGet, adminStream } from '../../src/admin/admin-client.ts';
import { connectionOptions, simulate as simulateBws } from '../../src/simulator/body-worn-system.ts';
import { decodeMetaValue } from '../../src/swift/metadata.ts';
import { axisContainer, axisObjectPuts, startAxisCd, type AxisCd } from './axis-cd.ts';
import { runCli, SwiftSession, TEST_USERS, TestDaemon } from './daemon.ts';
import { FaultProxy } from './fault-proxy.ts';
import type { SwiftLogin } from './openstack-swift.ts';
import { metaOf, sha256, SwiftAccount } from './swift-account.ts';

const BASE_CAPABILITIES = { Read: { ReadCategories: true }, Store: { StoreRejectedContent: true, StoreUserIDKey: true }, StoreAndRead: { StoreReadSystemID: true } };
const ALL_CAPABILITIES = {
  Read: { ReadCategories: true },
  Store: { StoreRejectedContent: true, StoreUserIDKey: true, StoreBookmarks: true, StoreGNSSTrackRecording: true },
  StoreAndRead: { StoreReadSystemID: true },
};
const CATEGORIES = [
  { Name: 'Traffic', Id: '5' },
  { Name: 'Assault', Id: '3' },
];
const RECORDING = /^.+_[^_]+_\d{8}T\d{6}Z$/;
const HELD_KIND = /^bookmark_|_gpstrail\.(json|key)$/;
const CLIP_BYTES = 100_000;
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
export const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const privatePem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

interface Held {
  meta: Record<string, string>;
  complete: boolean;
  objects: Map<string, { bytes: Buffer; meta: Record<string, string> }>;
}

/** A central as the tests see it, whatever it is. */
export interface Central {
  kind: string;
  /** The connection file its operator hands out (an object: tests add URIs or keys). */
  connectionFile: Record<string, unknown>;
  expectedLevel: 'verified' | 'acknowledged';
  container(name: string): Promise<Held | undefined>;
  /** Successful object PUTs so far, by container/object. */
  puts(): Promise<Map<string, number>>;
  /** Makes it declare bookmarks and GNSS tracks too. */
  declareEverything(): Promise<void>;
  stop(): Promise<void>;
}

const decoded = (meta: Record<string, string>) => Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, decodeMetaValue(v)]));
const withoutCustody = (meta: Record<string, string>) => Object.fromEntries(Object.entries(meta).filter(([k]) => !k.startsWith('edgecd-')));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** What a Swift-API central holds, read with credentials that may read. */
async function swiftContainer(account: SwiftAccount, name: string): Promise<Held | undefined> {
  const head = await account.req('HEAD', name);
  if (head.status === 404) return undefined;
  const objects = new Map<string, { bytes: Buffer; meta: Record<string, string> }>();
  for (const o of await account.objects(name)) {
    const got = await account.req('GET', `${name}/${o.name}`);
    objects.set(o.name, { bytes: got.body, meta: decoded(metaOf(got.headers, 'object')) });
  }
  const meta = decoded(metaOf(head.headers, 'container'));
  return { meta, complete: meta.status === 'Complete', objects };
}

/** Object PUTs answered 201 that a proxy saw, by decoded container/object. */
function proxyPuts(proxy: FaultProxy, prefixParts: number, from = 0): Map<string, number> {
  const puts = new Map<string, number>();
  for (const r of proxy.requests.slice(from)) {
    if (r.method !== 'PUT' || r.status !== 201) continue;
    const parts = r.path.split('?')[0]!.split('/').slice(prefixParts).map(decodeURIComponent);
    if (parts.length < 2) continue;
    puts.set(parts.join('/'), (puts.get(parts.join('/')) ?? 0) + 1);
  }
  return puts;
}

export async function axisCentral(options: { https: boolean }): Promise<Central & { cd: AxisCd }> {
  const cd = await startAxisCd({ https: options.https, capabilities: BASE_CAPABILITIES, categories: CATEGORIES });
  return {
    kind: 'the Axis reference CD',
    cd,
    connectionFile: { ...cd.connectionFile },
    expectedLevel: 'acknowledged',
    container: (name) => axisContainer(cd, name),
    puts: async () => axisObjectPuts(await cd.log()),
    declareEverything: () => writeFile(join(cd.storage, 'System', 'Capabilities.json'), JSON.stringify(ALL_CAPABILITIES)),
    stop: () => cd.stop(),
  };
}

/** A Swift cluster as a BWS's content destination: its operator publishes capabilities and categories as objects. */
/** An account of an OpenStack Swift cluster, behind a proxy that can answer for it. */
export async function swiftCentral(swift: SwiftLogin): Promise<Central & { proxy: FaultProxy }> {
  const account = await SwiftAccount.login(swift.authUrl, swift.user, swift.key);
  const put = async (name: string, body: string) => {
    const url = new URL(`${account.storageUrl}/${name}`);
    const res = await fetch(url, { method: 'PUT', headers: { 'X-Auth-Token': account.token, 'Content-Type': 'application/json' }, body });
    assert.ok(res.status === 201 || res.status === 202, `PUT ${name}: ${res.status}`);
  };
  await put('System', '');
  await put('System/Capabilities.json', JSON.stringify(BASE_CAPABILITIES));
  await put('System/Categories.json', JSON.stringify(CATEGORIES));
  const proxy = await FaultProxy.start(Number(new URL(swift.authUrl).port));
  return {
    kind: 'OpenStack Swift',
    proxy,
    expectedLevel: 'verified',
    connectionFile: {
      ConnectionFileVersion: '1.0',
      SiteName: 'HQ Swift',
      ApplicationName: 'OpenStack Swift',
      ApplicationVersion: '2.30',
      ContentDestinationAsNTPServer: false,
      AuthenticationTokenURI: [`${proxy.base}/auth/v1.0`],
      BlobAPIKey: swift.key,
      BlobAPIUserName: swift.user,
      ContainerType: 'mkv',
      FullStoreAndReadSupport: false,
    },
    container: (name) => swiftContainer(account, name),
    puts: async () => proxyPuts(proxy, 3),
    declareEverything: () => put('System/Capabilities.json', JSON.stringify(ALL_CAPABILITIES)),
    stop: () => proxy.close(),
  };
}

export async function edgecdCentral(options: { encrypt: boolean }): Promise<Central & { daemon: TestDaemon }> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'edgecd-central-'));
  await writeFile(join(dataDir, 'central-public.pem'), publicPem);
  const config = (all: boolean) => ({
    siteName: 'HQ',
    capabilities: { StoreBookmarks: all, StoreGNSSTrackRecording: all },
    ...(options.encrypt ? { connection: { wantEncryption: true, publicKeyFile: join(dataDir, 'central-public.pem'), publicKeyId: 'central-key' } } : {}),
  });
  const args = ['--listen', `127.0.0.1:${port}`];
  let daemon = await TestDaemon.start({ dataDir, config: config(false), args });
  await writeFile(join(dataDir, 'categories.json'), JSON.stringify(CATEGORIES));
  const reader = async () => SwiftAccount.login((await daemon.connectionFile()).AuthenticationTokenURI[0]!, TEST_USERS.reader.user, TEST_USERS.reader.key);
  // Its request log, across restarts.
  const earlier: string[] = [];
  const central = {
    kind: 'a central edgecd',
    daemon,
    expectedLevel: 'verified' as const,
    // Its own connection file, with the account its operator made for stations (a replicator: it may set custody metadata).
    connectionFile: {
      ...JSON.parse(await readFile(join(dataDir, 'connection.json'), 'utf8')),
      BlobAPIUserName: TEST_USERS.replicator.user,
      BlobAPIKey: TEST_USERS.replicator.key,
    } as Record<string, unknown>,
    container: async (name: string) => swiftContainer(await reader(), name),
    puts: async () => {
      const puts = new Map<string, number>();
      for (const line of [...earlier, ...central.daemon.logLines]) {
        const e = JSON.parse(line) as { msg?: string; method?: string; status?: number; path?: string };
        if (e.msg !== 'request' || e.method !== 'PUT' || e.status !== 201) continue;
        const parts = e.path!.split('?')[0]!.split('/').slice(3).map(decodeURIComponent);
        if (parts.length >= 2) puts.set(parts.join('/'), (puts.get(parts.join('/')) ?? 0) + 1);
      }
      return puts;
    },
    declareEverything: async () => {
      earlier.push(...central.daemon.logLines);
      await central.daemon.stop();
      central.daemon = daemon = await TestDaemon.start({ dataDir, config: config(true), args });
    },
    stop: () => central.daemon.cleanup(),
  };
  return central;
}

/** The central's connection file as the edge's operator stores it (0600: it holds the key), with a dead URI first. */
async function connectionFileFor(dir: string, central: Central, extra: Record<string, unknown> = {}): Promise<string> {
  const file = { ...central.connectionFile, ...extra };
  const uris = file.AuthenticationTokenURI as string[];
  const dead = `${new URL(uris[0]!).protocol}//127.0.0.1:${await freePort()}/auth/v1.0`;
  file.AuthenticationTokenURI = [dead, ...uris];
  if (Array.isArray(file.HTTPSCertificate)) file.HTTPSCertificate = [file.HTTPSCertificate[0], ...file.HTTPSCertificate];
  const path = join(dir, 'central.json');
  await writeFile(path, JSON.stringify(file, null, 2), { mode: 0o600 });
  return path;
}

export async function startEdge(target: Record<string, unknown>, extra: object = {}): Promise<TestDaemon> {
  return TestDaemon.start({ config: { siteName: 'Station 7', replication: { targets: [{ name: 'central', schedule: '0 0 1 1 *', ...target }] }, ...extra } });
}

/** A day of a BWS against the edge, from the edge's connection file (encrypting when it says so). Returns the recordings. */
export async function simulate(edge: TestDaemon, recordings: number, clipBytes = CLIP_BYTES): Promise<string[]> {
  const report = await simulateBws({
    ...connectionOptions(await edge.connectionFile()),
    users: 1,
    devices: 1,
    recordings,
    clipsPerRecording: 2,
    clipBytes,
    extras: true,
    concurrency: 1,
    firstTrigger: new Date(Math.floor(Date.now() / 86_400_000 - 1) * 86_400_000 + simulated++ * 3_600_000),
  });
  assert.equal(report.stoppedOnFullDisk, false);
  return report.recordings;
}
let simulated = 0;

interface PassReport {
  outcome: string;
  reason?: string;
  recordingsCompleted: number;
  objectsSent: number;
  objectsHeldBack: number;
  objectsRejected: number;
  confirmation?: string;
  requests: number;
  licence: string[];
}

/** One pass now, through the running edge's admin socket (as `edgecd replicate --now` does). */
export async function replicate(edge: TestDaemon): Promise<PassReport> {
  let reports: PassReport[] | undefined;
  let error: string | undefined;
  const reached = await adminStream(join(edge.dataDir, 'admin.sock'), '/replicate', (line) => {
    const l = line as { reports?: PassReport[]; error?: string };
    reports ??= l.reports;
    error ??= l.error;
  });
  assert.ok(reached && reports, `no pass report: ${error}`);
  return reports[0]!;
}

interface TargetStatus {
  alarm?: { reason: string; message: string };
  heldBack: Record<string, number>;
  confirmation: { level?: string; needed: string; warning?: string };
  capabilities: string[];
}

async function status(edge: TestDaemon): Promise<{ targets: TargetStatus[]; heldByAllTargets: number }> {
  return (await adminGet<{ targets: TargetStatus[]; heldByAllTargets: number }>(join(edge.dataDir, 'admin.sock'), '/replication'))!;
}

/**
 * Everything the edge holds for its recordings and registry is on the
 * central: the same bytes, the metadata the BWS sent (compared decoded: the
 * reference CD re-encodes), recordings Complete. Held-back kinds are absent
 * while `heldBack`, present after.
 */
async function assertCentralHolds(edge: TestDaemon, central: Central, heldBack: boolean): Promise<number> {
  const { storageUrl, token } = await edge.auth('reader');
  const local = SwiftAccount.of(storageUrl, token);
  let compared = 0;
  for (const { name } of await local.containers()) {
    if (!RECORDING.test(name) && name !== 'Users' && name !== 'Devices') continue;
    const theirs = await central.container(name);
    assert.ok(theirs, `${name} is missing on ${central.kind}`);
    const mine = decoded(metaOf((await local.req('HEAD', name)).headers, 'container'));
    if (RECORDING.test(name)) {
      assert.ok(theirs.complete, `${name} is not Complete on ${central.kind}`);
      assert.deepEqual(theirs.meta, mine, `${name} metadata on ${central.kind}`);
    }
    for (const o of await local.objects(name)) {
      const there = theirs.objects.get(o.name);
      if (heldBack && HELD_KIND.test(o.name)) {
        assert.equal(there, undefined, `${name}/${o.name} went to ${central.kind}, which does not declare it`);
        continue;
      }
      assert.ok(there, `${name}/${o.name} is missing on ${central.kind}`);
      const got = await local.req('GET', `${name}/${o.name}`);
      assert.ok(there.bytes.equals(got.body), `${name}/${o.name}: bytes differ on ${central.kind}`);
      assert.deepEqual(withoutCustody(there.meta), decoded(metaOf(got.headers, 'object')), `${name}/${o.name}: metadata on ${central.kind}`);
      assert.equal(there.meta['edgecd-sha256'], sha256(got.body), `${name}/${o.name}: custody SHA-256 on ${central.kind}`);
      compared += 1;
    }
  }
  return compared;
}

/** A console page as an evidence clerk (a reader) sees it. */
async function consolePage(edge: TestDaemon, path: string): Promise<string> {
  const login = await fetch(`${edge.base}/console/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { Origin: edge.base, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ user: TEST_USERS.reader.user, key: TEST_USERS.reader.key }),
  });
  const cookie = login.headers.get('set-cookie')?.split(';')[0];
  assert.ok(cookie, `console login: ${login.status}`);
  const res = await fetch(`${edge.base}${path}`, { headers: { Cookie: cookie } });
  assert.equal(res.status, 200);
  return res.text();
}

function assertNothingSentTwice(puts: Map<string, number>): void {
  const twice = [...puts].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], 'objects PUT more than once');
}

/** The main scenario, the same for every kind of central. */
export function scenario(name: string, makeCentral: () => Promise<Central>, skip: string | false) {
  describe(`replication into ${name}, from its connection file`, { skip }, () => {
    let central: Central;
    let edge: TestDaemon;
    let work: string;
    let file: string;
    let recordings: string[];

    before(async () => {
      central = await makeCentral();
      work = await mkdtemp(join(tmpdir(), 'edgecd-targets-'));
      // The central wants encryption: its operator's file says so (a central edgecd's says it by itself).
      const encryption =
        central.connectionFile.WantEncryption === true ? {} : { WantEncryption: true, PublicKey: Buffer.from(publicPem).toString('base64'), PublicKeyId: 'central-key' };
      file = await connectionFileFor(work, central, encryption);
    });
    after(async () => {
      await edge?.cleanup();
      await central?.stop();
      await rm(work, { recursive: true, force: true });
    });

    test('target check prints the plan: what is sent, what is held back and why, and the confirmation', async () => {
      const res = await runCli(['target', 'check', '--connection-file', file]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.match(res.stdout, /: usable/);
      assert.match(res.stdout, /127\.0\.0\.1:\d+\/auth\/v1\.0.*: failed/, 'the dead first URI is reported');
      assert.match(res.stdout, /sent\s+clips\n/);
      assert.match(res.stdout, /sent\s+clip key files/);
      assert.match(res.stdout, /HELD BACK\s+bookmarks \(the target does not declare StoreBookmarks\)/);
      assert.match(res.stdout, /HELD BACK\s+GNSS tracks \(the target does not declare StoreGNSSTrackRecording\)/);
      assert.match(res.stdout, /sent\s+rejected content/);
      assert.match(res.stdout, /categories: 2 published/);
      assert.match(res.stdout, new RegExp(`confirmation: ${central.expectedLevel}`));
      assert.match(res.stdout, /encrypt content for the central's key central-key/);
    });

    test("the edge's cameras are told to encrypt for the central's key", async () => {
      edge = await startEdge({ connectionFile: file });
      const own = (await edge.connectionFile()) as { WantEncryption?: boolean; PublicKey?: string; PublicKeyId?: string };
      assert.equal(own.WantEncryption, true);
      assert.equal(own.PublicKeyId, 'central-key');
      assert.equal(Buffer.from(own.PublicKey!, 'base64').toString('utf8').trim(), publicPem.trim());
    });

    test('a day arrives as the BWS sent it, less what the central does not declare; nothing is sent twice', async () => {
      recordings = await simulate(edge, 2);
      const report = await replicate(edge);
      assert.equal(report.outcome, 'done', report.reason);
      assert.equal(report.recordingsCompleted, 2);
      assert.equal(report.objectsHeldBack, 6, 'a track, its key and a bookmark per recording');
      assert.equal(report.confirmation, central.expectedLevel);
      const compared = await assertCentralHolds(edge, central, true);
      assert.ok(compared >= 2 * 4 + 2, `compared ${compared} objects`);
      assertNothingSentTwice(await central.puts());
      const s = await status(edge);
      assert.deepEqual(s.targets[0]!.heldBack, { StoreBookmarks: 2, StoreGNSSTrackRecording: 4 });
      assert.equal(s.targets[0]!.confirmation.level, central.expectedLevel);
      assert.equal(s.heldByAllTargets, 0, 'a recording with held-back objects is never evicted');
      if (central.expectedLevel === 'acknowledged') assert.match(s.targets[0]!.confirmation.warning ?? '', /not verified/);
      // The console's recording page says, per object, what the central holds and how it knows.
      const page = await consolePage(edge, `/console/recordings/${encodeURIComponent(recordings[0]!)}`);
      assert.match(page, /held back: the target does not take it yet/);
      assert.match(page, new RegExp(`<td>${central.expectedLevel === 'verified' ? 'verified' : 'acknowledged only'}</td>`));
      // The cameras get the central's categories, with an Etag that is their md5.
      const session = await SwiftSession.open(edge);
      const categories = await session.req('GET', '/System/Categories.json');
      assert.deepEqual(JSON.parse(categories.text), CATEGORIES);
      assert.equal(JSON.parse((await session.req('GET', '/System/Capabilities.json')).text).Read.ReadCategories, true, 'declared now that there are categories');
      const admin = await edge.auth('admin');
      const health = JSON.parse((await edge.request('GET', '/status', { 'X-Auth-Token': admin.token })).text) as { bws: { categories: { kind: string; target?: string } } };
      assert.deepEqual([health.bws.categories.kind, health.bws.categories.target], ['central', 'central']);
    });

    test("the central's private key decrypts what arrived there", async () => {
      const held = (await central.container(recordings[0]!))!;
      const clip = [...held.objects.keys()].find((n) => n.endsWith('.mkv'))!;
      const folder = await mkdtemp(join(work, 'decrypt-'));
      await writeFile(join(folder, clip), held.objects.get(clip)!.bytes);
      await writeFile(join(folder, clip.replace(/\.mkv$/, '.key')), held.objects.get(clip.replace(/\.mkv$/, '.key'))!.bytes);
      await writeFile(join(work, 'private.pem'), privatePem, { mode: 0o600 });
      const res = await runCli(['decrypt', '--private-key', `central-key=${join(work, 'private.pem')}`, join(folder, clip)]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      const plain = await readFile(join(folder, 'decrypted', clip));
      assert.equal(plain.length, CLIP_BYTES);
    });

    test('once the central declares bookmarks and tracks, what was held back goes, and only that', async () => {
      const before = await central.puts();
      await central.declareEverything();
      const report = await replicate(edge);
      assert.equal(report.outcome, 'done', report.reason);
      assert.equal(report.objectsSent, 6);
      assert.equal(report.objectsHeldBack, 0);
      await assertCentralHolds(edge, central, false);
      const puts = await central.puts();
      assertNothingSentTwice(puts);
      // The pass also anchors the edge's audit trail at the central, in its own container.
      const late = [...puts.keys()].filter((k) => !before.has(k) && !k.startsWith('edgecd-audit-'));
      assert.equal(late.length, 6);
      assert.ok(
        [...puts.keys()].some((k) => k.startsWith('edgecd-audit-')),
        'the audit trail is anchored at the central',
      );
      assert.ok(
        late.every((k) => HELD_KIND.test(k.split('/')[1]!)),
        `late: ${late.join(', ')}`,
      );
      const s = await status(edge);
      assert.deepEqual(s.targets[0]!.heldBack, {});
      assert.equal(s.heldByAllTargets, central.expectedLevel === 'verified' ? 2 : 0, 'evictable: every object on the target, confirmed as eviction needs');
    });

    test("a clerk's pull from the edge says where each object was replicated, and how it was confirmed", async () => {
      const to = join(work, 'pulled');
      const res = await runCli([
        'pull',
        '--from',
        (await edge.connectionFile()).AuthenticationTokenURI[0]!,
        '--user',
        TEST_USERS.reader.user,
        '--key',
        TEST_USERS.reader.key,
        '--recording',
        recordings[0]!,
        '--to',
        to,
      ]);
      assert.equal(res.code, 0, res.stderr);
      const custody = JSON.parse(await readFile(join(to, recordings[0]!, 'custody.json'), 'utf8')) as {
        replication: { target: string; complete: { confirmation: string } | null; objects: { name: string; state: string; confirmation?: string }[] }[];
      };
      const [replica] = custody.replication;
      assert.equal(replica!.target, 'central');
      assert.equal(replica!.complete?.confirmation, central.expectedLevel);
      assert.equal(replica!.objects.length, 7, 'two clips and a track, each with a key, and a bookmark');
      assert.ok(
        replica!.objects.every((o) => o.state === 'confirmed' && o.confirmation === central.expectedLevel),
        JSON.stringify(replica!.objects),
      );
    });
  });
}

/** A central behind a proxy that answers for it on cue: the refusals each kind of central may give. */
export function refusals(name: string, makeCentral: () => Promise<{ central: Central; upstreamPort: number }>, skip: string | false) {
  describe(`refusals from ${name}`, { skip }, () => {
    let central: Central;
    let proxy: FaultProxy;
    let edge: TestDaemon;
    let work: string;

    before(async () => {
      const made = await makeCentral();
      central = made.central;
      proxy = await FaultProxy.start(made.upstreamPort);
      work = await mkdtemp(join(tmpdir(), 'edgecd-refusals-'));
      const file = join(work, 'central.json');
      await writeFile(file, JSON.stringify({ ...central.connectionFile, AuthenticationTokenURI: [`${proxy.base}/auth/v1.0`] }), { mode: 0o600 });
      edge = await startEdge({ connectionFile: file });
    });
    after(async () => {
      await edge?.cleanup();
      await proxy?.close();
      await central?.stop();
      await rm(work, { recursive: true, force: true });
    });

    test('a clip refused with 400 goes into rejected content, as a BWS sends it; the rest of the recording is Complete', async () => {
      const [recording] = await simulate(edge, 1);
      const held = await edge.auth('reader');
      const clips = (await SwiftAccount.of(held.storageUrl, held.token).objects(recording!)).map((o) => o.name).filter((n) => n.endsWith('.mkv'));
      const refused = clips[0]!;
      proxy.clear();
      proxy.add({
        method: 'PUT',
        path: new RegExp(`/${encodeURIComponent(recording!)}/${refused.replace('.', '\\.')}$`),
        times: Infinity,
        fault: { kind: 'status', status: 400, body: 'clip cannot be stored: corrupt' },
      });
      const report = await replicate(edge);
      assert.equal(report.outcome, 'done', report.reason);
      assert.equal(report.objectsRejected, 1);
      const original = (await central.container(recording!))!;
      assert.ok(original.complete);
      assert.ok(!original.objects.has(refused));
      assert.ok(original.objects.has(clips[1]!));
      const rejectedName = [...proxy.requests].map((r) => decodeURIComponent(r.path.split('/')[3] ?? '')).find((c) => c.startsWith('RejectedContent_'))!;
      assert.match(rejectedName, /^RejectedContent_\d{8}T\d{6}Z_[0-9a-f-]{36}$/);
      const rejected = (await central.container(rejectedName))!;
      assert.equal(rejected.meta.rejectedcontentoriginalcontainer, recording);
      assert.match(rejected.meta.rejectedcontentreason!, /400 clip cannot be stored: corrupt/);
      assert.match(rejected.meta.rejectedcontenttime!, /^\d{8}T\d{6}Z$/);
      assert.equal(rejected.meta.containername, rejectedName);
      assert.equal(rejected.meta.status, undefined, 'rejected content has no Status');
      assert.equal(rejected.meta.userid, original.meta.userid);
      const there = rejected.objects.get(refused)!;
      assert.equal(there.meta.rejectedcontentoriginalcontainer, recording);
      const mine = await SwiftAccount.of(held.storageUrl, held.token).req('GET', `${recording}/${refused}`);
      assert.ok(there.bytes.equals(mine.body));
      const audit = await readFile(join(edge.dataDir, 'audit.jsonl'), 'utf8');
      assert.match(audit, /"action":"replication.rejected"/);
    });

    test('402 for a user raises a licence alarm naming it; the recording waits, and goes once licensed', async () => {
      await simulate(edge, 1);
      proxy.clear();
      proxy.add({ method: 'PUT', path: /\/Users\/[^/]+$/, times: Infinity, fault: { kind: 'status', status: 402 } });
      const report = await replicate(edge);
      assert.equal(report.outcome, 'deferred');
      assert.equal(report.recordingsCompleted, 0);
      assert.match(report.licence.join(' '), /^Users\/[0-9a-f-]{36}/);
      const alarm = (await status(edge)).targets[0]!.alarm;
      assert.equal(alarm?.reason, 'licence');
      assert.match(alarm!.message, /no licence for Users\/[0-9a-f-]{36}/);
      proxy.clear();
      const again = await replicate(edge);
      assert.equal(again.outcome, 'done', again.reason);
      assert.equal(again.recordingsCompleted, 1);
      assert.equal((await status(edge)).targets[0]!.alarm, undefined);
    });

    test('507 pauses the target with an alarm until it has room', async () => {
      await simulate(edge, 1);
      proxy.clear();
      proxy.add({ method: 'PUT', path: /\.mkv$/, times: Infinity, fault: { kind: 'status', status: 507 } });
      assert.equal((await replicate(edge)).outcome, 'target-full');
      assert.equal((await status(edge)).targets[0]!.alarm?.reason, 'target-full');
      proxy.clear();
      const mark = proxy.requests.length;
      assert.equal((await replicate(edge)).outcome, 'done');
      assert.equal((await status(edge)).targets[0]!.alarm, undefined);
      assertNothingSentTwice(proxyPuts(proxy, 3, mark));
    });
  });
}
