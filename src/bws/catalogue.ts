/**
 * The recording catalogue: secondary indexes over the store's index, so a
 * clerk's search over 100k recordings is a key-range scan, never a walk of
 * containers, objects or the disk.
 *
 * - by time (kt): account, trigger time, container → who, which camera,
 *   status. Rejected content sorts by the time in its name, else by arrival.
 * - by category (kk): account, category id, container, bookmark → the
 *   category's name: which recordings a category was given to.
 * - unrecognised (ku): account, container → when it was made: containers
 *   whose names are neither a recording (in either firmware's form), nor
 *   rejected content, nor a registry. They are flagged for operators, and
 *   replicated as they are; nothing stored is invisible.
 *
 * Entries follow from each change alone (ObjectStore's derivedOps) and are
 * written in the same batch as the change, so they never disagree with it.
 * An index made before the catalogue existed (or by reindex) has no version
 * mark (kv): the catalogue is then rebuilt from the index before serving.
 */
import type { AbstractSublevel } from 'abstract-level';
import type { Level } from 'level';
import { IndexDb, type BatchOp, type Mutation, type ObjectEntry } from '../store/index-db.ts';
import { decodeMetaValue, type MetaMap } from '../swift/metadata.ts';
import { classifyContainer, isRejectedContentName, parseCompactTime, parseEpoch, parseRecordingName } from './names.ts';
import { KEY_SEPARATOR as SEP, KEY_TOP as TOP, keysUnder } from '../store/index-keys.ts';

export interface CatalogueEntry {
  container: string;
  kind: 'recording' | 'rejected';
  userId?: string;
  deviceSerial?: string;
  /** Trigger time (a recording), or when content was rejected (its name's time, else its arrival), ms. */
  at: number;
  /** Complete, Transferring, or Rejected. */
  status: string;
  startTime?: number;
  stopTime?: number;
  /** When the BWS sealed it (Status: Complete), ms: retention may count from it. */
  sealedAt?: number;
}

export interface CatalogueQuery {
  /** Trigger-time bounds, ms, inclusive. */
  since?: number;
  until?: number;
  /** Cursor: entries older than this one (the next page). */
  before?: string;
  /** Cursor: entries newer than this one (the previous page). */
  after?: string;
  limit: number;
  where?: (entry: CatalogueEntry) => boolean;
}

export interface CataloguePage {
  /** Newest first. */
  entries: CatalogueEntry[];
  /** Cursors for the neighbouring pages, when there are any. */
  older?: string;
  newer?: string;
  /** Index entries looked at: the cost of the query. */
  scanned: number;
}

type Sub<V> = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, V>;

export const CATALOGUE_VERSION = 3;
const BOOKMARK = 'bookmark_';

const text = (meta: MetaMap, key: string) => (meta[key] === undefined ? undefined : decodeMetaValue(meta[key]!).trim());
const timeKey = (at: number) => String(Math.max(0, at)).padStart(15, '0');

/** A recording is sealed once the BWS sets its Status to Complete: replication and the video check start then. */
export const isSealed = (meta: MetaMap) => meta.status !== undefined && decodeMetaValue(meta.status) === 'Complete';

const catalogues = new WeakMap<IndexDb, RecordingCatalogue>();

/** ObjectStore's derivedOps hook for the catalogue. */
export const catalogueHook = (m: Mutation, index: IndexDb): Promise<BatchOp[]> => RecordingCatalogue.of(index).derivedOps(m);

export class RecordingCatalogue {
  readonly #index: IndexDb;
  readonly byTime: Sub<CatalogueEntry>;
  readonly byCategory: Sub<{ name?: string }>;
  readonly unrecognised: Sub<{ created: number }>;
  readonly #version: Sub<number>;

  private constructor(index: IndexDb) {
    this.#index = index;
    const json = { valueEncoding: 'json' } as const;
    this.byTime = index.db.sublevel<string, CatalogueEntry>('kt', json);
    this.byCategory = index.db.sublevel<string, { name?: string }>('kk', json);
    this.unrecognised = index.db.sublevel<string, { created: number }>('ku', json);
    this.#version = index.db.sublevel<string, number>('kv', json);
  }

  static of(index: IndexDb): RecordingCatalogue {
    let catalogue = catalogues.get(index);
    if (!catalogue) catalogues.set(index, (catalogue = new RecordingCatalogue(index)));
    return catalogue;
  }

  /**
   * The catalogue entry a container's record implies (none for containers
   * that are not recordings). `sealedAt`: when it was sealed, if it is.
   */
  static entryFor(container: string, created: number, meta: MetaMap, sealedAt?: number): CatalogueEntry | undefined {
    const name = parseRecordingName(container);
    const rejected = !name && isRejectedContentName(container);
    if (!name && !rejected) return undefined;
    const at = (key: string) => {
      const value = text(meta, key);
      return value === undefined ? undefined : parseEpoch(value);
    };
    const startTime = at('starttime');
    const stopTime = at('stoptime');
    // Rejected content names when it was rejected (or UnknownTime): else, when it arrived.
    const rejectedAt = rejected ? parseCompactTime(container.split('_')[1]!) : undefined;
    const status = rejected ? 'Rejected' : text(meta, 'status') === 'Complete' ? 'Complete' : 'Transferring';
    return {
      container,
      kind: name ? 'recording' : 'rejected',
      ...(name ? { userId: name.userId, deviceSerial: name.deviceSerial } : {}),
      at: name?.triggerOn ?? rejectedAt ?? created,
      status,
      ...(startTime !== undefined ? { startTime } : {}),
      ...(stopTime !== undefined ? { stopTime } : {}),
      ...(status !== 'Transferring' && sealedAt !== undefined ? { sealedAt } : {}),
    };
  }

  /** A container's entry as catalogued (with its seal time), or as its record implies when not catalogued yet. */
  async find(account: string, container: string, record: { created: number; meta: MetaMap }): Promise<CatalogueEntry | undefined> {
    const implied = RecordingCatalogue.entryFor(container, record.created, record.meta);
    return implied && ((await this.byTime.get(RecordingCatalogue.timeKey(account, implied))) ?? implied);
  }

  static timeKey(account: string, entry: Pick<CatalogueEntry, 'at' | 'container'>): string {
    return account + SEP + timeKey(entry.at) + SEP + entry.container;
  }

  async derivedOps(m: Mutation): Promise<BatchOp[]> {
    const r = m.record;
    if (r.op === 'container') {
      const entry = RecordingCatalogue.entryFor(m.container, r.created, r.meta, swiftMs(r.timestamp));
      if (entry) {
        const key = RecordingCatalogue.timeKey(m.account, entry);
        // Sealed once: a later metadata POST does not move the seal.
        const sealedAt = entry.sealedAt === undefined ? undefined : ((await this.byTime.get(key))?.sealedAt ?? entry.sealedAt);
        return [{ type: 'put', sublevel: this.byTime, key, value: sealedAt === undefined ? entry : { ...entry, sealedAt } }];
      }
      return classifyContainer(m.container) === 'unrecognised'
        ? [{ type: 'put', sublevel: this.unrecognised, key: IndexDb.containerKey(m.account, m.container), value: { created: r.created } }]
        : [];
    }
    if (r.op === 'container-removed' && classifyContainer(m.container) === 'unrecognised') {
      return [{ type: 'del', sublevel: this.unrecognised, key: IndexDb.containerKey(m.account, m.container) }];
    }
    if (r.op === 'container-removed') {
      const existing = await this.#index.containers.get(IndexDb.containerKey(m.account, m.container));
      const entry = existing && RecordingCatalogue.entryFor(m.container, existing.created, existing.meta);
      if (!entry) return [];
      const ops: BatchOp[] = [{ type: 'del', sublevel: this.byTime, key: RecordingCatalogue.timeKey(m.account, entry) }];
      const prefix = IndexDb.objectKey(m.account, m.container, BOOKMARK);
      for await (const bookmark of this.#index.objects.values({ gte: prefix, lt: prefix + TOP })) {
        const key = this.#categoryKey(m.account, m.container, bookmark);
        if (key) ops.push({ type: 'del', sublevel: this.byCategory, key });
      }
      return ops;
    }
    if (!r.name.startsWith(BOOKMARK) || !parseRecordingName(m.container)) return [];
    // A bookmark's category may change (POST) or go: the old key goes, the new one comes.
    const old = await this.#index.objects.get(IndexDb.objectKey(m.account, m.container, r.name));
    const ops: BatchOp[] = [];
    const oldKey = old && this.#categoryKey(m.account, m.container, old);
    if (oldKey) ops.push({ type: 'del', sublevel: this.byCategory, key: oldKey });
    if (r.op === 'object') {
      const key = this.#categoryKey(m.account, m.container, r);
      if (key) ops.push({ type: 'put', sublevel: this.byCategory, key, value: { name: text(r.meta, 'categoryname') } });
    }
    return ops;
  }

  #categoryKey(account: string, container: string, bookmark: Pick<ObjectEntry, 'name' | 'meta'>): string | undefined {
    const id = text(bookmark.meta, 'categoryid');
    return id ? [account, id, container, bookmark.name].join(SEP) : undefined;
  }

  /** Rebuilds the catalogue from the index when it is missing or from an older version. Returns whether it did. */
  async ensureBuilt(): Promise<boolean> {
    if ((await this.#version.get('version')) === CATALOGUE_VERSION) return false;
    for (const sub of [this.byTime, this.byCategory, this.unrecognised] as Sub<unknown>[]) await sub.clear();
    const ops: BatchOp[] = [];
    const flush = async (force = false) => {
      if (force || ops.length >= 1000) await this.#index.write(ops.splice(0), false);
    };
    for await (const [key, c] of this.#index.containers.iterator()) {
      const account = key.slice(0, key.indexOf(SEP));
      // The seal's own time is gone with its log record: the last change stands in for it.
      const entry = RecordingCatalogue.entryFor(c.name, c.created, c.meta, swiftMs(c.timestamp));
      if (!entry) {
        if (classifyContainer(c.name) === 'unrecognised') ops.push({ type: 'put', sublevel: this.unrecognised, key, value: { created: c.created } });
        await flush();
        continue;
      }
      ops.push({ type: 'put', sublevel: this.byTime, key: RecordingCatalogue.timeKey(account, entry), value: entry });
      if (entry.kind === 'recording') {
        const prefix = key + SEP + BOOKMARK;
        for await (const bookmark of this.#index.objects.values({ gte: prefix, lt: prefix + TOP })) {
          const ckey = this.#categoryKey(account, c.name, bookmark);
          if (ckey) ops.push({ type: 'put', sublevel: this.byCategory, key: ckey, value: { name: text(bookmark.meta, 'categoryname') } });
        }
      }
      await flush();
    }
    ops.push({ type: 'put', sublevel: this.#version, key: 'version', value: CATALOGUE_VERSION });
    await flush(true);
    return true;
  }

  /**
   * Containers with names the station does not recognise: how many, and the
   * first `limit` names (AUTH_account/container, or container within `account`).
   */
  async unrecognisedContainers(limit = 20, account?: string): Promise<{ count: number; names: string[] }> {
    let count = 0;
    const names: string[] = [];
    const range = account === undefined ? {} : keysUnder(account);
    for await (const key of this.unrecognised.keys(range)) {
      count += 1;
      const [acct, container] = key.split(SEP) as [string, string];
      if (names.length < limit) names.push(account === undefined ? `AUTH_${acct}/${container}` : container);
    }
    return { count, names };
  }

  /** The recordings given a category (by any of their bookmarks). */
  async withCategory(account: string, categoryId: string): Promise<Set<string>> {
    const prefix = account + SEP + categoryId + SEP;
    const out = new Set<string>();
    for await (const key of this.byCategory.keys({ gte: prefix, lt: prefix + TOP })) out.add(key.slice(prefix.length, key.indexOf(SEP, prefix.length)));
    return out;
  }

  /** Whether a bookmark of the recording gave it this category. */
  async hasCategory(account: string, categoryId: string, container: string): Promise<boolean> {
    const prefix = [account, categoryId, container, ''].join(SEP);
    return (await this.byCategory.keys({ gte: prefix, lt: prefix + TOP, limit: 1 }).all()).length > 0;
  }

  /** Each recording's category IDs (one key scan of the account's categories): what retention weighs. */
  async categoriesByRecording(account: string): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    const prefix = account + SEP;
    for await (const key of this.byCategory.keys({ gte: prefix, lt: prefix + TOP })) {
      const [, id, container] = key.split(SEP) as [string, string, string];
      const ids = out.get(container);
      if (!ids) out.set(container, [id]);
      else if (!ids.includes(id)) ids.push(id);
    }
    return out;
  }

  /** Category ids in use, with a name each (for a search form). */
  async categories(account: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const prefix = account + SEP;
    let after = prefix;
    // One seek per category, not one step per bookmark.
    for (;;) {
      const [first] = await this.byCategory.iterator({ gt: after, lt: prefix + TOP, limit: 1 }).all();
      if (!first) return out;
      const id = first[0].slice(prefix.length, first[0].indexOf(SEP, prefix.length));
      out.set(id, first[1].name ?? id);
      after = prefix + id + SEP + TOP;
    }
  }

  /** Every entry of an account, newest first, read a page at a time. */
  async *entries(account: string): AsyncGenerator<CatalogueEntry> {
    for (let before: string | undefined; ; ) {
      const page = await this.query(account, { limit: 1000, ...(before !== undefined ? { before } : {}) });
      yield* page.entries;
      if (page.older === undefined) return;
      before = page.older;
    }
  }

  /** A page of entries, newest first, that pass `where`. */
  async query(account: string, q: CatalogueQuery): Promise<CataloguePage> {
    const base = account + SEP;
    const low = base + (q.since !== undefined ? timeKey(q.since) : '');
    const high = base + (q.until !== undefined ? timeKey(q.until) + SEP + TOP : TOP);
    const forward = q.after !== undefined;
    const range = forward
      ? { gt: maxKey(low, base + decodeCursor(q.after!)), lte: high }
      : { gte: low, ...(q.before !== undefined ? { lt: minKey(high, base + decodeCursor(q.before)) } : { lte: high }), reverse: true };
    const found: [string, CatalogueEntry][] = [];
    let scanned = 0;
    const it = this.byTime.iterator(range);
    try {
      while (found.length <= q.limit) {
        const batch = await it.nextv(500);
        if (batch.length === 0) break;
        for (const [key, entry] of batch) {
          scanned += 1;
          if (q.where && !q.where(entry)) continue;
          found.push([key, entry]);
          if (found.length > q.limit) break;
        }
      }
    } finally {
      await it.close();
    }
    const more = found.length > q.limit;
    const page = found.slice(0, q.limit);
    if (forward) page.reverse();
    const cursor = (key: string) => encodeCursor(key.slice(base.length));
    const first = page[0];
    const last = page.at(-1);
    return {
      entries: page.map(([, e]) => e),
      scanned,
      ...(last && (forward || more) ? { older: cursor(last[0]) } : {}),
      ...(first && (forward ? more : q.before !== undefined) ? { newer: cursor(first[0]) } : {}),
    };
  }
}

/** A Swift X-Timestamp (seconds, with a fraction) in ms. */
const swiftMs = (timestamp: string) => Math.round(Number(timestamp) * 1000);

const encodeCursor = (key: string) => Buffer.from(key, 'utf8').toString('base64url');
const decodeCursor = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8');
const maxKey = (a: string, b: string) => (a > b ? a : b);
const minKey = (a: string, b: string) => (a < b ? a : b);
