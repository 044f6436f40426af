/**
 * `edgecd pull` as an evidence clerk runs it, from a central edgecd (from a
 * real OpenStack Swift: openstack-swift.test.ts): verified byte for byte,
 * resumable, and honest about corruption.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadStationKey, signHead } from '../src/audit/station-key.ts';
import { needs } from './helpers/peers.ts';
import { CLI_ARGS, ROOT, runCli, TEST_USERS, TestDaemon } from './helpers/daemon.ts';
import { assertPulledFolders } from './helpers/pulled.ts';
import { md5, sha256 } from './helpers/hashes.ts';

const run = promisify(execFile);
const reader = TEST_USERS.reader;

async function simulate(daemon: TestDaemon, ...args: string[]): Promise<string[]> {
  const res = await runCli(['simulate', '--connection', join(daemon.dataDir, 'connection.json'), '--users', '2', '--devices', '1', ...args]);
  assert.equal(res.code, 0, res.stderr);
  return (JSON.parse(res.stdout) as { recordings: string[] }).recordings;
}

async function pullTo(authUrl: string, user: string, key: string, to: string, ...selection: string[]) {
  return runCli(['pull', '--from', authUrl, '--user', user, '--key', key, '--to', to, ...selection]);
}

describe('pull from a central edgecd', () => {
  let central: TestDaemon;
  let work: string;
  let recordings: string[];
  let authUrl: string;

  before(async () => {
    central = await TestDaemon.start();
    work = await mkdtemp(join(tmpdir(), 'edgecd-pull-'));
    recordings = await simulate(central, '--recordings', '3', '--clips', '2', '--clip-bytes', '200000', '--extras');
    authUrl = (await central.connectionFile()).AuthenticationTokenURI[0]!;
  });
  after(async () => {
    await central.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  test('every recording arrives verified: sha256sum -c passes, metadata, custody and track are there', async () => {
    const to = join(work, 'all');
    const res = await pullTo(authUrl, reader.user, reader.key, to, '--all');
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /3 recordings/);
    assert.deepEqual((await readdir(to)).sort(), [...recordings].sort());
    await assertPulledFolders(to, recordings);
    const folder = join(to, recordings[0]!);
    const custody = JSON.parse(await readFile(join(folder, 'custody.json'), 'utf8')) as {
      objects: { file: string; sha256: string; sha256OnArrival: string; verified: string[] }[];
      auditExcerpt: { action: string; actor: string }[];
    };
    assert.ok(custody.auditExcerpt.filter((l) => l.action === 'object.put' && l.actor === 'bws').length >= 2, "the source's audit lines for the recording");
    assert.ok(
      custody.auditExcerpt.some((l) => l.action === 'object.get' && l.actor === reader.user),
      "including this pull's own reads",
    );
    for (const o of custody.objects) {
      assert.equal(o.sha256, o.sha256OnArrival, `${o.file}: checked against the SHA-256 recorded on arrival`);
      const bytes = await readFile(join(folder, o.file));
      assert.equal(sha256(bytes), o.sha256);
    }
    const metadata = JSON.parse(await readFile(join(folder, 'metadata.json'), 'utf8')) as { objects: { name: string; bookmark?: { tags: Record<string, string> } }[] };
    assert.ok(
      metadata.objects.some((o) => o.bookmark && Object.keys(o.bookmark.tags).length > 0),
      'bookmark tags parsed into key/value pairs',
    );
    const track = JSON.parse(await readFile(join(folder, 'track.geojson'), 'utf8')) as { type: string; features: { geometry: { type: string } }[] };
    assert.equal(track.type, 'FeatureCollection');
    const gpx = await runCli(['export', 'gnss', folder, '--format', 'gpx']);
    assert.equal(gpx.code, 0, gpx.stderr);
    assert.match(gpx.stdout, /<trkpt lat="-?\d/);
  });

  test('a second pull fetches nothing already there and verified', async () => {
    const to = join(work, 'all');
    const res = await pullTo(authUrl, reader.user, reader.key, to, '--device', 'B8A44F000001');
    assert.equal(res.code, 0, res.stdout);
    assert.match(res.stdout, /\(0 fetched\)/);
    assert.doesNotMatch(res.stdout, /\([1-9]\d* fetched\)/);
  });

  test("the camera system's own credentials cannot pull", async () => {
    const file = await central.connectionFile();
    const res = await pullTo(authUrl, file.BlobAPIUserName, file.BlobAPIKey, join(work, 'denied'), '--all');
    assert.equal(res.code, 1);
    assert.match(res.stderr, /reader's credentials/);
  });

  test('one corrupted stored byte fails that object, and the pull goes on with the rest', async () => {
    const victim = recordings[1]!;
    const dir = join(central.dataDir, 'objects', `AUTH_${(await central.connectionFile()).BlobAPIUserName}`.replace(/^AUTH_/, ''), victim);
    const clip = (await readdir(dir)).find((f) => f.endsWith('.mkv'))!;
    const handle = await open(join(dir, clip), 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 1000);
    await handle.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, 1000);
    await handle.close();
    const to = join(work, 'corrupt');
    const res = await pullTo(authUrl, reader.user, reader.key, to, '--all');
    assert.equal(res.code, 1);
    assert.match(res.stdout, new RegExp(`FAILED ${victim}`));
    assert.match(res.stdout, new RegExp(`${clip}: md5 [0-9a-f]{32} does not match`));
    assert.match(res.stdout, /1 objects failed/);
    await assert.rejects(stat(join(to, victim, clip)), 'a corrupt object is not left among the evidence');
    for (const other of recordings.filter((r) => r !== victim)) await assertPulledFolders(to, [other]);
    await run('sha256sum', ['-c', 'manifest.sha256'], { cwd: join(to, victim) }); // the rest of it still verifies
  });
});

describe('an encrypted recording', { skip: needs('openssl') }, () => {
  test('pulled, decrypted with the private key next to the originals, and its track exported', async () => {
    const central = await TestDaemon.start();
    const work = await mkdtemp(join(tmpdir(), 'edgecd-pull-decrypt-'));
    try {
      await run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(work, 'private.pem')]);
      await run('openssl', ['pkey', '-in', join(work, 'private.pem'), '-pubout', '-out', join(work, 'public.pem')]);
      const [recording] = await simulate(
        central,
        '--users',
        '1',
        '--recordings',
        '1',
        '--clips',
        '2',
        '--clip-bytes',
        '300000',
        '--extras',
        '--public-key',
        join(work, 'public.pem'),
        '--public-key-id',
        'hq-2026',
      );
      const authUrl = (await central.connectionFile()).AuthenticationTokenURI[0]!;
      const to = join(work, 'out');
      const pulled = await pullTo(authUrl, reader.user, reader.key, to, '--recording', recording!);
      assert.equal(pulled.code, 0, pulled.stdout);
      assert.match(pulled.stdout, /is encrypted: run edgecd decrypt/);
      const folder = join(to, recording!);
      const wrong = join(work, 'wrong.pem');
      await run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', wrong]);
      const refused = await runCli(['decrypt', '--private-key', `hq-2026=${wrong}`, folder]);
      assert.equal(refused.code, 1);
      assert.match(refused.stdout, /FAILED .*does not unwrap/);
      assert.ok(!(await readdir(folder)).includes('decrypted'), 'a wrong key leaves no output');
      const res = await runCli(['decrypt', '--private-key', `hq-2026=${join(work, 'private.pem')}`, folder]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.match(res.stdout, /3 decrypted/);
      const decrypted = (await readdir(join(folder, 'decrypted'))).filter((f) => f !== 'manifest.sha256');
      assert.equal(decrypted.filter((f) => f.endsWith('.mkv')).length, 2);
      await run('sha256sum', ['-c', 'manifest.sha256'], { cwd: folder });
      await run('sha256sum', ['-c', 'manifest.sha256'], { cwd: join(folder, 'decrypted') });
      const manifest = await readFile(join(folder, 'decrypted', 'manifest.sha256'), 'utf8');
      for (const f of decrypted) assert.ok(manifest.includes(`  ${f}\n`), `${f} is in decrypted/manifest.sha256`);
      const geojson = await runCli(['export', 'gnss', folder, '--format', 'geojson']);
      assert.equal(geojson.code, 0, geojson.stderr);
      assert.equal(JSON.parse(geojson.stdout).type, 'FeatureCollection');
    } finally {
      await central.cleanup();
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('an interrupted pull', () => {
  test('resumes where it stopped (Range) and ends verified', async () => {
    const central = await TestDaemon.start();
    const work = await mkdtemp(join(tmpdir(), 'edgecd-pull-resume-'));
    try {
      const [recording] = await simulate(central, '--users', '1', '--recordings', '1', '--clips', '1', '--clip-bytes', '80000000');
      const authUrl = (await central.connectionFile()).AuthenticationTokenURI[0]!;
      const child = spawn(process.execPath, [...CLI_ARGS, 'pull', '--from', authUrl, '--user', reader.user, '--key', reader.key, '--to', work, '--recording', recording!], {
        cwd: ROOT,
        stdio: 'ignore',
      });
      let finished = false;
      const exited = new Promise((r) => child.once('exit', r)).then(() => (finished = true));
      const folder = join(work, recording!);
      let partial = 0;
      // Until a part file is well under way, or the pull ended (then the cut was missed: the test fails).
      while (partial === 0 && !finished) {
        const part = (await readdir(folder).catch(() => [] as string[])).find((f) => f.endsWith('.part'));
        const size = part ? ((await stat(join(folder, part)).catch(() => undefined))?.size ?? 0) : 0;
        if (size > 1_000_000 && size < 80_000_000) partial = size;
        else await new Promise((r) => setTimeout(r, 2));
      }
      child.kill('SIGKILL');
      await exited;
      assert.ok(partial > 0, 'the pull was cut off mid-object');
      const mark = central.logLines.length;
      const res = await pullTo(authUrl, reader.user, reader.key, work, '--recording', recording!);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      const resumed = central.logLines
        .slice(mark)
        .map((l) => JSON.parse(l) as { method?: string; status?: number })
        .filter((e) => e.method === 'GET' && e.status === 206);
      assert.equal(resumed.length, 1, 'the rest was fetched with a Range request');
      await assertPulledFolders(work, [recording!]);
    } finally {
      await central.cleanup();
      await rm(work, { recursive: true, force: true });
    }
  });
});

/**
 * A source that lies: a minimal Swift-ish server whose listings and bodies a
 * test scripts, to show what pull does with a hostile or broken central.
 */
async function hostileSource(
  objects: { name: string; body: Buffer; listedBytes?: number; drip?: boolean }[],
  options: { stuckMarker?: boolean; custody?: { lines: object[]; head: object } } = {},
) {
  const { createServer } = await import('node:http');
  let dripped = false;
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const parts = url.pathname.split('/').slice(3).map(decodeURIComponent); // '', v1, AUTH_x, container, object…
    if (url.pathname === '/auth/v1.0') {
      res.writeHead(200, { 'X-Auth-Token': 't', 'X-Storage-Url': `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/AUTH_x` });
      return res.end();
    }
    if (options.custody && url.pathname === '/custody/AUTH_x/case') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-Edgecd-Audit-Head': Buffer.from(JSON.stringify(options.custody.head)).toString('base64url') });
      return res.end(JSON.stringify(options.custody.lines));
    }
    if (!url.pathname.startsWith('/v1/')) return res.writeHead(404).end();
    const listing = (items: object[]) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(items));
    };
    if (parts.length === 0 || parts[0] === '') return listing([{ name: 'case' }]);
    if (parts.length === 1 && req.method === 'HEAD') return res.writeHead(204, { 'X-Container-Meta-Status': 'Complete' }).end();
    if (parts.length === 1) {
      if (options.stuckMarker)
        return listing(
          Array.from({ length: 1000 }, (_, i) => ({ name: `a${String(i).padStart(4, '0')}`, hash: md5(Buffer.alloc(0)), bytes: 0, content_type: 'x', last_modified: 'x' })),
        );
      if (url.searchParams.get('marker')) return listing([]);
      return listing(
        objects.map((o) => ({
          name: o.name,
          hash: md5(o.body),
          bytes: o.listedBytes ?? o.body.length,
          content_type: 'application/octet-stream',
          last_modified: '2026-01-01T00:00:00',
        })),
      );
    }
    const o = objects.find((x) => x.name === parts.slice(1).join('/'));
    if (!o) return res.writeHead(404).end();
    if (req.method === 'HEAD') return res.writeHead(200, { 'Content-Length': String(o.body.length), Etag: md5(o.body) }).end();
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    const from = range ? Number(range[1]) : 0;
    res.writeHead(range ? 206 : 200, { 'Content-Length': String(o.body.length - from) });
    if (o.drip && !dripped) {
      // One byte, then nothing: the first download stalls; the resumed one gets the rest.
      dripped = true;
      res.write(o.body.subarray(from, from + 1));
      return;
    }
    res.end(o.body.subarray(from));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    authUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}/auth/v1.0`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('pull from a hostile or broken source', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'edgecd-hostile-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  const pullAll = (authUrl: string, to: string, ...extra: string[]) =>
    runCli(['pull', '--from', authUrl, '--user', 'u', '--key', 'k', '--all', '--recording', 'case', '--to', to, ...extra]);

  test('stops at the listed size, refuses unsafe names, keeps temp files out of the way, and fails whenever sha256sum -c would', async () => {
    const source = await hostileSource([
      { name: 'x.part', body: Buffer.from('I am an object named x.part') },
      { name: 'x', body: randomBytes(300_000) },
      { name: 'liar.mkv', body: randomBytes(2_000_000), listedBytes: 10 },
      { name: '..', body: Buffer.from('up') },
      { name: '../B/clip.mkv', body: Buffer.from('sideways') },
      { name: '', body: Buffer.from('nameless') },
      { name: 'decrypted', body: Buffer.from('a file where outputs go') },
    ]);
    try {
      const to = join(work, 'out');
      const res = await pullAll(source.authUrl, to);
      assert.equal(res.code, 1, res.stdout);
      assert.match(res.stdout, /liar\.mkv: the source sent more than the 10 bytes it listed/);
      assert.match(res.stdout, /\.\.: the source lists it with a "\." or "\.\." path segment/);
      assert.match(res.stdout, /\.\.\/B\/clip\.mkv: the source lists it with a "\." or "\.\." path segment/);
      assert.match(res.stdout, /: the source lists it with an empty name/);
      assert.match(res.stdout, /decrypted: its name collides with the pull's own decrypted/);
      const folder = join(to, 'case');
      assert.deepEqual((await readdir(to)).sort(), ['case'], 'nothing outside the recording folder');
      assert.ok((await readdir(folder)).includes('x.part') && (await readdir(folder)).includes('x'), 'an object named x.part and its neighbour x both stay');
      assert.ok(!(await readdir(folder)).some((f) => f.startsWith('.')), 'no temp file left');
      await run('sha256sum', ['-c', '--strict', 'manifest.sha256'], { cwd: folder });
    } finally {
      await source.close();
    }
  });

  test("a source's signed audit head must hold and cover the lines it sends, or the pull fails", async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'edgecd-key-'));
    const key = await loadStationKey(join(scratch, 'station-key.pem'));
    await rm(scratch, { recursive: true, force: true });
    const line = { seq: 7, time: new Date().toISOString(), actor: 'clerk', action: 'custody.read', target: 'AUTH_x/case', result: '200', prev: '0'.repeat(64) };
    const head = signHead(key, { station: 'HQ', seq: 6, hash: '1'.repeat(64), time: new Date().toISOString() });
    const cases: [{ lines: object[]; head: object }, RegExp][] = [
      [{ lines: [line], head }, /custody\.json: the source's signed audit head \(line 6\) does not cover every line it sent/],
      [{ lines: [line], head: { ...head, seq: 7 } }, /custody\.json: the source's signed audit head is not valid: the signature does not verify/],
    ];
    for (const [custody, why] of cases) {
      const source = await hostileSource([{ name: 'clip.mkv', body: Buffer.from('bytes') }], { custody });
      try {
        const res = await pullAll(source.authUrl, join(work, `head-${why.source.length}`));
        assert.equal(res.code, 1, res.stdout);
        assert.match(res.stdout, why);
      } finally {
        await source.close();
      }
    }
  });

  test('a listing whose marker never moves is an error, not a loop', async () => {
    const source = await hostileSource([], { stuckMarker: true });
    try {
      const res = await pullAll(source.authUrl, join(work, 'stuck'));
      assert.equal(res.code, 1);
      assert.match(res.stderr, /does not move past "a0999"/);
    } finally {
      await source.close();
    }
  });

  test('a body that stops coming is cut after the stall time and resumed', async () => {
    const body = randomBytes(100_000);
    const source = await hostileSource([{ name: 'clip.mkv', body, drip: true }]);
    try {
      const to = join(work, 'drip');
      const res = await pullAll(source.authUrl, to, '--stall-seconds', '1');
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.ok((await readFile(join(to, 'case', 'clip.mkv'))).equals(body));
    } finally {
      await source.close();
    }
  });
});
