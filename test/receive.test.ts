/** receiveToFile: bytes and both hashes exact on every path (inline and worker hashing). */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdtemp, open, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { receiveToFile } from '../src/store/receive.ts';
import { needs } from './helpers/peers.ts';

const dir = await mkdtemp(join(tmpdir(), 'edgecd-receive-'));
after(() => rm(dir, { recursive: true, force: true }));

/** A body in uneven pieces, as a network delivers it. */
function pieces(body: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let i = 0, n = 1; i < body.length; i += n, n = (n * 7 + 3) % 100_003 || 1) parts.push(body.subarray(i, i + n));
  return Readable.from(parts);
}

describe('receiveToFile', () => {
  // Declared and under 1_048_576 (OFFLOAD_BYTES): gathered, hashed inline and written once with O_DSYNC (0: an fdatasync).
  // From 1_048_576, or undeclared: the slot pipeline (524_288 each), hashed on the hash thread, and an fdatasync.
  const sizes = [0, 1, 262_143, 262_144, 262_145, 524_288, 524_289, 1_048_575, 1_048_576, 3 * 1_048_576 + 7];
  for (const size of sizes) {
    for (const declared of [true, false]) {
      it(`${size} bytes, ${declared ? 'with' : 'without'} Content-Length`, async () => {
        const body = randomBytes(size);
        const path = join(dir, `${size}-${declared}`);
        const got = await receiveToFile(pieces(body), path, { maxBytes: 1 << 30, expectedBytes: declared ? size : undefined });
        assert.equal(got.bytes, size);
        assert.equal(got.md5, createHash('md5').update(body).digest('hex'));
        assert.equal(got.sha256, createHash('sha256').update(body).digest('hex'));
        assert.ok((await readFile(path)).equals(body));
      });
    }
  }

  it('keeps concurrent uploads apart while they share the reused slots, one failing among them', async () => {
    // Slots go back to a shared pool: a slot reused while a write or the hash
    // thread still read it would mix one upload's bytes into another's.
    const bodies = Array.from({ length: 6 }, (_, i) => randomBytes(3 * 1_048_576 + i * 65_537));
    const broken = new Readable({
      read() {
        this.push(randomBytes(1_500_000));
        this.destroy(new Error('aborted'));
      },
    });
    const failing = assert.rejects(receiveToFile(broken, join(dir, 'broken'), { maxBytes: 1 << 30, expectedBytes: 8_000_000 }), { code: 'ClientDisconnected' });
    const results = await Promise.all(bodies.map((body, i) => receiveToFile(pieces(body), join(dir, `together-${i}`), { maxBytes: 1 << 30 })));
    await failing;
    for (const [i, body] of bodies.entries()) {
      assert.equal(results[i]!.md5, createHash('md5').update(body).digest('hex'));
      assert.equal(results[i]!.sha256, createHash('sha256').update(body).digest('hex'));
      assert.ok((await readFile(join(dir, `together-${i}`))).equals(body), `upload ${i} on disk`);
    }
    // And again, now through slots the first round used.
    const again = randomBytes(2 * 1_048_576 + 3);
    const got = await receiveToFile(pieces(again), join(dir, 'again'), { maxBytes: 1 << 30, expectedBytes: again.length });
    assert.equal(got.sha256, createHash('sha256').update(again).digest('hex'));
    assert.ok((await readFile(join(dir, 'again'))).equals(again));
  });

  it("writes a large body's whole blocks past the page cache (O_DIRECT), where the file system allows it", { skip: needs('fincore') }, async (t) => {
    const probe = await open(join(dir, 'direct-probe'), constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT).catch(() => undefined);
    if (!probe) return t.skip(`the file system of ${dir} refuses O_DIRECT`);
    await probe.close();
    const body = randomBytes(8 * 1_048_576 + 5);
    const path = join(dir, 'direct');
    const got = await receiveToFile(pieces(body), path, { maxBytes: 1 << 30, expectedBytes: body.length });
    // Before anything reads the file: only the 5-byte tail went through the cache.
    const cached = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' });
    assert.equal(cached.status, 0, cached.stderr);
    assert.ok(Number(cached.stdout.trim()) <= 8192, `${cached.stdout.trim()} bytes of the file in the page cache`);
    assert.equal(got.sha256, createHash('sha256').update(body).digest('hex'));
    assert.ok((await readFile(path)).equals(body));
  });

  it('refuses a body over the limit with 413 and a short one as a disconnect', async () => {
    await assert.rejects(receiveToFile(pieces(randomBytes(5000)), join(dir, 'big'), { maxBytes: 4096 }), { code: 'EntityTooLarge' });
    await assert.rejects(receiveToFile(pieces(randomBytes(10)), join(dir, 'short'), { maxBytes: 4096, expectedBytes: 20 }), { code: 'ClientDisconnected' });
    const names = await readdir(dir);
    assert.ok(names.includes('big'), 'the caller removes the temp file, not receiveToFile');
  });

  it('refuses a declared small body (gathered, then written once) before it creates the file', async () => {
    const path = (name: string) => join(dir, `whole-${name}`);
    await assert.rejects(receiveToFile(pieces(randomBytes(5000)), path('over'), { maxBytes: 4096, expectedBytes: 5000 }), { code: 'EntityTooLarge' });
    await assert.rejects(receiveToFile(pieces(randomBytes(200)), path('longer'), { maxBytes: 4096, expectedBytes: 100 }), { code: 'BadRequest' });
    await assert.rejects(receiveToFile(pieces(randomBytes(10)), path('short'), { maxBytes: 4096, expectedBytes: 20 }), { code: 'ClientDisconnected' });
    const full = Object.assign(new Error('no room'), { code: 'InsufficientStorage' });
    const seen: number[] = [];
    const onProgress = (bytes: number) => {
      seen.push(bytes);
      if (bytes > 300) throw full;
    };
    await assert.rejects(receiveToFile(pieces(randomBytes(1000)), path('full'), { maxBytes: 4096, expectedBytes: 1000, onProgress }), full);
    assert.ok(seen.length > 1 && seen.at(-1)! > 300, 'told the running total, chunk by chunk');
    // A reservation refused without a reason is still a refusal, on both paths.
    const refusedSilently = () => Promise.reject(undefined);
    await assert.rejects(receiveToFile(pieces(randomBytes(1000)), path('silent'), { maxBytes: 1 << 30, expectedBytes: 1000, onProgress: refusedSilently }), {
      code: 'InsufficientStorage',
    });
    await assert.rejects(receiveToFile(pieces(randomBytes(1_100_000)), join(dir, 'silent-large'), { maxBytes: 1 << 30, expectedBytes: 1_100_000, onProgress: refusedSilently }), {
      code: 'InsufficientStorage',
    });
    const names = await readdir(dir);
    assert.deepEqual(
      names.filter((n) => n.startsWith('whole-')),
      [],
      'nothing was created for a refused body',
    );
  });
});
