/**
 * The LevelDB index: containers, objects, account totals, the commit
 * journal and the audit lines it carries, in sublevels of one database so
 * a batch is atomic across them.
 * HEAD and listings read only this; nothing here walks the disk.
 *
 * Writes go through a group committer: batches queued while one is being
 * written are merged into the next, so concurrent requests share a sync.
 */
import { Level } from 'level';
import type { AbstractSublevel } from 'abstract-level';
import { EdgeError } from '../lib/errors.ts';
import type { MetaMap } from './metadata.ts';
import type { LogRecord, ObjectRecord } from './container-log.ts';
import { indexKey, KEY_SEPARATOR as SEP, KEY_TOP as TOP } from './index-keys.ts';

export type ObjectEntry = Omit<ObjectRecord, 'op'>;

export interface ContainerEntry {
  name: string;
  created: number;
  timestamp: string;
  meta: MetaMap;
  objectCount: number;
  bytesUsed: number;
  /** Bookkeeping the container's changes cost (its log, its audit lines); counts against the quota. Absent: 0. */
  metaBytes?: number;
  /** Metadata-only changes (container metadata, object POSTs) so far; capped. Absent: 0. */
  metaWrites?: number;
}

export interface AccountEntry {
  containerCount: number;
  objectCount: number;
  bytesUsed: number;
  /** The account's containers' metaBytes together. Absent: 0. */
  metaBytes?: number;
}

/** A state change in flight: journaled before it touches the disk, replayed after a crash. */
export interface Mutation {
  txId: string;
  account: string;
  container: string;
  record: LogRecord;
  /** Temp file (relative to the data dir) that becomes the object's data file. */
  tmpFile?: string;
  /** The container directory is new (its log file will be created). */
  newContainer?: boolean;
  /** A metadata-only change: counted against the container's cap. */
  metadataWrite?: boolean;
  /** The change's audit line, made durable with it (audit/carried-lines.ts). */
  auditLine?: CarriedAuditLine;
}

/**
 * An audit line carried by a commit: journaled with it, then kept under
 * `auditLines` until the trail holds it. `body` is an eventBody(); `floor`
 * the trail's durable seq when the line was made, so the line, once
 * appended, has a higher one.
 */
export interface CarriedAuditLine {
  key: string;
  body: string;
  floor: number;
  /** The line as a start restores it: fixed (and synced) before it is appended, so a crash midway restores it once. */
  restored?: string;
}

/**
 * How an upload carries its audit line: `make` once the body checks out,
 * `committed` once the commit that journaled the line stands. Only then is
 * the line the index's to keep; an upload answered without such a commit
 * (one refused at its lock, say) appends its line as any other write.
 */
export interface AuditLineHook {
  make: () => CarriedAuditLine;
  committed: () => void;
}

type Sub<V> = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, V>;

// biome-ignore lint/suspicious/noExplicitAny: one batch spans sublevels of every value type
type AnySub = Sub<any>;

export type BatchOp = { type: 'put'; sublevel: AnySub; key: string; value: unknown } | { type: 'del'; sublevel: AnySub; key: string };

export interface ListOptions {
  prefix: string;
  marker: string;
  endMarker: string;
  delimiter: string;
  limit: number;
}

export type Listed<T> = T | { subdir: string };

/** The sublevel of carried audit lines: not on the disk, so a reindex copies it from the old index. */
export const AUDIT_LINES = 'al';

interface QueuedBatch {
  ops: BatchOp[];
  sync: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class IndexDb {
  readonly db: Level<string, unknown>;
  readonly containers: Sub<ContainerEntry>;
  readonly objects: Sub<ObjectEntry>;
  readonly accounts: Sub<AccountEntry>;
  readonly journal: Sub<Mutation>;
  readonly auditLines: Sub<CarriedAuditLine>;
  #queue: QueuedBatch[] = [];
  #writing = false;

  private constructor(db: Level<string, unknown>) {
    this.db = db;
    const json = { valueEncoding: 'json' } as const;
    this.containers = db.sublevel<string, ContainerEntry>('c', json);
    this.objects = db.sublevel<string, ObjectEntry>('o', json);
    this.accounts = db.sublevel<string, AccountEntry>('a', json);
    this.journal = db.sublevel<string, Mutation>('j', json);
    this.auditLines = db.sublevel<string, CarriedAuditLine>(AUDIT_LINES, json);
  }

  /** Opens (creating) the index; a second process gets a clear error instead of LEVEL_LOCKED. */
  static async open(location: string): Promise<IndexDb> {
    const db = new Level<string, unknown>(location, { valueEncoding: 'json' });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if ((err as { code?: string }).code === 'LEVEL_LOCKED' || cause?.code === 'LEVEL_LOCKED') {
        throw new EdgeError('Unavailable', `the index at ${location} is in use by another process (is the daemon running?)`, {}, err);
      }
      throw err;
    }
    return new IndexDb(db);
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /**
   * An object's entry, read on the calling thread. LevelDB answers a point
   * read from its memtable, its bloom filters (a name it does not hold: no
   * block is read) or its block cache; handing it to the thread pool cost
   * the main thread more than the read (1 KiB PUT profile: 5 % in submitting
   * gets). Used where the key is new or was just read; a cold block costs
   * the event loop one read of the disk.
   */
  objectNow(key: string): ObjectEntry | undefined {
    return this.objects.getSync(key);
  }

  static containerKey(account: string, container: string): string {
    return indexKey(account, container);
  }

  static objectKey(account: string, container: string, object: string): string {
    return indexKey(account, container, object);
  }

  /**
   * Writes a batch, merged with whatever else is queued. `sync` batches are
   * durable when this resolves; the merged write syncs if any member asked to.
   */
  write(ops: BatchOp[], sync: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ ops, sync, resolve, reject });
      if (!this.#writing) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    while (this.#queue.length > 0) {
      const group = this.#queue;
      this.#queue = [];
      try {
        const ops = lastPerKey(group.flatMap((b) => b.ops));
        // biome-ignore lint/suspicious/noExplicitAny: level's batch type wants one value type; ours differ by sublevel
        await this.db.batch(ops as any, { sync: group.some((b) => b.sync) });
        for (const b of group) b.resolve();
      } catch (err) {
        for (const b of group) b.reject(err);
      }
    }
    this.#writing = false;
  }

  async listObjects(account: string, container: string, options: ListOptions): Promise<Listed<ObjectEntry>[]> {
    return this.#list(this.objects, IndexDb.containerKey(account, container) + SEP, options);
  }

  async listContainers(account: string, options: ListOptions): Promise<Listed<ContainerEntry>[]> {
    return this.#list(this.containers, account + SEP, options);
  }

  /** Swift listing semantics over a key range: prefix, marker, end_marker, delimiter, limit. */
  async #list<V>(sub: Sub<V>, base: string, o: ListOptions): Promise<Listed<V>[]> {
    const out: Listed<V>[] = [];
    if (o.limit === 0) return out;
    const range: { gt?: string; gte?: string; lt: string } = { lt: base + o.prefix + TOP };
    if (o.marker && o.marker >= o.prefix) range.gt = base + o.marker;
    else range.gte = base + o.prefix;
    if (o.endMarker && base + o.endMarker < range.lt) range.lt = base + o.endMarker;
    const it = sub.iterator(range);
    try {
      // With a delimiter, keys under one subdir collapse into a single entry:
      // skipped within the batch, and by seeking when they run past its end.
      let subdir: string | undefined;
      while (out.length < o.limit) {
        const batch = await it.nextv(Math.min(o.limit - out.length, 1000));
        if (batch.length === 0) break;
        for (const [key, value] of batch) {
          const name = key.slice(base.length);
          if (subdir !== undefined && name.startsWith(subdir)) continue;
          subdir = undefined;
          const cut = o.delimiter ? name.indexOf(o.delimiter, o.prefix.length) : -1;
          if (cut !== -1) {
            subdir = name.slice(0, cut + o.delimiter.length);
            if (subdir !== o.marker) out.push({ subdir }); // as Swift: all but the marker itself
          } else {
            out.push(value);
          }
          if (out.length >= o.limit) break;
        }
        if (subdir !== undefined) it.seek(base + subdir + TOP);
      }
    } finally {
      await it.close();
    }
    return out;
  }
}

/**
 * A merged write's ops with only the last on each key: in a batch a later op
 * on a key replaces an earlier one anyway, and the earlier ones (a
 * container's and an account's totals, rewritten by every upload in the
 * group) would each be encoded and written for nothing.
 */
function lastPerKey(ops: BatchOp[]): BatchOp[] {
  const seen = new Map<AnySub, Set<string>>();
  const kept: BatchOp[] = [];
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i]!;
    let keys = seen.get(op.sublevel);
    if (!keys) seen.set(op.sublevel, (keys = new Set()));
    if (keys.has(op.key)) continue;
    keys.add(op.key);
    kept.push(op);
  }
  return kept.reverse();
}
