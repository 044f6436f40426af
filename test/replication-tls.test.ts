/**
 * replication.targets[].cacert pins the central's certificate: an HTTPS
 * central with a self-signed certificate (openssl) in front of a central
 * edgecd is trusted with its own certificate as the CA, and refused with any
 * other.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, TestDaemon } from './helpers/daemon.ts';
import { needs } from './helpers/peers.ts';

function selfSigned(dir: string, name: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { key, cert };
}

/** TLS in front of a plain-HTTP central; the storage URL it hands out is made https too. */
async function tlsFront(upstreamPort: number, key: string, cert: string): Promise<Server> {
  const server = createServer({ key: await readFile(key), cert: await readFile(cert) }, (req, res) => {
    const up = request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const headers = { ...answer.headers };
      const port = (server.address() as AddressInfo).port;
      if (typeof headers['x-storage-url'] === 'string') headers['x-storage-url'] = headers['x-storage-url'].replace(/^http:\/\/[^/]+/, `https://127.0.0.1:${port}`);
      res.writeHead(answer.statusCode!, headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('replication to an HTTPS central with a pinned certificate', { skip: needs('openssl') }, () => {
  let dir: string;
  let central: TestDaemon;
  let front: Server;
  let pinned: { key: string; cert: string };
  let other: { key: string; cert: string };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgecd-tls-'));
    pinned = selfSigned(dir, 'central');
    other = selfSigned(dir, 'impostor');
    central = await TestDaemon.start();
    front = await tlsFront(central.port, pinned.key, pinned.cert);
  });
  after(async () => {
    front.close();
    await central.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  async function edgeTrusting(cacert: string): Promise<TestDaemon> {
    const file = await central.connectionFile();
    const port = (front.address() as AddressInfo).port;
    const target = { name: 'hq', authUrl: `https://127.0.0.1:${port}/auth/v1.0`, user: file.BlobAPIUserName, key: file.BlobAPIKey, cacert, schedule: '0 0 1 1 *' };
    const edge = await TestDaemon.start({ config: { replication: { targets: [target] } } });
    const sim = await runCli([
      'simulate',
      '--connection',
      join(edge.dataDir, 'connection.json'),
      '--users',
      '1',
      '--devices',
      '1',
      '--recordings',
      '1',
      '--clips',
      '1',
      '--clip-bytes',
      '10000',
    ]);
    assert.equal(sim.code, 0, sim.stderr);
    return edge;
  }

  test('the pinned certificate is trusted', async () => {
    const edge = await edgeTrusting(pinned.cert);
    try {
      const res = await runCli(['replicate', '--now', '--data', edge.dataDir]);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      assert.equal(JSON.parse(res.stdout)[0].outcome, 'done');
    } finally {
      await edge.cleanup();
    }
  });

  test('another certificate is refused at once, with an alarm: nothing is sent', async () => {
    const edge = await edgeTrusting(other.cert);
    try {
      const res = await runCli(['replicate', '--now', '--data', edge.dataDir]);
      assert.equal(res.code, 1);
      const report = JSON.parse(res.stdout)[0] as { outcome: string; reason: string; objectsSent: number };
      assert.equal(report.objectsSent, 0);
      assert.equal(report.outcome, 'certificate-refused');
      assert.match(report.reason, /certificate|self-signed|SELF_SIGNED/i);
      const status = await runCli(['replication', 'status', '--json', '--data', edge.dataDir]);
      assert.equal(JSON.parse(status.stdout).targets[0].alarm?.reason, 'certificate-refused');
    } finally {
      await edge.cleanup();
    }
  });
});
