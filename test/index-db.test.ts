/** IndexDb's group commit: writes queued during one are merged into the next, with the effect of running them in order. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { IndexDb, type AccountEntry } from '../src/store/index-db.ts';

const dir = await mkdtemp(join(tmpdir(), 'edgecd-index-'));
after(() => rm(dir, { recursive: true, force: true }));

describe('IndexDb.write', () => {
  it('merges queued writes and keeps only the last op on a key, whatever the order of puts and deletes', async () => {
    const index = await IndexDb.open(join(dir, 'index'));
    try {
      const totals = (n: number): AccountEntry => ({ containerCount: 1, objectCount: n, bytesUsed: n * 10 });
      // The first write goes out alone; the rest queue behind it and go out as one.
      const writes = [
        index.write([{ type: 'put', sublevel: index.accounts, key: 'first', value: totals(0) }], true),
        index.write([{ type: 'put', sublevel: index.accounts, key: 'a', value: totals(1) }], false),
        index.write([{ type: 'put', sublevel: index.accounts, key: 'a', value: totals(2) }], true),
        index.write([{ type: 'put', sublevel: index.accounts, key: 'gone', value: totals(3) }], false),
        index.write([{ type: 'del', sublevel: index.accounts, key: 'gone' }], false),
        index.write([{ type: 'del', sublevel: index.accounts, key: 'back' }], false),
        index.write(
          [
            { type: 'put', sublevel: index.accounts, key: 'back', value: totals(4) },
            // The same key in another sublevel is another key.
            { type: 'put', sublevel: index.journal, key: 'a', value: { txId: 'a', account: 'x', container: 'y', record: { op: 'object-removed', name: 'o', timestamp: '1' } } },
          ],
          false,
        ),
        index.write([{ type: 'put', sublevel: index.accounts, key: 'a', value: totals(5) }], false),
      ];
      await Promise.all(writes);
      assert.deepEqual(await index.accounts.get('first'), totals(0));
      assert.deepEqual(await index.accounts.get('a'), totals(5));
      assert.equal(await index.accounts.get('gone'), undefined);
      assert.deepEqual(await index.accounts.get('back'), totals(4));
      assert.equal((await index.journal.get('a'))?.txId, 'a');
      assert.equal(index.objectNow('missing'), undefined);
    } finally {
      await index.close();
    }
  });
});
