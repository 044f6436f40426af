/**
 * Starts a throw-away single-node OpenStack Swift (proxy + account +
 * container + object servers + memcached, tempauth) on loopback, from the
 * Debian `swift-*` packages, so integration tests can compare our daemon
 * with the real thing. Everything lives in one temp dir that stop() removes.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

/** Where and as whom to log in to a Swift account. */
export interface SwiftLogin {
  /** e.g. http://127.0.0.1:<proxyPort>/auth/v1.0 */
  authUrl: string;
  /** tempauth's 'account:user', e.g. 'test:tester' */
  user: string;
  key: string;
}

export interface OpenStackSwift extends SwiftLogin {
  /** Another account of the same cluster, one of those asked for at the start: suites sharing a cluster keep apart. */
  account(name: string): SwiftLogin;
  /** temp dir with configs, rings, devices, logs */
  dir: string;
  /** Kills all processes it started (proxy, account, container, object servers, memcached), then removes dir. */
  stop(): Promise<void>;
}

const BIN = '/usr/bin';
const SERVERS = ['account', 'container', 'object'] as const;
const REQUIRED = ['swift-proxy-server', 'swift-account-server', 'swift-container-server', 'swift-object-server', 'swift-ring-builder', 'memcached'].map((name) => join(BIN, name));
/** util-linux; lets the kernel kill a child if this process dies without running stop(). */
const SETPRIV = join(BIN, 'setpriv');
/** Debian package swift-object-expirer. */
const EXPIRER = join(BIN, 'swift-object-expirer');
/** Written into the cluster's dir by startOpenStackSwift(). */
const EXPIRER_CONF = 'object-expirer.conf';
/** Debian packages swift-object and swift-container: they feed the expirer's queue. */
const UPDATERS = [join(BIN, 'swift-object-updater'), join(BIN, 'swift-container-updater')] as const;
const DAEMON_TIMEOUT_MS = 30_000;
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 3_000;
const USER = 'test:tester';
const KEY = 'testing';

const run = promisify(execFile);

/** False when the Swift or memcached packages are missing, so tests can skip with a clear reason. */
export function openStackSwiftAvailable(): boolean {
  return REQUIRED.every((path) => existsSync(path));
}

/** False when swift-object-expirer (or the cluster itself) is missing. */
export function objectExpirerAvailable(): boolean {
  return openStackSwiftAvailable() && [EXPIRER, ...UPDATERS].every((path) => existsSync(path));
}

/**
 * Runs Swift's object expirer once against `cluster`, believing the time is
 * `options.now`: every object whose X-Delete-At is at or before `now` is
 * deleted (object server and container listing) and dropped from the
 * .expiring_objects queue. Objects without X-Delete-At are untouched.
 *
 * A real cluster's background daemons feed the expirer, so this first runs
 * each of them once, on the real clock: swift-object-updater (flushes the
 * object servers' async pendings, e.g. the queue entry that a POST removing
 * X-Delete-At cancels) and swift-container-updater (reports the queue's
 * containers to the account server; until then the expirer sees an empty
 * .expiring_objects account). Then `swift-object-expirer CONF --once -v`.
 *
 * Swift refuses an X-Delete-At in the past, so a test sets one in the future
 * and runs this with a later `now`. Only the expirer's clock moves: a few
 * lines of Python shift `time.time` before Swift is imported (expirer.py's
 * `from time import time` and `Timestamp.now()` both read it; eventlet's
 * timers use the monotonic clock). The servers keep the real time, which is
 * fine: the expirer's DELETE carries X-Timestamp = the object's X-Delete-At,
 * and the object server judges it by that, not by its own clock.
 *
 * The daemons log failures yet exit 0, so this throws if one logged an
 * error or did not finish its pass. `expired` is what the expirer counted.
 */
export async function runObjectExpirer(cluster: Pick<OpenStackSwift, 'dir'>, options: { now: Date | number }): Promise<{ expired: number; stdout: string; stderr: string }> {
  const now = options.now instanceof Date ? options.now.getTime() : options.now;
  if (!Number.isFinite(now)) throw new Error(`runObjectExpirer: bad now ${String(options.now)}`);
  const [objectUpdater, containerUpdater] = UPDATERS;
  const objects = await runOnce(objectUpdater, join(cluster.dir, 'object-server.conf'));
  const containers = await runOnce(containerUpdater, join(cluster.dir, 'container-server.conf'));
  const expirer = await runOnce(EXPIRER, join(cluster.dir, EXPIRER_CONF), (now - Date.now()) / 1000);
  const stdout = objects.stdout + containers.stdout + expirer.stdout;
  const stderr = objects.stderr + containers.stderr + expirer.stderr; // where they log (-v)
  const output = stdout + stderr;
  const clean =
    /sweep completed: .* 0 failures, 0 quarantines, \d+ unlinks, 0 errors/.test(objects.stderr) &&
    /sweep completed: .* 0 failures/.test(containers.stderr) &&
    !/ERROR|CRITICAL|Traceback|Unhandled exception|Exception while|Unexpected response/.test(output);
  const pass = /Pass completed in \S+; (\d+) objects expired/.exec(expirer.stderr);
  if (!clean || !pass) throw new Error(`swift-object-expirer or the updaters before it did not complete a clean pass:\n${output}`);
  return { expired: Number(pass[1]), stdout, stderr };
}

/**
 * `BIN CONF --once -v` with the Swift packages' Python (the daemons log to
 * stderr). With `clockOffsetSeconds`, the daemon's time.time() runs that far
 * ahead.
 */
async function runOnce(bin: string, conf: string, clockOffsetSeconds = 0): Promise<{ stdout: string; stderr: string }> {
  const shift = `
import runpy, sys, time
offset = float(sys.argv.pop(1))
real_time, real_time_ns = time.time, time.time_ns
time.time = lambda: real_time() + offset
time.time_ns = lambda: real_time_ns() + int(offset * 1e9)
sys.argv[0] = sys.argv.pop(1)
runpy.run_path(sys.argv[0], run_name='__main__')
`;
  const args = [bin, conf, '--once', '-v'];
  try {
    return await run(await pythonOf(bin), clockOffsetSeconds ? ['-c', shift, String(clockOffsetSeconds), ...args] : args, {
      cwd: dirname(conf),
      timeout: DAEMON_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${bin} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
  }
}

/** The interpreter the Swift packages were installed for: the one in a Swift script's shebang. */
async function pythonOf(script: string): Promise<string> {
  const shebang = (await readFile(script, 'utf8')).split('\n', 1)[0]!;
  return shebang.replace(/^#!\s*/, '').split(/\s+/)[0]!;
}

interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<void>;
  log: string;
}

/** Starts a cluster with the account 'test' and any further `accounts` (tempauth users `<account>:tester`). */
export async function startOpenStackSwift(options: { accounts?: string[] } = {}): Promise<OpenStackSwift> {
  const accounts = ['test', ...(options.accounts ?? [])];
  if (!accounts.every((a) => /^[a-z0-9]+$/.test(a))) throw new Error(`account names are lower-case letters and digits: ${accounts.join(', ')}`);
  const dir = await mkdtemp(join(tmpdir(), 'openstack-swift-'));
  const children: Child[] = [];
  // Belt and braces for a test process that exits without calling stop():
  // the servers call setsid(), so they would not get the terminal's signals.
  const killOnExit = () => {
    for (const c of children) if (isRunning(c.proc)) c.proc.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const deadline = Date.now() + START_TIMEOUT_MS;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all(children.map((c) => terminate(c)));
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    })());

  try {
    const ports = { proxy: await freePort(), account: await freePort(), container: await freePort(), object: await freePort(), memcached: await freePort() };
    await writeConfigs(dir, ports, accounts);
    // Booting the backends meanwhile was tried: it starves the ring builds of
    // CPU and delays the proxy, which is the slowest to come up.
    await buildRings(dir, ports);

    const memcachedArgs = ['-l', '127.0.0.1', '-p', String(ports.memcached), '-U', '0'];
    // memcached refuses to run as root unless told which user to be.
    if (process.getuid?.() === 0) memcachedArgs.push('-u', 'root');
    children.push(launch(dir, 'memcached', join(BIN, 'memcached'), memcachedArgs));
    for (const server of SERVERS) {
      // -v: log to stderr (our log file) too; there is no syslog to read here.
      children.push(launch(dir, `${server}-server`, join(BIN, `swift-${server}-server`), [join(dir, `${server}-server.conf`), '-v']));
    }
    children.push(launch(dir, 'proxy-server', join(BIN, 'swift-proxy-server'), [join(dir, 'proxy-server.conf'), '-v']));
    // The proxy error-limits a backend for 60 s after ten refused connections,
    // so nothing may reach it through the proxy before every backend listens.
    await waitFor(children, deadline, async () => {
      const up = await Promise.all([ports.memcached, ports.account, ports.container, ports.object].map(listening));
      return up.every(Boolean);
    });
    const proxy = `http://127.0.0.1:${ports.proxy}`;
    await waitFor(children, deadline, () => serves(proxy));
    const authUrl = `${proxy}/auth/v1.0`;
    const account = (name: string): SwiftLogin => {
      if (!accounts.includes(name)) throw new Error(`no account ${name}: start the cluster with it`);
      return { authUrl, user: `${name}:tester`, key: KEY };
    };
    return { ...account('test'), account, dir, stop };
  } catch (err) {
    const logs = await logTails(children);
    await stop();
    throw new Error(`OpenStack Swift did not start: ${(err as Error).message}\n${logs}`, { cause: err });
  }
}

/** True once the proxy answers health checks, authenticates, and can create (and delete) a container. */
async function serves(proxy: string): Promise<boolean> {
  const health = await tryFetch(`${proxy}/healthcheck`);
  if (health?.status !== 200) return false;
  const auth = await tryFetch(`${proxy}/auth/v1.0`, { headers: { 'X-Auth-User': USER, 'X-Auth-Key': KEY } });
  const storageUrl = auth?.headers.get('x-storage-url');
  const token = auth?.headers.get('x-auth-token');
  if (auth?.status !== 200 || !storageUrl || !token) return false;
  // The first container PUT also autocreates the account: proof the whole
  // chain (proxy, memcached, account and container servers, rings) works.
  const probe = `${storageUrl}/readiness-${randomBytes(4).toString('hex')}`;
  const put = await tryFetch(probe, { method: 'PUT', headers: { 'X-Auth-Token': token } });
  if (put?.status !== 201 && put?.status !== 202) return false;
  const del = await tryFetch(probe, { method: 'DELETE', headers: { 'X-Auth-Token': token } });
  return del?.status === 204;
}

/** A fetch that reports "not yet" (undefined) rather than throwing while servers come up. */
async function tryFetch(url: string, init: RequestInit = {}): Promise<Response | undefined> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
    await res.arrayBuffer(); // free the connection
    return res;
  } catch {
    return undefined;
  }
}

/** Polls `ready` until it holds; fails early if any child has died, since it will not come back. */
async function waitFor(children: Child[], deadline: number, ready: () => Promise<boolean>): Promise<void> {
  for (;;) {
    const dead = children.find((c) => !isRunning(c.proc));
    if (dead) throw new Error(`${dead.name} exited (code ${dead.proc.exitCode}, signal ${dead.proc.signalCode})`);
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`not ready after ${START_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function launch(dir: string, name: string, bin: string, args: string[]): Child {
  const log = join(dir, 'logs', `${name}.log`);
  const fd = openSync(log, 'a');
  try {
    // setpriv --pdeathsig: if this process is SIGKILLed, the kernel kills the child.
    const [cmd, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', bin, ...args]] : [bin, args];
    const proc = spawn(cmd, argv, { cwd: dir, stdio: ['ignore', fd, fd] });
    const exited = new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.once('error', () => resolve()); // spawn failure: there is no process to wait for
    });
    return { name, proc, exited, log };
  } finally {
    closeSync(fd); // the child holds its own copy
  }
}

function isRunning(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined;
}

/** SIGTERM, then SIGKILL if still alive after a grace period; resolves once the process is gone. */
async function terminate(child: Child): Promise<void> {
  if (!isRunning(child.proc)) return;
  child.proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)));
  await Promise.race([child.exited, grace]);
  clearTimeout(timer);
  if (isRunning(child.proc)) {
    child.proc.kill('SIGKILL');
    await child.exited;
  }
}

async function logTails(children: Child[], lines = 25): Promise<string> {
  const parts = await Promise.all(
    children.map(async (c) => {
      const text = await readFile(c.log, 'utf8').catch(() => '');
      return `--- ${c.name} (${c.log}) ---\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
    }),
  );
  return parts.join('\n');
}

/** An ephemeral port that was free a moment ago (the usual small race is acceptable in tests). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * The three rings, each 2^10 partitions, 1 replica, min_part_hours 1 (the
 * smallest sensible single-device ring), built by Swift's own RingBuilder in
 * one Python: what `swift-ring-builder create`, `add` and `rebalance` do, in
 * one interpreter start instead of nine.
 */
async function buildRings(dir: string, ports: Record<(typeof SERVERS)[number], number>): Promise<void> {
  const script = `
import sys
from swift.common.ring import RingBuilder
for spec in sys.argv[1:]:
    path, port = spec.rsplit('=', 1)
    builder = RingBuilder(10, 1, 1)
    builder.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': int(port), 'replication_ip': '127.0.0.1', 'replication_port': int(port), 'device': 'd1', 'weight': 1})
    builder.rebalance()
    builder.get_ring().save(path)
`;
  await run(await pythonOf(join(BIN, 'swift-ring-builder')), ['-c', script, ...SERVERS.map((ring) => `${join(dir, `${ring}.ring.gz`)}=${ports[ring]}`)]);
}

async function writeConfigs(dir: string, ports: Record<'proxy' | 'account' | 'container' | 'object' | 'memcached', number>, accounts: string[]): Promise<void> {
  await mkdir(join(dir, 'devices', 'd1'), { recursive: true });
  await mkdir(join(dir, 'logs'));
  // The servers run in the foreground (workers = 0, no forking) as us; with
  // mount_check off, the plain directory devices/d1 is a valid device.
  const common = (name: string, port: number) => `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
user = ${userInfo().username}
swift_dir = ${dir}
devices = ${join(dir, 'devices')}
mount_check = false
log_name = ${name}
`;
  const hash = () => randomBytes(8).toString('hex');
  await writeFile(
    join(dir, 'swift.conf'),
    `[swift-hash]
swift_hash_path_suffix = ${hash()}
swift_hash_path_prefix = ${hash()}

[storage-policy:0]
name = Policy-0
default = yes
`,
  );
  for (const server of SERVERS) {
    await writeFile(
      join(dir, `${server}-server.conf`),
      `${common(`${server}-server`, ports[server])}
[pipeline:main]
pipeline = ${server}-server

[app:${server}-server]
use = egg:swift#${server}
${
  // Without this the object server answers 507 when the test disk is over
  // 99% full (its default 1% free-space reserve).
  server === 'object' ? 'fallocate_reserve = 0\n' : ''
}${
  // For runObjectExpirer(): the daemons that feed the expirer's queue.
  server === 'object'
    ? `\n[object-updater]\nrecon_cache_path = ${dir}\nobjects_per_second = 0\n`
    : server === 'container'
      ? `\n[container-updater]\nrecon_cache_path = ${dir}\ncontainers_per_second = 0\n`
      : ''
}`,
    );
  }
  // The pipeline lists every filter the proxy would otherwise insert itself
  // (catch_errors, gatekeeper, listing_formats, copy, dlo, versioned_writes).
  await writeFile(
    join(dir, 'proxy-server.conf'),
    `${common('proxy-server', ports.proxy)}
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats tempauth copy dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
${accounts.map((a) => `user_${a}_tester = ${KEY} .admin\n`).join('')}
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${ports.memcached}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
`,
  );
  // For runObjectExpirer(). The name must contain 'expirer': only then does
  // Swift 2.30.1's expirer read the (legacy) .expiring_objects queue and use
  // this same file as its internal client's proxy config. That proxy talks to
  // the backends directly, so there is no auth in its pipeline.
  await writeFile(
    join(dir, EXPIRER_CONF),
    `[DEFAULT]
user = ${userInfo().username}
swift_dir = ${dir}
log_name = object-expirer

[object-expirer]
recon_cache_path = ${dir}
# no pause between deletes
tasks_per_second = 0

[pipeline:main]
pipeline = catch_errors proxy-logging cache proxy-server

[app:proxy-server]
use = egg:swift#proxy

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${ports.memcached}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:proxy-logging]
use = egg:swift#proxy_logging
`,
  );
}
