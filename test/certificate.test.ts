/**
 * generateSelfSigned builds real certificates: node, OpenSSL and curl parse
 * and verify them, and a TLS client that pins one (and only that one)
 * completes a handshake with a server using it.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { generateSelfSigned, type GeneratedCertificate, type KeyAlgorithm } from '../src/tls/certificate.ts';

const DAY = 24 * 3600_000;
const ALGORITHMS: KeyAlgorithm[] = ['ec-p256', 'rsa-2048'];
const dir = mkdtempSync(join(tmpdir(), 'edgecd-cert-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Async: curl talks to a server in this very process, so a sync child would deadlock it.
const run = promisify(execFile);

let files = 0;
function pemFile(pem: string): string {
  const path = join(dir, `cert-${files++}.pem`);
  writeFileSync(path, pem);
  return path;
}

async function serve(cert: GeneratedCertificate, host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  const server = createServer({ key: cert.keyPem, cert: cert.certPem }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Status code on success, the TLS error code on failure. */
function fetchStatus(host: string, port: number, ca?: string): Promise<number | string> {
  return new Promise((resolve) => {
    get({ host, port, path: '/', agent: false, ...(ca === undefined ? {} : { ca }) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

async function curlExit(args: string[]): Promise<number> {
  try {
    await run('/usr/bin/curl', ['-sS', '-o', '/dev/null', ...args]);
    return 0;
  } catch (err) {
    return (err as { code: number }).code;
  }
}

describe('generated certificate contents', () => {
  for (const algorithm of ALGORITHMS) {
    test(`${algorithm}: node and OpenSSL parse and verify it`, () => {
      const before = Date.now();
      const cert = generateSelfSigned({ names: ['127.0.0.1', 'station.local'], validityDays: 30, algorithm });
      const x509 = new X509Certificate(cert.certPem);

      assert.equal(x509.checkIssued(x509), true);
      assert.equal(x509.verify(x509.publicKey), true);
      assert.equal(x509.publicKey.asymmetricKeyType, algorithm === 'rsa-2048' ? 'rsa' : 'ec');
      assert.equal(x509.checkPrivateKey(createPrivateKey(cert.keyPem)), true);
      assert.match(cert.keyPem, /^-----BEGIN PRIVATE KEY-----\n/); // PKCS#8
      assert.equal(x509.subjectAltName, 'IP Address:127.0.0.1, DNS:station.local');
      assert.equal(x509.subject, 'O=edgecd\nCN=127.0.0.1');
      assert.equal(x509.issuer, x509.subject);
      assert.equal(x509.ca, true);
      assert.equal(cert.fingerprint256, x509.fingerprint256);
      const serial = BigInt(`0x${x509.serialNumber}`);
      assert.ok(serial > 0n && serial < 1n << 127n, x509.serialNumber); // positive, non-zero, fits 16 bytes

      // notBefore is an hour early for clock skew; notAfter is validityDays after that.
      assert.equal(Date.parse(x509.validTo), cert.notAfter.getTime());
      assert.ok(Math.abs(Date.parse(x509.validFrom) - (before - 3600_000)) < 5_000, x509.validFrom);
      assert.ok(Math.abs(cert.notAfter.getTime() - (before + 30 * DAY - 3600_000)) < 5_000, cert.notAfter.toISOString());

      const path = pemFile(cert.certPem);
      const text = execFileSync('/usr/bin/openssl', ['x509', '-noout', '-text', '-in', path], { encoding: 'utf8' });
      assert.match(text, /Version: 3 \(0x2\)/);
      assert.match(text, /TLS Web Server Authentication/);
      assert.match(text, /CA:TRUE, pathlen:0/);
      assert.match(text, algorithm === 'rsa-2048' ? /Digital Signature, Key Encipherment, Certificate Sign/ : /Digital Signature, Certificate Sign\n/);
      assert.match(text, algorithm === 'rsa-2048' ? /Signature Algorithm: sha256WithRSAEncryption/ : /Signature Algorithm: ecdsa-with-SHA256/);
      assert.match(text, /Subject Key Identifier/);
      // -x509_strict also rejects DER mistakes the lenient parser forgives.
      const verified = execFileSync('/usr/bin/openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', path, path], { encoding: 'utf8' });
      assert.equal(verified.trim(), `${path}: OK`);
    });
  }

  test('IPv6 and wildcard names are encoded as iPAddress and dNSName', () => {
    const cert = generateSelfSigned({ names: ['::1', '::ffff:10.1.2.3', 'fd00:1:2::3', '*.edge.test'], validityDays: 1, algorithm: 'ec-p256' });
    assert.equal(new X509Certificate(cert.certPem).subjectAltName, 'IP Address:0:0:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:A01:203, IP Address:FD00:1:2:0:0:0:0:3, DNS:*.edge.test');
  });
});

describe('TLS with a pinned certificate', () => {
  for (const algorithm of ALGORITHMS) {
    test(`${algorithm}: node https trusts it only when it is the pinned CA`, async () => {
      const cert = generateSelfSigned({ names: ['127.0.0.1'], validityDays: 2, algorithm });
      const other = generateSelfSigned({ names: ['127.0.0.1'], validityDays: 2, algorithm });
      const { server, port } = await serve(cert);
      try {
        assert.equal(await fetchStatus('127.0.0.1', port, cert.certPem), 200);
        assert.equal(await fetchStatus('127.0.0.1', port), 'DEPTH_ZERO_SELF_SIGNED_CERT');
        assert.equal(await fetchStatus('127.0.0.1', port, other.certPem), 'DEPTH_ZERO_SELF_SIGNED_CERT');
      } finally {
        await stop(server);
      }
    });
  }

  test('curl trusts it with --cacert, matches IP and DNS names, and refuses it without', async () => {
    const cert = generateSelfSigned({ names: ['127.0.0.1', 'station.local', '*.edge.test'], validityDays: 2, algorithm: 'ec-p256' });
    const path = pemFile(cert.certPem);
    const { server, port } = await serve(cert);
    try {
      assert.equal(await curlExit(['--cacert', path, `https://127.0.0.1:${port}/`]), 0);
      assert.equal(await curlExit(['--cacert', path, '--resolve', `station.local:${port}:127.0.0.1`, `https://station.local:${port}/`]), 0);
      assert.equal(await curlExit(['--cacert', path, '--resolve', `a.edge.test:${port}:127.0.0.1`, `https://a.edge.test:${port}/`]), 0);
      assert.equal(await curlExit(['--cacert', path, '--resolve', `other.local:${port}:127.0.0.1`, `https://other.local:${port}/`]), 60);
      assert.equal(await curlExit([`https://127.0.0.1:${port}/`]), 60);
    } finally {
      await stop(server);
    }
  });

  test('an IPv6 ::1 name works for a server on [::1]', async (t) => {
    const cert = generateSelfSigned({ names: ['::1'], validityDays: 2, algorithm: 'ec-p256' });
    let listening: { server: Server; port: number };
    try {
      listening = await serve(cert, '::1');
    } catch (err) {
      t.skip(`no IPv6 loopback: ${(err as Error).message}`);
      return;
    }
    const { server, port } = listening;
    try {
      assert.equal(await fetchStatus('::1', port, cert.certPem), 200);
      assert.equal(await curlExit(['--cacert', pemFile(cert.certPem), `https://[::1]:${port}/`]), 0);
    } finally {
      await stop(server);
    }
  });
});

describe('requests', () => {
  test('bad inputs are refused with a clear message', () => {
    const ok = { names: ['station.local'], validityDays: 1, algorithm: 'ec-p256' as const };
    assert.throws(() => generateSelfSigned({ ...ok, names: [] }), /at least one name/);
    assert.throws(() => generateSelfSigned({ ...ok, names: Array.from({ length: 11 }, (_, i) => `n${i}.local`) }), /11 names given; at most 10/);
    assert.throws(() => generateSelfSigned({ ...ok, names: ['bad name!'] }), /"bad name!" is neither an IP address nor a valid DNS name/);
    assert.throws(() => generateSelfSigned({ ...ok, names: ['a..b'] }), /not a valid DNS name|neither/);
    assert.throws(() => generateSelfSigned({ ...ok, names: ['-a.local'] }), /neither/);
    assert.throws(() => generateSelfSigned({ ...ok, names: ['fe80::1%eth0'] }), /zone id/);
    assert.throws(() => generateSelfSigned({ ...ok, validityDays: 0 }), /validityDays/);
    assert.throws(() => generateSelfSigned({ ...ok, validityDays: 1.5 }), /validityDays/);
    assert.throws(() => generateSelfSigned({ ...ok, keyPem: 'not a key' }), /keyPem is not a usable/);
    const rsa = generateSelfSigned({ ...ok, algorithm: 'rsa-2048' });
    assert.throws(() => generateSelfSigned({ ...ok, keyPem: rsa.keyPem }), /keyPem is not a ec-p256 key \(it is rsa\)/);
  });

  for (const algorithm of ALGORITHMS) {
    test(`${algorithm}: renewing with keyPem keeps the key and changes the serial`, () => {
      const first = generateSelfSigned({ names: ['station.local'], validityDays: 1, algorithm });
      const renewed = generateSelfSigned({ names: ['station.local'], validityDays: 30, algorithm, keyPem: first.keyPem });
      const a = new X509Certificate(first.certPem);
      const b = new X509Certificate(renewed.certPem);
      assert.deepEqual(b.publicKey.export({ type: 'spki', format: 'der' }), a.publicKey.export({ type: 'spki', format: 'der' }));
      assert.equal(renewed.keyPem, first.keyPem);
      assert.notEqual(b.serialNumber, a.serialNumber);
      assert.notEqual(renewed.fingerprint256, first.fingerprint256);
      assert.equal(b.checkPrivateKey(createPrivateKey(first.keyPem)), true);
    });
  }

  test('dates from 2050 are GeneralizedTime, earlier ones UTCTime', () => {
    const cert = generateSelfSigned({ names: ['station.local'], validityDays: 5 * 365, algorithm: 'ec-p256', now: new Date('2049-06-01T00:00:00Z') });
    const x509 = new X509Certificate(cert.certPem);
    assert.equal(new Date(x509.validFrom).toISOString(), '2049-05-31T23:00:00.000Z');
    assert.equal(new Date(x509.validTo).getUTCFullYear(), 2054);
    assert.equal(new Date(x509.validTo).getTime(), cert.notAfter.getTime());
    const asn1 = execFileSync('/usr/bin/openssl', ['asn1parse', '-in', pemFile(cert.certPem)], { encoding: 'utf8' });
    assert.match(asn1, /UTCTIME\s+:490531230000Z/);
    assert.match(asn1, /GENERALIZEDTIME\s+:20540530230000Z/);
  });
});
