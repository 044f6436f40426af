/**
 * Tombstones: the record, kept for ever, of each recording retention
 * deleted, in DIR/tombstones.jsonl. Outside the index, so a reindex never
 * loses them; appended and synced before the recording leaves.
 *
 * Besides tombstones the file holds the lines that follow one: a restoration
 * (`edgecd restore` brought the recording back).
 */
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { PlannedRecording } from './plan.ts';

/** What retention deleted: the planned recording (who, which camera, when, the rule and when it expired), and what was done. */
export interface Tombstone extends PlannedRecording {
  deletedAt: string;
  /** What was deleted: every object's SHA-256, md5 and size. */
  manifest: Record<string, { sha256: string; md5: string; bytes: number }>;
  bytes: number;
  /** No hold covered it. */
  holds: 'none';
  /** Until when `edgecd restore` can bring it back (null: removed outright). */
  restorableUntil: string | null;
  /** Its place under DIR/trash/. */
  trashStamp: string | null;
  /** Set when `edgecd restore` brought it back (from the restoration line that follows it). */
  restored?: { at: string; by: string };
}

/** The line `edgecd restore` appends after a tombstone. */
export interface Restoration {
  restoredAt: string;
  restoredBy: string;
  account: string;
  recording: string;
  trashStamp: string;
}

/** Every tombstone, oldest first, with its restoration if there was one (a recording deleted twice, after a crash, appears twice). */
export async function readTombstones(file: string): Promise<Tombstone[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const tombstones: Tombstone[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const record = JSON.parse(line) as Tombstone | Restoration;
    if ('deletedAt' in record) tombstones.push(record);
    else {
      const deleted = tombstones.findLast((t) => t.account === record.account && t.recording === record.recording && t.trashStamp === record.trashStamp);
      if (deleted) deleted.restored = { at: record.restoredAt, by: record.restoredBy };
    }
  }
  return tombstones;
}

/** Appends a line and syncs it: durable before the caller goes on. */
export async function appendDurably(file: string, line: string): Promise<void> {
  const handle = await open(file, 'a', 0o640);
  try {
    await handle.writeFile(line + '\n');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The file's lines (tombstones and the restorations after them) of one account, as stored, streamed. */
export async function* tombstoneLines(file: string, account: string): AsyncGenerator<string> {
  const input = createReadStream(file, 'utf8');
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (line.trim() !== '' && (JSON.parse(line) as { account?: unknown }).account === account) yield line + '\n';
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    input.destroy();
  }
}

/**
 * The newest `limit` tombstones that pass `where`, newest first, read from
 * the end of the file backwards: a page of the console costs a page of the
 * file, however many deletions the station has made.
 */
export async function newestTombstones(file: string, limit: number, where: (t: Tombstone) => boolean = () => true): Promise<Tombstone[]> {
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!handle) return [];
  try {
    const found: Tombstone[] = [];
    // Restorations follow their tombstone, so reading backwards meets them first.
    const restorations: Restoration[] = [];
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
        const record = JSON.parse(line) as Tombstone | Restoration;
        if (!('deletedAt' in record)) {
          restorations.push(record);
          continue;
        }
        const restored = restorations.find((r) => r.account === record.account && r.recording === record.recording && r.trashStamp === record.trashStamp);
        if (restored) record.restored = { at: restored.restoredAt, by: restored.restoredBy };
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
