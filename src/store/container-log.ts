/**
 * The container log: `<container dir>/.edgecd-log.jsonl`, an append-only record
 * of every container and object state change, in the data directory next to
 * the bytes. It is what makes the disk the source of truth: `reindex` replays
 * it (last record per name wins) to rebuild the LevelDB index.
 *
 * Appends to one file are group-committed: records queued while a write+fsync
 * is in flight go out together in the next one. Each record starts with a
 * newline, so a record torn by a crash never swallows the one after it.
 */
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MetaMap } from './metadata.ts';

export const LOG_FILE = '.edgecd-log.jsonl';

export interface ObjectRecord {
  op: 'object';
  name: string;
  /** Entry name of the data file inside the container directory. */
  file: string;
  bytes: number;
  md5: string;
  sha256: string;
  contentType: string;
  /** Milliseconds since the epoch when the bytes were stored. */
  lastModified: number;
  /** Swift X-Timestamp of the last change (PUT or POST). */
  timestamp: string;
  meta: MetaMap;
  /** Metadata updates (POSTs) since the object was stored; capped. Absent: 0. */
  metaWrites?: number;
  /** Swift's X-Delete-At, s since the epoch, as a replicating station set it (its retention); retention here weighs it. */
  deleteAt?: number;
}

export interface ObjectRemovedRecord {
  op: 'object-removed';
  name: string;
  timestamp: string;
}

export interface ContainerRecord {
  op: 'container';
  name: string;
  created: number;
  timestamp: string;
  meta: MetaMap;
}

/** A whole container leaving the station (eviction, retention); journaled only: its log leaves with it. */
export interface ContainerRemovedRecord {
  op: 'container-removed';
  name: string;
  timestamp: string;
  /** Kept for a grace period (retention deletion): the stamp of its place under DIR/trash/, instead of removed. */
  trash?: string;
}

export type LogRecord = ObjectRecord | ObjectRemovedRecord | ContainerRecord | ContainerRemovedRecord;

/**
 * What a change costs on disk beyond its object bytes: its line in the
 * container log, plus an allowance for its audit line and index entry. Summed
 * over a log's records, the log part is the log file's size.
 */
export function bookkeepingBytes(record: LogRecord): number {
  return Buffer.byteLength('\n' + JSON.stringify(record)) + CHANGE_OVERHEAD_BYTES;
}

/** The audit line and index entry of a change, roughly. */
export const CHANGE_OVERHEAD_BYTES = 512;

interface Pending {
  text: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class ContainerLogs {
  readonly #queues = new Map<string, Pending[]>();

  /** Appends records to the log in `dir`; resolves once they are on stable storage. */
  append(dir: string, records: LogRecord[]): Promise<void> {
    const text = records.map((r) => '\n' + JSON.stringify(r)).join('');
    return new Promise((resolve, reject) => {
      const queue = this.#queues.get(dir);
      if (queue) {
        queue.push({ text, resolve, reject });
        return;
      }
      this.#queues.set(dir, [{ text, resolve, reject }]);
      void this.#drain(dir);
    });
  }

  async #drain(dir: string): Promise<void> {
    for (;;) {
      const group = this.#queues.get(dir)!;
      if (group.length === 0) {
        this.#queues.delete(dir);
        return;
      }
      this.#queues.set(dir, []);
      try {
        const handle = await open(join(dir, LOG_FILE), 'a', 0o640);
        try {
          await handle.writeFile(group.map((p) => p.text).join(''));
          await handle.datasync();
        } finally {
          await handle.close();
        }
        for (const p of group) p.resolve();
      } catch (err) {
        for (const p of group) p.reject(err);
      }
    }
  }
}

/** All well-formed records of a container log, in order; torn or foreign lines are skipped. */
export async function readContainerLog(dir: string): Promise<LogRecord[]> {
  let text: string;
  try {
    text = await readFile(join(dir, LOG_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const records: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    try {
      const record = JSON.parse(line) as LogRecord;
      if (record && typeof record.name === 'string' && typeof record.op === 'string') records.push(record);
    } catch {
      // A record torn by a crash: it was never acknowledged.
    }
  }
  return records;
}
