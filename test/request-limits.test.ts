/**
 * Limits a hostile client runs into: overlong URLs and header blocks, slow
 * headers and stalled bodies, keep-alive reuse, and silent connections
 * capped per address and overall without crowding out the body-worn system.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SwiftSession, TestDaemon } from './helpers/daemon.ts';
import { raw } from './helpers/raw-http.ts';

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
