/**
 * The station's audit anchors (audit/anchors.ts) on a target.
 *
 * Sending, after a replication pass: the container for the station's key,
 * then every anchor the target has not acknowledged, oldest first. An edgecd
 * central checks each one and never lets it be replaced; another CD simply
 * stores it. A failure stops at that anchor and is retried at the next pass.
 *
 * Fetching, for `audit verify --against`: every anchor held for a key, each
 * checked (signature, key, name) before it is believed.
 */
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { anchorContainer, anchorObject, type AnchorBook } from '../audit/anchors.ts';
import { checkSignedHead, keyIdOf, type SignedHead } from '../audit/station-key.ts';
import { swiftPath, type SwiftClient } from '../swift/client.ts';

export interface AnchorsSent {
  sent: number;
  /** Why sending stopped, when it did. */
  error?: string;
}

export async function sendAnchors(client: SwiftClient, book: AnchorBook, target: string, log: Logger): Promise<AnchorsSent> {
  const anchors = await book.unsent(target);
  if (anchors.length === 0) return { sent: 0 };
  const container = anchorContainer(book.key.keyId);
  const made = await client.request('PUT', swiftPath(container));
  if (made.status !== 201 && made.status !== 202) return stopped(log, target, 0, `creating ${container} answered ${made.status}`);
  let sent = 0;
  for (const anchor of anchors) {
    const body = Buffer.from(JSON.stringify(anchor));
    const res = await client.request('PUT', swiftPath(container, anchorObject(anchor.seq)), { 'Content-Type': 'application/json', 'Content-Length': body.length }, async () =>
      Readable.from([body]),
    );
    if (res.status !== 201) return stopped(log, target, sent, `anchor ${anchor.seq} answered ${res.status}: ${res.text.slice(0, 200)}`);
    await book.markSent(target, anchor.seq);
    sent += 1;
  }
  return { sent };
}

function stopped(log: Logger, target: string, sent: number, error: string): AnchorsSent {
  log.warn({ target, sent, error }, 'audit anchors not all sent; the next pass tries again');
  return { sent, error };
}

export interface FetchedAnchors {
  anchors: SignedHead[];
  /** Objects in the container that are not good anchors of this key, and why. */
  invalid: { name: string; reason: string }[];
}

/** Every anchor `client`'s account holds for station key `keyId`; throws when the container is missing or unreadable. */
export async function fetchAnchors(client: SwiftClient, keyId: string): Promise<FetchedAnchors> {
  const container = anchorContainer(keyId);
  const names: string[] = [];
  for (let marker = ''; ; ) {
    const { status, items } = await client.list<{ name: string }>(`${swiftPath(container)}?format=json&limit=10000${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`);
    if (status === 404) throw new Error(`the CD holds no anchors for station key ${keyId} (no container ${container})`);
    if (status !== 200 && status !== 204) throw new Error(`listing ${container} answered ${status}: reading anchors needs a reader's credentials`);
    const page = items.map((i) => i?.name).filter((n): n is string => typeof n === 'string');
    if (page.length === 0 || (marker !== '' && page.at(-1)! <= marker)) break;
    names.push(...page);
    marker = page.at(-1)!;
  }
  const fetched: FetchedAnchors = { anchors: [], invalid: [] };
  for (const name of names) {
    const res = await client.request('GET', swiftPath(container, name));
    if (res.status !== 200) {
      fetched.invalid.push({ name, reason: `GET answered ${res.status}` });
      continue;
    }
    let head: SignedHead | string;
    try {
      head = checkSignedHead(JSON.parse(res.bytes.toString('utf8')));
    } catch {
      head = 'not JSON';
    }
    if (typeof head === 'string') fetched.invalid.push({ name, reason: head });
    else if (keyIdOf(head.publicKey) !== keyId) fetched.invalid.push({ name, reason: `signed by key ${keyIdOf(head.publicKey)}, not ${keyId}` });
    else if (name !== anchorObject(head.seq)) fetched.invalid.push({ name, reason: `names line ${head.seq}, so should be ${anchorObject(head.seq)}` });
    else fetched.anchors.push(head);
  }
  return fetched;
}
