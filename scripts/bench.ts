/**
 * edgecd's benchmark: `npm run bench` (builds first). Prints one JSON document.
 * Every figure stands next to a baseline measured in the same run on the same
 * machine and disk, because absolute numbers on a shared 2-core box mean little.
 *
 *   BENCH_DIR    where data goes (default: the OS temp dir); dd runs there too
 *   BENCH_SCALE  1 = full run (512 MiB single, 16 × 32 MiB, 5000 PUTs, 20000 HEADs,
 *                1 GiB replicated edge → each kind of central next to rclone copy or curl,
 *                100k recordings searched, and a 512 MiB signed MKV verified)
 *   BENCH_ONLY   "ingest", "catalogue", "replication" or "video": only those figures
 *   BENCH_ROUNDS rounds of the ingest figures (default 3), each figure given as median (min–max)
 *
 * Runs back to back: on ext4 without a journal, a run's cleanup (thousands of
 * files deleted) slows file creation for the next 30–60 s, and with it the
 * next run's 1 KiB PUTs and its fsync baseline. Leave a minute between runs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsyncedFilesPerSecond, MiB, ROOT, rate, round, rssOf, SCALE, type Server, startProcess } from './bench/common.ts';
import { type GoalFigure, goalsChart } from './bench/chart.ts';
import { ingestFigures } from './bench/ingest.ts';

const CHUNK = randomBytes(MiB);

function call(agent: Agent, port: number, method: string, path: string, headers: Record<string, string>, body?: { bytes: number }): Promise<number> {
  const send = agent instanceof HttpsAgent ? httpsRequest : request;
  return new Promise((resolve, reject) => {
    const req = send({ host: '127.0.0.1', port, method, path, headers: body ? { ...headers, 'Content-Length': String(body.bytes) } : headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    if (!body) return void req.end();
    let left = body.bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!req.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** `dd conv=fsync` on the benchmark's filesystem: the median of three runs (this disk is noisy). */
function ddMBps(dir: string, mib: number): number {
  const file = join(dir, 'dd.bin');
  const runs = [0, 1, 2].map(() => {
    const started = performance.now();
    const res = spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${mib}`, 'conv=fsync'], { stdio: 'ignore' });
    const seconds = (performance.now() - started) / 1000;
    spawnSync('rm', ['-f', file]);
    if (res.status !== 0) throw new Error('dd failed');
    return mib / seconds;
  });
  return runs.sort((a, b) => a - b)[1]!;
}

async function bodyStreamComparison(dir: string): Promise<Record<string, number>> {
  const result: Record<string, number[]> = { incoming: [], web: [], discard: [] };
  const bytes = Math.max(16, Math.round(256 * SCALE)) * MiB;
  for (const mode of ['incoming', 'web', 'discard', 'incoming', 'web', 'discard'] as const) {
    const server = await startProcess(['--import', 'tsx', join(ROOT, 'scripts/body-stream-server.ts'), mode, dir], (line) => Number(line) || undefined);
    const agent = new Agent({ keepAlive: true });
    const started = performance.now();
    const status = await call(agent, server.port, 'PUT', '/x', {}, { bytes });
    if (status !== 201) throw new Error(`body-stream server: ${status}`);
    result[mode]!.push(bytes / MiB / ((performance.now() - started) / 1000));
    agent.destroy();
    server.child.kill();
  }
  const best = (xs: number[]) => round(Math.max(...xs));
  return {
    incomingMBps: best(result.incoming!),
    webStreamMBps: best(result.web!),
    incomingOverWeb: round(best(result.incoming!) / best(result.web!), 2),
    // Client and server on one 2-core machine: what HTTP alone allows here.
    discardMBps: best(result.discard!),
  };
}

/**
 * NTP replies per second from the server's single thread, and the p99 of its
 * processing delay (transmit − receive timestamp in each reply). The server
 * runs in its own process with the per-client rate limit lifted: this
 * measures answering, not the limiter.
 */
async function ntpFigures(): Promise<Record<string, number>> {
  const code = `import('./dist/ntp/server.js').then(async ({ NtpServer }) => {
    const s = new NtpServer({ localStratum: 10, requireSync: false, clock: () => ({ synchronised: false, source: 'none' }), rateLimit: { burst: 1e12, perSecond: 1e12 } });
    console.log(await s.listen('127.0.0.1', 0));
  })`;
  const server = await startProcess(['--input-type=module', '-e', code], (line) => Number(line) || undefined);
  const { createSocket } = await import('node:dgram');
  const socket = createSocket('udp4');
  const total = Math.max(5000, Math.round(40000 * SCALE));
  const request = Buffer.alloc(48);
  request[0] = (4 << 3) | 3;
  const delays: number[] = [];
  let sent = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const send = () => {
      if (sent < total) socket.send(request, server.port, '127.0.0.1');
      sent += 1;
    };
    socket.on('message', (reply) => {
      const rx = reply.readUInt32BE(32) + reply.readUInt32BE(36) / 2 ** 32;
      const tx = reply.readUInt32BE(40) + reply.readUInt32BE(44) / 2 ** 32;
      delays.push((tx - rx) * 1000);
      if (delays.length >= total) resolve();
      else send();
    });
    for (let i = 0; i < 64; i++) send(); // a window of requests in flight
    setTimeout(resolve, 30_000).unref(); // UDP may drop some: stop anyway
  });
  const seconds = (performance.now() - started) / 1000;
  socket.close();
  server.child.kill();
  delays.sort((a, b) => a - b);
  return { replies: delays.length, repliesPerSec: Math.round(delays.length / seconds), p99ProcessingMs: round(delays[Math.floor(delays.length * 0.99)] ?? NaN, 3) };
}

/** A daemon over plain HTTP (what the storage figures measure), or HTTPS with its generated certificate. */
function startDaemonProcess(dataDir: string, https = false): Promise<Server> {
  return startProcess(['dist/cli.js', 'serve', '--data', dataDir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off', ...(https ? [] : ['--plain-http'])], (line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; listen?: string };
      return entry.msg === 'ready' ? Number(entry.listen!.split(':').pop()) : undefined;
    } catch {
      return undefined;
    }
  });
}

async function stop(server: Server): Promise<void> {
  server.child.kill('SIGTERM');
  await new Promise((r) => server.child.once('exit', r));
}

type TargetKind = 'edgecd' | 'swift' | 'axis';

/** A central of each kind, started for the bench, with the connection file its operator would hand out. */
async function startCentral(base: string, kind: TargetKind): Promise<{ connectionFile: Record<string, unknown>; stop: () => Promise<void> } | { skipped: string }> {
  if (kind === 'edgecd') {
    const central = await startDaemonProcess(join(base, 'central'));
    central.child.stdout!.resume();
    return { connectionFile: JSON.parse(await readFile(join(base, 'central', 'connection.json'), 'utf8')), stop: () => stop(central) };
  }
  if (kind === 'swift') {
    const { openStackSwiftAvailable, startOpenStackSwift } = await import('../test/helpers/openstack-swift.ts');
    if (!openStackSwiftAvailable()) return { skipped: 'OpenStack Swift is not installed' };
    const swift = await startOpenStackSwift();
    return {
      connectionFile: {
        ConnectionFileVersion: '1.0',
        SiteName: 'bench',
        ApplicationName: 'OpenStack Swift',
        ApplicationVersion: '2',
        ContentDestinationAsNTPServer: false,
        AuthenticationTokenURI: [swift.authUrl],
        BlobAPIKey: swift.key,
        BlobAPIUserName: swift.user,
        FullStoreAndReadSupport: true,
      },
      stop: () => swift.stop(),
    };
  }
  const { axisCdUnavailable, startAxisCd } = await import('../test/helpers/axis-cd.ts');
  const why = axisCdUnavailable();
  if (why) return { skipped: why };
  const cd = await startAxisCd({
    capabilities: { Store: { StoreBookmarks: true, StoreGNSSTrackRecording: true, StoreRejectedContent: true, StoreUserIDKey: true }, StoreAndRead: { StoreReadSystemID: true } },
  });
  return { connectionFile: cd.connectionFile, stop: () => cd.stop() };
}

/**
 * Replication of ~1 GB of sealed recordings from an edge into each kind of
 * central (a central edgecd, OpenStack Swift, the Axis reference CD; all
 * plain HTTP on loopback), each next to a baseline into the same central in
 * the same run: `rclone copy` of the same clip files with 2 transfers
 * (replication's default concurrency), or, for the reference CD, which rclone
 * cannot write to (it has no listings), curl PUTting the same files one by
 * one. Also the requests per recording against what a BWS needs at least.
 */
async function replicationInto(base: string, kind: TargetKind): Promise<Record<string, unknown>> {
  const dir = join(base, `replication-${kind}`);
  await mkdir(dir, { recursive: true });
  const central = await startCentral(dir, kind);
  if ('skipped' in central) return { skipped: central.skipped };
  const edgeDir = join(dir, 'edge');
  await mkdir(edgeDir, { recursive: true });
  await writeFile(join(edgeDir, 'central.json'), JSON.stringify(central.connectionFile), { mode: 0o600 });
  await writeFile(
    join(edgeDir, 'edgecd.json'),
    JSON.stringify({
      siteName: 'bench',
      quota: { reservePercent: 0 },
      replication: { targets: [{ name: kind, connectionFile: 'central.json', schedule: '0 0 1 1 *', concurrency: 2 }] },
    }),
    { mode: 0o600 },
  );
  const edge = await startDaemonProcess(edgeDir);
  edge.child.stdout!.resume();
  try {
    const clipMiB = 32;
    const clips = 4;
    const recordings = Math.max(1, Math.round(8 * SCALE));
    const sim = spawnSync(
      process.execPath,
      [
        'dist/cli.js',
        'simulate',
        '--connection',
        join(edgeDir, 'connection.json'),
        '--users',
        '2',
        '--devices',
        '2',
        '--recordings',
        String(recordings),
        '--clips',
        String(clips),
        '--clip-bytes',
        String(clipMiB * MiB),
        '--concurrency',
        '2',
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (sim.status !== 0) throw new Error(`simulate failed: ${sim.stderr}`);
    const rssBefore = await rssOf(edge.child.pid!);
    const pass = spawnSync(process.execPath, ['dist/cli.js', 'replicate', '--now', '--data', edgeDir], { cwd: ROOT, encoding: 'utf8' });
    if (pass.status !== 0) throw new Error(`replicate failed: ${pass.stderr}${pass.stdout}`);
    const report = (JSON.parse(pass.stdout) as { bytesSent: number; startedAt: number; finishedAt: number; objectsSent: number; requests: number; confirmation?: string }[])[0]!;
    const rssAfter = await rssOf(edge.child.pid!);
    const replicationMBps = report.bytesSent / 1e6 / ((report.finishedAt - report.startedAt) / 1000);
    // What a BWS sends at least for the same day: the capabilities read, the registry
    // containers and objects, and per recording its container, its objects and the seal.
    const registryObjects = report.objectsSent - recordings * clips;
    const bwsMinimum = 1 + 3 + registryObjects + recordings * (clips + 2);

    // The same clips as files, straight from the edge's disk.
    const account = (await readdir(join(edgeDir, 'objects')))[0]!;
    const containers = (await readdir(join(edgeDir, 'objects', account))).filter((c) => /_\d{8}T\d{6}Z$/.test(decodeURIComponent(c)));
    const files = (
      await Promise.all(
        containers.map(async (c) => (await readdir(join(edgeDir, 'objects', account, c))).filter((f) => !f.startsWith('.')).map((f) => join(edgeDir, 'objects', account, c, f))),
      )
    ).flat();
    let baselineBytes = 0;
    for (const f of files) baselineBytes += (await stat(f)).size;
    const cf = central.connectionFile as { AuthenticationTokenURI: string[]; BlobAPIUserName: string; BlobAPIKey: string };
    const started = performance.now();
    let baseline: string;
    if (kind === 'axis') {
      baseline = 'curl PUT, one file at a time';
      const auth = spawnSync(
        'curl',
        ['-s', '-D', '-', '-o', '/dev/null', '-H', `X-Auth-User: ${cf.BlobAPIUserName}`, '-H', `X-Auth-Key: ${cf.BlobAPIKey}`, cf.AuthenticationTokenURI[0]!],
        { encoding: 'utf8' },
      );
      const token = /x-auth-token: (\S+)/i.exec(auth.stdout)![1]!;
      const storage = /x-storage-url: (\S+)/i.exec(auth.stdout)![1]!;
      spawnSync('curl', ['-s', '-o', '/dev/null', '-X', 'PUT', '-H', `X-Auth-Token: ${token}`, `${storage}/curl-baseline`]);
      for (const [i, f] of files.entries()) {
        const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `X-Auth-Token: ${token}`, '-T', f, `${storage}/curl-baseline/clip-${i}.mkv`], {
          encoding: 'utf8',
        });
        if (r.stdout !== '201') throw new Error(`curl PUT: ${r.stdout}`);
      }
    } else {
      baseline = 'rclone copy --transfers 2';
      const env = {
        ...process.env,
        RCLONE_CONFIG_CENTRAL_TYPE: 'swift',
        RCLONE_CONFIG_CENTRAL_AUTH: cf.AuthenticationTokenURI[0]!,
        RCLONE_CONFIG_CENTRAL_USER: cf.BlobAPIUserName,
        RCLONE_CONFIG_CENTRAL_KEY: cf.BlobAPIKey,
      };
      for (const [i, c] of containers.entries()) {
        const r = spawnSync('rclone', ['copy', '--transfers', '2', '--no-check-dest', '--exclude', '.*', join(edgeDir, 'objects', account, c), `central:rclone-${i}`], {
          env,
          encoding: 'utf8',
        });
        if (r.status !== 0) throw new Error(`rclone failed: ${r.stderr}`);
      }
    }
    const baselineMBps = baselineBytes / 1e6 / ((performance.now() - started) / 1000);
    return {
      bytes: report.bytesSent,
      objects: report.objectsSent,
      recordings,
      clipMiB,
      confirmation: report.confirmation,
      replicationMBps: round(replicationMBps),
      baseline,
      baselineMBps: round(baselineMBps),
      overBaseline: round(replicationMBps / baselineMBps, 2),
      requests: report.requests,
      requestsPerRecording: round(report.requests / recordings, 1),
      bwsMinimumPerRecording: round(bwsMinimum / recordings, 1),
      requestsOverBwsMinimum: round(report.requests / bwsMinimum, 2),
      edgeRssBeforeMB: rssBefore.rssMB,
      edgeRssAfterMB: rssAfter.rssMB,
      edgePeakRssMB: rssAfter.peakMB,
    };
  } finally {
    await stop(edge);
    await central.stop();
  }
}

/** Replication into every kind of central (BENCH_ONLY=replication runs just these). */
async function replicationFigures(base: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const kind of ['edgecd', 'swift', 'axis'] as const) out[kind] = await replicationInto(base, kind);
  return out;
}

/** One large upload over HTTPS (the station's default), trusting only the pinned certificate. */
async function httpsUpload(base: string, mib: number): Promise<number> {
  const dir = join(base, 'https');
  const daemon = await startDaemonProcess(dir, true);
  daemon.child.stdout!.resume();
  try {
    const cf = JSON.parse(await readFile(join(dir, 'connection.json'), 'utf8')) as { BlobAPIUserName: string; BlobAPIKey: string; HTTPSCertificate: string[] };
    const agent = new HttpsAgent({ keepAlive: true, ca: Buffer.from(cf.HTTPSCertificate[0]!, 'base64').toString() });
    const token = await new Promise<string>((resolve, reject) => {
      httpsRequest({ host: '127.0.0.1', port: daemon.port, path: '/auth/v1.0', headers: { 'X-Auth-User': cf.BlobAPIUserName, 'X-Auth-Key': cf.BlobAPIKey }, agent }, (res) => {
        res.resume();
        resolve(res.headers['x-auth-token'] as string);
      })
        .on('error', reject)
        .end();
    });
    const acct = `/v1/AUTH_${cf.BlobAPIUserName}`;
    await call(agent, daemon.port, 'PUT', `${acct}/bench`, { 'X-Auth-Token': token });
    const started = performance.now();
    const status = await call(agent, daemon.port, 'PUT', `${acct}/bench/tls.mkv`, { 'X-Auth-Token': token }, { bytes: mib * MiB });
    if (status !== 201) throw new Error(`https upload: ${status}`);
    const mbps = mib / ((performance.now() - started) / 1000);
    agent.destroy();
    return mbps;
  } finally {
    await stop(daemon);
  }
}

/**
 * The console's recording search on a synthetic station of 100k recordings
 * (× BENCH_SCALE), 200 users, 50 cameras, a bookmark with a category on one
 * in ten. Entries are written to the index as the store and its hooks would
 * write them (making 100k real containers would measure mkdir, not search).
 * Baseline: one pass over the containers sublevel, the cheapest walk a search
 * without the catalogue would need.
 */
async function catalogueFigures(base: string): Promise<Record<string, unknown>> {
  const { ObjectStore } = await import('../src/store/object-store.ts');
  const { IndexDb } = await import('../src/store/index-db.ts');
  const { RecordingCatalogue, CATALOGUE_VERSION } = await import('../src/bws/catalogue.ts');
  const { derivedIndexOps } = await import('../src/index-hooks.ts');
  const { searchRecordings } = await import('../src/http/console/recording-data.ts');
  const { createLogger } = await import('../src/lib/log.ts');
  const dir = join(base, 'catalogue');
  const count = Math.max(10_000, Math.round(100_000 * SCALE));
  const store = await ObjectStore.open(dir, { maxObjectBytes: MiB, log: createLogger('silent'), derivedOps: derivedIndexOps });
  try {
    const account = 'bws';
    const catalogue = RecordingCatalogue.of(store.index);
    const t0 = Date.UTC(2025, 0, 1);
    const compact = (ms: number) =>
      new Date(ms)
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
    const users = Array.from({ length: 200 }, (_, i) => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`);
    const ops: Parameters<typeof store.index.write>[0] = [];
    const flush = async () => void (ops.length > 0 && (await store.index.write(ops.splice(0), false)));
    for (const [i, id] of users.entries()) {
      ops.push({
        type: 'put',
        sublevel: store.index.objects,
        key: IndexDb.objectKey(account, 'Users', id),
        value: { name: id, file: id, bytes: 0, md5: '', sha256: '', contentType: '', lastModified: 0, timestamp: '0', meta: { name: `Officer ${i}`, userid: `U${i}` } },
      });
    }
    ops.push({
      type: 'put',
      sublevel: store.index.accounts,
      key: account,
      value: { containerCount: count + 1, objectCount: 4 * count + users.length, bytesUsed: 4 * MiB * count },
    });
    ops.push({
      type: 'put',
      sublevel: store.index.containers,
      key: IndexDb.containerKey(account, 'Users'),
      value: { name: 'Users', created: 0, timestamp: '0', meta: {}, objectCount: users.length, bytesUsed: 0 },
    });
    for (let i = 0; i < count; i++) {
      const at = t0 + i * 300_000;
      const name = `${users[i % users.length]}_CAM${String(i % 50).padStart(4, '0')}_${compact(at)}`;
      const meta = { status: i % 100 === 0 ? 'Transferring' : 'Complete', starttime: String(at / 1000 - 30) };
      const container = { name, created: at, timestamp: String(at / 1000), meta, objectCount: 4, bytesUsed: 4 * MiB };
      ops.push({ type: 'put', sublevel: store.index.containers, key: IndexDb.containerKey(account, name), value: container });
      const entry = RecordingCatalogue.entryFor(name, at, meta, at + 600_000)!;
      ops.push({ type: 'put', sublevel: catalogue.byTime, key: RecordingCatalogue.timeKey(account, entry), value: entry });
      if (i % 10 === 0)
        ops.push({ type: 'put', sublevel: catalogue.byCategory, key: [account, `cat${i % 7}`, name, `bookmark_${i}`].join('\u0000'), value: { name: `Category ${i % 7}` } });
      if (ops.length >= 5000) await flush();
    }
    await flush();
    await store.index.db.sublevel<string, number>('kv', { valueEncoding: 'json' }).put('version', CATALOGUE_VERSION);

    const time = async <T>(fn: () => Promise<T>, runs = 5): Promise<{ ms: number; value: T }> => {
      let best = Infinity;
      let value!: T;
      for (let r = 0; r < runs; r++) {
        const started = performance.now();
        value = await fn();
        best = Math.min(best, performance.now() - started);
      }
      return { ms: round(best, 2), value };
    };
    const scan = await time(async () => {
      let n = 0;
      for await (const _ of store.index.containers.values({ gt: account + '\u0000', lt: account + '\u0001' })) n += 1;
      return n;
    }, 3);
    const empty = { user: '', device: '', from: '', to: '', category: '', status: '', replicated: '' };
    const search = (s: Partial<typeof empty>, cursor = {}) => time(() => searchRecordings(store, account, { ...empty, ...s }, cursor, []));
    const first = await search({});
    const deep = await search({}, { before: first.value.older });
    const byUser = await search({ user: 'Officer 17' });
    const byDay = await search({ from: '2025-06-01', to: '2025-06-01' });
    const byCategory = await search({ category: 'cat3' });
    const none = await search({ user: 'nobody at all' });
    // The retention plan (what the deletion job reads) over every recording: 30 days, a category kept ten years.
    const { retentionPlan } = await import('../src/lifecycle/plan.ts');
    const { parseConfig } = await import('../src/config/config.ts');
    const rules = parseConfig({ retention: { keep: { default: 30, categories: { cat3: 3650 } } } }).retention.keep;
    const rssBefore = process.memoryUsage().rss;
    const plan = await time(() => retentionPlan(store, rules, { now: t0 + 400 * 86_400_000, days: 0, replicated: async () => true }), 1);
    const planRssGrowthMB = round((process.memoryUsage().rss - rssBefore) / MiB);
    // The console's pages at this size, built as their routes build them: the preview (the plan, then its page),
    // and the holds page over a tombstone file of as many deletions (its newest page, read from the end).
    const { retentionPage, lifecyclePage, PREVIEW_ROWS } = await import('../src/http/console/views/lifecycle.ts');
    const { newestTombstones } = await import('../src/lifecycle/tombstones.ts');
    const { appendLineDurably } = await import('../src/lib/durable.ts');
    const viewer = { user: 'c', role: 'custodian' as const, csrf: 'x' };
    const assets = { css: '/a.css', js: '/a.js' };
    const previewPage = await time(async () => {
      const p = await retentionPlan(store, rules, { now: t0 + 400 * 86_400_000, days: 30, replicated: async () => true });
      return String(await retentionPage(assets, viewer, p, 30)).length;
    }, 3);
    const tombstoneFile = join(dir, 'tombstones.jsonl');
    const manifest = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`clip_${i}.mkv`, { sha256: 'a'.repeat(64), md5: 'b'.repeat(32), bytes: MiB }]));
    const lines: string[] = [];
    for (const entry of plan.value.due)
      lines.push(JSON.stringify({ ...entry, deletedAt: entry.keepUntil, manifest, bytes: 4 * MiB, holds: 'none', restorableUntil: null, trashStamp: null }));
    await appendLineDurably(tombstoneFile, lines.join('\n'));
    const holdsPage = await time(async () => {
      const deleted = await newestTombstones(tombstoneFile, PREVIEW_ROWS, (t) => t.account === account);
      return String(await lifecyclePage(assets, viewer, { holds: [], deleted })).length;
    });
    await store.index.db.sublevel('kv', { valueEncoding: 'json' }).del('version');
    const rebuild = await time(() => catalogue.ensureBuilt(), 1);
    const figure = (r: { ms: number; value: { rows: unknown[]; scanned: number } }) => ({
      ms: r.ms,
      rows: r.value.rows.length,
      scanned: r.value.scanned,
      overScan: round(r.ms / scan.ms, 3),
    });
    return {
      recordings: count,
      baselineContainerScanMs: scan.ms,
      firstPage: figure(first),
      secondPage: figure(deep),
      byUserName: figure(byUser),
      byDay: figure(byDay),
      byCategory: figure(byCategory),
      noMatchFullScan: figure(none),
      rebuildFromIndexMs: rebuild.ms,
      retentionPlan: {
        ms: plan.ms,
        scanned: plan.value.scanned,
        due: plan.value.due.length,
        kept: plan.value.kept.length,
        overScan: round(plan.ms / scan.ms, 2),
        rssGrowthMB: planRssGrowthMB,
      },
      consolePages: {
        retentionPreviewMs: previewPage.ms,
        retentionPreviewOverScan: round(previewPage.ms / scan.ms, 2),
        holdsAndDeletionsMs: holdsPage.ms,
        holdsAndDeletionsOverScan: round(holdsPage.ms / scan.ms, 3),
        tombstones: lines.length,
        tombstoneFileMB: round((await stat(tombstoneFile)).size / MiB),
      },
      rebuildOverScan: round(rebuild.ms / scan.ms, 2),
    };
  } finally {
    await store.close();
  }
}

/**
 * Signed video: verification speed of a long signed MKV (512 MiB × BENCH_SCALE)
 * next to sha256sum of the same file, the verifier's peak RSS, and the upload
 * p99 of the overload pattern with and without the station's check running.
 */
async function videoFigures(base: string): Promise<Record<string, unknown>> {
  const { makeLongSignedClip, referenceUnavailable } = await import('../test/helpers/signed-video-cases.ts');
  const why = referenceUnavailable();
  if (why) return { skipped: why };
  const clip = join(base, 'long-signed.mkv');
  const made = await makeLongSignedClip(clip, Math.max(32, Math.round(512 * SCALE)) * MiB, 'h264');
  const bytes = (await stat(clip)).size;
  let t = performance.now();
  if (spawnSync('sha256sum', [clip], { stdio: 'ignore' }).status !== 0) throw new Error('sha256sum failed');
  const shaMBps = bytes / 1e6 / ((performance.now() - t) / 1000);
  // In a process of its own, as `verify-video` runs: its wall time and its peak RSS.
  const script = `const { verifyVideoFile } = await import(${JSON.stringify(join(ROOT, 'dist/media/verify-file.js'))});
    const v = await verifyVideoFile(process.argv[1]);
    console.log(JSON.stringify({ verdict: v.verdict, frames: v.frames, peakRssMB: process.resourceUsage().maxRSS / 1024 }));`;
  t = performance.now();
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script, clip], { encoding: 'utf8' });
  const verifySeconds = (performance.now() - t) / 1000;
  if (run.status !== 0) throw new Error(`verification failed: ${run.stderr}`);
  const verified = JSON.parse(run.stdout) as { verdict: string; frames: number; peakRssMB: number };

  // Upload latency under overload, first alone, then while the station checks the long clip.
  const dataDir = join(base, 'video-data');
  const daemon = await startDaemonProcess(dataDir);
  daemon.child.stdout!.resume();
  const connection = JSON.parse(await readFile(join(dataDir, 'connection.json'), 'utf8'));
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const { token, storage } = await authenticate(agent, daemon.port, connection);
  const h = { 'X-Auth-Token': token };
  await call(agent, daemon.port, 'PUT', `${storage}/bench`, h);
  let upload: Record<string, unknown> = {};
  // The overload pattern of the main figures, on connections of its own each time.
  const overloadP99 = async (label: string) => {
    const uploads = new Agent({ keepAlive: true, maxSockets: 80 });
    const latencies: number[] = [];
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: 80 }, async (_, i) => {
          const t0 = performance.now();
          await call(uploads, daemon.port, 'PUT', `${storage}/bench/${label}-${round}-${i}`, h, { bytes: MiB });
          latencies.push(performance.now() - t0);
        }),
      );
    }
    uploads.destroy();
    latencies.sort((a, b) => a - b);
    return round(latencies[Math.floor(latencies.length * 0.99)]!);
  };
  try {
    const withoutCheck = await overloadP99('alone');
    const peakBeforeCheck = (await rssOf(daemon.child.pid!)).peakMB;
    // A body-worn system's recording with the long clip: the station's check starts at the seal.
    // Not spawnSync: the daemon's keep-alive connections must not go stale under a blocked event loop.
    const sim = spawn(
      process.execPath,
      ['dist/cli.js', 'simulate', '--connection', join(dataDir, 'connection.json'), '--users', '1', '--devices', '1', '--recordings', '1', '--clips', '1', '--clip-file', clip],
      { cwd: ROOT, stdio: 'ignore' },
    );
    const simCode = await new Promise((resolve) => sim.once('exit', resolve));
    if (simCode !== 0) throw new Error(`simulate exited ${simCode}`);
    const checkStarted = performance.now();
    const duringCheck = await overloadP99('checking');
    const checking = (await adminStatus(agent, daemon.port, dataDir)).queued > 0;
    while ((await adminStatus(agent, daemon.port, dataDir)).queued > 0) await new Promise((r) => setTimeout(r, 100));
    const checkSeconds = (performance.now() - checkStarted) / 1000;
    // Alone again, after the check: the spread of the two is the noise the one during the check is read against.
    const withoutCheckAgain = await overloadP99('alone-again');
    upload = {
      overloadP99MsAlone: [withoutCheck, withoutCheckAgain],
      overloadP99MsDuringCheck: duringCheck,
      duringOverAlone: round(duringCheck / Math.max(withoutCheck, withoutCheckAgain), 2),
      checkStillRunningAfterTheRounds: checking,
      stationCheckSecondsAfterSeal: round(checkSeconds),
      daemonPeakRssMBBeforeCheck: peakBeforeCheck,
      daemonPeakRssMB: (await rssOf(daemon.child.pid!)).peakMB,
    };
  } finally {
    agent.destroy();
    await stop(daemon);
  }
  return {
    clip: { MiB: round(bytes / MiB), frames: made.frames, gops: made.gops, signing: 'sv_sign, frame level, ECDSA P-256' },
    baseline: { sha256sumMBps: round(shaMBps) },
    verifyMBps: round(bytes / 1e6 / verifySeconds),
    verifyOverSha256sum: round(bytes / 1e6 / verifySeconds / shaMBps, 2),
    verdict: verified.verdict,
    verifierPeakRssMB: round(verified.peakRssMB),
    upload,
  };
}

async function authenticate(agent: Agent, port: number, connection: { BlobAPIUserName: string; BlobAPIKey: string }): Promise<{ token: string; storage: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/auth/v1.0', headers: { 'X-Auth-User': connection.BlobAPIUserName, 'X-Auth-Key': connection.BlobAPIKey }, agent }, (res) => {
      res.resume();
      resolve({ token: res.headers['x-auth-token'] as string, storage: new URL(res.headers['x-storage-url'] as string).pathname });
    })
      .on('error', reject)
      .end();
  });
}

/** The video part of /status, read with an admin made for the bench. */
let benchAdmin: string | undefined;
async function adminStatus(agent: Agent, port: number, dataDir: string): Promise<{ queued: number }> {
  if (!benchAdmin) {
    const key = randomUUID();
    const add = spawnSync(process.execPath, ['dist/cli.js', 'user', 'add', 'bench-admin', '--role', 'admin', '--key', key, '--data', dataDir], { cwd: ROOT, encoding: 'utf8' });
    if (add.status !== 0) throw new Error(`user add: ${add.stderr}`);
    benchAdmin = (await authenticate(agent, port, { BlobAPIUserName: 'bench-admin', BlobAPIKey: key })).token;
  }
  const token = benchAdmin;
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/status', headers: { 'X-Auth-Token': token }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { video: { queued: number } }).video));
    })
      .on('error', reject)
      .end();
  });
}

/**
 * Prints the figures, and keeps them: bench-results.json, and with ingest
 * figures bench-results.svg, their goals as a chart.
 */
async function report(results: Record<string, unknown>): Promise<void> {
  const document = { at: new Date().toISOString(), machine: { cpus: (await import('node:os')).cpus().length, node: process.version, scale: SCALE }, ...results };
  const text = JSON.stringify(document, null, 2);
  console.log(text);
  await writeFile(join(ROOT, 'bench-results.json'), text + '\n');
  const ingest = results.ingest as { goals?: Record<string, GoalFigure>; rounds?: number } | undefined;
  if (ingest?.goals) await writeFile(join(ROOT, 'bench-results.svg'), goalsChart(ingest.goals, `edgecd ingest against its goals (${ingest.rounds} rounds, ${document.at})`));
}

async function main(): Promise<void> {
  const only = { catalogue: catalogueFigures, replication: replicationFigures, video: videoFigures, ingest: ingestFigures }[process.env.BENCH_ONLY ?? ''];
  if (only) {
    const base = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'edgecd-bench-'));
    try {
      await report({ [process.env.BENCH_ONLY!]: await only(base) });
    } finally {
      await rm(base, { recursive: true, force: true });
    }
    return;
  }
  const base = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'edgecd-bench-'));
  const dataDir = join(base, 'data');
  try {
    const ddMiB = Math.max(64, Math.round(512 * SCALE));
    const dd = ddMBps(base, ddMiB);

    const daemon = await startDaemonProcess(dataDir);
    // The request log is part of the cost being measured; its lines are discarded.
    daemon.child.stdout!.resume();
    const pid = daemon.child.pid!;
    const port = daemon.port;
    await new Promise((r) => setTimeout(r, 1000));
    const idle = await rssOf(pid);

    const connection = JSON.parse(await readFile(join(dataDir, 'connection.json'), 'utf8'));
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const token = await new Promise<string>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/auth/v1.0', headers: { 'X-Auth-User': connection.BlobAPIUserName, 'X-Auth-Key': connection.BlobAPIKey }, agent }, (res) => {
        res.resume();
        resolve(res.headers['x-auth-token'] as string);
      })
        .on('error', reject)
        .end();
    });
    const h = { 'X-Auth-Token': token };
    const acct = `/v1/AUTH_${connection.BlobAPIUserName}`;
    await call(agent, port, 'PUT', `${acct}/bench`, h);

    // 16 concurrent 32 MiB uploads (first, so VmHWM afterwards is this run's peak).
    const concurrentMiB = Math.max(4, Math.round(32 * SCALE));
    let started = performance.now();
    await Promise.all(Array.from({ length: 16 }, (_, i) => call(agent, port, 'PUT', `${acct}/bench/concurrent-${i}.mkv`, h, { bytes: concurrentMiB * MiB })));
    const concurrentMBps = (16 * concurrentMiB) / ((performance.now() - started) / 1000);
    const peakConcurrent = await rssOf(pid);

    const singleMiB = Math.max(64, Math.round(512 * SCALE));
    started = performance.now();
    const single = await call(agent, port, 'PUT', `${acct}/bench/single.mkv`, h, { bytes: singleMiB * MiB });
    if (single !== 201) throw new Error(`single upload: ${single}`);
    const singleMBps = singleMiB / ((performance.now() - started) / 1000);
    const peakSingle = await rssOf(pid);

    const smallTotal = Math.max(500, Math.round(5000 * SCALE));
    const smallBody = { bytes: 1024 };
    const smallPut = await rate(32, smallTotal, (i) => call(agent, port, 'PUT', `${acct}/bench/small-${i}`, h, smallBody), 201);
    const rawSmall = await fsyncedFilesPerSecond(base, smallTotal);
    const peakSmall = await rssOf(pid);

    const headTotal = Math.max(2000, Math.round(20000 * SCALE));
    const health = await rate(32, headTotal, () => call(agent, port, 'GET', '/healthcheck', {}), 200);
    const head = await rate(32, headTotal, (i) => call(agent, port, 'HEAD', `${acct}/bench/small-${i % smallTotal}`, h), 200);
    const peak = await rssOf(pid);

    // Overload: 10x admission.maxUploads (default 8) uploading at once, 3 rounds.
    // Only 201 and 503 may come back; every 201 must verify afterwards.
    const overload = { statuses: {} as Record<number, number>, latenciesMs: [] as number[] };
    const acknowledged: string[] = [];
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: 80 }, async (_, i) => {
          const name = `${acct}/bench/overload-${round}-${i}`;
          const t0 = performance.now();
          const status = await call(agent, port, 'PUT', name, h, { bytes: MiB });
          overload.latenciesMs.push(performance.now() - t0);
          overload.statuses[status] = (overload.statuses[status] ?? 0) + 1;
          if (status === 201) acknowledged.push(name);
        }),
      );
    }
    const peakOverload = await rssOf(pid);
    let verified = 0;
    for (const name of acknowledged) if ((await call(agent, port, 'HEAD', name, h)) === 200) verified += 1;
    const sorted = overload.latenciesMs.sort((a, b) => a - b);
    const pct = (p: number) => round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);

    // A body-worn system's own traffic: registration, recordings of 1 MiB clips, sealing.
    const simRecordings = Math.max(4, Math.round(20 * SCALE));
    const sim = spawnSync(
      process.execPath,
      [
        'dist/cli.js',
        'simulate',
        '--connection',
        join(dataDir, 'connection.json'),
        '--users',
        '10',
        '--devices',
        '5',
        '--recordings',
        String(simRecordings),
        '--clips',
        '3',
        '--clip-bytes',
        String(MiB),
        '--concurrency',
        '4',
        '--extras',
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (sim.status !== 0) throw new Error(`simulate failed: ${sim.stderr}`);
    const simReport = JSON.parse(sim.stdout) as { seconds: number; mbPerSecond: number; recordings: string[] };

    agent.destroy();
    daemon.child.kill('SIGTERM');
    await new Promise((r) => daemon.child.once('exit', r));
    const bodyStream = await bodyStreamComparison(base);
    const ntp = await ntpFigures();
    const replication = await replicationFigures(base);
    const httpsSingleMBps = await httpsUpload(base, singleMiB);
    const catalogue = await catalogueFigures(base);
    const video = await videoFigures(base);
    const ingest = await ingestFigures(base);

    await report({
      machine: { cpus: (await import('node:os')).cpus().length, node: process.version, scale: SCALE, dir: base },
      baseline: { ddFsyncMBps: round(dd), fsyncedSmallFilesPerSec: Math.round(rawSmall), healthcheckPerSec: Math.round(health) },
      upload: {
        singleMBps: round(singleMBps),
        singleMiB,
        singleOverDd: round(singleMBps / dd, 2),
        singleOverHttpCeiling: round(singleMBps / bodyStream.discardMBps!, 2),
        concurrent16MBps: round(concurrentMBps),
        concurrentMiBEach: concurrentMiB,
        concurrentOverDd: round(concurrentMBps / dd, 2),
        concurrentOverHttpCeiling: round(concurrentMBps / bodyStream.discardMBps!, 2),
        httpsSingleMBps: round(httpsSingleMBps),
        httpsOverPlain: round(httpsSingleMBps / singleMBps, 2),
      },
      smallPut: { perSec: Math.round(smallPut), concurrency: 32, bytes: 1024, overRawFsyncedFiles: round(smallPut / rawSmall, 2), referenceGoServerNoFsync: 7900 },
      head: { perSec: Math.round(head), concurrency: 32, overHealthcheck: round(head / health, 2), referenceGoServer: 12700 },
      overload: {
        uploads: sorted.length,
        concurrent: 80,
        bytesEach: MiB,
        statusCounts: overload.statuses,
        p50Ms: pct(50),
        p99Ms: pct(99),
        acknowledged: acknowledged.length,
        verifiedAfter: verified,
        peakRssMB: peakOverload.peakMB,
      },
      simulatedBws: {
        recordings: simReport.recordings.length,
        recordingsPerSec: round(simReport.recordings.length / simReport.seconds, 2),
        MBps: round(simReport.mbPerSecond),
        clipsOf: '3 x 1 MiB, plus GNSS track and bookmark, sealed; 4 at once',
      },
      rss: {
        idleMB: idle.rssMB,
        // VmHWM read after each phase, so each is the peak up to that point.
        peakAfterConcurrentMB: peakConcurrent.peakMB,
        peakAfterSingleMB: peakSingle.peakMB,
        peakAfterSmallPutMB: peakSmall.peakMB,
        peakAfterHeadMB: peak.peakMB,
        targets: { idleMB: 60, peakMB: 150 },
      },
      bodyStream,
      ntp,
      replication,
      catalogue,
      video,
      ingest,
    });
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

await main();
