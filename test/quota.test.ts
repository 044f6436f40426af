/** 507 before the quota or the disk's reserve is crossed, never a partial object. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SwiftSession, TestDaemon } from './helpers/daemon.ts';
import { md5 } from './helpers/hashes.ts';

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
    // What counts is objects plus every change's bookkeeping (/status), so the filler leaves 1 KiB for its own.
    const admin = await daemon.auth('admin');
    const used = (JSON.parse((await daemon.request('GET', '/status', { 'X-Auth-Token': admin.token })).text) as { storage: { usedBytes: number } }).storage.usedBytes;
    assert.ok(used > Number((await s.req('HEAD', '')).headers['x-account-bytes-used']), 'bookkeeping counts against the quota');
    if (QUOTA - used - 1024 > 0) assert.equal((await s.req('PUT', '/full/filler', {}, randomBytes(QUOTA - used - 1024))).status, 201);
    assert.equal((await s.req('PUT', '/full/later', {}, body)).status, 201, 'a retried upload is not counted twice');
    assert.equal((await s.req('PUT', '/full/one-more', {}, 'x')).status, 507);
  });
});

describe('quota.reserveBytes', () => {
  it('refuses an upload that would leave less free space than the reserve', async () => {
    // A reserve 256 MiB above the free space: no upload fits; metadata, allowed half the reserve, still does.
    const { bavail, bsize } = await statfs(tmpdir());
    const tight = await TestDaemon.start({ config: { quota: { reserveBytes: bavail * bsize + 256 * 1024 ** 2 } } });
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

describe('a write key cannot hold the station', () => {
  /** Sends a PUT's headers and `first` body bytes, then `more()` as long as the daemon has not answered; resolves with the answer. */
  async function slowPut(
    port: number,
    path: string,
    token: string,
    declared: number,
    drip: (send: (b: string) => void, answered: () => boolean) => Promise<void>,
  ): Promise<string> {
    const { connect } = await import('node:net');
    const socket = connect({ port, host: '127.0.0.1' });
    await new Promise((resolve) => socket.once('connect', resolve));
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(`PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: ${token}\r\nContent-Length: ${declared}\r\n\r\n`);
    await drip(
      (b) => socket.write(b),
      () => answer.length > 0 || socket.destroyed,
    );
    await closed;
    return answer;
  }

  it('an upload declaring nearly the whole quota holds only what it sends; one that trickles is cut off with 408', async () => {
    const QUOTA_48M = 48 * 1024 * 1024;
    const d = await TestDaemon.start({ config: { quota: { maxBytes: QUOTA_48M }, http: { bodyTimeoutSeconds: 2, uploadMinBytesPerSecond: 1000 } } });
    try {
      const t = await SwiftSession.open(d);
      assert.equal((await t.req('PUT', '/c')).status, 201);
      // Declares 40 MiB, sends one byte a while, and never more than a few a second.
      let hogging!: () => void;
      const hogStarted = new Promise<void>((resolve) => (hogging = resolve));
      const hog = slowPut(d.port, `${t.account}/c/hog`, t.token, 40 * 1024 * 1024, async (send, answered) => {
        send('x');
        hogging();
        while (!answered()) {
          await new Promise((r) => setTimeout(r, 300));
          if (!answered()) send('x');
        }
      });
      await hogStarted;
      const admin = await d.auth('admin');
      const inFlight = async () =>
        (JSON.parse((await d.request('GET', '/status', { 'X-Auth-Token': admin.token })).text) as { storage: { uploadsInFlight: number } }).storage.uploadsInFlight;
      while ((await inFlight()) === 0) await new Promise((r) => setImmediate(r));
      // Meanwhile the BWS stores 20 MiB: more than the quota minus the hog's declared size.
      const body = randomBytes(20 * 1024 * 1024);
      const put = await t.req('PUT', '/c/clip.mkv', {}, body);
      assert.equal(put.status, 201, put.text);
      const answer = await hog;
      assert.match(answer, /^HTTP\/1\.1 408 /);
      assert.match(answer, /too slowly/);
      assert.equal((await t.req('HEAD', '/c/hog')).status, 404);
      assert.equal((await t.req('GET', '/c/clip.mkv')).headers.etag, md5(body));
    } finally {
      await d.cleanup();
    }
  });

  it('metadata writes are capped per object and per container, and their growth counts against the quota', async () => {
    const QUOTA_512K = 512 * 1024;
    const d = await TestDaemon.start({ config: { quota: { maxBytes: QUOTA_512K }, objects: { maxMetadataWritesPerObject: 5 } } });
    try {
      const t = await SwiftSession.open(d);
      assert.equal((await t.req('PUT', '/c')).status, 201);
      for (let i = 0; i < 100; i++) assert.equal((await t.req('PUT', `/c/o${i}`, {}, '')).status, 201);
      // Near Swift's 4 KiB of metadata: 15 values of 250 bytes.
      const bigMeta = (fill: string) => Object.fromEntries(Array.from({ length: 15 }, (_, k) => [`X-Object-Meta-K${k}`, fill.repeat(250)]));
      for (let i = 0; i < 5; i++) assert.equal((await t.req('POST', '/c/o0', bigMeta(`${i}`))).status, 202);
      const sixth = await t.req('POST', '/c/o0', bigMeta('x'));
      assert.equal(sixth.status, 409);
      assert.match(sixth.text, /maxMetadataWritesPerObject/);
      // Spread over objects, the writes run into the quota plus metadata's headroom (1 MiB), not on and on.
      let refused: { status: number; text: string } | undefined;
      let writes = 0;
      for (let round = 0; round < 5 && !refused; round++) {
        for (let i = 1; i < 100 && !refused; i++) {
          const res = await t.req('POST', `/c/o${i}`, bigMeta(`${round}`));
          if (res.status === 202) writes += 1;
          else refused = res;
        }
      }
      assert.equal(refused?.status, 507, refused?.text);
      assert.match(refused!.text, /headroom/);
      const admin = await d.auth('admin');
      const { storage } = JSON.parse((await d.request('GET', '/status', { 'X-Auth-Token': admin.token })).text) as { storage: { usedBytes: number } };
      // Objects hold 0 bytes: all that is used is bookkeeping, stopped at quota + headroom.
      assert.ok(storage.usedBytes > QUOTA_512K + 1024 * 1024 - 8192 && storage.usedBytes <= QUOTA_512K + 1024 * 1024, `used ${storage.usedBytes} after ${writes} writes`);
      assert.equal((await t.req('PUT', '/c/more', {}, '')).status, 507, 'uploads stopped at the quota itself');
      // The container cap, on a fresh station: its own metadata changes count too.
      const e = await TestDaemon.start({ config: { objects: { maxMetadataWritesPerContainer: 3 } } });
      try {
        const u = await SwiftSession.open(e);
        assert.equal((await u.req('PUT', '/r')).status, 201);
        assert.equal((await u.req('PUT', '/r/o', {}, '')).status, 201);
        assert.equal((await u.req('POST', '/r', { 'X-Container-Meta-A': '1' })).status, 204);
        assert.equal((await u.req('POST', '/r/o', { 'X-Object-Meta-A': '1' })).status, 202);
        assert.equal((await u.req('PUT', '/r', { 'X-Container-Meta-A': '2' })).status, 202);
        const over = await u.req('POST', '/r', { 'X-Container-Meta-A': '3' });
        assert.equal(over.status, 409);
        assert.match(over.text, /maxMetadataWritesPerContainer/);
        assert.equal((await u.req('HEAD', '/r')).headers['x-container-meta-a'], '2', 'a refused change changes nothing');
      } finally {
        await e.cleanup();
      }
    } finally {
      await d.cleanup();
    }
  });
});
