/**
 * The production shape of the daemon: the systemd unit passes systemd's own
 * checks with a good exposure score, and the compiled build (plain node, no
 * tsx) serves, and scripts/install.sh puts it in place as a service.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { needs } from './helpers/peers.ts';
import { asServiceUser, httpsGet, serveAsService, stopServing } from './helpers/installed.ts';
import { ROOT } from './helpers/daemon.ts';

const run = promisify(execFile);
const UNIT = join(ROOT, 'systemd/edgecd.service');
const analyze = needs('systemd-analyze');

describe('systemd/edgecd.service', { skip: analyze }, () => {
  test('systemd-analyze verify finds nothing to complain about', async () => {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', UNIT]);
    assert.equal((stdout + stderr).trim(), '');
  });

  test('systemd-analyze security rates its exposure 2.0 or better (lower is safer)', async (t) => {
    const { stdout } = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT]);
    const score = Number(/Overall exposure level for edgecd\.service: ([\d.]+)/.exec(stdout)?.[1]);
    t.diagnostic(`exposure ${score}`);
    assert.ok(score <= 2.0, `exposure ${score}`);
  });
});

describe('the compiled build', () => {
  test('serves with plain node (no tsx), as the unit runs it: its node flags and environment', async () => {
    await run('npm', ['run', '--silent', 'build'], { cwd: ROOT });
    const unit = await readFile(UNIT, 'utf8');
    const flags = /^ExecStart=\S*node\s+(.*?)\s*\S*dist\/cli\.js/m.exec(unit)![1]!.split(/\s+/).filter(Boolean);
    const env = Object.fromEntries([...unit.matchAll(/^Environment=([A-Z_]+)=(\S*)$/gm)].map((m) => [m[1]!, m[2]!]));
    assert.deepEqual(Object.keys(env).sort(), ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'NODE_ENV']);
    const dir = await mkdtemp(join(tmpdir(), 'edgecd-build-'));
    const child = spawn(process.execPath, [...flags, join(ROOT, 'dist/cli.js'), 'serve', '--data', dir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off', '--plain-http'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const entry = JSON.parse(line) as { msg?: string; listen?: string };
          if (entry.msg === 'ready') resolve(Number(entry.listen!.split(':').pop()));
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      const status = await new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/healthcheck' }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
          .on('error', reject)
          .end();
      });
      assert.equal(status, 200);
      assert.ok(existsSync(join(dir, 'connection.json')));
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const INSTALL = join(ROOT, 'scripts/install.sh');
const installable =
  process.getuid?.() !== 0
    ? 'install.sh needs root'
    : !existsSync('/usr/bin/systemd-sysusers') || !existsSync('/usr/bin/setpriv')
      ? 'systemd-sysusers or setpriv is missing'
      : false;

describe('scripts/install.sh into a filesystem tree (--root)', { skip: installable }, () => {
  test('installs, initialises as the service user, serves the pinned HTTPS, re-runs without changing keys, uninstalls keeping evidence', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'edgecd-root-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    await chmod(root, 0o755); // as / is: the service user walks through it
    const first = await run(INSTALL, ['--root', root, '--site', 'North Station', '--ip', '127.0.0.1']);
    assert.match(first.stdout, /connection file for the Body Worn Manager: \/var\/lib\/edgecd\/connection\.json/);
    const fingerprint = /SHA-256 ([0-9A-F:]{95})/.exec(first.stdout)?.[1];
    assert.ok(fingerprint, first.stdout);

    // The user, and everything it owns.
    const passwd = await readFile(join(root, 'etc/passwd'), 'utf8');
    const [uid, gid] = /^edgecd:x:(\d+):(\d+):[^:]*:\/var\/lib\/edgecd:\/usr\/sbin\/nologin$/m.exec(passwd)!.slice(1).map(Number) as [number, number];
    const data = join(root, 'var/lib/edgecd');
    for (const file of ['credentials.json', 'connection.json', 'tls/127.0.0.1.key', 'audit.jsonl']) {
      const s = await stat(join(data, file));
      assert.equal(s.uid, uid, `${file} belongs to the service user`);
      assert.equal(s.mode & 0o077, 0, `${file} is private`);
    }
    assert.equal((await stat(join(root, 'etc/edgecd/edgecd.json'))).uid, uid);
    assert.deepEqual(JSON.parse(await readFile(join(root, 'etc/edgecd/edgecd.json'), 'utf8')), { listen: '0.0.0.0:443', siteName: 'North Station' });
    // Enabled: the link points into the tree's own /etc (so not followed here).
    assert.equal(await readlink(join(root, 'etc/systemd/system/multi-user.target.wants/edgecd.service')), '/etc/systemd/system/edgecd.service');
    assert.ok(existsSync(join(root, 'opt/edgecd/dist/cli.js')));
    assert.ok(!existsSync(join(root, 'opt/edgecd/node_modules/typescript')), 'runtime dependencies only');
    assert.ok(!existsSync(join(root, 'opt/edgecd/node_modules/tsx')), 'no tsx: the service runs plain node');
    assert.deepEqual(await readdir(join(root, 'opt/edgecd/node_modules/classic-level/prebuilds')), [`linux-${process.arch}`]);

    // The installed build, run as the service user on the installed files, serves HTTPS to the connection file's pinned certificate.
    const asService = asServiceUser(uid, gid, join(root, 'opt/edgecd/dist/cli.js'));
    const child = await serveAsService(asService, ['--data', data, '--config', join(root, 'etc/edgecd/edgecd.json'), '--listen', '127.0.0.1:0', '--ntp-listen', 'off']);
    try {
      const file = JSON.parse(await readFile(join(data, 'connection.json'), 'utf8')) as {
        AuthenticationTokenURI: string[];
        HTTPSCertificate: string[];
        BlobAPIUserName: string;
        BlobAPIKey: string;
        SiteName: string;
      };
      assert.equal(file.SiteName, 'North Station');
      const ca = Buffer.from(file.HTTPSCertificate[0]!, 'base64').toString(); // the PEM, base64-encoded
      assert.equal(new X509Certificate(ca).fingerprint256, fingerprint, 'install.sh printed the pinned certificate');
      const login = await httpsGet(file.AuthenticationTokenURI[0]!, ca, { 'X-Auth-User': file.BlobAPIUserName, 'X-Auth-Key': file.BlobAPIKey });
      assert.equal(login.status, 200);
      const status = new URL(file.AuthenticationTokenURI[0]!);
      status.pathname = '/connection.json';
      // Only an admin is handed the connection file (it holds the upload key).
      assert.equal((await httpsGet(status.href, ca, { 'X-Auth-Token': login.headers['x-auth-token'] as string })).status, 403);
      await run('setpriv', [...asService, 'user', 'add', 'it', '--role', 'admin', '--key', 'it-admin-key-0123456789', '--data', data]);
      const admin = await httpsGet(file.AuthenticationTokenURI[0]!, ca, { 'X-Auth-User': 'it', 'X-Auth-Key': 'it-admin-key-0123456789' });
      const served = await httpsGet(status.href, ca, { 'X-Auth-Token': admin.headers['x-auth-token'] as string });
      assert.equal(served.status, 200);
      assert.equal(served.body, await readFile(join(data, 'connection.json'), 'utf8'));
      assert.match(await readFile(join(data, 'audit.jsonl'), 'utf8'), /"action":"connection-file.read"/);
      // The build carries the console's stylesheet and script.
      const consolePage = new URL('/console/login', status);
      const page = await httpsGet(consolePage.href, ca);
      assert.equal(page.status, 200);
      for (const asset of page.body.match(/\/console\/assets\/[^"]+/g) ?? assert.fail('no assets linked')) {
        assert.equal((await httpsGet(new URL(asset, status).href, ca)).status, 200, asset);
      }
    } finally {
      await stopServing(child);
    }

    // Again, as an upgrade: keys, certificates and the operator's config stay.
    const credentials = await readFile(join(data, 'credentials.json'), 'utf8');
    const config = JSON.stringify({ listen: '0.0.0.0:443', siteName: 'North Station', ntp: { localStratum: 9 } });
    await writeFile(join(root, 'etc/edgecd/edgecd.json'), config);
    const second = await run(INSTALL, ['--root', root, '--site', 'Another Name']);
    assert.match(second.stdout, /already set up: credentials and certificates kept/);
    assert.equal(/SHA-256 ([0-9A-F:]{95})/.exec(second.stdout)?.[1], fingerprint);
    assert.equal(await readFile(join(data, 'credentials.json'), 'utf8'), credentials);
    assert.equal(await readFile(join(root, 'etc/edgecd/edgecd.json'), 'utf8'), config);

    await run(INSTALL, ['--uninstall', '--root', root]);
    assert.ok(!existsSync(join(root, 'opt/edgecd')) && !existsSync(join(root, 'etc/systemd/system/edgecd.service')));
    assert.equal(await readFile(join(data, 'credentials.json'), 'utf8'), credentials, 'evidence and keys are kept');
    assert.match(await readFile(join(root, 'etc/passwd'), 'utf8'), /^edgecd:/m);

    await run(INSTALL, ['--uninstall', '--delete-evidence', '--root', root]);
    assert.ok(!existsSync(data) && !existsSync(join(root, 'etc/edgecd')));
    assert.doesNotMatch(await readFile(join(root, 'etc/passwd'), 'utf8'), /^edgecd:/m);
  });
});
