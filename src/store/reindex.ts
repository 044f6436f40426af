/**
 * Rebuilds the LevelDB index from the disk alone: the container logs say what
 * each file is, the files say what is really there. Used after the index is
 * lost or suspected; the daemon must be stopped (the index lock proves it).
 *
 * The new index is built beside the old one and swapped in only when complete,
 * so an interrupted reindex leaves the previous state usable.
 */
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { bookkeepingBytes, readContainerLog, type LogRecord, type ObjectRecord } from './container-log.ts';
import { diskName, nameFromDisk } from '../lib/file-names.ts';
import { fsyncPath } from '../lib/durable.ts';
import { AUDIT_LINES, IndexDb, type BatchOp, type ContainerEntry, type ObjectEntry } from './index-db.ts';
import { StoreLayout } from './layout.ts';
import { ObjectStore, swiftTimestamp, type StoreOptions } from './object-store.ts';
import { hashFile } from '../lib/digests.ts';

export interface ReindexOptions {
  log: Logger;
  /** Re-hash every file and compare with what was recorded at upload. */
  verify: boolean;
  /** The store's derivedOps hook, for commits a crash left in the journal. */
  derivedOps?: StoreOptions['derivedOps'];
  /** Sublevels not derived from the disk (replication state, video verdicts): copied from the old index. */
  carryOver?: readonly string[];
}

export interface ReindexReport {
  accounts: number;
  containers: number;
  objects: number;
  bytes: number;
  warnings: string[];
}

const entriesOf = async (dir: string) => (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));

export async function reindex(root: string, options: ReindexOptions): Promise<ReindexReport> {
  const layout = new StoreLayout(root);
  // Opening the store proves no daemon holds the index, finishes any
  // interrupted commit and clears tmp/.
  await (await ObjectStore.open(root, { maxObjectBytes: Infinity, log: options.log, ...(options.derivedOps ? { derivedOps: options.derivedOps } : {}) })).close();

  const building = join(root, 'index.rebuild');
  await rm(building, { recursive: true, force: true });
  const index = await IndexDb.open(building);
  const report: ReindexReport = { accounts: 0, containers: 0, objects: 0, bytes: 0, warnings: [] };
  const warn = (message: string) => {
    report.warnings.push(message);
    options.log.warn(message);
  };

  try {
    for (const accountDir of await entriesOf(layout.objectsDir)) {
      if (!accountDir.isDirectory()) continue;
      const account = nameFromDisk(accountDir.name);
      if (account === undefined) {
        warn(`objects/${accountDir.name}: not an account directory; skipped`);
        continue;
      }
      const totals = { containerCount: 0, objectCount: 0, bytesUsed: 0, metaBytes: 0 };
      for (const containerDir of await entriesOf(join(layout.objectsDir, accountDir.name))) {
        if (!containerDir.isDirectory()) continue;
        const dir = join(layout.objectsDir, accountDir.name, containerDir.name);
        const container = await rebuildContainer(index, account, dir, containerDir.name, options.verify, warn);
        if (!container) continue;
        totals.containerCount += 1;
        totals.objectCount += container.objectCount;
        totals.bytesUsed += container.bytesUsed;
        totals.metaBytes += container.metaBytes ?? 0;
      }
      await index.write([{ type: 'put', sublevel: index.accounts, key: account, value: totals }], false);
      report.accounts += 1;
      report.containers += totals.containerCount;
      report.objects += totals.objectCount;
      report.bytes += totals.bytesUsed;
    }
    // Audit lines a crash kept from the trail are custody the disk cannot tell either.
    await carryOver(layout.indexDir, index, [AUDIT_LINES, ...(options.carryOver ?? [])]);
    // One synced write makes everything written above durable.
    await index.db.put('reindexedAt', new Date().toISOString(), { sync: true });
  } finally {
    await index.close();
  }
  // Swap so that a crash at any point leaves a usable index: the old one is
  // set aside (ObjectStore.open puts it back if the new one never arrived).
  await rm(layout.previousIndexDir, { recursive: true, force: true });
  await rename(layout.indexDir, layout.previousIndexDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await rename(building, layout.indexDir);
  await fsyncPath(root);
  await rm(layout.previousIndexDir, { recursive: true, force: true });
  return report;
}

/** Copies sublevels the disk cannot tell (replication state) from the old index, if there is one. */
async function carryOver(oldLocation: string, index: IndexDb, names: readonly string[]): Promise<void> {
  if (
    names.length === 0 ||
    !(await stat(oldLocation).then(
      () => true,
      () => false,
    ))
  )
    return;
  const old = await IndexDb.open(oldLocation);
  try {
    for (const name of names) {
      const from = old.db.sublevel<string, unknown>(name, { valueEncoding: 'json' });
      const to = index.db.sublevel<string, unknown>(name, { valueEncoding: 'json' });
      let ops: BatchOp[] = [];
      for await (const [key, value] of from.iterator()) {
        ops.push({ type: 'put', sublevel: to, key, value });
        if (ops.length >= 1000) {
          await index.write(ops, false);
          ops = [];
        }
      }
      await index.write(ops, false);
    }
  } finally {
    await old.close();
  }
}

async function rebuildContainer(
  index: IndexDb,
  account: string,
  dir: string,
  dirName: string,
  verify: boolean,
  warn: (message: string) => void,
): Promise<ContainerEntry | undefined> {
  const records = await readContainerLog(dir);
  const containerRecord = records.filter((r) => r.op === 'container').at(-1);
  // A directory made for a container PUT whose commit then failed: never a container.
  if (records.length === 0 && (await entriesOf(dir)).length === 0) return undefined;
  const name = containerRecord?.name ?? nameFromDisk(dirName);
  if (name === undefined || diskName(name) !== dirName) {
    warn(`${dir}: cannot tell which container this is; skipped`);
    return undefined;
  }
  const created = containerRecord?.created ?? (await stat(dir)).mtimeMs;
  const entry: ContainerEntry = {
    name,
    created,
    timestamp: containerRecord?.timestamp ?? swiftTimestamp(created),
    meta: containerRecord?.meta ?? {},
    objectCount: 0,
    bytesUsed: 0,
    ...bookkeepingOf(records),
  };
  if (!containerRecord) warn(`${name}: no container record in its log; metadata lost`);

  // Per data file, the records that describe it, oldest first (reset by removals).
  const byFile = new Map<string, ObjectRecord[]>();
  for (const r of records) {
    if (r.op === 'container' || r.op === 'container-removed') continue;
    const file = diskName(r.name);
    if (r.op === 'object-removed') byFile.delete(file);
    else byFile.set(file, [...(byFile.get(file) ?? []), r]);
  }

  const ops: BatchOp[] = [];
  for (const file of await entriesOf(dir)) {
    if (!file.isFile()) continue;
    const path = join(dir, file.name);
    const { size, mtimeMs } = await stat(path);
    const candidates = byFile.get(file.name) ?? [];
    // The newest record whose size matches: a newer one of another size is an
    // upload that a crash cut off before its rename.
    let record = candidates.filter((r) => r.bytes === size).at(-1);
    let object: ObjectEntry;
    if (record) {
      const { op: _op, ...rest } = record;
      object = rest;
      if (verify) {
        const actual = await hashFile(path);
        if (actual.md5 !== record.md5 || actual.sha256 !== record.sha256) {
          warn(`${name}/${record.name}: content differs from what was stored (sha256 ${record.sha256} recorded, ${actual.sha256} on disk)`);
        }
      }
    } else {
      const objectName = candidates.at(-1)?.name ?? nameFromDisk(file.name);
      if (objectName === undefined) {
        warn(`${path}: no record and an undecodable name; skipped`);
        continue;
      }
      const hashes = await hashFile(path);
      const latest = candidates.at(-1);
      warn(`${name}/${objectName}: ${latest ? 'size differs from its record' : 'no record in the log'}; indexed from the file itself`);
      object = {
        name: objectName,
        file: file.name,
        bytes: size,
        ...hashes,
        contentType: latest?.contentType ?? 'application/octet-stream',
        lastModified: mtimeMs,
        timestamp: swiftTimestamp(mtimeMs),
        meta: latest?.meta ?? {},
      };
      record = undefined;
    }
    ops.push({ type: 'put', sublevel: index.objects, key: IndexDb.objectKey(account, name, object.name), value: object });
    entry.objectCount += 1;
    entry.bytesUsed += object.bytes;
    if (ops.length >= 1000) await index.write(ops.splice(0), false);
  }
  ops.push({ type: 'put', sublevel: index.containers, key: IndexDb.containerKey(account, name), value: entry });
  await index.write(ops, false);
  return entry;
}

/**
 * What a container's log says its changes cost (as ObjectStore counts them
 * live): every record's bookkeeping, and how many were metadata-only (a
 * container record after the first, an object record that kept its bytes'
 * time: a POST).
 */
function bookkeepingOf(records: LogRecord[]): { metaBytes: number; metaWrites: number } {
  let metaBytes = 0;
  let metaWrites = 0;
  let containerRecords = 0;
  const stored = new Map<string, number>();
  for (const r of records) {
    metaBytes += bookkeepingBytes(r);
    if (r.op === 'container' && containerRecords++ > 0) metaWrites += 1;
    if (r.op === 'object') {
      if (stored.get(r.name) === r.lastModified) metaWrites += 1;
      stored.set(r.name, r.lastModified);
    }
    if (r.op === 'object-removed') stored.delete(r.name);
  }
  return { metaBytes, metaWrites };
}
