/** 507 before the quota or the disk's reserve is crossed, never a partial object. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SwiftSession, TestDaemon } from './helpers/daemon.ts';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const QUOTA = 1024 * 1024;
let daemon: TestDaemon;
let s: SwiftSession;

before(async () => {
  daemon = await TestDaemon.start({ config: { quota: { maxBytes: QUOTA } } });
  s = await SwiftSession.open(daemon);
  await s.req('PUT', '/full');
});
after(() => daemon.cleanup());

describe('quota.maxBytes', () => {
  it('concurrent uploads get only 201 or 507; what was stored verifies and stays within the quota', async () => {
    const bodies = Array.from({ length: 24 }, () => randomBytes(100_000));
    const results = await Promise.all(bodies.map((b, i) => s.req('PUT', `/full/o${i}`, {}, b)));
    const statuses = new Set(results.map((r) => r.status));
    assert.deepEqual([...statuses].sort(), [201, 507]);
    let stored = 0;
    for (const [i, r] of results.entries()) {
      const get = await s.req('GET', `/full/o${i}`);
      if (r.status === 201) {
        assert.equal(get.headers.etag, md5(bodies[i]!));
        assert.ok(get.body.equals(bodies[i]!));
        stored += bodies[i]!.length;
      } else {
        assert.equal(get.status, 404, 'a 507 stores nothing');
        assert.match(r.text, /Quota of 1048576 bytes/);
      }
    }
    assert.ok(stored <= QUOTA && stored > QUOTA - 2 * 100_000, `stored ${stored}`);
    assert.equal((await s.req('HEAD', '/full')).headers['x-container-bytes-used'], String(stored));
    assert.deepEqual(await readdir(join(daemon.dataDir, 'tmp')), []);
  });

  it('a chunked upload is cut off with 507 the moment it would cross, and leaves nothing', async () => {
    async function* big() {
      for (let i = 0; i < 40; i++) yield randomBytes(64 * 1024);
    }
    const res = await s.req('PUT', '/full/chunked', {}, big());
    assert.equal(res.status, 507);
    assert.equal((await s.req('HEAD', '/full/chunked')).status, 404);
    assert.deepEqual(await readdir(join(daemon.dataDir, 'tmp')), []);
  });

  it('while full: reads, HEADs, auth and metadata updates work; freed space lets uploads resume without a restart', async () => {
    const body = randomBytes(200_000);
    assert.equal((await s.req('PUT', '/full/later', {}, body)).status, 507);
    assert.equal((await s.req('GET', '/full?format=json')).status, 200);
    assert.equal((await s.req('POST', '/full', { 'X-Container-Meta-Note': 'full' })).status, 204);
    assert.equal((await s.req('PUT', '/other', { 'X-Container-Meta-A': '1' })).status, 201);
    assert.equal((await SwiftSession.open(daemon)).token.startsWith('AUTH_tk'), true);
    // Free space by replacing stored objects with empty ones (the API deletes nothing).
    const listed = JSON.parse((await s.req('GET', '/full?format=json')).text) as { name: string }[];
    for (const o of listed.slice(0, 3)) assert.equal((await s.req('PUT', `/full/${o.name}`, {}, '')).status, 201);
    const again = await s.req('PUT', '/full/later', {}, body);
    assert.equal(again.status, 201);
    assert.equal(again.headers.etag, md5(body));
    // Fill what is left, then retry an upload of an existing object: it replaces, it does not add.
    const used = Number((await s.req('HEAD', '')).headers['x-account-bytes-used']);
    if (QUOTA - used > 0) assert.equal((await s.req('PUT', '/full/filler', {}, randomBytes(QUOTA - used))).status, 201);
    assert.equal((await s.req('PUT', '/full/later', {}, body)).status, 201, 'a retried upload is not counted twice');
    assert.equal((await s.req('PUT', '/full/one-more', {}, 'x')).status, 507);
  });
});

describe('quota.reserveBytes', () => {
  it('refuses an upload that would leave less free space than the reserve', async () => {
    const tight = await TestDaemon.start({ config: { quota: { reserveBytes: Number.MAX_SAFE_INTEGER } } });
    try {
      const t = await SwiftSession.open(tight);
      assert.equal((await t.req('PUT', '/c')).status, 201, 'metadata still works');
      const res = await t.req('PUT', '/c/o', {}, 'x');
      assert.equal(res.status, 507);
      assert.match(res.text, /reserve/);
    } finally {
      await tight.cleanup();
    }
  });
});

describe('a refused upload, answered before its body is read', () => {
  it('keeps its answer for a client that goes on sending instead of reading (the connection lingers)', async () => {
    const { connect } = await import('node:net');
    // A client that keeps writing its body and reads the answer only afterwards, as a busy BWS does.
    const socket = connect({ port: daemon.port, host: '127.0.0.1', allowHalfOpen: true });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.pause();
    const errors: string[] = [];
    socket.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const logged = daemon.logLines.length;
    // Larger than the quota: 507 from the headers alone.
    socket.write(`PUT ${s.account}/full/too-big HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: ${s.token}\r\nContent-Length: ${8 * QUOTA}\r\n\r\n`);
    socket.write(randomBytes(64 * 1024));
    // The daemon logs the request once it has answered it.
    while (!daemon.logLines.slice(logged).some((l) => l.includes('"status":507'))) await new Promise((r) => setTimeout(r, 10));
    await new Promise((resolve) => socket.write(randomBytes(1024 * 1024), resolve));
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    socket.resume();
    socket.end();
    await closed;
    const text = Buffer.concat(received).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 507 /, `got ${JSON.stringify(text.slice(0, 40))}, errors ${errors.join(',')}`);
  });
});
