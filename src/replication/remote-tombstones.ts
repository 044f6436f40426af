/**
 * The station's tombstones (lifecycle/tombstones.ts) on a target, as records.
 *
 * After a pass, every line of DIR/tombstones.jsonl the target has not taken
 * yet goes to the container edgecd-tombstones, in order: a tombstone as
 * `<recording>@<stamp>.json`, a restoration after it as
 * `<recording>@<stamp>.restored.json`, each byte for byte as the station
 * keeps it. The target's state keeps how far into the file it has taken (a
 * byte offset), moved on after each acknowledged line: the file is the
 * queue, and a failure stops at that line until the next pass.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { TOMBSTONE_CONTAINER } from '../bws/names.ts';
import { swiftPath, type SwiftClient } from '../swift/client.ts';
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
        if (line.length > 0) {
          const error = await sendLine(client, line, station);
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

/** One line as an object; undefined when the target took it. */
async function sendLine(client: SwiftClient, line: Buffer, station: string): Promise<string | undefined> {
  const record = JSON.parse(line.toString('utf8')) as { recording: string; trashStamp?: string | null; deletedAt?: string; restoredAt?: string };
  const stamp = record.trashStamp ?? compact(record.deletedAt ?? '');
  const name = `${record.recording}@${stamp}${record.restoredAt !== undefined ? '.restored' : ''}.json`;
  const md5 = createHash('md5').update(line).digest('hex');
  const res = await client.request(
    'PUT',
    swiftPath(TOMBSTONE_CONTAINER, name),
    { 'Content-Type': 'application/json', 'Content-Length': line.length, Etag: md5, 'X-Object-Meta-Edgecd-Station': encodeURIComponent(station) },
    async () => Readable.from([line]),
  );
  return res.status === 201 || res.status === 202 ? undefined : `${name} answered ${res.status}: ${res.text.slice(0, 200)}`;
}

/** 2026-12-04T03:30:00.000Z → 20261204T033000Z */
const compact = (iso: string) => iso.replace(/[-:]|\.\d{3}/g, '');

function stopped(log: Logger, target: string, sent: number, error: string): TombstonesSent {
  log.warn({ target, sent, error }, 'tombstones not all sent; the next pass tries again');
  return { sent, error };
}
