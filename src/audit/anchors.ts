/**
 * Anchors: signed heads of the audit trail, made every so many lines or
 * minutes, kept in DIR/audit-anchors.jsonl, and sent to every replication
 * target (replication/remote-anchors.ts), which holds them where the station
 * cannot take them back. `edgecd audit verify --against` then checks the
 * station's trail against them (anchor-check.ts).
 *
 * What is sent where is kept per target in DIR/audit-anchors-sent.json (the
 * last seq each target acknowledged): the file of anchors is the queue, a
 * target's mark is its place in it, and sending an anchor twice is harmless.
 * Anchoring is not itself audited: a line for it would move the head again.
 */
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurable } from '../lib/durable.ts';
import type { AuditLog } from './audit-log.ts';
import { checkSignedHead, signHead, type SignedHead, type StationKey } from './station-key.ts';

export interface AnchorPolicy {
  /** Anchor once this many lines were written since the last anchor… */
  everyLines: number;
  /** …or once this long has passed with any line written. */
  everyMs: number;
}

export class AnchorBook {
  readonly key: StationKey;
  readonly #file: string;
  readonly #sentFile: string;
  readonly #audit: AuditLog;
  readonly #station: string;
  readonly #now: () => number;
  #latest: SignedHead | undefined;
  #sent: Record<string, number>;
  /** One anchor, one mark at a time: they append to and replace files. */
  #busy: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, key: StationKey, audit: AuditLog, station: string, latest: SignedHead | undefined, sent: Record<string, number>, now: () => number) {
    this.key = key;
    this.#file = join(dir, 'audit-anchors.jsonl');
    this.#sentFile = join(dir, 'audit-anchors-sent.json');
    this.#audit = audit;
    this.#station = station;
    this.#latest = latest;
    this.#sent = sent;
    this.#now = now;
  }

  static async open(dir: string, key: StationKey, audit: AuditLog, station: string, now: () => number = Date.now): Promise<AnchorBook> {
    const anchors = await readAnchors(join(dir, 'audit-anchors.jsonl'));
    const sent = JSON.parse(await readFile(join(dir, 'audit-anchors-sent.json'), 'utf8').catch(() => '{}')) as Record<string, number>;
    return new AnchorBook(dir, key, audit, station, anchors.at(-1), sent, now);
  }

  /** The newest anchor made. */
  get latest(): SignedHead | undefined {
    return this.#latest;
  }

  /** Signs the trail's durable head if it moved since the last anchor (or `policy` says it is not yet time); the new anchor, if one was made. */
  anchor(policy?: AnchorPolicy): Promise<SignedHead | undefined> {
    return this.#serial(async () => {
      const head = this.#audit.head;
      const last = this.#latest;
      if (head.seq === 0 || (last && head.seq <= last.seq)) return undefined;
      if (policy && last && head.seq - last.seq < policy.everyLines && this.#now() - Date.parse(last.time) < policy.everyMs) return undefined;
      const anchor = signHead(this.key, { station: this.#station, seq: head.seq, hash: head.hash, time: new Date(this.#now()).toISOString() });
      const fh = await open(this.#file, 'a', 0o600);
      try {
        // Leading newline: a line torn by a crash never swallows the next one.
        await fh.writeFile('\n' + JSON.stringify(anchor));
        await fh.datasync();
      } finally {
        await fh.close();
      }
      this.#latest = anchor;
      return anchor;
    });
  }

  /** Anchors `target` has not acknowledged, oldest first. */
  async unsent(target: string): Promise<SignedHead[]> {
    const after = this.#sent[target] ?? 0;
    if ((this.#latest?.seq ?? 0) <= after) return [];
    return (await readAnchors(this.#file)).filter((a) => a.seq > after);
  }

  /** `target` holds every anchor up to `seq`. */
  markSent(target: string, seq: number): Promise<void> {
    return this.#serial(async () => {
      if ((this.#sent[target] ?? 0) >= seq) return;
      this.#sent = { ...this.#sent, [target]: seq };
      await writeFileDurable(this.#sentFile, JSON.stringify(this.#sent), 0o600);
    });
  }

  /** The last anchor each target acknowledged. */
  sentTo(target: string): number {
    return this.#sent[target] ?? 0;
  }

  /** Anchors on `policy`, checking once a minute; returns a stop function. */
  schedule(policy: AnchorPolicy, onError: (err: unknown) => void): () => void {
    const timer = setInterval(() => void this.anchor(policy).catch(onError), Math.min(60_000, policy.everyMs));
    timer.unref();
    return () => clearInterval(timer);
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(work, work);
    this.#busy = run.catch(() => undefined);
    return run;
  }
}

/** The anchors in `file`, oldest first; a line torn by a crash (or otherwise not a signed head) is skipped. */
async function readAnchors(file: string): Promise<SignedHead[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const anchors: SignedHead[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const head = checkSignedHead(JSON.parse(line));
      if (typeof head !== 'string') anchors.push(head);
    } catch {
      // torn
    }
  }
  return anchors;
}

/** Where a target keeps a station's anchors: one container per station key, one object per anchor, named by its seq. */
export const anchorContainer = (keyId: string): string => `edgecd-audit-${keyId}`;
export const anchorObject = (seq: number): string => `${String(seq).padStart(12, '0')}.json`;

/** The key id an anchor container is for, or undefined for other containers. */
export function anchorContainerKeyId(container: string): string | undefined {
  return /^edgecd-audit-([0-9a-f]{16})$/.exec(container)?.[1];
}
