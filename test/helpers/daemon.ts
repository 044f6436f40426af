/**
 * Runs the real daemon on an ephemeral port with a fresh data directory, and
 * talks HTTP to it. By default the daemon runs inside the test's process
 * (`startDaemon`, what `serve` runs): a start costs no new Node. A test that
 * needs a process of its own (kill -9, signals, exit codes, stdout) asks for
 * one with `{ process: true }`: `serve` then runs as a child, as systemd runs it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, scryptSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Credentials, type KeyHash } from '../../src/auth/credentials.ts';
import type { Role } from '../../src/auth/roles.ts';
import { runCommand } from '../../src/cli/run.ts';
import { withOutput } from '../../src/cli/output.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { loadConfig } from '../../src/config/config.ts';
import { initDataDir } from '../../src/admin/data-dir.ts';
import { distIsFresh } from '../../scripts/dist-fresh.ts';
import { ROOT } from './root.ts';

export { ROOT };
export const CLI = join(ROOT, 'src/cli.ts');

/**
 * Node's arguments to run the CLI: the build (dist/, what production runs)
 * when it matches its sources, as `npm test` leaves it; else the sources
 * through tsx. The build starts in half the time.
 */
export const CLI_ARGS: readonly string[] = distIsFresh(ROOT) ? [join(ROOT, 'dist/cli.js')] : ['--import', 'tsx', CLI];

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  config?: object;
  /** Serve HTTPS (certificates generated on first start) instead of the plain HTTP tests use by default. */
  https?: boolean;
  /** Run `serve` as a child process (for kill -9, signals, exit codes), not inside the test's process. */
  process?: boolean;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** Header names exactly as sent, in order. */
  rawNames: string[];
  body: Buffer;
  text: string;
}

/**
 * Users every test daemon has besides the body-worn system's (an uploader,
 * which may not read evidence back): a reader and an admin, with known keys.
 */
export const TEST_USERS = {
  reader: { user: 'test-reader', key: 'reader-key-for-tests-only' },
  admin: { user: 'test-admin', key: 'admin-key-for-tests-only' },
  replicator: { user: 'test-replicator', key: 'replicator-key-for-tests-only' },
} as const;

export type TestRole = 'uploader' | keyof typeof TEST_USERS;

/**
 * Test stations' keys are hashed with scrypt N = 2^10, not the station's
 * 2^14: the daemon checks a key with the parameters its record carries, and
 * the tests log in some four hundred times. init still makes the body-worn
 * system's user as on a station (and the CLI and install tests log in
 * against such a record); its key is then re-hashed here, unchanged.
 */
const FIXTURE_SCRYPT = { N: 1024, r: 8, p: 1 } as const;

function fixtureKeyHash(key: string): KeyHash {
  const salt = randomBytes(16);
  return { salt: salt.toString('base64'), hash: scryptSync(key, salt, 32, FIXTURE_SCRYPT).toString('base64'), ...FIXTURE_SCRYPT };
}

/** Re-hashes the body-worn system's key and adds TEST_USERS in its account, as `edgecd user add` would. */
async function setUpTestUsers(dataDir: string): Promise<void> {
  const file = join(dataDir, 'credentials.json');
  const [bws, ...others] = (await Credentials.load(file)).users;
  const { BlobAPIUserName, BlobAPIKey } = JSON.parse(await readFile(join(dataDir, 'connection.json'), 'utf8')) as { BlobAPIUserName: string; BlobAPIKey: string };
  if (bws?.user !== BlobAPIUserName) throw new Error(`credentials.json: the first user is ${bws?.user}, not the connection file's ${BlobAPIUserName}`);
  const added = Object.entries(TEST_USERS).map(([role, u]) => ({ user: u.user, account: bws.account, role: role as Role, key: fixtureKeyHash(u.key) }));
  await new Credentials([{ ...bws, key: fixtureKeyHash(BlobAPIKey) }, ...others, ...added]).save(file);
}

export class TestDaemon {
  readonly dataDir: string;
  readonly port: number;
  readonly logLines: string[];
  /** Stops the daemon cleanly (at most once) and resolves with its exit code. */
  readonly #stop: () => Promise<number | null>;
  /** The `serve` process and its exit, when the test asked for one. */
  readonly #process: { child: ChildProcess; exited: Promise<number | null> } | undefined;

  private constructor(dataDir: string, port: number, logLines: string[], stop: () => Promise<number | null>, process?: { child: ChildProcess; exited: Promise<number | null> }) {
    this.dataDir = dataDir;
    this.port = port;
    this.logLines = logLines;
    this.#stop = stop;
    this.#process = process;
  }

  /** The `serve` process of a daemon started with `{ process: true }`. */
  get child(): ChildProcess {
    if (!this.#process) throw new Error('this daemon runs in the test process: start it with { process: true } for a child');
    return this.#process.child;
  }

  static async start(options: StartOptions = {}): Promise<TestDaemon> {
    const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'edgecd-test-')));
    if (options.config || !existsSync(join(dataDir, 'edgecd.json'))) {
      // No free-space reserve unless a test asks: a test machine's disk may be
      // nearly full, and the reserve is a share of the whole filesystem.
      const config = { ...options.config, quota: { reservePercent: 0, ...(options.config as { quota?: object } | undefined)?.quota } };
      await mkdir(dataDir, { recursive: true });
      // 0600: a config holding replication keys must be private to the daemon's user.
      await writeFile(join(dataDir, 'edgecd.json'), JSON.stringify(config), { mode: 0o600 });
    }
    if (!existsSync(join(dataDir, 'credentials.json'))) {
      // Set up as an operator would before the first start: init, then the extra users.
      await initDataDir(dataDir, {}, () => loadConfig(join(dataDir, 'edgecd.json'), true), { host: '127.0.0.1', port: 0 });
      await setUpTestUsers(dataDir);
    }
    return options.process ? TestDaemon.#spawn(dataDir, options) : TestDaemon.#inProcess(dataDir, options);
  }

  static async #inProcess(dataDir: string, options: StartOptions): Promise<TestDaemon> {
    const logLines: string[] = [];
    let partial = '';
    const logTo = {
      write(chunk: string) {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop()!;
        logLines.push(...lines);
      },
    };
    const args = options.args ?? [];
    const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
    const known = ['--listen', '--ntp-listen', '--config'];
    const unknown = args.filter((a, i) => !known.includes(a) && !known.includes(args[i - 1]!));
    if (unknown.length > 0) throw new Error(`TestDaemon: ${unknown.join(' ')} needs { process: true }`);
    let daemon: Daemon;
    try {
      daemon = await startDaemon({
        dataDir,
        listen: arg('--listen') ?? '127.0.0.1:0',
        ntpListen: arg('--ntp-listen') ?? 'off',
        plaintext: !options.https,
        logTo,
        ...(arg('--config') ? { configFile: arg('--config')! } : {}),
      });
    } catch (err) {
      throw new Error(`daemon failed to start: ${(err as Error).message}\n${logLines.join('\n')}`, { cause: err });
    }
    let closed: Promise<number | null> | undefined;
    return new TestDaemon(dataDir, daemon.address.port, logLines, () => (closed ??= daemon.close().then(() => 0)));
  }

  static async #spawn(dataDir: string, options: StartOptions): Promise<TestDaemon> {
    const args = [...CLI_ARGS, 'serve', '--data', dataDir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off', ...(options.https ? [] : ['--plain-http']), ...(options.args ?? [])];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const logLines: string[] = [];
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const stderr: string[] = [];
    child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        logLines.push(line);
        try {
          const entry = JSON.parse(line) as { msg?: string; listen?: string };
          if (entry.msg === 'ready' && entry.listen) resolve(Number(entry.listen.split(':').pop()));
        } catch {
          // not JSON: ignore
        }
      });
      void exited.then((code) => reject(new Error(`daemon exited (${code}) before ready:\n${stderr.join('')}\n${logLines.join('\n')}`)));
    });
    const stop = () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    };
    return new TestDaemon(dataDir, port, logLines, stop, { child, exited });
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Signs in to the web console as a browser would (a form POST from the station's own origin): the session cookie header. */
  async consoleSession(user: string, key: string): Promise<{ Cookie: string }> {
    const login = await fetch(`${this.base}/console/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { Origin: this.base, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user, key }),
    });
    const cookie = login.headers.get('set-cookie');
    if (login.status !== 303 || !cookie) throw new Error(`console sign-in as ${user}: ${login.status}`);
    return { Cookie: cookie.split(';')[0]! };
  }

  async connectionFile(): Promise<{ BlobAPIUserName: string; BlobAPIKey: string; AuthenticationTokenURI: string[]; HTTPSCertificate?: string[] }> {
    return JSON.parse(await readFile(join(this.dataDir, 'connection.json'), 'utf8'));
  }

  /** Authenticates with the connection file's credentials (the BWS's uploader), or as the test reader or admin. */
  async auth(as: TestRole = 'uploader'): Promise<{ token: string; storageUrl: string; account: string }> {
    const file = await this.connectionFile();
    const { user, key } = as === 'uploader' ? { user: file.BlobAPIUserName, key: file.BlobAPIKey } : TEST_USERS[as];
    const url = new URL(file.AuthenticationTokenURI[0]!);
    const res = await this.request('GET', url.pathname, { 'X-Auth-User': user, 'X-Auth-Key': key });
    if (res.status !== 200) throw new Error(`auth failed: ${res.status}`);
    const storageUrl = res.headers['x-storage-url'] as string;
    return { token: res.headers['x-auth-token'] as string, storageUrl, account: new URL(storageUrl).pathname };
  }

  /** One HTTP request; `path` may be absolute or relative to the daemon. Raw paths are sent as given. */
  request(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string | AsyncIterable<Buffer>): Promise<Reply> {
    const url = path.startsWith('http') ? new URL(path) : undefined;
    return new Promise((resolve, reject) => {
      let answered = false;
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path: url ? url.pathname + url.search : path,
          headers,
        },
        (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            const rawNames = res.rawHeaders.filter((_, i) => i % 2 === 0);
            resolve({ status: res.statusCode!, headers: res.headers, rawNames, body, text: body.toString('utf8') });
          });
          res.on('error', reject);
        },
      );
      // A server that answers before reading the whole body (507, 413) may close while
      // the body is still being written: the answer, once here, is what counts.
      req.on('error', (err) => {
        if (!answered) reject(err);
      });
      if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
      else {
        void (async () => {
          for await (const chunk of body) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          req.end();
        })().catch((err) => req.destroy(err));
      }
    });
  }

  /** Stops cleanly (SIGTERM for a process) and waits; returns the exit code. */
  stop(): Promise<number | null> {
    return this.#stop();
  }

  /** Kills the `serve` process (a daemon started with `{ process: true }`) as power loss would. */
  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.#process!.exited;
  }

  async cleanup(): Promise<void> {
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * A Swift session as a station's users see it: writes and HEADs with the
 * body-worn system's token (an uploader), GETs with a reader's, since an
 * uploader may not read evidence back. A test that wants one token for
 * everything passes X-Auth-Token itself.
 */
export class SwiftSession {
  readonly daemon: TestDaemon;
  readonly token: string;
  readonly readerToken: string;
  readonly account: string;

  constructor(daemon: TestDaemon, token: string, readerToken: string, account: string) {
    this.daemon = daemon;
    this.token = token;
    this.readerToken = readerToken;
    this.account = account;
  }

  static async open(daemon: TestDaemon): Promise<SwiftSession> {
    const [{ token, account }, reader] = await Promise.all([daemon.auth(), daemon.auth('reader')]);
    return new SwiftSession(daemon, token, reader.token, account);
  }

  /** `rel` is appended to /v1/AUTH_x verbatim (encode it yourself). */
  req(method: string, rel: string, headers: Record<string, string> = {}, body?: Buffer | string | AsyncIterable<Buffer>): Promise<Reply> {
    const token = method === 'GET' ? this.readerToken : this.token;
    return this.daemon.request(method, this.account + rel, { 'X-Auth-Token': token, ...headers }, body);
  }
}

/** Commands that need a process of their own: `serve` waits for signals, `appliance` acts on the machine. */
const PROCESS_COMMANDS = new Set(['serve', 'appliance']);

/**
 * A body-worn system uploading to `daemon` from its connection file, as
 * `edgecd simulate` does: `options` are simulate's own (`{ users: 1, extras:
 * true }` is `--users 1 --extras`), `extra` further arguments as they are.
 * Returns the recordings it made, in the order it reports them.
 */
export async function simulateOn(daemon: TestDaemon, options: Record<string, string | number | true>, extra: string[] = []): Promise<string[]> {
  const flags = Object.entries(options).flatMap(([name, value]) => (value === true ? [`--${name}`] : [`--${name}`, String(value)]));
  const sim = await runCli(['simulate', '--connection', join(daemon.dataDir, 'connection.json'), ...flags, ...extra]);
  assert.equal(sim.code, 0, sim.stderr);
  return (JSON.parse(sim.stdout) as { recordings: string[] }).recordings;
}

/**
 * Runs the CLI as an operator would and collects what it printed. It runs in
 * the test's process (the same `runCommand` src/cli.ts runs, its output
 * redirected) unless the command, or the test, needs a process: then it is
 * spawned, from dist/ when that is current.
 */
export async function runCli(args: string[], options: { input?: string; process?: boolean } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (options.process || options.input !== undefined || PROCESS_COMMANDS.has(args[0] ?? '')) return spawnCli(args, options.input);
  let stdout = '';
  let stderr = '';
  const code = await withOutput({ stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) }, () => runCommand(args));
  return { code, stdout, stderr };
}

function spawnCli(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI_ARGS, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
