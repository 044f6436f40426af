/** receiveToFile: bytes and both hashes exact on every path (inline and worker hashing). */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { receiveToFile } from '../src/store/receive.ts';

const dir = await mkdtemp(join(tmpdir(), 'edgecd-receive-'));
after(() => rm(dir, { recursive: true, force: true }));

/** A body in uneven pieces, as a network delivers it. */
function pieces(body: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let i = 0, n = 1; i < body.length; i += n, n = (n * 7 + 3) % 100_003 || 1) parts.push(body.subarray(i, i + n));
  return Readable.from(parts);
}

describe('receiveToFile', () => {
  const sizes = [0, 1, 262_143, 262_144, 262_145, 1_048_576, 3 * 1_048_576 + 7];
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

  it('refuses a body over the limit with 413 and a short one as a disconnect', async () => {
    await assert.rejects(receiveToFile(pieces(randomBytes(5000)), join(dir, 'big'), { maxBytes: 4096 }), { code: 'EntityTooLarge' });
    await assert.rejects(receiveToFile(pieces(randomBytes(10)), join(dir, 'short'), { maxBytes: 4096, expectedBytes: 20 }), { code: 'ClientDisconnected' });
    const names = await readdir(dir);
    assert.ok(names.includes('big'), 'the caller removes the temp file, not receiveToFile');
  });
});
