/**
 * The replication ledger: what each target still needs, and what it already
 * holds, in sublevels of the store's index.
 *
 * - queue (rq): one entry per change that a target must receive, written in
 *   the same batch as the change itself (ObjectStore's derivedOps), so a
 *   sealed recording is never without its job, even across a crash. Keys end
 *   in the change's transaction id: a change arriving while a pass works on
 *   its container adds a new entry instead of being lost when the pass
 *   finishes the old one.
 * - objects (ro): per target and object, sent / confirmed (with the
 *   confirmation level) / failed / held back, with the md5 and timestamp of
 *   the version it concerns.
 * - held back (rh): objects (or whole rejected-content containers) a target
 *   cannot take until it declares a capability; queued again when it does.
 * - complete (rc): recordings the target confirmed Complete, with the
 *   weakest confirmation among their objects and what was held back.
 * - targets (rt): the registered targets (name, URL and user: another URL is
 *   another target), their alarms and last pass.
 * - replicated (ev): sealed recordings some target confirmed, by seal time;
 *   eviction checks every enabled target's confirmation when it looks.
 *
 * Jobs go to the targets registered in the index, not to a configuration
 * file, so any process that replays the journal queues the same jobs. Work is
 * found through the queue, never by walking the store; the one exception is
 * a target registered afresh, which is given everything once (backfill).
 */
import type { AbstractSublevel } from 'abstract-level';
import type { Level } from 'level';
import { isSealed } from '../bws/catalogue.ts';
import { classifyContainer } from '../bws/names.ts';
import type { ConfirmationLevel } from '../config/config.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { BatchOp, IndexDb, Mutation } from '../store/index-db.ts';
import type { GatingCapability } from './target-plan.ts';
import { KEY_SEPARATOR as SEP, KEY_TOP as TOP } from '../store/index-keys.ts';

/**
 * recording: a sealed recording; rejected: a rejected-content container;
 * object: one registry object (Users/, Devices/, System/); opaque: a
 * container whose name the station does not recognise, sent as it is.
 */
export type JobKind = 'recording' | 'rejected' | 'object' | 'opaque';

export interface Job {
  kind: JobKind;
  account: string;
  container: string;
  /** For kind 'object' (Users/, Devices/, System/). */
  object?: string;
  enqueuedAt: number;
  attempts: number;
  /** Not before this time (backoff), ms. */
  notBefore: number;
  lastError?: string;
  /** Refused by the target for its content (400/422): waits for an operator (--retry-failed). */
  failed?: boolean;
}

export interface ObjectState {
  /** sent: the target answered 2xx, not yet confirmed; confirmed: at `level`. */
  state: 'sent' | 'confirmed' | 'failed' | 'held-back';
  md5: string;
  bytes: number;
  /** The local version's X-Timestamp: a later POST makes it a new version. */
  timestamp: string;
  at: number;
  /** How it was confirmed (state confirmed). */
  level?: ConfirmationLevel;
  /** Metadata keys not sent because the target lacks a capability (a user's UserID). */
  withheld?: string[];
  /** Refused by the target and sent into rejected content instead (its name). */
  rejectedInto?: string;
  error?: string;
  /** The X-Delete-At its copy carries (null: none), where the station sets it (the target's setDeleteAt). */
  deleteAt?: number | null;
}

export interface CompleteState {
  completedAt: number;
  objects: number;
  bytes: number;
  /** The weakest confirmation among its objects (absent: verified, from before levels). */
  level?: ConfirmationLevel;
  /** Objects the target cannot take yet (held back), still only on this station. */
  heldBack?: number;
  /** Objects the target refused, delivered into rejected content instead. */
  rejected?: number;
  /** The X-Delete-At its copies carry (null: none), where the station sets it. */
  deleteAt?: number | null;
}

/** An object (or, with object '', a container) held back from a target. */
export interface HeldBack {
  capability: GatingCapability;
  since: number;
}

/** What a target's HEAD shows, and so the strongest confirmation it allows. */
export interface TargetProfile {
  /** Size and md5 (Content-Length and Etag) in a HEAD. */
  headShowsContent: boolean;
  /** Whether it keeps the X-Object-Meta-Edgecd-* custody metadata (undefined: not seen yet). */
  keepsCustody?: boolean;
  /** The strongest confirmation the last pass could use. */
  level: ConfirmationLevel;
  at: number;
}

export interface TargetState {
  registeredAt: number;
  /** What the target is: a target whose URL or user changes starts afresh. */
  authUrl: string;
  user: string;
  /** Set while the target is paused (507, refused credentials) or needs an operator (licences); cleared by a clean pass. */
  alarm?: { reason: string; since: number; until: number; retries: number; subjects?: string[] };
  lastPass?: { startedAt: number; finishedAt: number; outcome: string };
  /** When a pass last ended with nothing left that it could send (outcome done), ms. */
  lastSuccess?: number;
  /** Passes in a row that found the target unreachable. */
  unreachablePasses?: number;
  /** Capabilities the target has declared, and when first seen: once declared, always supported. */
  declared?: Record<string, string>;
  /** Why the last pass read no capabilities (missing, corrupt), if so. */
  capabilitiesProblem?: string;
  profile?: TargetProfile;
  /** Objects (and rejected-content containers) held back, by capability, as of the last pass. */
  heldBack?: Partial<Record<GatingCapability, number>>;
  /** How far into DIR/tombstones.jsonl the target has taken the station's tombstones, in bytes. */
  tombstonesSent?: number;
}

export interface EvictableEntry {
  account: string;
  container: string;
  sealedAt: number;
}

/** A queued unit of work: every entry of one container (or registry object). */
export interface JobGroup extends Job {
  keys: string[];
}

type Sub<V> = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, V>;

/** What kind of replication a change to `container` asks for: every container replicates, one way or another. */
export function jobKindFor(container: string): JobKind {
  return ({ registry: 'object', rejected: 'rejected', recording: 'recording', 'station-records': 'opaque', unrecognised: 'opaque' } as const)[classifyContainer(container)];
}

const ledgers = new WeakMap<IndexDb, ReplicationLedger>();

/** ObjectStore's derivedOps hook: the replication jobs (and clean-ups) a change implies. */
export const replicationHook = (m: Mutation, index: IndexDb): Promise<BatchOp[]> => ReplicationLedger.of(index).derivedOps(m);

export class ReplicationLedger {
  readonly #index: IndexDb;
  readonly queue: Sub<Job>;
  readonly objects: Sub<ObjectState>;
  readonly complete: Sub<CompleteState>;
  readonly targets: Sub<TargetState>;
  readonly evictable: Sub<EvictableEntry>;
  readonly heldBack: Sub<HeldBack>;
  /** Registered target names, loaded on first use. */
  #registered: Promise<string[]> | undefined;

  private constructor(index: IndexDb) {
    this.#index = index;
    const json = { valueEncoding: 'json' } as const;
    this.queue = index.db.sublevel<string, Job>('rq', json);
    this.objects = index.db.sublevel<string, ObjectState>('ro', json);
    this.complete = index.db.sublevel<string, CompleteState>('rc', json);
    this.targets = index.db.sublevel<string, TargetState>('rt', json);
    this.evictable = index.db.sublevel<string, EvictableEntry>('ev', json);
    this.heldBack = index.db.sublevel<string, HeldBack>('rh', json);
  }

  /** The one ledger of an index (the store's hook and the replicator share it). */
  static of(index: IndexDb): ReplicationLedger {
    let ledger = ledgers.get(index);
    if (!ledger) ledgers.set(index, (ledger = new ReplicationLedger(index)));
    return ledger;
  }

  static key(...parts: string[]): string {
    return parts.join(SEP);
  }

  registered(): Promise<string[]> {
    return (this.#registered ??= this.targets.keys().all());
  }

  /** The queue entries a committed change implies; an evicted recording's state goes with it. */
  async derivedOps(m: Mutation): Promise<BatchOp[]> {
    const r = m.record;
    const kind = jobKindFor(m.container);
    if (r.op === 'object-removed') return [];
    const targets = await this.registered();
    if (r.op === 'container-removed') return this.#forget(targets, m.account, m.container);
    if (kind === 'recording' && (r.op !== 'container' || !isSealed(r.meta))) return [];
    if (kind === 'object' && r.op !== 'object') return [];
    const object = kind === 'object' ? r.name : '';
    const job: Job = { kind, account: m.account, container: m.container, ...(object ? { object } : {}), enqueuedAt: Date.now(), attempts: 0, notBefore: 0 };
    return targets.map((target) => ({ type: 'put', sublevel: this.queue, key: ReplicationLedger.key(target, m.account, m.container, object, m.txId), value: job }));
  }

  /** Deletes of everything the ledger knows of a container (it left the station; its record is in evictions.jsonl). */
  async #forget(targets: readonly string[], account: string, container: string): Promise<BatchOp[]> {
    const ops: BatchOp[] = [];
    for (const t of targets) {
      const prefix = ReplicationLedger.key(t, account, container, '');
      for (const sub of [this.queue, this.objects, this.heldBack] as Sub<unknown>[]) {
        for (const key of await sub.keys({ gte: prefix, lt: prefix + TOP }).all()) ops.push({ type: 'del', sublevel: sub, key });
      }
      ops.push({ type: 'del', sublevel: this.complete, key: ReplicationLedger.key(t, account, container) });
    }
    return ops;
  }

  /**
   * Registers the configured targets. One seen for the first time, or whose
   * URL or user changed (another store now), starts afresh and is given
   * everything it should hold: every sealed recording, rejected-content
   * container and registry object in the index. With `dropOthers` (the
   * daemon), targets no longer configured are dropped with their queues.
   * Returns the targets (re)registered.
   */
  async registerTargets(store: ObjectStore, targets: readonly { name: string; authUrl: string; user: string }[], dropOthers: boolean): Promise<string[]> {
    const fresh: { name: string; authUrl: string; user: string }[] = [];
    for (const t of targets) {
      const known = await this.targets.get(t.name);
      if (!known || known.authUrl !== t.authUrl || known.user !== t.user) fresh.push(t);
    }
    const configured = new Set(targets.map((t) => t.name));
    const gone = dropOthers ? (await this.targets.keys().all()).filter((name) => !configured.has(name)) : [];
    for (const name of [...fresh.map((t) => t.name), ...gone]) await this.#dropTarget(name);
    if (fresh.length > 0) await this.#backfill(store, fresh);
    this.#registered = undefined;
    return fresh.map((t) => t.name);
  }

  async #dropTarget(name: string): Promise<void> {
    const prefix = ReplicationLedger.key(name, '');
    for (const sub of [this.queue, this.objects, this.complete, this.heldBack] as Sub<unknown>[]) {
      const ops: BatchOp[] = [];
      for await (const key of sub.keys({ gte: prefix, lt: prefix + TOP })) {
        ops.push({ type: 'del', sublevel: sub, key });
        if (ops.length >= 1000) await this.#index.write(ops.splice(0), false);
      }
      await this.#index.write(ops, false);
    }
    await this.#index.write([{ type: 'del', sublevel: this.targets, key: name }], true);
  }

  async #backfill(store: ObjectStore, fresh: readonly { name: string; authUrl: string; user: string }[]): Promise<void> {
    const now = Date.now();
    const ops: BatchOp[] = [];
    for await (const [account] of store.accounts()) {
      for await (const c of store.containers(account)) {
        const kind = jobKindFor(c.name);
        if (kind === 'recording' && !isSealed(c.meta)) continue;
        const names = kind === 'object' ? await objectNames(store, account, c.name) : [''];
        for (const object of names) {
          const job: Job = { kind, account, container: c.name, ...(object ? { object } : {}), enqueuedAt: now, attempts: 0, notBefore: 0 };
          for (const t of fresh) ops.push({ type: 'put', sublevel: this.queue, key: ReplicationLedger.key(t.name, account, c.name, object, 'backfill'), value: job });
        }
        if (ops.length >= 1000) await this.#index.write(ops.splice(0), false);
      }
    }
    // Registered last, in a synced batch: a crash before it means the backfill runs again.
    for (const t of fresh) ops.push({ type: 'put', sublevel: this.targets, key: t.name, value: { registeredAt: now, authUrl: t.authUrl, user: t.user } satisfies TargetState });
    await this.#index.write(ops, true);
  }

  /**
   * The target's queued work, one group per container (or registry object),
   * in key order, read a page at a time so the queue may be any length.
   * Registry objects come first: recordings depend on them.
   */
  async *jobs(target: string, options: { now: number; ignoreBackoff: boolean; retryFailed: boolean }): AsyncGenerator<JobGroup> {
    const due = (g: JobGroup) => (options.retryFailed || !g.failed) && (options.ignoreBackoff || g.notBefore <= options.now);
    for (const registryFirst of [true, false]) {
      for await (const g of this.#groups(target)) if ((g.kind === 'object') === registryFirst && due(g)) yield g;
    }
  }

  /** Queue entries of one container (or object) are adjacent: read a page at a time and group them. */
  async *#groups(target: string): AsyncGenerator<JobGroup> {
    const idOf = (key: string) => key.slice(0, key.lastIndexOf(SEP));
    let after = ReplicationLedger.key(target, '');
    let open: JobGroup | undefined;
    for (;;) {
      const page = await this.queue.iterator({ gt: after, lt: ReplicationLedger.key(target, TOP), limit: 500 }).all();
      for (const [key, job] of page) {
        if (open && idOf(open.keys[0]!) === idOf(key)) {
          open.keys.push(key);
          open.attempts = Math.max(open.attempts, job.attempts);
          open.notBefore = Math.max(open.notBefore, job.notBefore);
          open.failed ||= job.failed;
          open.lastError ??= job.lastError;
          continue;
        }
        if (open) yield open;
        open = { ...job, keys: [key] };
      }
      if (page.length === 0) break;
      after = page.at(-1)![0];
    }
    if (open) yield open;
  }

  /** Queues jobs for a target outside a change, in one synced write (`why` ends each key: one such entry per container and reason). */
  async requeue(target: string, jobs: Job[], why: string): Promise<void> {
    if (jobs.length === 0) return;
    const puts = jobs.map(
      (job): BatchOp => ({ type: 'put', sublevel: this.queue, key: ReplicationLedger.key(target, job.account, job.container, job.object ?? '', why), value: job }),
    );
    await this.#index.write(puts, true);
  }

  /** The group is done: its entries leave the queue (later arrivals stay). */
  async finish(group: JobGroup): Promise<void> {
    await this.#index.write(
      group.keys.map((key) => ({ type: 'del', sublevel: this.queue, key })),
      true,
    );
  }

  /** The group failed this pass: it waits out a backoff, or an operator when `failed`. */
  async defer(group: JobGroup, error: string, failed: boolean, notBefore: number): Promise<void> {
    const job: Job = {
      kind: group.kind,
      account: group.account,
      container: group.container,
      ...(group.object ? { object: group.object } : {}),
      enqueuedAt: group.enqueuedAt,
      attempts: group.attempts + 1,
      notBefore,
      lastError: error.slice(0, 2000),
      ...(failed ? { failed } : {}),
    };
    await this.#index.write(
      group.keys.map((key) => ({ type: 'put', sublevel: this.queue, key, value: job })),
      true,
    );
  }

  async objectState(target: string, account: string, container: string, object: string): Promise<ObjectState | undefined> {
    return normalized(await this.objects.get(ReplicationLedger.key(target, account, container, object)));
  }

  /** Every object state of a container on a target, by object name. */
  async objectStates(target: string, account: string, container: string): Promise<Map<string, ObjectState>> {
    const prefix = ReplicationLedger.key(target, account, container, '');
    const states = new Map<string, ObjectState>();
    for await (const [key, state] of this.objects.iterator({ gte: prefix, lt: prefix + TOP })) states.set(key.slice(prefix.length), normalized(state)!);
    return states;
  }

  /** Records an object's state; one that is no longer held back leaves the held-back list in the same write. */
  async setObjectState(target: string, account: string, container: string, object: string, state: ObjectState): Promise<void> {
    const key = ReplicationLedger.key(target, account, container, object);
    // Synced: "confirmed" is what lets a restart skip the object.
    await this.#index.write(
      [
        { type: 'put', sublevel: this.objects, key, value: state },
        { type: 'del', sublevel: this.heldBack, key },
      ],
      true,
    );
  }

  /**
   * The target cannot take this object (or, with object '', this container)
   * until it declares `capability`: recorded, never sent, never forgotten.
   */
  async holdBack(target: string, account: string, container: string, object: string, capability: GatingCapability, state?: ObjectState): Promise<void> {
    const key = ReplicationLedger.key(target, account, container, object);
    const since = (await this.heldBack.get(key))?.since ?? Date.now();
    const ops: BatchOp[] = [{ type: 'put', sublevel: this.heldBack, key, value: { capability, since } satisfies HeldBack }];
    if (state) ops.push({ type: 'put', sublevel: this.objects, key, value: state });
    await this.#index.write(ops, true);
  }

  /** A held-back container (rejected content) leaves the list once sent. */
  async releaseContainer(target: string, account: string, container: string): Promise<void> {
    await this.#index.write([{ type: 'del', sublevel: this.heldBack, key: ReplicationLedger.key(target, account, container, '') }], true);
  }

  /** What the target holds back, by capability. */
  async heldBackCounts(target: string): Promise<Partial<Record<GatingCapability, number>>> {
    const prefix = ReplicationLedger.key(target, '');
    const counts: Partial<Record<GatingCapability, number>> = {};
    for await (const h of this.heldBack.values({ gte: prefix, lt: prefix + TOP })) counts[h.capability] = (counts[h.capability] ?? 0) + 1;
    return counts;
  }

  /**
   * The target now declares some of `capabilities`: what was held back for
   * them is queued again (as the container's ordinary job), in one write.
   * Returns how many containers were queued.
   */
  async requeueHeldBack(target: string, capabilities: ReadonlySet<string>, now: number): Promise<number> {
    const prefix = ReplicationLedger.key(target, '');
    const queued = new Map<string, BatchOp>();
    for await (const [key, h] of this.heldBack.iterator({ gte: prefix, lt: prefix + TOP })) {
      if (!capabilities.has(h.capability)) continue;
      const [, account, container, object] = key.split(SEP) as [string, string, string, string];
      const kind = jobKindFor(container);
      const registryObject = kind === 'object' ? object : '';
      const job: Job = { kind, account, container, ...(registryObject ? { object: registryObject } : {}), enqueuedAt: now, attempts: 0, notBefore: 0 };
      const jobKey = ReplicationLedger.key(target, account, container, registryObject, 'capability');
      queued.set(jobKey, { type: 'put', sublevel: this.queue, key: jobKey, value: job });
    }
    await this.#index.write([...queued.values()], true);
    return queued.size;
  }

  isComplete(target: string, account: string, container: string): Promise<CompleteState | undefined> {
    return this.complete.get(ReplicationLedger.key(target, account, container));
  }

  /** The target confirmed the recording Complete: it is now replicated, and a candidate for eviction. */
  async markComplete(target: string, account: string, container: string, state: CompleteState, sealedAt: number): Promise<void> {
    await this.#index.write(
      [
        { type: 'put', sublevel: this.complete, key: ReplicationLedger.key(target, account, container), value: state },
        { type: 'put', sublevel: this.evictable, key: evictableKey(sealedAt, account, container), value: { account, container, sealedAt } },
      ],
      true,
    );
  }

  /** Whether every one of `targets` confirmed the recording Complete (none: never). */
  async heldByAll(targets: readonly string[], account: string, container: string): Promise<CompleteState[] | undefined> {
    if (targets.length === 0) return undefined;
    const states = await Promise.all(targets.map((t) => this.isComplete(t, account, container)));
    return states.every((s) => s !== undefined) ? (states as CompleteState[]) : undefined;
  }

  targetState(target: string): Promise<TargetState | undefined> {
    return this.targets.get(target);
  }

  async setTargetState(target: string, state: TargetState): Promise<void> {
    await this.#index.write([{ type: 'put', sublevel: this.targets, key: target, value: state }], true);
  }
}

/** A state from before confirmation levels: 'verified' meant a HEAD showed size and md5. */
function normalized(state: ObjectState | undefined): ObjectState | undefined {
  if ((state?.state as string) === 'verified') return { ...state!, state: 'confirmed', level: 'verified' };
  return state;
}

export function evictableKey(sealedAt: number, account: string, container: string): string {
  return ReplicationLedger.key(String(sealedAt).padStart(15, '0'), account, container);
}

async function objectNames(store: ObjectStore, account: string, container: string): Promise<string[]> {
  const names: string[] = [];
  for await (const o of store.objects(account, container)) names.push(o.name);
  return names;
}
