/**
 * Tombstones: the record, kept for ever, of each recording retention
 * deleted, in DIR/tombstones.jsonl. Outside the index, so a reindex never
 * loses them; appended and synced before the recording leaves.
 *
 * Besides tombstones the file holds the lines that follow one: a restoration
 * (`edgecd restore` brought the recording back), or a cancellation (a crash
 * cut the deletion short, and a hold placed before the job ran again kept
 * the recording).
 */
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Manifest } from '../store/object-store.ts';
import type { PlannedRecording } from './plan.ts';

/** What retention deleted: the planned recording (who, which camera, when, the rule and when it expired), and what was done. */
export interface Tombstone extends PlannedRecording {
  deletedAt: string;
  /** What was deleted: every object's SHA-256, md5 and size. */
  manifest: Manifest;
  bytes: number;
  /** No hold covered it. */
  holds: 'none';
  /** Until when `edgecd restore` can bring it back (null: removed outright). */
  restorableUntil: string | null;
  /** Its place under DIR/trash/. */
  trashStamp: string | null;
  /** Set when `edgecd restore` brought it back (from the restoration line that follows it). */
  restored?: { at: string; by: string };
  /** Set when the deletion was never carried out (from the cancellation line that follows it). */
  cancelled?: { at: string; reason: string };
}

/** The line the retention job appends after a tombstone whose deletion a crash cut short and a hold then stopped. */
export interface Cancellation {
  cancelledAt: string;
  account: string;
  recording: string;
  trashStamp: string | null;
  /** The tombstone's own deletedAt: which deletion this was. */
  deletedAt: string;
  reason: string;
}

export type TombstoneLine = Tombstone | Restoration | Cancellation;

/** A line of the file, or undefined for one a crash cut short (the last, torn): that write never took effect. */
export function parseLine(text: string): TombstoneLine | undefined {
  try {
    const line = JSON.parse(text) as TombstoneLine;
    return typeof line === 'object' && line !== null && typeof line.recording === 'string' && typeof line.account === 'string' ? line : undefined;
  } catch {
    return undefined;
  }
}

/** A tombstone, and not a line that follows one. */
export const isTombstone = (line: TombstoneLine): line is Tombstone => !('cancelledAt' in line) && !('restoredAt' in line);

/** Marks a tombstone with what a later line says of it. */
function follow(tombstone: Tombstone, record: Restoration | Cancellation): void {
  if ('restoredAt' in record) tombstone.restored = { at: record.restoredAt, by: record.restoredBy };
  else tombstone.cancelled = { at: record.cancelledAt, reason: record.reason };
}

const isOf = (t: Tombstone, r: Restoration | Cancellation) =>
  t.account === r.account && t.recording === r.recording && t.trashStamp === r.trashStamp && (!('deletedAt' in r) || r.deletedAt === t.deletedAt);

/** The line `edgecd restore` appends after a tombstone. */
export interface Restoration {
  restoredAt: string;
  restoredBy: string;
  account: string;
  recording: string;
  trashStamp: string;
}

/** Every tombstone, oldest first, with its restoration or cancellation if there was one. */
export async function readTombstones(file: string): Promise<Tombstone[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const tombstones: Tombstone[] = [];
  for (const line of text.split('\n')) {
    const record = parseLine(line);
    if (!record) continue;
    if (isTombstone(record)) tombstones.push(record);
    else {
      const deleted = tombstones.findLast((t) => isOf(t, record));
      if (deleted) follow(deleted, record);
    }
  }
  return tombstones;
}

/** The file's lines (tombstones, and the restorations and cancellations after them) of one account, as stored, streamed. */
export async function* tombstoneLines(file: string, account: string): AsyncGenerator<string> {
  const input = createReadStream(file, 'utf8');
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (parseLine(line)?.account === account) yield line + '\n';
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    input.destroy();
  }
}

/**
 * The newest `limit` tombstones that pass `where` (deleted at `since` or
 * later), newest first, read from
 * the end of the file backwards: a page of the console costs a page of the
 * file, however many deletions the station has made.
 */
export async function newestTombstones(file: string, limit: number, where: (t: Tombstone) => boolean = () => true, since = Number.NEGATIVE_INFINITY): Promise<Tombstone[]> {
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!handle) return [];
  try {
    const found: Tombstone[] = [];
    // Restorations and cancellations follow their tombstone, so reading backwards meets them first.
    const later: (Restoration | Cancellation)[] = [];
    let end = (await handle.stat()).size;
    let carry = Buffer.alloc(0);
    while (end > 0 && found.length < limit) {
      const start = Math.max(0, end - READ_BACK_BYTES);
      const chunk = Buffer.alloc(end - start);
      await handle.read(chunk, 0, chunk.length, start);
      const text = Buffer.concat([chunk, carry]);
      // The first line may be cut: keep it for the next (earlier) chunk, unless this is the file's start.
      const cut = start === 0 ? -1 : text.indexOf(0x0a);
      carry = text.subarray(0, cut + 1);
      const lines = text
        .subarray(cut + 1)
        .toString('utf8')
        .split('\n')
        .reverse();
      for (const line of lines) {
        if (line.trim() === '') continue;
        const record = parseLine(line);
        if (!record) continue;
        if (!isTombstone(record)) {
          later.push(record);
          continue;
        }
        // Appended in time order: the first one older than `since` ends the reading.
        if (Date.parse(record.deletedAt) < since) return found;
        // Each later line speaks of one tombstone: the newest before it that it names.
        const said = later.findIndex((r) => isOf(record, r));
        if (said >= 0) follow(record, later.splice(said, 1)[0]!);
        if (where(record)) found.push(record);
        if (found.length === limit) break;
      }
      end = start;
    }
    return found;
  } finally {
    await handle.close();
  }
}

const READ_BACK_BYTES = 1 << 20;
