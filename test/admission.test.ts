/** 503 + Retry-After before the box drowns; everything acknowledged stays intact. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { getHeapStatistics } from 'node:v8';
import { SwiftSession, TestDaemon } from './helpers/daemon.ts';
import { md5 } from './helpers/hashes.ts';

let daemon: TestDaemon;
let s: SwiftSession;

before(async () => {
  daemon = await TestDaemon.start({ config: { admission: { maxRequests: 8, maxUploads: 2, queue: 2, queueTimeoutSeconds: 1 } } });
  s = await SwiftSession.open(daemon);
  await s.req('PUT', '/load');
});
after(() => daemon.cleanup());

describe('admission', () => {
  it('at 10x the upload bound: only 201 or 503 with Retry-After, and every 201 verifies', async () => {
    const bodies = Array.from({ length: 20 }, () => randomBytes(300_000));
    // Slow senders keep their slots busy, as docked cameras on a thin link do.
    const slow = (b: Buffer) =>
      (async function* () {
        for (let i = 0; i < b.length; i += 50_000) {
          yield b.subarray(i, i + 50_000);
          await new Promise((r) => setTimeout(r, 30));
        }
      })();
    const results = await Promise.all(bodies.map((b, i) => s.req('PUT', `/load/o${i}`, { 'Content-Length': String(b.length) }, slow(b))));
    const counts: Record<number, number> = {};
    for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
    assert.deepEqual(Object.keys(counts).map(Number).sort(), [201, 503], JSON.stringify(counts));
    for (const [i, r] of results.entries()) {
      if (r.status === 503) {
        assert.ok(Number(r.headers['retry-after']) >= 1, 'Retry-After in seconds');
        assert.equal((await s.req('HEAD', `/load/o${i}`)).status, 404);
      } else {
        assert.equal((await s.req('HEAD', `/load/o${i}`)).headers.etag, md5(bodies[i]!));
      }
    }
    // Afterwards, full service again.
    const body = randomBytes(100_000);
    assert.equal((await s.req('PUT', '/load/after', {}, body)).headers.etag, md5(body));
  });

  it('reads are bounded by maxRequests, not by the upload bound', async () => {
    const heads = await Promise.all(Array.from({ length: 8 }, () => s.req('HEAD', '/load')));
    assert.ok(heads.every((h) => h.status === 204));
  });
});

describe('admission under memory pressure', () => {
  it('refuses uploads with 503 + Retry-After while the heap is over admission.maxHeapMB, and still answers reads', async () => {
    // 16 MB is the least allowed; the daemon runs in this process, so ballast
    // held here puts its heap over it whatever a fresh process would use.
    const tight = await TestDaemon.start({ config: { admission: { maxHeapMB: 16 } } });
    const ballast = Array.from({ length: 1_000_000 }, (_, i) => ({ i }));
    try {
      assert.ok(getHeapStatistics().used_heap_size > 16 * 1024 * 1024, 'the heap is over the limit');
      const session = await SwiftSession.open(tight);
      assert.equal((await session.req('PUT', '/tight')).status, 201, 'a container is not an upload');
      const refused = await session.req('PUT', '/tight/o', {}, randomBytes(1000));
      assert.equal(refused.status, 503);
      assert.match(refused.text, /memory pressure/);
      assert.ok(Number(refused.headers['retry-after']) >= 1);
      assert.equal((await session.req('HEAD', '/tight/o')).status, 404);
      assert.equal((await session.req('HEAD', '/tight')).status, 204);
    } finally {
      ballast.length = 0;
      await tight.cleanup();
    }
  });
});

describe('admission of small uploads', () => {
  it('a small upload (at most 64 KiB declared) is not queued behind large ones: it needs no upload slot', { timeout: 60_000 }, async (t) => {
    const one = await TestDaemon.start({ config: { admission: { maxUploads: 1, queue: 0 } } });
    try {
      const session = await SwiftSession.open(one);
      const admin = (await one.auth('admin')).token;
      await session.req('PUT', '/small');
      // A large upload that holds the only upload slot until the test lets it finish.
      const large = randomBytes(200_000);
      let finish!: () => void;
      const finished = new Promise<void>((r) => (finish = r));
      const held = session.req(
        'PUT',
        '/small/large',
        { 'Content-Length': String(large.length) },
        (async function* () {
          yield large.subarray(0, 100_000);
          await finished;
          yield large.subarray(100_000);
        })(),
      );
      // Waits for the daemon to report `n` uploads in flight (the test's timeout ends the wait if it never does).
      const untilInFlight = async (n: number) => {
        while (!new RegExp(`edgecd_uploads_in_flight ${n}\\b`).test((await one.request('GET', '/metrics', { 'X-Auth-Token': admin })).text)) {
          if (t.signal.aborted) throw new Error(`never ${n} uploads in flight`);
          await new Promise((r) => setImmediate(r));
        }
      };
      await untilInFlight(1);

      const refused = await session.req('PUT', '/small/second-large', {}, randomBytes(64 * 1024 + 1));
      assert.equal(refused.status, 503, 'a second large upload finds no slot and no queue');
      const chunked = await session.req(
        'PUT',
        '/small/chunked',
        {},
        (async function* () {
          yield Buffer.from('no declared length');
        })(),
      );
      assert.equal(chunked.status, 503, 'a body of undeclared length counts as large');
      // A small upload in flight is still an upload in flight to monitoring.
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      const smallHeld = session.req(
        'PUT',
        '/small/held.json',
        { 'Content-Length': '2' },
        (async function* () {
          yield Buffer.from('{');
          await released;
          yield Buffer.from('}');
        })(),
      );
      await untilInFlight(2);
      release();
      assert.equal((await smallHeld).status, 201);
      const small = randomBytes(64 * 1024);
      const stored = await session.req('PUT', '/small/metadata.json', {}, small);
      assert.equal(stored.status, 201);
      assert.equal(stored.headers.etag, md5(small));

      finish();
      assert.equal((await held).status, 201);
      assert.equal((await session.req('HEAD', '/small/large')).headers.etag, md5(large));
      assert.equal((await session.req('HEAD', '/small/second-large')).status, 404);
    } finally {
      await one.cleanup();
    }
  });
});
