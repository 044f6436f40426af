/**
 * Runs the real daemon (`src/cli.ts serve`) as a child process on an
 * ephemeral port with a fresh data directory, and talks HTTP to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const CLI = join(ROOT, 'src/cli.ts');

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  config?: object;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** Header names exactly as sent, in order. */
  rawNames: string[];
  body: Buffer;
  text: string;
}

export class TestDaemon {
  readonly dataDir: string;
  readonly child: ChildProcess;
  readonly port: number;
  readonly logLines: string[];
  #exited: Promise<number | null>;

  private constructor(dataDir: string, child: ChildProcess, port: number, logLines: string[], exited: Promise<number | null>) {
    this.dataDir = dataDir;
    this.child = child;
    this.port = port;
    this.logLines = logLines;
    this.#exited = exited;
  }

  static async start(options: StartOptions = {}): Promise<TestDaemon> {
    const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'edgecd-test-')));
    const args = ['--import', 'tsx', CLI, 'serve', '--data', dataDir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off', ...(options.args ?? [])];
    if (options.config || !existsSync(join(dataDir, 'edgecd.json'))) {
      // No free-space reserve unless a test asks: a test machine's disk may be
      // nearly full, and the reserve is a share of the whole filesystem.
      const config = { ...options.config, quota: { reservePercent: 0, ...(options.config as { quota?: object } | undefined)?.quota } };
      await mkdir(dataDir, { recursive: true });
      // 0600: a config holding replication keys must be private to the daemon's user.
      await writeFile(join(dataDir, 'edgecd.json'), JSON.stringify(config), { mode: 0o600 });
    }
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
    return new TestDaemon(dataDir, child, port, logLines, exited);
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async connectionFile(): Promise<{ BlobAPIUserName: string; BlobAPIKey: string; AuthenticationTokenURI: string[] }> {
    return JSON.parse(await readFile(join(this.dataDir, 'connection.json'), 'utf8'));
  }

  /** Authenticates with the connection file's credentials. */
  async auth(): Promise<{ token: string; storageUrl: string; account: string }> {
    const file = await this.connectionFile();
    const res = await this.request('GET', file.AuthenticationTokenURI[0]!, { 'X-Auth-User': file.BlobAPIUserName, 'X-Auth-Key': file.BlobAPIKey });
    if (res.status !== 200) throw new Error(`auth failed: ${res.status}`);
    const storageUrl = res.headers['x-storage-url'] as string;
    return { token: res.headers['x-auth-token'] as string, storageUrl, account: new URL(storageUrl).pathname };
  }

  /** One HTTP request; `path` may be absolute or relative to the daemon. Raw paths are sent as given. */
  request(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string | AsyncIterable<Buffer>): Promise<Reply> {
    const url = path.startsWith('http') ? new URL(path) : undefined;
    return new Promise((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: this.port,
        method,
        path: url ? url.pathname + url.search : path,
        headers,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const rawNames = res.rawHeaders.filter((_, i) => i % 2 === 0);
          resolve({ status: res.statusCode!, headers: res.headers, rawNames, body, text: body.toString('utf8') });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
      else {
        void (async () => {
          for await (const chunk of body) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          req.end();
        })().catch((err) => req.destroy(err));
      }
    });
  }

  /** Stops with SIGTERM (clean) and waits; returns the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.#exited;
  }

  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.#exited;
  }

  async cleanup(): Promise<void> {
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** A Swift session: token plus helpers for account-relative paths. */
export class SwiftSession {
  readonly daemon: TestDaemon;
  readonly token: string;
  readonly account: string;

  constructor(daemon: TestDaemon, token: string, account: string) {
    this.daemon = daemon;
    this.token = token;
    this.account = account;
  }

  static async open(daemon: TestDaemon): Promise<SwiftSession> {
    const { token, account } = await daemon.auth();
    return new SwiftSession(daemon, token, account);
  }

  /** `rel` is appended to /v1/AUTH_x verbatim (encode it yourself). */
  req(method: string, rel: string, headers: Record<string, string> = {}, body?: Buffer | string | AsyncIterable<Buffer>): Promise<Reply> {
    return this.daemon.request(method, this.account + rel, { 'X-Auth-Token': this.token, ...headers }, body);
  }
}

export function runCli(args: string[], options: { input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(options.input ?? '');
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
