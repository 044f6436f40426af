/**
 * The Debian package as IT installs it: lintian finds no error, and dpkg
 * installs, upgrades, removes and purges it in a test root (dpkg --root with
 * chrootless maintainer scripts, which honour DPKG_ROOT), where the installed
 * build serves over the HTTPS its connection file pins.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from './helpers/root.ts';
import { needs, skipOrFail } from './helpers/peers.ts';
import { asServiceUser, httpsGet, serveAsService, stopServing } from './helpers/installed.ts';

const run = promisify(execFile);
const ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';
const skip =
  process.getuid?.() !== 0 ? 'installing a package needs root' : needs('lintian') || skipOrFail(existsSync('/usr/bin/dpkg-deb') ? false : 'needs dpkg-deb (apt-get install dpkg)');

interface ConnectionFile {
  AuthenticationTokenURI: string[];
  HTTPSCertificate: string[];
  BlobAPIUserName: string;
  BlobAPIKey: string;
}

/** `dpkg` on the test root, with the maintainer scripts run outside a chroot (they honour DPKG_ROOT). */
const dpkg = (root: string, args: string[], env: Record<string, string> = {}) =>
  run('dpkg', [`--root=${root}`, '--force-script-chrootless', '--force-depends', '--force-confold', ...args], { env: { ...process.env, ...env } });

describe('the Debian package', { skip }, () => {
  test('passes lintian, installs, serves pinned HTTPS, upgrades keeping keys and config, removes and purges keeping evidence', async (t) => {
    const work = await mkdtemp(join(tmpdir(), 'edgecd-deb-'));
    t.after(() => rm(work, { recursive: true, force: true }));
    const build = async (version?: string) => {
      const { stdout } = await run(join(ROOT, 'scripts/build-deb.sh'), [ARCH, '--out', join(work, 'out'), ...(version ? ['--version', version] : [])]);
      return stdout.trim().split(' ')[0]!;
    };
    const deb = await build();
    const upgrade = await build('99.0.0');
    t.diagnostic(`${deb}: ${(await stat(deb)).size} bytes`);

    const lint = await run('lintian', ['--tag-display-limit', '0', deb]).catch((err: { stdout: string; code: number }) => err);
    assert.doesNotMatch(lint.stdout, /^E: /m, lint.stdout);

    // An empty root with a dpkg database.
    const root = join(work, 'root');
    await mkdir(join(root, 'var/lib/dpkg/info'), { recursive: true });
    await mkdir(join(root, 'var/lib/dpkg/updates'));
    await mkdir(join(root, 'etc'));
    await writeFile(join(root, 'var/lib/dpkg/status'), '');
    await chmod(work, 0o755); // as / is: the service user walks through it
    await chmod(root, 0o755);

    const installed = await dpkg(root, ['-i', deb]);
    assert.match(installed.stderr, /connection file for the Body Worn Manager is \/var\/lib\/edgecd\/connection\.json/);
    const [uid, gid] = /^edgecd:x:(\d+):(\d+):[^:]*:\/var\/lib\/edgecd:\/usr\/sbin\/nologin$/m
      .exec(await readFile(join(root, 'etc/passwd'), 'utf8'))!
      .slice(1)
      .map(Number) as [number, number];
    const data = join(root, 'var/lib/edgecd');
    const config = join(root, 'etc/edgecd/edgecd.json');
    for (const file of [data, join(data, 'credentials.json'), join(data, 'connection.json'), config]) {
      const s = await stat(file);
      assert.equal(s.uid, uid, `${file} belongs to the service user`);
      assert.equal(s.mode & 0o007, 0, `${file} is not for others`);
    }
    assert.equal(await readlink(join(root, 'etc/systemd/system/multi-user.target.wants/edgecd.service')), '/usr/lib/systemd/system/edgecd.service', 'enabled');
    assert.match(await readFile(join(root, 'usr/lib/systemd/system/edgecd.service'), 'utf8'), /^ExecStart=\/usr\/bin\/node .* \/usr\/lib\/edgecd\/dist\/cli\.js serve /m);
    assert.ok(existsSync(join(root, 'usr/share/man/man1/edgecd.1.gz')));

    // The installed build, as the service user, on the address its connection file names.
    const file = JSON.parse(await readFile(join(data, 'connection.json'), 'utf8')) as ConnectionFile;
    const host = new URL(file.AuthenticationTokenURI[0]!).hostname;
    const child = await serveAsService(asServiceUser(uid, gid, join(root, 'usr/lib/edgecd/dist/cli.js')), [
      '--data',
      data,
      '--config',
      config,
      '--listen',
      `${host}:0`,
      '--ntp-listen',
      'off',
    ]);
    try {
      const serving = JSON.parse(await readFile(join(data, 'connection.json'), 'utf8')) as ConnectionFile;
      const ca = Buffer.from(serving.HTTPSCertificate[0]!, 'base64').toString();
      assert.equal(
        new X509Certificate(ca).fingerprint256,
        new X509Certificate(Buffer.from(file.HTTPSCertificate[0]!, 'base64').toString()).fingerprint256,
        'the certificate the install made',
      );
      assert.equal((await httpsGet(serving.AuthenticationTokenURI[0]!, ca, { 'X-Auth-User': serving.BlobAPIUserName, 'X-Auth-Key': serving.BlobAPIKey })).status, 200);
    } finally {
      await stopServing(child);
    }

    // Upgrade: keys, certificates and the operator's configuration stay.
    const credentials = await readFile(join(data, 'credentials.json'), 'utf8');
    const edited = JSON.stringify({ listen: '0.0.0.0:443', siteName: 'North Station' });
    await writeFile(config, edited);
    await dpkg(root, ['-i', upgrade]);
    assert.match((await run('dpkg-query', [`--root=${root}`, '-W', 'edgecd'])).stdout, /^edgecd\t99\.0\.0$/m);
    assert.equal(await readFile(join(data, 'credentials.json'), 'utf8'), credentials);
    assert.equal(await readFile(config, 'utf8'), edited);

    // Remove: the build goes, evidence and configuration stay.
    await dpkg(root, ['-r', 'edgecd']);
    assert.ok(!existsSync(join(root, 'usr/lib/edgecd')) && !existsSync(join(root, 'usr/bin/edgecd')));
    assert.equal(await readFile(join(data, 'credentials.json'), 'utf8'), credentials);
    assert.equal(await readFile(config, 'utf8'), edited);

    // Purge: the configuration goes; the evidence stays, and it says so.
    const purged = await dpkg(root, ['-P', 'edgecd']);
    assert.match(purged.stderr, /kept \/var\/lib\/edgecd/);
    assert.ok(!existsSync(join(root, 'etc/edgecd')));
    assert.equal(await readFile(join(data, 'credentials.json'), 'utf8'), credentials);
    assert.ok(!existsSync(join(root, 'etc/systemd/system/multi-user.target.wants/edgecd.service')) && !existsSync(join(root, 'etc/systemd/system/edgecd.service')));

    // Installed again over the kept evidence, it keeps it; purged when asked, it goes.
    await dpkg(root, ['-i', deb]);
    assert.equal(await readFile(join(data, 'credentials.json'), 'utf8'), credentials, 'a reinstall does not initialise again');
    const asked = await dpkg(root, ['-P', 'edgecd'], { EDGECD_PURGE_EVIDENCE: 'yes' });
    assert.match(asked.stderr, /removed \/var\/lib\/edgecd/);
    assert.ok(!existsSync(data));
  });
});
