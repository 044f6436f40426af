/**
 * The Axis reference content destination (the example server of the Body
 * Worn API, in ../shared/axis-cd/) on loopback, for replication tests: a
 * server of the API's that is neither edgecd nor Swift. It is built once by
 * the shared build script (.ci/run runs it; Debian's Go, offline) and started
 * here as its start.sh would, so this process owns it and its exit kills it.
 *
 * Its storage is readable as files (see the shared README): that is how a
 * test sees what it holds, since it refuses GETs outside System/.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './daemon.ts';
import { missingPeers } from './peers.ts';

const run = promisify(execFile);

/** Where the shared Axis CD sources are: beside the checkout, or named by AXIS_CD_DIR. */
function sharedDir(): string | undefined {
  const candidates = [process.env.AXIS_CD_DIR, join(ROOT, '../shared/axis-cd'), '/work/shared/axis-cd'].filter((d): d is string => !!d);
  return candidates.find((d) => existsSync(join(d, 'build.sh')));
}

const buildDir = () => process.env.AXIS_CD_BUILD ?? '/tmp/axis-cd-build';

/** Why the reference CD cannot run here, or undefined when it can. */
export function axisCdUnavailable(): string | undefined {
  // Its certificate is made with openssl, and its readiness asked with curl.
  const tools = missingPeers('openssl', 'curl');
  if (tools) return tools;
  if (existsSync(join(buildDir(), 'mss')) && existsSync(join(buildDir(), 'gocfg'))) return undefined;
  if (!sharedDir()) return 'the Axis reference CD sources (../shared/axis-cd) are not here';
  return `the Axis reference CD is not built (run ${sharedDir()}/build.sh; .ci/run does, with Debian's golang-1.23-go from bookworm-backports)`;
}

export interface AxisCd {
  dir: string;
  /** What the CD stores. */
  storage: string;
  port: number;
  scheme: 'http' | 'https';
  authUrl: string;
  user: string;
  key: string;
  /** The server's certificate (PEM), with https. */
  certPem?: string;
  /** The connection file start.sh writes (credentials, URI, pinned certificate), as an object. */
  connectionFile: Record<string, unknown>;
  /** Its request log: one line per request with method, path and status. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startAxisCd(options: { https?: boolean; capabilities?: object; categories?: object[] } = {}): Promise<AxisCd> {
  const why = axisCdUnavailable();
  if (why) throw new Error(why);
  const bin = buildDir();
  const dir = await mkdtemp(join(tmpdir(), 'axis-cd-'));
  const storage = join(dir, 'storage');
  const cfg = join(dir, 'cfg');
  await mkdir(join(storage, 'System'), { recursive: true });
  await mkdir(cfg);
  const port = await freePort();
  const key = `k${randomBytes(16).toString('hex')}`;
  const scheme = options.https ? 'https' : 'http';
  const { stdout: settings } = await run(join(bin, 'gocfg'), [storage, String(port), 'bws', key, ...(options.https ? ['https'] : [])]);
  await writeFile(join(cfg, 'settings.cfg'), settings);
  let certPem: string | undefined;
  if (options.https) {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(cfg, '0_server.key'),
      '-out',
      join(cfg, '0_server.crt'),
    ]);
    certPem = await readFile(join(cfg, '0_server.crt'), 'utf8');
  }
  if (options.capabilities) await writeFile(join(storage, 'System', 'Capabilities.json'), JSON.stringify(options.capabilities));
  if (options.categories) await writeFile(join(storage, 'System', 'Categories.json'), JSON.stringify(options.categories));
  const authUrl = `${scheme}://127.0.0.1:${port}/auth/v1.0`;
  const connectionFile: Record<string, unknown> = {
    ConnectionFileVersion: '1.0',
    SiteName: 'Axis reference CD',
    ApplicationName: 'Axis body worn Swift service example',
    ApplicationVersion: '1.6.13',
    ContentDestinationAsNTPServer: false,
    AuthenticationTokenURI: [authUrl],
    BlobAPIKey: key,
    BlobAPIUserName: 'bws',
    ContainerType: 'mkv',
    FullStoreAndReadSupport: false,
    WantEncryption: false,
    ...(certPem ? { HTTPSCertificate: [Buffer.from(certPem).toString('base64')] } : {}),
  };
  const logFile = join(dir, 'mss.log');
  const { openSync, closeSync } = await import('node:fs');
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // setpriv --pdeathsig: the kernel kills it if this process dies first. Not setsid (see the shared README).
    const setpriv = '/usr/bin/setpriv';
    const [cmd, args] = existsSync(setpriv) ? [setpriv, ['--pdeathsig', 'SIGKILL', '--', join(bin, 'mss')]] : [join(bin, 'mss'), []];
    child = spawn(cmd, args as string[], { env: { ...process.env, MSS_DIR: cfg }, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  // Ready once it authenticates, as start.sh waits.
  for (let i = 0; ; i++) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the Axis CD exited: ${await readFile(logFile, 'utf8')}`);
    const ok = await run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'X-Auth-User: bws', '-H', `X-Auth-Key: ${key}`, authUrl]).then(
      (r) => r.stdout === '200',
      () => false,
    );
    if (ok) break;
    if (i > 200) {
      await stop();
      throw new Error('the Axis CD did not answer');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dir,
    storage,
    port,
    scheme,
    authUrl,
    user: 'bws',
    key,
    ...(certPem ? { certPem } : {}),
    connectionFile,
    log: () => readFile(logFile, 'utf8'),
    stop,
  };
}

/** What the reference CD stores in a container: bytes and decoded metadata per object (keys lower case). */
export async function axisContainer(
  cd: AxisCd,
  container: string,
): Promise<{ meta: Record<string, string>; complete: boolean; objects: Map<string, { bytes: Buffer; meta: Record<string, string> }> } | undefined> {
  const folder = join(cd.storage, container);
  if (!existsSync(folder)) return undefined;
  const lower = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k.toLowerCase(), v]));
  const readMeta = async (file: string) => lower(JSON.parse(await readFile(join(folder, file), 'utf8')) as Record<string, string>);
  const names = await readdir(folder);
  const objects = new Map<string, { bytes: Buffer; meta: Record<string, string> }>();
  for (const name of names) {
    if (name.endsWith('.metadata.json') || name === 'complete' || name.endsWith('.bac')) continue;
    objects.set(name, { bytes: await readFile(join(folder, name)), meta: await readMeta(`${container}.${name}.metadata.json`).catch(() => ({})) });
  }
  return { meta: await readMeta(`${container}.metadata.json`).catch(() => ({})), complete: names.includes('complete'), objects };
}

/** Successful object PUTs in the reference CD's log, by container/object. */
export function axisObjectPuts(log: string): Map<string, number> {
  const puts = new Map<string, number>();
  for (const m of log.matchAll(/ PUT [^ ]+\/v1\.0\/abc\/([^ ]+) : Status 201/g)) {
    const parts = m[1]!.split('/');
    if (parts.length < 2) continue;
    const key = parts.map(decodeURIComponent).join('/');
    puts.set(key, (puts.get(key) ?? 0) + 1);
  }
  return puts;
}
