/**
 * The video-authenticity ledger, in sublevels of the store's index:
 *
 * - queue (vq): one entry per sealed recording whose clips are to be checked,
 *   written in the same batch as the seal (ObjectStore's derivedOps), so a
 *   recording is never without its check, even across a crash. Keys end in
 *   the change's transaction id, as the replication queue's do.
 * - clips (vc): per clip, the verdict and the bytes (SHA-256) it is about.
 *   A clip re-uploaded with other bytes is checked again; the same bytes are
 *   not (a seal POSTed twice queues the recording twice).
 * - by time (vt): checked-at, account, container, clip → verdict: what /status
 *   counts over the last 24 hours is a key range, not a walk of every clip.
 *
 * The verdicts are also in the audit trail (video.verified), which outlives
 * the index: a rebuilt index re-queues every sealed recording and the checker
 * verifies them again.
 */
import type { AbstractSublevel } from 'abstract-level';
import type { Level } from 'level';
import { isSealed } from '../bws/catalogue.ts';
import { classifyContainer } from '../bws/names.ts';
import type { Authenticity, VideoVerdict } from '../media/verdict.ts';
import type { BatchOp, IndexDb, Mutation } from '../store/index-db.ts';
import { indexKey, KEY_SEPARATOR as SEP, KEY_TOP as TOP, keysUnder } from '../store/index-keys.ts';

export interface CheckJob {
  account: string;
  container: string;
  enqueuedAt: number;
  attempts: number;
  /** Not before this time (backoff after a failure), ms. */
  notBefore: number;
  lastError?: string;
}

/** What another station recorded for a clip (a central's view of the edge's verdict, from replication metadata). */
export interface RecordedElsewhere {
  station?: string;
  verdict: Authenticity;
  fingerprint?: string;
  firstInvalidFrame?: number | null;
  /** Whether this station's verdict is the same (verdict and key). */
  agrees: boolean;
}

export interface ClipCheck {
  object: string;
  /** The bytes the verdict is about (the index's SHA-256 of the clip on arrival). */
  sha256: string;
  bytes: number;
  checkedAt: number;
  /** How long the check took, ms. */
  tookMs: number;
  verdict: VideoVerdict;
  elsewhere?: RecordedElsewhere;
}

export interface TimeEntry {
  verdict: Authenticity;
  disagrees?: boolean;
}

export interface VideoStatus {
  /** Recordings waiting for their check. */
  queued: number;
  last24h: {
    /** Recordings checked, counted by their worst clip. */
    recordings: Partial<Record<Authenticity, number>>;
    clips: number;
    /** Clips whose verdict differs from the one their sender recorded. */
    disagreements: number;
    /** Tampered recordings, and those whose sender recorded another verdict (account/container), newest first. */
    alarms: string[];
  };
}

type Sub<V> = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, V>;

/** A clip by its name: video the station can check (the spec's clips are .mkv; .mp4 is accepted too). */
export const isVideoClip = (name: string) => /\.(mkv|mp4)$/i.test(name);

/** The ledger's sublevels: computed, not derived from the disk, so a reindex carries them over. */
export const VIDEO_SUBLEVELS = ['vq', 'vc', 'vt'] as const;

const ledgers = new WeakMap<IndexDb, VideoLedger>();
const timeKey = (at: number) => String(Math.max(0, at)).padStart(15, '0');

/** ObjectStore's derivedOps hook: a sealed recording queues its clips' check; a removed one takes its records along. */
export const videoCheckHook = (m: Mutation, index: IndexDb): Promise<BatchOp[]> => VideoLedger.of(index).derivedOps(m);
/** ObjectStore's afterCommit hook. */
export const videoCheckCommitted = (m: Mutation, index: IndexDb): void => VideoLedger.of(index).committed(m.txId);

export class VideoLedger {
  readonly queue: Sub<CheckJob>;
  readonly clips: Sub<ClipCheck>;
  readonly byTime: Sub<TimeEntry>;
  /** Called once a change that queued a check is in the index (the checker wakes). */
  onQueued: (() => void) | undefined;
  /** Changes whose batch queues a check, until they commit. */
  readonly #queuing = new Set<string>();

  readonly #index: IndexDb;

  private constructor(index: IndexDb) {
    this.#index = index;
    const json = { valueEncoding: 'json' } as const;
    this.queue = index.db.sublevel<string, CheckJob>('vq', json);
    this.clips = index.db.sublevel<string, ClipCheck>('vc', json);
    this.byTime = index.db.sublevel<string, TimeEntry>('vt', json);
  }

  static of(index: IndexDb): VideoLedger {
    let ledger = ledgers.get(index);
    if (!ledger) ledgers.set(index, (ledger = new VideoLedger(index)));
    return ledger;
  }

  static clipKey = (account: string, container: string, object: string) => indexKey(account, container, object);
  static timeKey = (check: Pick<ClipCheck, 'checkedAt' | 'object'>, account: string, container: string) => indexKey(timeKey(check.checkedAt), account, container, check.object);

  async derivedOps(m: Mutation): Promise<BatchOp[]> {
    const r = m.record;
    if (classifyContainer(m.container) !== 'recording') return [];
    if (r.op === 'container-removed') return this.#forget(m.account, m.container);
    if (r.op !== 'container' || !isSealed(r.meta)) return [];
    const job: CheckJob = { account: m.account, container: m.container, enqueuedAt: Date.now(), attempts: 0, notBefore: 0 };
    this.#queuing.add(m.txId);
    return [{ type: 'put', sublevel: this.queue, key: indexKey(m.account, m.container, m.txId), value: job }];
  }

  /** Queues a recording's check outside a seal (a recording restored from the trash has lost its verdicts). */
  async requeue(account: string, container: string, now: number): Promise<void> {
    const job: CheckJob = { account, container, enqueuedAt: now, attempts: 0, notBefore: 0 };
    await this.#index.write([{ type: 'put', sublevel: this.queue, key: indexKey(account, container, `requeued-${now}`), value: job }], true);
  }

  /** ObjectStore's afterCommit hook: wakes the checker once the queued job is readable. */
  committed(txId: string): void {
    if (this.#queuing.delete(txId)) this.onQueued?.();
  }

  async #forget(account: string, container: string): Promise<BatchOp[]> {
    const ops: BatchOp[] = [];
    for await (const key of this.queue.keys(keysUnder(account, container))) ops.push({ type: 'del', sublevel: this.queue, key });
    for await (const [key, check] of this.clips.iterator(keysUnder(account, container))) {
      ops.push({ type: 'del', sublevel: this.clips, key });
      ops.push({ type: 'del', sublevel: this.byTime, key: VideoLedger.timeKey(check, account, container) });
    }
    return ops;
  }

  /** The oldest due job, if any. */
  async nextJob(now: number): Promise<[string, CheckJob] | undefined> {
    for await (const entry of this.queue.iterator()) if (entry[1].notBefore <= now) return entry;
    return undefined;
  }

  async queued(): Promise<number> {
    let n = 0;
    for await (const _ of this.queue.keys()) n++;
    return n;
  }

  /** Whether a recording still waits for a first attempt at its check (one that failed waits out a backoff, and nobody should wait for it). */
  async awaitingCheck(account: string, container: string): Promise<boolean> {
    for await (const job of this.queue.values(keysUnder(account, container))) if (job.attempts === 0) return true;
    return false;
  }

  async clip(account: string, container: string, object: string): Promise<ClipCheck | undefined> {
    return this.clips.get(VideoLedger.clipKey(account, container, object));
  }

  /** Every checked clip of a recording, by name. */
  async recording(account: string, container: string): Promise<Map<string, ClipCheck>> {
    const found = new Map<string, ClipCheck>();
    for await (const check of this.clips.values(keysUnder(account, container))) found.set(check.object, check);
    return found;
  }

  /** The ops that record a clip's check (replacing an earlier one of the same clip). */
  recordOps(account: string, container: string, check: ClipCheck, previous: ClipCheck | undefined): BatchOp[] {
    const ops: BatchOp[] = [];
    if (previous) ops.push({ type: 'del', sublevel: this.byTime, key: VideoLedger.timeKey(previous, account, container) });
    ops.push({ type: 'put', sublevel: this.clips, key: VideoLedger.clipKey(account, container, check.object), value: check });
    const entry: TimeEntry = { verdict: check.verdict.verdict, ...(check.elsewhere && !check.elsewhere.agrees ? { disagrees: true } : {}) };
    ops.push({ type: 'put', sublevel: this.byTime, key: VideoLedger.timeKey(check, account, container), value: entry });
    return ops;
  }

  async status(now: number): Promise<VideoStatus> {
    return { queued: await this.queued(), last24h: await this.since(now - 24 * 3600_000) };
  }

  /**
   * Recordings checked since `since`, counted by their worst clip, and the
   * alarms: those with a tampered clip or one whose sender recorded another
   * verdict, most recently first seen first.
   */
  async since(since: number): Promise<VideoStatus['last24h']> {
    const worst = new Map<string, Authenticity>();
    const disagreeing = new Set<string>();
    let clips = 0;
    let disagreements = 0;
    for await (const [key, entry] of this.byTime.iterator({ gte: timeKey(since), lt: TOP })) {
      const [, account, container] = key.split(SEP) as [string, string, string];
      const id = `${account}/${container}`;
      worst.set(id, worse(worst.get(id), entry.verdict));
      clips++;
      if (entry.disagrees) {
        disagreements++;
        disagreeing.add(id);
      }
    }
    const recordings: Partial<Record<Authenticity, number>> = {};
    const alarms: string[] = [];
    for (const [id, verdict] of worst) {
      recordings[verdict] = (recordings[verdict] ?? 0) + 1;
      if (verdict === 'tampered' || disagreeing.has(id)) alarms.unshift(id);
    }
    return { recordings, clips, disagreements, alarms };
  }
}

/** From worst to best: a recording is as trustworthy as its least trustworthy clip. */
export const SEVERITY: readonly Authenticity[] = ['tampered', 'unsigned', 'incomplete', 'unsupported', 'encrypted', 'authentic'];

export function worse(a: Authenticity | undefined, b: Authenticity): Authenticity {
  if (a === undefined) return b;
  return SEVERITY.indexOf(a) <= SEVERITY.indexOf(b) ? a : b;
}
