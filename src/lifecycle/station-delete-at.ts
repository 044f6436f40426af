/**
 * On a central: the X-Delete-At replicating stations gave their recordings'
 * objects, indexed (sublevel kd: account, container, object → s since the
 * epoch) so the retention plan reads them in one key scan per account.
 * Derived from each object change in the same batch (ObjectStore's
 * derivedOps). An index without its mark (one a reindex built) has it
 * rebuilt from the objects' own entries before it is read
 * (ensureStationDeleteAts).
 */
import type { AbstractSublevel } from 'abstract-level';
import type { Level } from 'level';
import { type BatchOp, IndexDb, type Mutation } from '../store/index-db.ts';
import { KEY_SEPARATOR as SEP, KEY_TOP as TOP } from '../store/index-keys.ts';

type Sub<V> = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, V>;

/** A recording's objects that carry a station's X-Delete-At: how many, and the latest. */
export interface StationDeleteAt {
  objects: number;
  /** s since the epoch */
  latest: number;
}

const VERSION = 1;
const marks = new WeakMap<IndexDb, Sub<number>>();
const sublevels = new WeakMap<IndexDb, Sub<number>>();
const deleteAts = (index: IndexDb): Sub<number> => {
  let sub = sublevels.get(index);
  if (!sub) sublevels.set(index, (sub = index.db.sublevel<string, number>('kd', { valueEncoding: 'json' })));
  return sub;
};

/** Rebuilds the index of stations' X-Delete-At from the object entries when it has no mark (a reindex); returns whether it did. */
export async function ensureStationDeleteAts(index: IndexDb): Promise<boolean> {
  let mark = marks.get(index);
  if (!mark) marks.set(index, (mark = index.db.sublevel<string, number>('kdv', { valueEncoding: 'json' })));
  if ((await mark.get('version')) === VERSION) return false;
  const sub = deleteAts(index);
  await sub.clear();
  const ops: BatchOp[] = [];
  for await (const [key, entry] of index.objects.iterator()) {
    if (entry.deleteAt !== undefined) ops.push({ type: 'put', sublevel: sub, key, value: entry.deleteAt });
    if (ops.length >= 1000) await index.write(ops.splice(0), false);
  }
  ops.push({ type: 'put', sublevel: mark, key: 'version', value: VERSION });
  await index.write(ops, true);
  return true;
}

/** ObjectStore's derivedOps hook. */
export async function stationDeleteAtHook(m: Mutation, index: IndexDb): Promise<BatchOp[]> {
  const sub = deleteAts(index);
  const r = m.record;
  if (r.op === 'container') return [];
  if (r.op === 'container-removed') {
    const prefix = IndexDb.objectKey(m.account, m.container, '');
    return (await sub.keys({ gte: prefix, lt: prefix + TOP }).all()).map((key) => ({ type: 'del', sublevel: sub, key }));
  }
  const key = IndexDb.objectKey(m.account, m.container, r.name);
  return r.op === 'object' && r.deleteAt !== undefined ? [{ type: 'put', sublevel: sub, key, value: r.deleteAt }] : [{ type: 'del', sublevel: sub, key }];
}

/**
 * The X-Delete-At a station gave a recording, ms: the latest, and only when
 * every one of its objects carries one (`objectCount`: how many it has), so a
 * copy half-way through having it removed (a hold placed at the station) is
 * never taken for one the station let go.
 */
export function wholeRecording(found: StationDeleteAt | undefined, objectCount: number): number | undefined {
  return found !== undefined && found.objects === objectCount ? found.latest * 1000 : undefined;
}

/** One recording's, as stationDeleteAts reads them for all. */
export async function stationDeleteAtOf(index: IndexDb, account: string, container: string): Promise<StationDeleteAt | undefined> {
  const prefix = IndexDb.objectKey(account, container, '');
  let found: StationDeleteAt | undefined;
  for await (const at of deleteAts(index).values({ gte: prefix, lt: prefix + TOP })) found = { objects: (found?.objects ?? 0) + 1, latest: Math.max(found?.latest ?? 0, at) };
  return found;
}

/** Every recording of an account whose objects carry a station's X-Delete-At. */
export async function stationDeleteAts(index: IndexDb, account: string): Promise<Map<string, StationDeleteAt>> {
  const out = new Map<string, StationDeleteAt>();
  const prefix = account + SEP;
  for await (const [key, at] of deleteAts(index).iterator({ gte: prefix, lt: prefix + TOP })) {
    const container = key.slice(prefix.length, key.indexOf(SEP, prefix.length));
    const seen = out.get(container);
    if (seen) {
      seen.objects += 1;
      seen.latest = Math.max(seen.latest, at);
    } else out.set(container, { objects: 1, latest: at });
  }
  return out;
}
