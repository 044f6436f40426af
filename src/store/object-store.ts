/**
 * ObjectStore: containers and objects on disk, indexed in LevelDB.
 *
 * Every state change is a Mutation that goes through one commit path:
 *
 *   1. journal the mutation in the index (sync, group-committed), with the
 *      audit line it carries, if any
 *   2. append its record to the container log (fdatasync, group-committed)
 *   3. for uploads: rename the fsynced temp file into place, fsync the directory
 *   4. apply it to the index (entry + running totals) and drop the journal
 *      entry, keeping a carried audit line until the trail holds it
 *
 * Only then does the caller answer. After a crash, `open` replays the journal:
 * steps 2–4 are idempotent, so an interrupted change is completed, never left
 * half-visible. Until step 4 the index still describes the previous state,
 * which is what readers see (they open files under the object's commit lock).
 * An upload's bytes are complete and verified before step 1, so a journaled
 * upload is safe to roll forward. A failure before step 3 is rolled back; one
 * after it stops the store taking changes until a restart replays the journal.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { EdgeError, asStorageError, notFound } from '../lib/errors.ts';
import { mergeMeta, sameMeta, type MetaMap, type MetaUpdate } from './metadata.ts';
import { bookkeepingBytes, ContainerLogs, type ContainerRecord, type LogRecord, type ObjectRecord } from './container-log.ts';
import { diskName } from '../lib/file-names.ts';
import { DirSyncer, fsyncPath } from '../lib/durable.ts';
import {
  IndexDb,
  type AccountEntry,
  type BatchOp,
  type AuditLineHook,
  type CarriedAuditLine,
  type ContainerEntry,
  type ListOptions,
  type Listed,
  type Mutation,
  type ObjectEntry,
} from './index-db.ts';
import { KeyedMutex } from '../lib/keyed-mutex.ts';
import { StoreLayout } from './layout.ts';
import { hashFile } from '../lib/digests.ts';
import { receiveToFile } from './receive.ts';
import { SpaceGuard, type SpaceLimits, type SpaceView } from './space.ts';

export interface StoreOptions {
  /** Largest object accepted (objects.maxBytes). */
  maxObjectBytes: number;
  /** An upload whose body stops arriving this long fails with 408 (http.bodyTimeoutSeconds). */
  bodyStallMs?: number;
  /** An upload body slower than this, over a bodyStallMs window, fails with 408 (http.uploadMinBytesPerSecond). */
  bodyMinBytesPerSecond?: number;
  /** A whole upload must arrive within this, or fails with 408 (http.uploadMaxSeconds). */
  uploadDeadlineMs?: number;
  /** Quota and free-space reserve (quota.*); none when absent. */
  space?: SpaceLimits;
  /** Metadata updates (POSTs) one object may take (objects.maxMetadataWritesPerObject); no cap when absent. */
  maxMetadataWritesPerObject?: number;
  /** Metadata-only changes one container may take, its objects' included; no cap when absent. */
  maxMetadataWritesPerContainer?: number;
  /** The protocol's rule for a metadata set, applied to the set a write would leave, under its lock (throws to refuse). */
  checkMetadata?: (meta: MetaMap) => void;
  log: Logger;
  now?: () => number;
  /**
   * Index entries that follow from a change (the replication queue), written
   * in the same batch as the change itself, so neither exists without the other.
   */
  derivedOps?: (change: Mutation, index: IndexDb) => Promise<BatchOp[]>;
  /** Told of each change once it is in the index (a background worker waiting for the work derivedOps queued). */
  afterCommit?: (change: Mutation, index: IndexDb) => void;
  /** Frees space (evicting replicated recordings) before an upload is refused with 507; see SpaceGuard. */
  makeRoom?: (needed: () => Promise<number>) => Promise<number>;
}

/** A container's objects by name, with what identifies their bytes. */
export type Manifest = Record<string, { sha256: string; md5: string; bytes: number }>;

export interface PutObjectInput {
  account: string;
  container: string;
  object: string;
  body: Readable;
  /** Content-Length; undefined for chunked uploads. */
  expectedBytes?: number;
  /** md5 hex the client expects (request Etag); a mismatch stores nothing. */
  etag?: string;
  /** sha256 hex the sender recorded (a replicating station's chain of custody); a mismatch stores nothing. */
  sha256?: string;
  contentType: string;
  meta: MetaMap;
  /** If-None-Match: * — refuse to replace an existing object. */
  mustNotExist?: boolean;
  /** A smaller limit than objects.maxBytes for this kind of object (413 beyond). */
  maxBytes?: number;
  /** X-Delete-At, s since the epoch. */
  deleteAt?: number;
  /** The upload's audit line, made once the body checks out and journaled with the commit (audit/carried-lines.ts). */
  auditLine?: AuditLineHook;
}

/** A byte range of an object, as a read asks for it. */
export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

export interface ObjectRead {
  entry: ObjectEntry;
  range: ByteRange | undefined;
  body: Readable;
}

/** Swift's X-Timestamp form: seconds with five decimals. */
export const swiftTimestamp = (ms: number) => (ms / 1000).toFixed(5);

const CONTAINER_CACHE_SIZE = 4096;
const READ_CHUNK = 256 * 1024;

interface CachedContainer {
  entry: ContainerEntry | undefined;
  /** Mutations using this entry; a pinned entry is never evicted. */
  pins: number;
}

export class ObjectStore {
  readonly layout: StoreLayout;
  readonly index: IndexDb;
  readonly #options: StoreOptions;
  readonly #now: () => number;
  readonly #checkMetadata: (meta: MetaMap) => void;
  readonly #logs = new ContainerLogs();
  readonly #dirs = new DirSyncer();
  readonly #locks = new KeyedMutex();
  // Totals are kept in memory and written as absolute values in the same batch
  // as the entry they count, so the index never holds a total without its cause.
  readonly #containers = new Map<string, CachedContainer>();
  readonly #accounts = new Map<string, AccountEntry>();
  #txSeq = 0;
  /** Tells this process's transaction ids and temp files from another's (a restart's); a random draw per upload cost a measurable share of a small PUT. */
  readonly #processTag = randomBytes(4).toString('hex');
  #tmpSeq = 0;
  #broken: unknown;
  /**
   * Objects whose commit failed after their data file was renamed into place:
   * the file holds bytes that the index's Etag and SHA-256 do not describe
   * until a restart completes the commit, so they are not served.
   */
  readonly #undecided = new Set<string>();
  readonly #committing = new Set<Promise<void>>();
  readonly #space: SpaceGuard;

  private constructor(layout: StoreLayout, index: IndexDb, options: StoreOptions) {
    this.layout = layout;
    this.index = index;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#checkMetadata = options.checkMetadata ?? (() => undefined);
    this.#space = new SpaceGuard(
      layout.root,
      options.space ?? { maxBytes: 0, reserveBytes: 0, reservePercent: 0 },
      () => {
        let used = 0;
        for (const a of this.#accounts.values()) used += a.bytesUsed + (a.metaBytes ?? 0);
        return used;
      },
      options.makeRoom,
    );
  }

  /** Disk, quota and in-flight figures (status, metrics). */
  async space(): Promise<SpaceView> {
    await this.#space.refresh();
    return this.#space.view();
  }

  /** Opens the store in `root`, completing any commit a crash interrupted. */
  static async open(root: string, options: StoreOptions): Promise<ObjectStore> {
    const layout = new StoreLayout(root);
    await mkdir(layout.objectsDir, { recursive: true });
    await mkdir(layout.tmpDir, { recursive: true });
    // A reindex interrupted mid-swap: its new index never arrived, the old one stands.
    if (!(await exists(layout.indexDir)) && (await exists(layout.previousIndexDir))) await rename(layout.previousIndexDir, layout.indexDir);
    const index = await IndexDb.open(layout.indexDir);
    const store = new ObjectStore(layout, index, options);
    try {
      await store.#recover();
      // Every account's totals in memory: the quota counts them all.
      for await (const name of index.accounts.keys()) await store.#accountEntry(name);
    } catch (err) {
      await index.close();
      throw err;
    }
    return store;
  }

  /** Waits for commits under way (their clients may be gone), then closes the index. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#committing]);
    await this.index.close();
  }

  // ---- accounts -------------------------------------------------------------

  async account(account: string): Promise<AccountEntry> {
    return { ...(await this.#accountEntry(account)) };
  }

  /** Every account with its totals, as the index holds them. */
  async *accounts(): AsyncGenerator<[string, AccountEntry]> {
    yield* this.index.accounts.iterator();
  }

  /** Changes journaled but not yet applied: non-zero only mid-request, or after a crash until `open` replays them. */
  async pendingCommits(): Promise<number> {
    let pending = 0;
    for await (const _key of this.index.journal.keys()) pending += 1;
    return pending;
  }

  listContainers(account: string, options: ListOptions): Promise<Listed<ContainerEntry>[]> {
    return this.index.listContainers(account, options);
  }

  /** Every container of an account, in name order, read a page at a time. */
  async *containers(account: string, pageSize = 1000): AsyncGenerator<ContainerEntry> {
    for await (const page of pages((marker) => this.listContainers(account, { prefix: '', marker, endMarker: '', delimiter: '', limit: pageSize }), pageSize)) yield* page;
  }

  // ---- containers -----------------------------------------------------------

  async container(account: string, container: string): Promise<ContainerEntry> {
    const entry = await this.#containerEntry(account, container);
    if (!entry) throw notFound(`Container ${container} not found`);
    return entry;
  }

  /** Creates the container or merges metadata into it; true when it was created. */
  async putContainer(account: string, container: string, update: MetaUpdate): Promise<boolean> {
    this.#refuseIfBroken();
    return this.#locks.run(`c\0${account}\0${container}`, async () => {
      const existing = await this.#containerEntry(account, container);
      const meta = mergeMeta(existing?.meta ?? {}, update);
      this.#checkMetadata(meta);
      if (existing && sameMeta(existing.meta, meta)) return false;
      const now = this.#now();
      const record: ContainerRecord = { op: 'container', name: container, created: existing?.created ?? now, timestamp: swiftTimestamp(now), meta };
      if (existing) this.#checkContainerWrites(existing);
      await this.#space.admitMetadata(bookkeepingBytes(record));
      if (!existing) await this.#makeContainerDir(account, container);
      await this.#commit({ account, container, ...(existing ? { metadataWrite: true } : { newContainer: true }), record });
      return !existing;
    });
  }

  /** Merges metadata into an existing container. */
  async postContainer(account: string, container: string, update: MetaUpdate): Promise<void> {
    this.#refuseIfBroken();
    await this.#locks.run(`c\0${account}\0${container}`, async () => {
      const existing = await this.container(account, container);
      const meta = mergeMeta(existing.meta, update);
      this.#checkMetadata(meta);
      if (sameMeta(existing.meta, meta)) return;
      this.#checkContainerWrites(existing);
      const record: ContainerRecord = { op: 'container', name: container, created: existing.created, timestamp: swiftTimestamp(this.#now()), meta };
      await this.#space.admitMetadata(bookkeepingBytes(record));
      await this.#commit({ account, container, metadataWrite: true, record });
    });
  }

  async listObjects(account: string, container: string, options: ListOptions): Promise<Listed<ObjectEntry>[]> {
    await this.container(account, container);
    return this.index.listObjects(account, container, options);
  }

  /** Every object of a container in name order, a page (one index read) at a time. */
  objectPages(account: string, container: string, pageSize = 1000): AsyncGenerator<ObjectEntry[]> {
    return pages((marker) => this.listObjects(account, container, { prefix: '', marker, endMarker: '', delimiter: '', limit: pageSize }), pageSize);
  }

  /** Each object of a container with its hashes and size: what a tombstone or an eviction record keeps of a recording. */
  async manifest(account: string, container: string): Promise<Manifest> {
    const manifest: Manifest = {};
    for await (const o of this.objects(account, container)) manifest[o.name] = { sha256: o.sha256, md5: o.md5, bytes: o.bytes };
    return manifest;
  }

  /** Every object of a container, in name order. */
  async *objects(account: string, container: string): AsyncGenerator<ObjectEntry> {
    for await (const page of this.objectPages(account, container)) yield* page;
  }

  // ---- objects --------------------------------------------------------------

  async object(account: string, container: string, object: string): Promise<ObjectEntry> {
    const entry = await this.index.objects.get(IndexDb.objectKey(account, container, object));
    if (!entry) throw notFound(`Object ${container}/${object} not found`);
    return entry;
  }

  /** Stores an upload durably; resolves only once it survives a crash. */
  async putObject(input: PutObjectInput): Promise<ObjectEntry> {
    const { account, container, object } = input;
    this.#refuseIfBroken(); // before the body is read, not after
    await this.container(account, container);
    this.#checkMetadata(input.meta);
    const key = IndexDb.objectKey(account, container, object);
    const existing = this.index.objectNow(key);
    if (input.mustNotExist && existing) {
      throw new EdgeError('PreconditionFailed', `Object ${container}/${object} already exists`);
    }
    // Space is admitted before a byte of the body is read.
    const reservation = await this.#space.admit(input.expectedBytes, existing?.bytes ?? 0);
    try {
      return await this.#receiveAndCommit(input, key, (bytes) => reservation.progress(bytes));
    } finally {
      reservation.release();
    }
  }

  async #receiveAndCommit(input: PutObjectInput, key: string, onProgress: (bytes: number) => void): Promise<ObjectEntry> {
    const { account, container, object } = input;
    const tmp = this.layout.tmpFile(`${this.#processTag}-${(this.#tmpSeq++).toString(36)}`);
    let received;
    let auditLine: CarriedAuditLine | undefined;
    try {
      received = await receiveToFile(input.body, tmp, {
        expectedBytes: input.expectedBytes,
        maxBytes: Math.min(this.#options.maxObjectBytes, input.maxBytes ?? Infinity),
        onProgress,
        stallTimeoutMs: this.#options.bodyStallMs ?? 0,
        minBytesPerSecond: this.#options.bodyMinBytesPerSecond ?? 0,
        deadlineMs: this.#options.uploadDeadlineMs ?? 0,
      });
      if (input.etag !== undefined && input.etag !== received.md5) {
        throw new EdgeError('EtagMismatch', `Etag ${input.etag} does not match the body's md5 ${received.md5}`);
      }
      if (input.sha256 !== undefined && input.sha256 !== received.sha256) {
        throw new EdgeError('EtagMismatch', `SHA-256 ${input.sha256} sent with the object does not match the body's ${received.sha256}`);
      }
      auditLine = input.auditLine?.make();
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const now = this.#now();
    const record: ObjectRecord = {
      op: 'object',
      name: object,
      file: diskName(object),
      bytes: received.bytes,
      md5: received.md5,
      sha256: received.sha256,
      contentType: input.contentType,
      lastModified: now,
      timestamp: swiftTimestamp(now),
      meta: input.meta,
      ...(input.deleteAt !== undefined ? { deleteAt: input.deleteAt } : {}),
    };
    await this.#locks.run(key, async () => {
      if (input.mustNotExist && this.index.objectNow(key)) {
        await rm(tmp, { force: true });
        throw new EdgeError('PreconditionFailed', `Object ${container}/${object} already exists`);
      }
      await this.#commit({ account, container, record, tmpFile: relative(this.layout.root, tmp), ...(auditLine ? { auditLine } : {}) });
    });
    input.auditLine?.committed();
    const { op: _op, ...entry } = record;
    return entry;
  }

  /** Replaces an object's metadata (Swift POST semantics); content type too when given. */
  /** Replaces an object's metadata; `deleteAt` sets X-Delete-At (a number), removes it (null) or leaves it (undefined). */
  async postObject(account: string, container: string, object: string, meta: MetaMap, contentType?: string, deleteAt?: number | null): Promise<void> {
    this.#refuseIfBroken();
    this.#checkMetadata(meta);
    const key = IndexDb.objectKey(account, container, object);
    await this.#locks.run(key, async () => {
      const existing = await this.object(account, container, object);
      const writes = (existing.metaWrites ?? 0) + 1;
      if (writes > (this.#options.maxMetadataWritesPerObject ?? Infinity)) {
        throw new EdgeError('Conflict', `${container}/${object} has had its metadata changed ${writes - 1} times, the most allowed (objects.maxMetadataWritesPerObject)`);
      }
      this.#checkContainerWrites(await this.container(account, container));
      const { deleteAt: before, ...kept } = existing;
      const after = deleteAt === undefined ? before : (deleteAt ?? undefined);
      const record: ObjectRecord = {
        op: 'object',
        ...kept,
        contentType: contentType ?? existing.contentType,
        timestamp: swiftTimestamp(this.#now()),
        meta,
        metaWrites: writes,
        ...(after !== undefined ? { deleteAt: after } : {}),
      };
      await this.#space.admitMetadata(bookkeepingBytes(record));
      await this.#commit({ account, container, metadataWrite: true, record });
    });
  }

  /**
   * Sets (a number) or removes (null) an object's X-Delete-At and nothing
   * else: a replicating station moving its retention. Not a metadata write
   * against the limits, which guard against churn of what the object says.
   */
  async setDeleteAt(account: string, container: string, object: string, deleteAt: number | null): Promise<void> {
    this.#refuseIfBroken();
    const key = IndexDb.objectKey(account, container, object);
    await this.#locks.run(key, async () => {
      const { deleteAt: before, ...existing } = await this.object(account, container, object);
      if ((before ?? null) === deleteAt) return;
      const record: ObjectRecord = { op: 'object', ...existing, timestamp: swiftTimestamp(this.#now()), ...(deleteAt !== null ? { deleteAt } : {}) };
      await this.#space.admitMetadata(bookkeepingBytes(record));
      await this.#commit({ account, container, record });
    });
  }

  /** Refuses a metadata change to a container that has had as many as allowed. */
  #checkContainerWrites(entry: ContainerEntry): void {
    const max = this.#options.maxMetadataWritesPerContainer ?? Infinity;
    if ((entry.metaWrites ?? 0) >= max) {
      throw new EdgeError('Conflict', `Container ${entry.name} has had ${max} metadata changes, the most allowed (objects.maxMetadataWritesPerContainer)`);
    }
  }

  /**
   * Opens an object for reading. `pickRange` sees the size and may throw (416);
   * the data file is checked against the index so a reader never gets bytes
   * that the index's Etag does not describe.
   */
  async readObject(account: string, container: string, object: string, pickRange: (size: number) => ByteRange | undefined): Promise<ObjectRead> {
    // Looked up and opened under the object's commit lock: between a commit's
    // rename and its index update the file already holds the new bytes while
    // the index still describes the old ones. An open descriptor keeps
    // reading the inode it opened, whatever replaces the name afterwards.
    const key = IndexDb.objectKey(account, container, object);
    const { entry, handle } = await this.#locks.run(key, async () => {
      if (this.#undecided.has(key)) throw this.#brokenError();
      const entry = await this.object(account, container, object);
      return { entry, handle: await open(join(this.layout.containerDir(account, container), entry.file), 'r') };
    });
    try {
      const { size } = await handle.stat();
      if (size !== entry.bytes) throw new Error(`data file of ${container}/${object} is ${size} bytes, the index says ${entry.bytes}: changed outside edgecd`);
      const range = pickRange(size);
      const body = handle.createReadStream({ start: range?.start ?? 0, end: range?.end ?? Infinity, highWaterMark: READ_CHUNK });
      return { entry, range, body };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /**
   * Removes a container with all its objects (eviction of a recording that
   * the central holds; the API never deletes). The directory leaves in one
   * rename into tmp/, so a crash never shows half a recording.
   */
  async removeContainer(account: string, container: string, options: { trashStamp?: string } = {}): Promise<void> {
    this.#refuseIfBroken();
    const trash = options.trashStamp;
    if (trash !== undefined && !/^\d{8}T\d{6}Z$/.test(trash)) throw new Error(`trash stamp ${trash}: expected YYYYMMDDTHHMMSSZ`);
    await this.#locks.run(`c\0${account}\0${container}`, async () => {
      await this.container(account, container);
      await this.#commit({ account, container, record: { op: 'container-removed', name: container, timestamp: swiftTimestamp(this.#now()), ...(trash ? { trash } : {}) } });
    });
    if (!trash) await rm(this.#removedDir(account, container), { recursive: true, force: true });
  }

  #removedDir(account: string, container: string): string {
    return this.layout.tmpFile(`removed-${diskName(account)}-${diskName(container)}`);
  }

  // ---- commit path ----------------------------------------------------------

  #txId(): string {
    // Sortable in commit order (recovery replays in key order); unique within a process.
    return `${this.#now().toString(36).padStart(9, '0')}-${(this.#txSeq++).toString(36).padStart(8, '0')}-${this.#processTag}`;
  }

  #refuseIfBroken(): void {
    if (this.#broken !== undefined) throw this.#brokenError();
  }

  #commit(change: Omit<Mutation, 'txId'>): Promise<void> {
    if (this.#broken !== undefined) {
      // Refused before any step: the upload's temp file is nobody's now.
      if (change.tmpFile) void rm(join(this.layout.root, change.tmpFile), { force: true });
      return Promise.reject(this.#brokenError());
    }
    const m: Mutation = { txId: this.#txId(), ...change };
    const done = this.#commitSteps(m).catch((err: unknown) => {
      throw this.#failStop(m, err);
    });
    this.#committing.add(done);
    const forget = () => this.#committing.delete(done);
    done.then(forget, forget);
    return done;
  }

  async #commitSteps(m: Mutation): Promise<void> {
    const dir = this.layout.containerDir(m.account, m.container);
    try {
      await this.index.write([{ type: 'put', sublevel: this.index.journal, key: m.txId, value: m }], true);
    } catch (err) {
      if (m.tmpFile) await rm(join(this.layout.root, m.tmpFile), { force: true });
      throw asStorageError(err);
    }
    if (m.record.op === 'container-removed') {
      // Decided once journaled: the directory goes, the index follows.
      await this.#decided(this.#moveOut(m.account, m.container, m.record.trash));
      await this.#decided(this.#apply(m));
      return;
    }
    try {
      await this.#logs.append(dir, [m.record]);
      if (m.tmpFile && m.record.op === 'object') await rename(join(this.layout.root, m.tmpFile), join(dir, m.record.file));
    } catch (err) {
      await this.#rollBack(m, dir);
      throw asStorageError(err);
    }
    // From here on the change is decided: a failure leaves the journal entry
    // for recovery. A rename, or a new log file, is durable once its directory is.
    if (m.tmpFile || m.newContainer) await this.#decided(this.#dirs.sync(dir));
    await this.#decided(this.#apply(m));
    this.#options.afterCommit?.(m, this.index);
  }

  /** Marks errors of steps 3–4, after which only a restart's recovery may touch this object. */
  async #decided(step: Promise<void>): Promise<void> {
    try {
      await step;
    } catch (err) {
      throw new DecidedCommitError(err);
    }
  }

  /**
   * A commit that failed after its journal entry became binding (and after the
   * caches may have moved) leaves memory and index out of step. Serving on
   * would compound that, so the store stops taking changes; reads go on (but
   * for the object whose commit failed), the health check reports it, and a
   * restart completes the commit from the journal.
   */
  #failStop(m: Mutation, err: unknown): unknown {
    if (!(err instanceof DecidedCommitError)) return err;
    this.#broken = err.cause;
    if (m.tmpFile && m.record.op === 'object') this.#undecided.add(IndexDb.objectKey(m.account, m.container, m.record.name));
    this.#options.log.fatal({ err: err.cause, txId: m.txId }, 'a decided commit failed: refusing changes until restart');
    return this.#brokenError();
  }

  #brokenError(): EdgeError {
    return new EdgeError('Unavailable', 'The store stopped taking changes after a storage failure; it recovers on restart', { retryAfter: 60 }, this.#broken);
  }

  /** Why the store refuses changes, if it does. */
  get broken(): unknown {
    return this.#broken;
  }

  /** Undo of a commit that failed before its data was renamed into place. Best effort. */
  async #rollBack(m: Mutation, dir: string): Promise<void> {
    try {
      await this.index.write([{ type: 'del', sublevel: this.index.journal, key: m.txId }], true);
      if (m.tmpFile) await rm(join(this.layout.root, m.tmpFile), { force: true });
      if (m.record.op === 'object') {
        // The log may hold the abandoned record; restate what is really there.
        const current = await this.index.objects.get(IndexDb.objectKey(m.account, m.container, m.record.name));
        const restate: LogRecord = current ? { op: 'object', ...current } : { op: 'object-removed', name: m.record.name, timestamp: m.record.timestamp };
        await this.#logs.append(dir, [restate]);
      }
    } catch (err) {
      this.#options.log.error({ err, txId: m.txId }, 'rollback incomplete; the next start completes it');
    }
  }

  /**
   * A removed container's directory leaves the objects tree, into tmp/ (to
   * be removed) or, for a grace period, into trash/ (idempotent for recovery:
   * a directory already moved is not there to move).
   */
  async #moveOut(account: string, container: string, trash?: string): Promise<void> {
    const dir = this.layout.containerDir(account, container);
    const to = trash ? this.layout.trashedContainerDir(account, container, trash) : this.#removedDir(account, container);
    if (trash) await mkdir(dirname(to), { recursive: true });
    else await rm(to, { recursive: true, force: true });
    try {
      await rename(dir, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await fsyncPath(dirname(dir));
    if (trash) await fsyncPath(dirname(to));
  }

  /** Step 4: the index learns of the change; totals move with it. */
  async #apply(m: Mutation): Promise<void> {
    // Everything awaited comes first: from the first change to the totals in
    // memory until the batch is queued, nothing may interleave, or a later
    // commit's totals could reach the index before an earlier one's.
    const derived = (await this.#options.derivedOps?.(m, this.index)) ?? [];
    const ckey = IndexDb.containerKey(m.account, m.container);
    const cached = await this.#pinContainer(ckey);
    try {
      const account = await this.#accountEntry(m.account);
      const ops: BatchOp[] = [];
      const r = m.record;
      if (r.op === 'container-removed') {
        const keys = await this.index.objects.keys({ gt: ckey + '\0', lt: ckey + '\u0001' }).all();
        if (cached.entry) {
          for (const key of keys) ops.push({ type: 'del', sublevel: this.index.objects, key });
          account.containerCount -= 1;
          account.objectCount -= cached.entry.objectCount;
          account.bytesUsed -= cached.entry.bytesUsed;
          account.metaBytes = (account.metaBytes ?? 0) - (cached.entry.metaBytes ?? 0);
          cached.entry = undefined;
        }
        ops.push(
          { type: 'del', sublevel: this.index.containers, key: ckey },
          { type: 'put', sublevel: this.index.accounts, key: m.account, value: { ...account } },
          ...derived,
          ...this.#unjournal(m),
        );
        await this.index.write(ops, false);
        return;
      }
      if (r.op === 'container') {
        if (cached.entry) {
          cached.entry = { ...cached.entry, meta: r.meta, timestamp: r.timestamp };
        } else {
          cached.entry = { name: r.name, created: r.created, timestamp: r.timestamp, meta: r.meta, objectCount: 0, bytesUsed: 0 };
          account.containerCount += 1;
        }
      } else {
        if (!cached.entry) throw new Error(`container ${m.container} missing for ${r.name}`);
        const okey = IndexDb.objectKey(m.account, m.container, r.name);
        const old = this.index.objectNow(okey);
        let count = 0;
        let bytes = 0;
        if (r.op === 'object') {
          const { op: _op, ...entry } = r;
          ops.push({ type: 'put', sublevel: this.index.objects, key: okey, value: entry });
          count = old ? 0 : 1;
          bytes = r.bytes - (old?.bytes ?? 0);
        } else if (old) {
          ops.push({ type: 'del', sublevel: this.index.objects, key: okey });
          count = -1;
          bytes = -old.bytes;
        }
        cached.entry = { ...cached.entry, objectCount: cached.entry.objectCount + count, bytesUsed: cached.entry.bytesUsed + bytes };
        account.objectCount += count;
        account.bytesUsed += bytes;
      }
      const cost = bookkeepingBytes(r);
      cached.entry = { ...cached.entry, metaBytes: (cached.entry.metaBytes ?? 0) + cost, ...(m.metadataWrite ? { metaWrites: (cached.entry.metaWrites ?? 0) + 1 } : {}) };
      account.metaBytes = (account.metaBytes ?? 0) + cost;
      ops.push(
        { type: 'put', sublevel: this.index.containers, key: ckey, value: cached.entry },
        { type: 'put', sublevel: this.index.accounts, key: m.account, value: { ...account } },
        ...derived,
        ...this.#unjournal(m),
      );
      // Not synced: until this lands, the synced journal entry stands in for it.
      await this.index.write(ops, false);
    } finally {
      cached.pins -= 1;
    }
  }

  /** The journal entry goes; an audit line it carried stays in the index until the trail holds it. */
  #unjournal(m: Mutation): BatchOp[] {
    const del: BatchOp = { type: 'del', sublevel: this.index.journal, key: m.txId };
    return m.auditLine ? [{ type: 'put', sublevel: this.index.auditLines, key: m.auditLine.key, value: m.auditLine }, del] : [del];
  }

  async #recover(): Promise<void> {
    let recovered = 0;
    for await (const [, m] of this.index.journal.iterator()) {
      const dir = this.layout.containerDir(m.account, m.container);
      const record = m.record;
      if (record.op === 'container-removed') {
        await this.#moveOut(m.account, m.container, record.trash);
        await this.#apply(m);
        recovered += 1;
        continue;
      }
      let tmpSize = -1;
      if (m.tmpFile && record.op === 'object') {
        const tmp = join(this.layout.root, m.tmpFile);
        tmpSize = await stat(tmp).then(
          (s) => s.size,
          () => -1,
        );
        // The temp file is the upload's bytes only if it is whole; otherwise the
        // rename already happened, and the file in place must prove it is ours.
        const ours =
          tmpSize === record.bytes ||
          (tmpSize === -1 &&
            (await hashFile(join(dir, record.file)).then(
              (h) => h.md5 === record.md5,
              () => false,
            )));
        if (!ours) {
          this.#options.log.error({ txId: m.txId, container: m.container, object: record.name }, 'journaled upload has no matching data file; dropped');
          await this.#rollBack(m, dir);
          continue;
        }
      }
      await this.#logs.append(dir, [record]);
      if (tmpSize !== -1 && record.op === 'object') await rename(join(this.layout.root, m.tmpFile!), join(dir, record.file));
      await fsyncPath(dir);
      await this.#apply(m);
      recovered += 1;
    }
    if (recovered > 0) this.#options.log.warn({ recovered }, 'completed commits interrupted by a crash');
    // Whatever is left in tmp/ was never acknowledged: an upload cut off by a crash.
    const leftovers = await readdir(this.layout.tmpDir);
    for (const name of leftovers) await rm(join(this.layout.tmpDir, name), { force: true, recursive: true });
    if (leftovers.length > 0) this.#options.log.info({ removed: leftovers.length }, 'removed unfinished uploads');
  }

  // ---- caches ---------------------------------------------------------------

  async #containerEntry(account: string, container: string): Promise<ContainerEntry | undefined> {
    const key = IndexDb.containerKey(account, container);
    const cached = this.#containers.get(key);
    if (cached) return cached.entry;
    return this.index.containers.get(key);
  }

  async #pinContainer(key: string): Promise<CachedContainer> {
    let cached = this.#containers.get(key);
    if (!cached) {
      const entry = await this.index.containers.get(key);
      cached = this.#containers.get(key); // another caller may have loaded it meanwhile
      if (!cached) {
        cached = { entry, pins: 0 };
        this.#containers.set(key, cached);
        this.#evict();
      }
    }
    cached.pins += 1;
    return cached;
  }

  #evict(): void {
    if (this.#containers.size <= CONTAINER_CACHE_SIZE) return;
    for (const [key, cached] of this.#containers) {
      if (this.#containers.size <= CONTAINER_CACHE_SIZE * 0.75) break;
      if (cached.pins === 0) this.#containers.delete(key);
    }
  }

  async #accountEntry(account: string): Promise<AccountEntry> {
    let entry = this.#accounts.get(account);
    if (entry) return entry;
    const stored = (await this.index.accounts.get(account)) ?? { containerCount: 0, objectCount: 0, bytesUsed: 0 };
    entry = this.#accounts.get(account);
    if (entry) return entry;
    this.#accounts.set(account, stored);
    return stored;
  }

  async #makeContainerDir(account: string, container: string): Promise<void> {
    const dir = this.layout.containerDir(account, container);
    try {
      const accountDir = dirname(dir);
      await mkdir(accountDir, { recursive: true });
      // Synced even when another request made it: that one may not have synced yet.
      await this.#dirs.sync(this.layout.objectsDir);
      await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      await this.#dirs.sync(accountDir);
    } catch (err) {
      throw asStorageError(err);
    }
  }
}

/** A failure after a commit was decided: the journal, not the caller, must finish it. */
class DecidedCommitError extends Error {
  override readonly cause: unknown;
  constructor(cause: unknown) {
    super('decided commit failed', { cause });
    this.cause = cause;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export type { AccountEntry, ContainerEntry, ObjectEntry, ListOptions, Listed };

/** A listing read a page at a time, in name order, until a page comes back short. */
async function* pages<T extends { name: string }>(list: (marker: string) => Promise<Listed<T>[]>, pageSize: number): AsyncGenerator<T[]> {
  for (let marker = ''; ; ) {
    const listed = await list(marker);
    const page = listed.filter((e): e is T => !('subdir' in e));
    if (page.length > 0) yield page;
    if (listed.length < pageSize) return;
    marker = page.at(-1)!.name;
  }
}
