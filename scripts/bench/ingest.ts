/**
 * Ingest figures (BENCH_ONLY=ingest, and part of the full bench): what edgecd
 * takes in, next to what this machine's disk, hashes and the Go reference CD
 * do with the same bytes in the same run. Rounds are interleaved (every
 * figure once per round, BENCH_ROUNDS of them, 3 by default), and each figure
 * is the median with its min–max. Each server's part of a round starts after
 * a `sync`, so that neither pays for writes left unsynced before it (the
 * source file, the Go CD's uploads): edgecd's 1 KiB PUTs wait on four
 * syncs each, and the device flushes them behind any writeback in progress.
 *
 * The bytes are one random file: uploaded whole (the single PUT), in sixteen
 * 32 MiB pieces (the 16-way PUT), and copied by dd conv=fsync, whole and in
 * the same pieces (dd of /dev/zero would flatter a compressing disk), and
 * whole with oflag=direct too: edgecd writes large bodies with O_DIRECT, so
 * the single PUT's disk limit is the faster of dd's two.
 *
 * - hash limit: md5 then SHA-256 of each chunk, one thread (a worker, as
 *   node:crypto runs them), over the same file; and OpenSSL's seconds for a
 *   GiB of each (single-threaded and CPU-bound: wall time is CPU time).
 * - CPU per GiB: the daemon's utime + stime (/proc/PID/stat, worker threads
 *   included) over the single PUT, per GiB.
 * - the machine over each server's single PUT (no goal): its cores busy
 *   (/proc/stat) and this client's CPU per GiB. Near 2.0 on two cores, the
 *   machine, not the server, set the pace.
 * - 1 KiB PUTs, 32 at a time: the first 3,000 of a round (after the large
 *   uploads, while V8 still compiles that path) as the cold rate, then 3,000
 *   more: the rate the goal is about.
 * - GET: the single PUT's object downloaded whole by a reader (the second
 *   time, so that both files are in the page cache), next to a bare node:http
 *   server streaming the same file (no goal; a guard).
 * - RSS: the production entry (node dist/cli.js, with the systemd unit's
 *   node flags); idle, idle again after a few logins (each runs a 16 MiB
 *   scrypt), and the peak (VmHWM, reset through clear_refs) during the
 *   16-way PUT and during a 10× overload of admission.maxUploads. Next to
 *   them, the idle RSS of a one-route Hono server started the same way.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { fsyncedFilesPerSecond, MiB, ROOT, rate, round, rssOf, SCALE, startProcess, type Server } from './common.ts';

const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));

/** A figure over the rounds: median (min–max). */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

const spread = (xs: number[]): Spread => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: round(s[Math.floor((s.length - 1) / 2)]!, 2), min: round(s[0]!, 2), max: round(s.at(-1)!, 2) };
};

/** A PUT client for one Swift-like server: where to send, with which token. */
interface Endpoint {
  port: number;
  /** e.g. /v1/AUTH_bws/bench */
  container: string;
  headers: Record<string, string>;
  agent: Agent;
}

/** Sends `length` bytes of `file` from `start` (or nothing) and returns the status. */
function put(e: Endpoint, name: string, file?: { path: string; start: number; length: number }, method = 'PUT'): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = { ...e.headers, ...(file ? { 'Content-Length': String(file.length) } : {}) };
    const req = request({ host: '127.0.0.1', port: e.port, method, path: `${e.container}/${name}`, headers, agent: e.agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    if (!file) return void req.end();
    if (file.length <= 64 * 1024 && file.path === '') return void req.end(SMALL_BODY.subarray(0, file.length));
    createReadStream(file.path, { start: file.start, end: file.start + file.length - 1, highWaterMark: MiB }).pipe(req);
  });
}

const SMALL_BODY = Buffer.alloc(1024, 7);

/** GETs `path` whole: MB/s. */
function getMBps(e: { port: number; headers: Record<string, string>; agent: Agent }, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    request({ host: '127.0.0.1', port: e.port, path, headers: e.headers, agent: e.agent }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(bytes / MiB / ((performance.now() - started) / 1000)) : reject(new Error(`GET ${path}: ${res.statusCode}`))));
    })
      .on('error', reject)
      .end();
  });
}

/** A bare node:http server that streams `file` to every GET, as edgecd reads (256 KiB): the machine's download ceiling. */
function startBareFileServer(file: string, runtime: { flags: string[]; env: Record<string, string> }): Promise<Server> {
  const code = `const http = require('node:http'), fs = require('node:fs');
    http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Length': fs.statSync(${JSON.stringify(file)}).size });
      fs.createReadStream(${JSON.stringify(file)}, { highWaterMark: 256 * 1024 }).pipe(res);
    }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
  return startProcess([...runtime.flags, '-e', code], (line) => Number(line) || undefined, runtime.env);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - started) / 1000, value };
}

/** dd copies (conv=fsync, or `flags`) of pieces of `src`, all at once; MB/s over all of them. */
async function ddCopies(src: string, dir: string, pieces: { skipMiB: number; mib: number }[], flags: string[] = ['conv=fsync']): Promise<number> {
  const { seconds } = await timed(() =>
    Promise.all(
      pieces.map(
        (p, i) =>
          new Promise<void>((resolve, reject) => {
            const child = spawn('dd', [`if=${src}`, `of=${join(dir, `dd-${i}.bin`)}`, 'bs=1M', `skip=${p.skipMiB}`, `count=${p.mib}`, ...flags], { stdio: 'ignore' });
            child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`dd exited ${code}`))));
          }),
      ),
    ),
  );
  for (let i = 0; i < pieces.length; i++) await rm(join(dir, `dd-${i}.bin`), { force: true });
  return pieces.reduce((n, p) => n + p.mib, 0) / seconds;
}

/** md5 then SHA-256 of each 1 MiB chunk of `file`, on one worker thread: MB/s. */
function hashLimit(file: string): Promise<number> {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { openSync, readSync, closeSync } = require('node:fs');
    const { createHash } = require('node:crypto');
    const fd = openSync(workerData, 'r');
    const chunk = Buffer.alloc(1 << 20);
    const md5 = createHash('md5'), sha256 = createHash('sha256');
    const started = performance.now();
    let bytes = 0;
    for (let n; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0; bytes += n) {
      const piece = chunk.subarray(0, n);
      md5.update(piece);
      sha256.update(piece);
    }
    md5.digest(); sha256.digest(); closeSync(fd);
    parentPort.postMessage(bytes / (1 << 20) / ((performance.now() - started) / 1000));`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData: file });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

/** OpenSSL's seconds to hash a GiB with md5 and with SHA-256, one after the other. */
function opensslSecondsPerGiB(file: string, mib: number): number {
  let seconds = 0;
  for (const alg of ['-md5', '-sha256']) {
    const started = performance.now();
    const res = spawnSync('openssl', ['dgst', alg, file], { stdio: 'ignore' });
    if (res.status !== 0) throw new Error(`openssl dgst ${alg} failed`);
    seconds += (performance.now() - started) / 1000;
  }
  return seconds * (1024 / mib);
}

/** utime + stime of a process, s (every thread of it). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** Core-seconds the whole machine was busy so far (/proc/stat: all but idle and iowait). */
async function machineBusySeconds(): Promise<number> {
  const [user, nice, system, , , irq, softirq, steal] = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!.split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
}

/** Starts VmHWM afresh (Linux: clear_refs 5), so the next peak read is this phase's. */
const resetPeak = (pid: number) => writeFile(`/proc/${pid}/clear_refs`, '5');

/** The node flags and environment the systemd unit starts edgecd with: RSS is measured as it runs there. */
async function unitRuntime(): Promise<{ flags: string[]; env: Record<string, string> }> {
  const unit = await readFile(join(ROOT, 'systemd/edgecd.service'), 'utf8');
  const exec = /^ExecStart=\S*node\s+(.*?)\s*\S*dist\/cli\.js/m.exec(unit);
  const env = Object.fromEntries([...unit.matchAll(/^Environment=([A-Z_]+)=(\S*)$/gm)].map((m) => [m[1]!, m[2]!]));
  return { flags: exec?.[1] ? exec[1].split(/\s+/).filter(Boolean) : [], env };
}

async function startEdgecd(dataDir: string, runtime: { flags: string[]; env: Record<string, string> }): Promise<Server> {
  const args = [...runtime.flags, 'dist/cli.js', 'serve', '--data', dataDir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off', '--plain-http'];
  const ready = (line: string) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; listen?: string };
      return entry.msg === 'ready' ? Number(entry.listen!.split(':').pop()) : undefined;
    } catch {
      return undefined;
    }
  };
  return startProcess(args, ready, runtime.env);
}

/**
 * The idle RSS of the smallest server on edgecd's stack: one Hono route on
 * @hono/node-server, started as the unit starts edgecd and asked once (which
 * loads Node's fetch classes, as any request does). What edgecd adds is the rest.
 */
async function minimalHonoIdleRss(runtime: { flags: string[]; env: Record<string, string> }): Promise<number> {
  const code = `import('hono').then(async ({ Hono }) => {
    const { serve } = await import('@hono/node-server');
    const app = new Hono().get('/healthcheck', (c) => c.text('ok'));
    serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => console.log(info.port));
  })`;
  const server = await startProcess([...runtime.flags, '--input-type=module', '-e', code], (line) => Number(line) || undefined, runtime.env);
  try {
    await new Promise<void>((resolve, reject) =>
      request({ host: '127.0.0.1', port: server.port, path: '/healthcheck' }, (res) => res.resume().on('end', resolve))
        .on('error', reject)
        .end(),
    );
    await new Promise((r) => setTimeout(r, 2000));
    return (await rssOf(server.child.pid!)).rssMB;
  } finally {
    server.child.kill();
  }
}

async function swiftLogin(port: number, user: string, key: string, agent: Agent): Promise<{ token: string; storagePath: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/auth/v1.0', headers: { 'X-Auth-User': user, 'X-Auth-Key': key }, agent }, (res) => {
      res.resume();
      resolve({ token: res.headers['x-auth-token'] as string, storagePath: new URL(res.headers['x-storage-url'] as string).pathname });
    })
      .on('error', reject)
      .end();
  });
}

async function endpoint(port: number, user: string, key: string, container: string): Promise<Endpoint> {
  const agent = new Agent({ keepAlive: true, maxSockets: 128 });
  const { token, storagePath } = await swiftLogin(port, user, key, agent);
  const e = { port, container: `${storagePath}/${container}`, headers: { 'X-Auth-Token': token }, agent };
  const made = await put({ ...e, container: storagePath }, container);
  if (made !== 201 && made !== 202) throw new Error(`creating ${container}: ${made}`);
  return e;
}

/** The figures of one server for one round. */
async function serverRound(e: Endpoint, src: string, singleMiB: number, pieceMiB: number, round: number, pid?: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const cpu0 = pid ? await cpuSeconds(pid) : 0;
  const [machine0, client0] = [await machineBusySeconds(), process.cpuUsage()];
  const single = await timed(() => put(e, `single-${round}.mkv`, { path: src, start: 0, length: singleMiB * MiB }));
  if (single.value !== 201) throw new Error(`single PUT: ${single.value}`);
  out.singleMBps = singleMiB / single.seconds;
  if (pid) out.cpuSecondsPerGiB = ((await cpuSeconds(pid)) - cpu0) * (1024 / singleMiB);
  // Whether the machine, not the server, was the limit: its cores busy over
  // the single PUT (the server, this client, the kernel), and this client's share.
  out.singleMachineBusyCores = ((await machineBusySeconds()) - machine0) / single.seconds;
  const client = process.cpuUsage(client0);
  out.singleClientCpuSecondsPerGiB = ((client.user + client.system) / 1e6) * (1024 / singleMiB);
  if (pid) await resetPeak(pid);
  const sixteen = await timed(() =>
    Promise.all(Array.from({ length: 16 }, (_, i) => put(e, `piece-${round}-${i}.mkv`, { path: src, start: i * pieceMiB * MiB, length: pieceMiB * MiB }))),
  );
  if (sixteen.value.some((s) => s !== 201)) throw new Error(`16-way PUT: ${sixteen.value.join(',')}`);
  out.sixteenMBps = (16 * pieceMiB) / sixteen.seconds;
  if (pid) out.peakRss16MB = (await rssOf(pid)).peakMB;
  // The first small PUTs after large ones run code not compiled yet (V8's
  // compiler threads are busy meanwhile): their rate is kept apart, and the
  // goal's figure is the rate that follows, which a running station sustains.
  const smallTotal = Math.max(500, Math.round(3000 * SCALE));
  out.smallPutColdPerSec = await rate(32, smallTotal, (i) => put(e, `cold-${round}-${i}`, { path: '', start: 0, length: 1024 }), 201);
  out.smallPutPerSec = await rate(32, smallTotal, (i) => put(e, `small-${round}-${i}`, { path: '', start: 0, length: 1024 }), 201);
  const headTotal = Math.max(2000, Math.round(15000 * SCALE));
  out.headPerSec = await rate(32, headTotal, (i) => put(e, `small-${round}-${i % smallTotal}`, undefined, 'HEAD'), 200);
  return out;
}

/**
 * 10× admission.maxUploads (8) uploading 1 MiB each at once: only 201 or 503
 * may answer (0: the connection was closed before the client read an answer);
 * the peak RSS.
 */
async function overload(e: Endpoint, src: string, pid: number, round: number): Promise<{ peakRssMB: number; statuses: Record<number, number> }> {
  await resetPeak(pid);
  const statuses: Record<number, number> = {};
  // New connections: sockets kept alive since the small PUTs may be closed by
  // the server's keep-alive timeout just as they are reused, which would be
  // counted as 0 here though no upload was refused that way.
  const fresh = { ...e, agent: new Agent({ keepAlive: true, maxSockets: 128 }) };
  await Promise.all(
    Array.from({ length: 80 }, async (_, i) => {
      const status = await put(fresh, `overload-${round}-${i}`, { path: src, start: i * MiB, length: MiB }).catch(() => 0);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }),
  );
  fresh.agent.destroy();
  if (Object.keys(statuses).some((s) => s !== '201' && s !== '503' && s !== '0')) throw new Error(`overload answered ${JSON.stringify(statuses)}`);
  return { peakRssMB: (await rssOf(pid)).peakMB, statuses };
}

export async function ingestFigures(base: string): Promise<Record<string, unknown>> {
  const singleMiB = Math.max(64, Math.round(512 * SCALE));
  const pieceMiB = singleMiB / 16;
  const src = join(base, 'random.bin');
  // Random bytes, written once: every baseline and every server reads this file.
  const handle = await open(src, 'w');
  for (let i = 0; i < singleMiB; i++) await handle.write(randomBytes(MiB));
  await handle.close();

  const runtime = await unitRuntime();
  const honoIdle = await minimalHonoIdleRss(runtime);
  const edgecd = await startEdgecd(join(base, 'ingest-data'), runtime);
  edgecd.child.stdout!.resume(); // the request log is part of the cost; its lines are discarded
  const pid = edgecd.child.pid!;
  await new Promise((r) => setTimeout(r, 2000));
  const idle = await rssOf(pid);
  const connection = JSON.parse(await readFile(join(base, 'ingest-data', 'connection.json'), 'utf8')) as { BlobAPIUserName: string; BlobAPIKey: string };
  const ours = await endpoint(edgecd.port, connection.BlobAPIUserName, connection.BlobAPIKey, 'bench');
  for (let i = 0; i < 3; i++) await swiftLogin(edgecd.port, connection.BlobAPIUserName, connection.BlobAPIKey, ours.agent); // a day's logins
  // Downloads are a reader's (a clerk's): the camera's account may only write.
  const readerKey = randomBytes(16).toString('hex');
  const added = spawnSync(process.execPath, ['dist/cli.js', 'user', 'add', 'bench-reader', '--role', 'reader', '--key', readerKey, '--data', join(base, 'ingest-data')], {
    cwd: ROOT,
  });
  if (added.status !== 0) throw new Error(`user add: ${added.stderr}`);
  const reader = { port: edgecd.port, headers: { 'X-Auth-Token': (await swiftLogin(edgecd.port, 'bench-reader', readerKey, ours.agent)).token }, agent: ours.agent };
  const bareFiles = await startBareFileServer(src, runtime);
  await new Promise((r) => setTimeout(r, 2000));
  const idleAfterLogins = await rssOf(pid);

  const { axisCdUnavailable, startAxisCd } = await import('../../test/helpers/axis-cd.ts');
  const goWhy = axisCdUnavailable();
  const go = goWhy ? undefined : await startAxisCd();
  const theirs = go ? await endpoint(go.port, go.user, go.key, 'bench') : undefined;

  const rounds: { edgecd: Record<string, number>; go?: Record<string, number>; base: Baseline; overload: { peakRssMB: number; statuses: Record<number, number> } }[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const baseline: Baseline = {
        ddMBps: await ddCopies(src, base, [{ skipMiB: 0, mib: singleMiB }]),
        ddDirectMBps: await ddCopies(src, base, [{ skipMiB: 0, mib: singleMiB }], ['oflag=direct', 'conv=fsync']),
        dd16MBps: await ddCopies(
          src,
          base,
          Array.from({ length: 16 }, (_, i) => ({ skipMiB: i * pieceMiB, mib: pieceMiB })),
        ),
        hashLimitMBps: await hashLimit(src),
        opensslSecondsPerGiB: opensslSecondsPerGiB(src, singleMiB),
        fsyncedFilesPerSec: await fsyncedFilesPerSecond(base, Math.max(500, Math.round(3000 * SCALE))),
      };
      // Each server starts on a quiet disk: the source file's and the Go CD's
      // unsynced writes (1–2 GB dirty) are flushed before, not on its time.
      spawnSync('sync');
      const e = await serverRound(ours, src, singleMiB, pieceMiB, r, pid);
      // The upload went past the page cache (O_DIRECT) and the bare server's file
      // is cached: one read first, so this compares the servers, not the disk.
      await getMBps(reader, `${ours.container}/single-${r}.mkv`);
      e.getMBps = await getMBps(reader, `${ours.container}/single-${r}.mkv`);
      baseline.bareGetMBps = await getMBps({ port: bareFiles.port, headers: {}, agent: ours.agent }, '/');
      spawnSync('sync');
      const g = theirs ? await serverRound(theirs, src, singleMiB, pieceMiB, r) : undefined;
      rounds.push({ edgecd: e, ...(g ? { go: g } : {}), base: baseline, overload: await overload(ours, src, pid, r) });
    }
  } finally {
    ours.agent.destroy();
    theirs?.agent.destroy();
    bareFiles.child.kill();
    edgecd.child.kill('SIGTERM');
    await new Promise((r) => edgecd.child.once('exit', r));
    await go?.stop();
    await rm(src, { force: true });
  }

  const of = (pick: (r: (typeof rounds)[number]) => number | undefined) => spread(rounds.map(pick).filter((x): x is number => x !== undefined));
  /** The HTTP figures both servers are measured on. */
  const httpFigures = (server: (r: (typeof rounds)[number]) => Record<string, number> | undefined) => ({
    singleMBps: of((r) => server(r)?.singleMBps),
    singleMachineBusyCores: of((r) => server(r)?.singleMachineBusyCores),
    singleClientCpuSecondsPerGiB: of((r) => server(r)?.singleClientCpuSecondsPerGiB),
    sixteenMBps: of((r) => server(r)?.sixteenMBps),
    smallPutColdPerSec: of((r) => server(r)?.smallPutColdPerSec),
    smallPutPerSec: of((r) => server(r)?.smallPutPerSec),
    headPerSec: of((r) => server(r)?.headPerSec),
  });
  // The disk's limit is the faster of dd's two ways to write it: edgecd writes
  // large bodies with O_DIRECT, which here beats dd through the page cache.
  const hashOrDisk = (r: (typeof rounds)[number]) => Math.min(Math.max(r.base.ddMBps, r.base.ddDirectMBps), r.base.hashLimitMBps);
  const goals = {
    singleOverDiskOrHashLimit: { value: of((r) => r.edgecd.singleMBps! / hashOrDisk(r)), goal: 0.9, atLeast: true },
    sixteenOverDd16: { value: of((r) => r.edgecd.sixteenMBps! / r.base.dd16MBps), goal: 0.8, atLeast: true },
    smallPutPerSec: { value: of((r) => r.edgecd.smallPutPerSec), goal: 2000, atLeast: true },
    headOverGo: theirs ? { value: of((r) => r.edgecd.headPerSec! / r.go!.headPerSec!), goal: 1.0, atLeast: true } : { skipped: goWhy },
    cpuPerGiBOverOpenssl: { value: of((r) => r.edgecd.cpuSecondsPerGiB! / r.base.opensslSecondsPerGiB), goal: 1.5, atLeast: false },
    idleRssMB: { value: spread([idle.rssMB]), goal: 60, atLeast: false },
    idleRssAfterLoginsMB: { value: spread([idleAfterLogins.rssMB]), goal: 60, atLeast: false },
    peakRss16MB: { value: of((r) => r.edgecd.peakRss16MB), goal: 120, atLeast: false },
    peakRssOverloadMB: { value: of((r) => r.overload.peakRssMB), goal: 120, atLeast: false },
  };
  return {
    rounds: ROUNDS,
    singleMiB,
    unit: runtime,
    goals,
    edgecd: {
      ...httpFigures((r) => r.edgecd),
      cpuSecondsPerGiB: of((r) => r.edgecd.cpuSecondsPerGiB),
      // No goal: what a clerk's pull or a browser's download gets, next to a bare node:http file stream.
      readerGetMBps: of((r) => r.edgecd.getMBps),
      readerGetOverBareNodeHttp: of((r) => r.edgecd.getMBps! / r.base.bareGetMBps!),
      idleRssMB: idle.rssMB,
      idleRssAfterLoginsMB: idleAfterLogins.rssMB,
      peakRss16MB: of((r) => r.edgecd.peakRss16MB),
      overload: { peakRssMB: of((r) => r.overload.peakRssMB), statuses: rounds.map((r) => r.overload.statuses) },
    },
    goReferenceCd: theirs ? httpFigures((r) => r.go) : { skipped: goWhy },
    baselines: {
      ddConvFsyncMBps: of((r) => r.base.ddMBps),
      ddDirectConvFsyncMBps: of((r) => r.base.ddDirectMBps),
      dd16ConvFsyncMBps: of((r) => r.base.dd16MBps),
      hashLimitMd5ThenSha256MBps: of((r) => r.base.hashLimitMBps),
      opensslMd5PlusSha256SecondsPerGiB: of((r) => r.base.opensslSecondsPerGiB),
      fsyncedSmallFilesPerSec: of((r) => r.base.fsyncedFilesPerSec),
      bareNodeHttpGetMBps: of((r) => r.base.bareGetMBps),
      minimalHonoIdleRssMB: honoIdle,
    },
  };
}

interface Baseline {
  bareGetMBps?: number;
  ddMBps: number;
  ddDirectMBps: number;
  dd16MBps: number;
  hashLimitMBps: number;
  opensslSecondsPerGiB: number;
  fsyncedFilesPerSec: number;
}
