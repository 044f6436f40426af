/**
 * The recording catalogue against a real store: it follows every change in
 * the change's own batch, pages newest first in both directions, filters,
 * and a rebuild from the index gives exactly what the changes built.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { RecordingCatalogue, type CatalogueEntry } from '../src/bws/catalogue.ts';
import { derivedIndexOps } from '../src/index-hooks.ts';
import { createLogger } from '../src/lib/log.ts';
import { ObjectStore } from '../src/store/object-store.ts';

const A = 'bws';
const compact = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
const T0 = Date.UTC(2026, 10, 20, 8, 0, 0);
const REJECTED = `RejectedContent_${compact(T0 + 31 * 600_000)}_5f0c`;
const name = (user: string, serial: string, i: number) => `${user}_${serial}_${compact(T0 + i * 600_000)}`;

async function dump(catalogue: RecordingCatalogue): Promise<string> {
  const rows: unknown[] = [];
  for (const sub of [catalogue.byTime, catalogue.byCategory] as const) for await (const row of (sub as typeof catalogue.byTime).iterator()) rows.push(row);
  return JSON.stringify(rows);
}

describe('recording catalogue', () => {
  let root: string;
  let store: ObjectStore;
  let catalogue: RecordingCatalogue;
  const names: string[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'edgecd-catalogue-'));
    store = await ObjectStore.open(root, { maxObjectBytes: 1 << 20, log: createLogger('silent'), derivedOps: derivedIndexOps });
    catalogue = RecordingCatalogue.of(store.index);
    await catalogue.ensureBuilt();
    // 30 recordings, ten minutes apart: users u1/u2 alternate, cameras c1..c3 cycle.
    for (let i = 0; i < 30; i++) {
      const container = name(`u${(i % 2) + 1}`, `c${(i % 3) + 1}`, i);
      names.push(container);
      await store.putContainer(A, container, { set: { starttime: String((T0 + i * 600_000) / 1000 - 30) }, remove: [] });
      if (i % 5 === 0) {
        await store.putObject({
          account: A,
          container,
          object: `bookmark_${i}`,
          body: Readable.from([Buffer.from('note')]),
          contentType: 'text/plain',
          meta: { categoryid: i % 10 === 0 ? 'ten' : 'five', categoryname: i % 10 === 0 ? 'Arrest' : 'Traffic' },
        });
      }
      if (i < 20) await store.postContainer(A, container, { set: { status: 'Complete' }, remove: [] });
    }
    await store.putContainer(A, REJECTED, { set: { rejectedcontentoriginalcontainer: names[0]! }, remove: [] });
    await store.putContainer(A, 'just-a-container', { set: {}, remove: [] });
  });

  after(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  it('lists recordings and rejected content newest first, not other containers', async () => {
    const page = await catalogue.query(A, { limit: 100 });
    assert.equal(page.entries.length, 31);
    assert.equal(page.entries[0]!.container, REJECTED); // rejected after every trigger time
    assert.equal(page.entries[0]!.status, 'Rejected');
    assert.deepEqual(
      page.entries.slice(1).map((e) => e.container),
      [...names].reverse(),
    );
    const newest = page.entries[1]!;
    assert.deepEqual(newest, {
      container: names[29]!,
      kind: 'recording',
      userId: 'u2',
      deviceSerial: 'c3',
      at: T0 + 29 * 600_000,
      status: 'Transferring',
      startTime: T0 + 29 * 600_000 - 30_000,
    } satisfies CatalogueEntry);
    assert.equal(page.entries.find((e) => e.container === names[0])!.status, 'Complete');
  });

  it('pages older and newer with cursors, and each page is the same both ways', async () => {
    const where = (e: CatalogueEntry) => e.kind === 'recording';
    const pages: string[][] = [];
    let cursor: string | undefined;
    const cursors: { older?: string; newer?: string }[] = [];
    do {
      const page = await catalogue.query(A, { limit: 7, where, ...(cursor ? { before: cursor } : {}) });
      pages.push(page.entries.map((e) => e.container));
      cursors.push(page);
      cursor = page.older;
    } while (cursor);
    assert.deepEqual(
      pages.map((p) => p.length),
      [7, 7, 7, 7, 2],
    );
    assert.deepEqual(pages.flat(), [...names].reverse());
    assert.equal(cursors[0]!.newer, undefined);
    // Back from the last page, one newer page at a time.
    for (let i = pages.length - 1; i > 0; i--) {
      const back = await catalogue.query(A, { limit: 7, where, after: cursors[i]!.newer! });
      assert.deepEqual(
        back.entries.map((e) => e.container),
        pages[i - 1],
      );
      assert.equal(back.newer === undefined, i === 1, `page ${i - 1} has a newer page unless it is the first`);
    }
  });

  it('filters by time range, status, user and category; a selective filter scans, never walks objects', async () => {
    const inRange = await catalogue.query(A, { limit: 100, since: T0 + 10 * 600_000, until: T0 + 12 * 600_000 });
    assert.deepEqual(
      inRange.entries.map((e) => e.container),
      [names[12], names[11], names[10]],
    );
    assert.equal(inRange.scanned, 3);
    const open = await catalogue.query(A, { limit: 100, where: (e) => e.status === 'Transferring' });
    assert.equal(open.entries.length, 10);
    const u1c1 = await catalogue.query(A, { limit: 100, where: (e) => e.userId === 'u1' && e.deviceSerial === 'c1' });
    assert.deepEqual(
      u1c1.entries.map((e) => e.container),
      [names[24], names[18], names[12], names[6], names[0]],
    );
    assert.deepEqual([...(await catalogue.withCategory(A, 'ten'))].sort(), [names[0], names[10], names[20]].sort());
    assert.deepEqual([...(await catalogue.withCategory(A, 'five'))].sort(), [names[5], names[15], names[25]].sort());
    assert.deepEqual(
      [...(await catalogue.categories(A))],
      [
        ['five', 'Traffic'],
        ['ten', 'Arrest'],
      ],
    );
  });

  it('follows a bookmark given another category, and a container that leaves', async () => {
    await store.postObject(A, names[25]!, 'bookmark_25', { categoryid: 'ten', categoryname: 'Arrest' });
    assert.ok((await catalogue.withCategory(A, 'ten')).has(names[25]!));
    assert.ok(!(await catalogue.withCategory(A, 'five')).has(names[25]!));
    await store.removeContainer(A, names[20]!);
    assert.ok(!(await catalogue.withCategory(A, 'ten')).has(names[20]!));
    const all = await catalogue.query(A, { limit: 100 });
    assert.ok(!all.entries.some((e) => e.container === names[20]));
    assert.equal(all.entries.length, 30);
  });

  it('a rebuild from the index gives exactly what the changes built', async () => {
    const built = await dump(catalogue);
    await store.index.db.sublevel('kv', { valueEncoding: 'json' }).del('version');
    assert.equal(await catalogue.ensureBuilt(), true);
    assert.equal(await dump(catalogue), built);
    assert.equal(await catalogue.ensureBuilt(), false, 'built once');
  });
});
