/**
 * The commit journal, crash point by crash point. A kill -9 lands at a random
 * step; here each step's on-disk state is built exactly and the store reopened.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { ContainerLogs, readContainerLog, type ObjectRecord } from '../src/store/container-log.ts';
import type { Mutation } from '../src/store/index-db.ts';
import { ObjectStore } from '../src/store/object-store.ts';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const hash = (alg: string, b: string) => createHash(alg).update(b).digest('hex');
const everything = { prefix: '', marker: '', endMarker: '', delimiter: '', limit: 100 };

async function freshStore(): Promise<{ root: string; store: ObjectStore }> {
  const root = await mkdtemp(join(tmpdir(), 'edgecd-store-'));
  dirs.push(root);
  const store = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log });
  await store.putContainer('acct', 'rec', { set: { status: 'Transferring' }, remove: [] });
  await store.putObject({ account: 'acct', container: 'rec', object: 'old', body: Readable.from([Buffer.from('old')]), contentType: 'text/plain', meta: {} });
  return { root, store };
}

/** The state right after step 1 of a commit: data complete in tmp/, mutation journaled. */
async function journaledUpload(store: ObjectStore, root: string, name: string, body: string): Promise<Mutation> {
  const txId = `crash-${name}`;
  const tmp = store.layout.tmpFile(txId);
  await writeFile(tmp, body);
  const record: ObjectRecord = {
    op: 'object',
    name,
    file: name,
    bytes: body.length,
    md5: hash('md5', body),
    sha256: hash('sha256', body),
    contentType: 'video/x-matroska',
    lastModified: Date.now(),
    timestamp: '1.00000',
    meta: { n: name },
  };
  const m: Mutation = { txId, account: 'acct', container: 'rec', record, tmpFile: relative(root, tmp) };
  await store.index.write([{ type: 'put', sublevel: store.index.journal, key: txId, value: m }], true);
  return m;
}

describe('recovery of interrupted commits', () => {
  it('rolls forward an upload journaled before its log record and rename', async () => {
    const { root, store } = await freshStore();
    await journaledUpload(store, root, 'a.mkv', 'clip A');
    await store.close(); // the crash: nothing after step 1 happened

    const reopened = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log });
    const entry = await reopened.object('acct', 'rec', 'a.mkv');
    assert.equal(entry.md5, hash('md5', 'clip A'));
    assert.equal(entry.meta.n, 'a.mkv');
    const container = await reopened.container('acct', 'rec');
    assert.equal(container.objectCount, 2);
    assert.equal(container.bytesUsed, 'old'.length + 'clip A'.length);
    assert.deepEqual(await readdir(reopened.layout.tmpDir), []);
    const logged = await readContainerLog(reopened.layout.containerDir('acct', 'rec'));
    assert.ok(
      logged.some((r) => r.op === 'object' && r.name === 'a.mkv'),
      'the log learned of it too',
    );
    let pending = 0;
    for await (const _ of reopened.index.journal.keys()) pending += 1;
    assert.equal(pending, 0);
    await reopened.close();
  });

  it('rolls forward an upload renamed into place but not yet in the index, counting it once', async () => {
    const { root, store } = await freshStore();
    const m = await journaledUpload(store, root, 'old', 'replacement');
    const dir = store.layout.containerDir('acct', 'rec');
    await new ContainerLogs().append(dir, [m.record]);
    await rename(join(root, m.tmpFile!), join(dir, 'old'));
    await store.close(); // crash between steps 3 and 4

    const reopened = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log });
    assert.equal((await reopened.object('acct', 'rec', 'old')).md5, hash('md5', 'replacement'));
    const container = await reopened.container('acct', 'rec');
    assert.equal(container.objectCount, 1, 'an overwrite is not a new object');
    assert.equal(container.bytesUsed, 'replacement'.length);
    const { metaBytes, ...account } = await reopened.account('acct');
    assert.deepEqual(account, { containerCount: 1, objectCount: 1, bytesUsed: 'replacement'.length });
    assert.equal(metaBytes, container.metaBytes, "the account's bookkeeping is its container's");
    await reopened.close();
  });

  it('an upload whose rename fails after its log record was written is rolled back, and the store serves on', async () => {
    const { root, store } = await freshStore();
    const dir = store.layout.containerDir('acct', 'rec');
    // A directory where the data file would go: the log's append succeeds, the rename fails (EISDIR).
    await mkdir(join(dir, 'blocked.mkv', 'inside'), { recursive: true });
    const body = (text: string) => Readable.from([Buffer.from(text)]);
    await assert.rejects(store.putObject({ account: 'acct', container: 'rec', object: 'blocked.mkv', body: body('clip'), contentType: 'video/x-matroska', meta: {} }));
    assert.equal(store.broken, undefined, 'rolled back, not stopped');
    await assert.rejects(store.object('acct', 'rec', 'blocked.mkv'), { code: 'NotFound' });
    assert.deepEqual(await readdir(store.layout.tmpDir), []);
    const last = (await readContainerLog(dir)).filter((r) => r.name === 'blocked.mkv').at(-1);
    assert.equal(last?.op, 'object-removed', 'the log restates that the object is not there');
    await store.putObject({ account: 'acct', container: 'rec', object: 'next.mkv', body: body('next'), contentType: 'video/x-matroska', meta: {} });

    await store.close();
    const reopened = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log });
    assert.deepEqual(
      (await reopened.listObjects('acct', 'rec', everything)).map((o) => ('name' in o ? o.name : o.subdir)),
      ['next.mkv', 'old'],
    );
    await reopened.close();
  });

  it('after a commit fails past its rename, the object is not served with the old Etag until a restart completes it', async () => {
    const { root, store: plain } = await freshStore();
    await plain.close();
    let failIndexUpdate = false;
    // derivedOps runs in step 4 (the index update), after the data file was renamed into place.
    const derivedOps = async () => {
      if (failIndexUpdate) throw new Error('index update failed');
      return [];
    };
    const store = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log, derivedOps });
    failIndexUpdate = true;
    // As long as the old bytes: the size check alone would not notice.
    const put = store.putObject({ account: 'acct', container: 'rec', object: 'old', body: Readable.from([Buffer.from('new')]), contentType: 'text/plain', meta: {} });
    await assert.rejects(put, { code: 'Unavailable' });
    assert.ok(store.broken, 'the store stopped taking changes');
    assert.equal((await store.object('acct', 'rec', 'old')).md5, hash('md5', 'old'), 'the index still describes the old bytes');
    await assert.rejects(
      store.readObject('acct', 'rec', 'old', () => undefined),
      { code: 'Unavailable' },
      'the file already holds the new bytes: not served under the old Etag',
    );
    await store.close();

    const reopened = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log });
    const read = await reopened.readObject('acct', 'rec', 'old', () => undefined);
    const bytes = Buffer.concat(await read.body.toArray());
    assert.equal(bytes.toString(), 'new');
    assert.equal(read.entry.md5, hash('md5', 'new'), 'recovery completed the commit');
    await reopened.close();
  });

  it('drops a journaled upload whose data vanished, and leaves the old object alone', async () => {
    const { root, store } = await freshStore();
    const m = await journaledUpload(store, root, 'ghost', 'never arrives');
    await rm(join(root, m.tmpFile!));
    await store.close();
    const reopened = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log });
    await assert.rejects(reopened.object('acct', 'rec', 'ghost'), { code: 'NotFound' });
    assert.deepEqual(
      (await reopened.listObjects('acct', 'rec', everything)).map((o) => ('name' in o ? o.name : '')),
      ['old'],
    );
    await reopened.close();
  });

  it('drops a journaled upload when the file in place is an older one of the same size', async () => {
    const { root, store } = await freshStore();
    const m = await journaledUpload(store, root, 'old', 'new'); // same length as 'old'
    await rm(join(root, m.tmpFile!)); // its temp file was lost, so no rename happened
    await store.close();
    const reopened = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log });
    assert.equal((await reopened.object('acct', 'rec', 'old')).md5, hash('md5', 'old'));
    const logged = await readContainerLog(reopened.layout.containerDir('acct', 'rec'));
    const last = logged.filter((r) => r.name === 'old').at(-1);
    assert.ok(last?.op === 'object' && last.md5 === hash('md5', 'old'), 'the log ends on what is really there');
    await reopened.close();
  });

  it('an index set aside by an interrupted reindex swap is put back', async () => {
    const { root, store } = await freshStore();
    await store.close();
    await rename(join(root, 'index'), join(root, 'index.previous'));
    const reopened = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log });
    assert.equal((await reopened.object('acct', 'rec', 'old')).md5, hash('md5', 'old'));
    await reopened.close();
  });

  it('removes temp files of uploads that never reached the journal', async () => {
    const { root, store } = await freshStore();
    await writeFile(join(store.layout.tmpDir, 'cut-off.part'), 'half a clip');
    await store.close();
    const reopened = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log });
    assert.deepEqual(await readdir(reopened.layout.tmpDir), []);
    assert.equal((await reopened.container('acct', 'rec')).objectCount, 1);
    await reopened.close();
  });

  it('completes an eviction journaled before its directory left, and one cut off after the rename', async () => {
    for (const movedAlready of [false, true]) {
      const { root, store } = await freshStore();
      const before = await store.account('acct');
      const m: Mutation = { txId: 'crash-evict', account: 'acct', container: 'rec', record: { op: 'container-removed', name: 'rec', timestamp: '2.00000' } };
      await store.index.write([{ type: 'put', sublevel: store.index.journal, key: m.txId, value: m }], true);
      if (movedAlready) await rename(store.layout.containerDir('acct', 'rec'), store.layout.tmpFile('removed-by-crash'));
      await store.close();

      const reopened = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log });
      await assert.rejects(reopened.container('acct', 'rec'), /not found/);
      await assert.rejects(reopened.object('acct', 'rec', 'old'), /not found/);
      const after = await reopened.account('acct');
      assert.equal(after.containerCount, before.containerCount - 1);
      assert.equal(after.bytesUsed, 0);
      assert.deepEqual(await readdir(join(root, 'objects', 'acct')), []);
      assert.deepEqual(await readdir(reopened.layout.tmpDir), []);
      await reopened.close();
    }
  });
});
