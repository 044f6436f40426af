/**
 * The station's tombstones (lifecycle/tombstones.ts) on a target, as records.
 *
 * After a pass, every line of DIR/tombstones.jsonl the target has not taken
 * yet goes to the container edgecd-tombstones, in order: a tombstone as
 * `<recording>@<stamp>.json`, a restoration after it as
 * `<recording>@<stamp>.restored.json`, a cancellation as
 * `<recording>@<stamp>.cancelled.json`, each byte for byte as the station
 * keeps it, and never over an object already there (If-None-Match: *; a
 * 412 means an earlier pass sent it). A torn line (the append a crash cut)
 * is passed over. The target's state keeps how far into the file it has taken (a
 * byte offset), moved on after each acknowledged line: the file is the
 * queue, and a failure stops at that line until the next pass.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { formatCompactTime, TOMBSTONE_CONTAINER } from '../bws/names.ts';
import { swiftPath, type SwiftClient } from '../swift/client.ts';
import { parseLine, type TombstoneLine } from '../lifecycle/tombstones.ts';
import type { ReplicationLedger } from './ledger.ts';

export interface TombstonesSent {
  sent: number;
  /** Why sending stopped, when it did. */
  error?: string;
}

const CHUNK_BYTES = 1 << 20;

export async function sendTombstones(client: SwiftClient, file: string, ledger: ReplicationLedger, target: string, station: string, log: Logger): Promise<TombstonesSent> {
  const state = await ledger.targetState(target);
  if (!state) return { sent: 0 };
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!handle) return { sent: 0 };
  let sent = 0;
  try {
    let offset = state.tombstonesSent ?? 0;
    const size = (await handle.stat()).size;
    if (offset >= size) return { sent: 0 };
    const made = await client.request('PUT', swiftPath(TOMBSTONE_CONTAINER));
    if (made.status !== 201 && made.status !== 202) return stopped(log, target, 0, `creating ${TOMBSTONE_CONTAINER} answered ${made.status}`);
    let pending = Buffer.alloc(0);
    while (offset + pending.length < size) {
      const chunk = Buffer.alloc(Math.min(CHUNK_BYTES, size - offset - pending.length));
      await handle.read(chunk, 0, chunk.length, offset + pending.length);
      pending = Buffer.concat([pending, chunk]);
      for (let end = pending.indexOf(0x0a); end >= 0; end = pending.indexOf(0x0a)) {
        const line = pending.subarray(0, end);
        const record = parseLine(line.toString('utf8'));
        if (record) {
          const error = await sendLine(client, record, line, station);
          if (error) return stopped(log, target, sent, error);
          sent += 1;
        }
        offset += end + 1;
        pending = pending.subarray(end + 1);
        const now = await ledger.targetState(target);
        if (now) await ledger.setTargetState(target, { ...now, tombstonesSent: offset });
      }
    }
    return { sent };
  } finally {
    await handle.close();
  }
}

/** The object a line becomes: named for its recording and deletion, and what it says of it. */
export function recordName(record: TombstoneLine): string {
  // A restoration always names a trash place; the others name the deletion's time when there was none.
  const stamp = record.trashStamp ?? ('deletedAt' in record ? formatCompactTime(Date.parse(record.deletedAt)) : '');
  const kind = 'restoredAt' in record ? '.restored' : 'cancelledAt' in record ? '.cancelled' : '';
  return `${record.recording}@${stamp}${kind}.json`;
}

/** One line as an object; undefined when the target took it (or had it already). */
async function sendLine(client: SwiftClient, record: TombstoneLine, line: Buffer, station: string): Promise<string | undefined> {
  const name = recordName(record);
  const md5 = createHash('md5').update(line).digest('hex');
  const res = await client.request(
    'PUT',
    swiftPath(TOMBSTONE_CONTAINER, name),
    { 'Content-Type': 'application/json', 'Content-Length': line.length, Etag: md5, 'If-None-Match': '*', 'X-Object-Meta-Edgecd-Station': encodeURIComponent(station) },
    async () => Readable.from([line]),
  );
  return res.status === 201 || res.status === 202 || res.status === 412 ? undefined : `${name} answered ${res.status}: ${res.text.slice(0, 200)}`;
}

function stopped(log: Logger, target: string, sent: number, error: string): TombstonesSent {
  log.warn({ target, sent, error }, 'tombstones not all sent; the next pass tries again');
  return { sent, error };
}
