/**
 * HTTPS as the body-worn system meets it: the certificates the connection
 * file pins, trusted by curl, by Node's TLS (the BWS simulator) and by
 * python-swiftclient, and refused without the pin; slow headers behind the
 * TLS front; plain HTTP kept to /healthcheck; and `cert renew`.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { needs } from './helpers/peers.ts';
import { runCli, TEST_USERS, TestDaemon } from './helpers/daemon.ts';
import { raw } from './helpers/raw-http.ts';

const run = promisify(execFile);

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

  test('curl trusting only the pinned certificate completes the BWS flow; without it, it fails', { skip: needs('curl') }, async () => {
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

  test('python-swiftclient works over HTTPS with the pinned certificate', { skip: needs('swift') }, async () => {
    const swift = (...args: string[]) => run('swift', ['--os-cacert', cacert, '-A', file.AuthenticationTokenURI[0]!, ...args], { cwd: work });
    await writeFile(join(work, 'note.txt'), 'over TLS\n');
    await swift('-U', file.BlobAPIUserName, '-K', file.BlobAPIKey, 'upload', 'swift-tls', 'note.txt');
    const out = await swift('-U', TEST_USERS.reader.user, '-K', TEST_USERS.reader.key, 'download', 'swift-tls', 'note.txt', '-o', '-');
    assert.equal(out.stdout, 'over TLS\n');
  });

  test('cert renew issues new certificates, serves them, and rewrites the connection file; status shows the days left', { skip: needs('openssl', 'curl') }, async () => {
    const before = (await daemon.connectionFile()).HTTPSCertificate![0];
    const res = await runCli(['cert', 'renew', '--data', daemon.dataDir]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /renewed: 127\.0\.0\.1/);
    const renewed = (await daemon.connectionFile()).HTTPSCertificate![0]!;
    assert.notEqual(renewed, before);
    const fresh = join(work, 'renewed.pem');
    await writeFile(fresh, Buffer.from(renewed, 'base64'));
    // s_client closes once its input ends: end it at once, or it waits for the server's idle timeout.
    const handshake = run('openssl', ['s_client', '-connect', `127.0.0.1:${daemon.port}`, '-CAfile', fresh, '-verify_return_error']);
    handshake.child.stdin!.end();
    const served = await handshake.catch((err: { stdout: string }) => err);
    assert.match((served as { stdout: string }).stdout, /Verify return code: 0 \(ok\)/);
    const servedPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec((served as { stdout: string }).stdout)![0];
    assert.equal(servedPem.replace(/\s/g, ''), Buffer.from(renewed, 'base64').toString().replace(/\s/g, ''), 'the renewed certificate is the one served');
    const shown = JSON.parse((await runCli(['cert', 'show', '--json', '--data', daemon.dataDir])).stdout) as { certificates: { sha256: string }[]; daysUntilExpiry: number };
    assert.ok(shown.daysUntilExpiry > 300, 'a renewed certificate has its year ahead');
    assert.ok(
      shown.certificates.some((c) => c.sha256 === new X509Certificate(servedPem).fingerprint256),
      'cert show names the served certificate by fingerprint',
    );
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
