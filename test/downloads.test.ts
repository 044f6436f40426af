/** A download's body (webBody): every byte in order, and its file closed whenever the reader stops. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { webBody } from '../src/http/reply.ts';

const dir = await mkdtemp(join(tmpdir(), 'edgecd-downloads-'));
after(() => rm(dir, { recursive: true, force: true }));

const content = randomBytes(3 * 256 * 1024 + 17);
const file = join(dir, 'clip.mkv');
await writeFile(file, content);

/** A read stream of the file, as ObjectStore.readObject opens it; `closed` is kept once its file is closed. */
async function openRead() {
  const handle = await open(file, 'r');
  const stream = handle.createReadStream({ highWaterMark: 256 * 1024 });
  const closed = new Promise<void>((resolve) => stream.once('close', resolve)).then(() => assert.equal(handle.fd, -1, 'the file handle is closed'));
  return { stream, closed };
}

// A handle left open shows as a test that never ends: bounded so it fails in seconds, not at the suite's limit.
describe('webBody', { timeout: 20_000 }, () => {
  it('yields the whole file in order, and closes it at the end', async () => {
    const { stream, closed } = await openRead();
    const got: Buffer[] = [];
    for await (const chunk of webBody(stream)) got.push(Buffer.from(chunk as Uint8Array));
    assert.ok(Buffer.concat(got).equals(content));
    await closed;
  });

  it('closes the file when cancelled before the first read (a HEAD, a client gone before the answer)', async () => {
    const { stream, closed } = await openRead();
    await webBody(stream).cancel();
    await closed;
  });

  it('closes the file when cancelled after some of it was read', async () => {
    const { stream, closed } = await openRead();
    const reader = webBody(stream).getReader();
    assert.ok(!(await reader.read()).done);
    await reader.cancel();
    await closed;
  });

  it('passes a generator’s chunks, strings included, and ends it when cancelled', async () => {
    let finished = false;
    async function* lines() {
      try {
        yield 'one\n';
        yield 'two\n';
      } finally {
        finished = true;
      }
    }
    const whole: string[] = [];
    for await (const chunk of webBody(lines())) whole.push(chunk as string);
    assert.deepEqual(whole, ['one\n', 'two\n']);
    assert.ok(finished);
    finished = false;
    const reader = webBody(lines()).getReader();
    await reader.read();
    await reader.cancel();
    assert.ok(finished, 'the generator ran its finally');
  });
});
