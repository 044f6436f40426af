/**
 * One replication pass to one target: works through the target's queue and
 * leaves every job either finished or deferred with the reason. It behaves
 * as a body-worn system does towards a content destination:
 *
 * - it reads the target's System/Capabilities.json first (and its
 *   categories, which the station republishes) and sends only what the
 *   target declares; the rest is held back, recorded, and queued again when
 *   the target declares it;
 * - Users and Devices first, then the recording container with its metadata
 *   and Status Transferring, its objects, and last a POST of Status
 *   Complete, confirmed by a HEAD: the target sees Complete only when
 *   everything it can take is there;
 * - metadata goes byte for byte as the BWS sent it, plus the station's
 *   custody metadata (SHA-256, station, arrival) where the target keeps it;
 * - an object or recording the target refuses with 400 goes into a
 *   RejectedContent_ container where the target declares StoreRejectedContent.
 *
 * Each object goes through object-transfer.ts: confirmed as strongly as the
 * target allows, and before sending an object whose state is not confirmed,
 * the target is asked whether it already holds it, so a pass cut off after
 * a PUT does not send the bytes again where that can be seen. The requests
 * themselves, their retries and their one error type are target-requests.ts;
 * what the queue holds is backlog.ts.
 */
import { type DeleteAt, deleteAtChanged, type DeleteAtJudge } from '../lifecycle/delete-at.ts';
import { isSealed } from '../bws/catalogue.ts';
import type { ConfirmationLevel } from '../config/config.ts';
import { EdgeError } from '../lib/errors.ts';
import { isTrack, pairKeyFiles } from '../bws/key-files.ts';
import { parseEpoch, parseRecordingName } from '../bws/names.ts';
import { DEVICES, SYSTEM, USERS } from '../bws/content-destination.ts';
import type { ContainerEntry, ObjectEntry } from '../store/object-store.ts';
import { decodeMetaValue } from '../swift/metadata.ts';
import { header, swiftPath, type SwiftClient } from '../swift/client.ts';
import { queueBacklog } from './backlog.ts';
import { weaker } from './confirmation.ts';
import { type CompleteState, type Job, type JobGroup, ReplicationLedger, type TargetState } from './ledger.ts';
import { KEY_SEPARATOR, KEY_TOP } from '../store/index-keys.ts';
import { metaHeaders, ObjectTransfer, putContainer, Rejection, type ObjectHow, type TransferContext } from './object-transfer.ts';
import { capabilityFor, containerCapability, effectiveCapabilities, etagMatches, objectKind, readCapabilities, type GatingCapability } from './target-plan.ts';
import { backoffMs, is2xx, refusal, ReplicationFailure, stopped, TargetRequests, type PassOutcome } from './target-requests.ts';

export type { PassOutcome } from './target-requests.ts';
export { backoffMs } from './target-requests.ts';

export interface PassContext extends TransferContext {
  client: SwiftClient;
  /** The central's System/Categories.json (its exact bytes), or null when it publishes none. */
  onCategories?: (body: Buffer | null) => Promise<void>;
  now?: () => number;
}

export interface PassOptions {
  /** Run jobs still waiting out a backoff (an operator's --now). */
  ignoreBackoff: boolean;
  /** Retry jobs the target refused for their content. */
  retryFailed: boolean;
  onProgress?: (progress: PassProgress) => void;
}

export interface PassProgress {
  target: string;
  jobsDone: number;
  jobsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  current?: string;
}

export interface PassReport {
  target: string;
  outcome: PassOutcome;
  /** Why the pass stopped early, or why jobs were deferred. */
  reason?: string;
  recordingsCompleted: number;
  objectsSent: number;
  /** Objects the target already held (confirmed without sending). */
  objectsConfirmed: number;
  bytesSent: number;
  jobsDeferred: number;
  /** Objects (and rejected-content containers) kept back: the target does not declare what they need. */
  objectsHeldBack: number;
  /** Objects the target refused (400) and took as rejected content instead. */
  objectsRejected: number;
  /** The strongest confirmation this target allowed in this pass. */
  confirmation?: ConfirmationLevel;
  /** What the target declared (with what was declared before). */
  capabilities: string[];
  /** Users and cameras the target has no licence for (402). */
  licence: string[];
  /** Requests sent to the target (authentication excluded). */
  requests: number;
  /** Objects the target refused for their content: they wait for an operator. */
  failures: { container: string; object?: string; error: string }[];
  /** The station's audit anchors sent after the pass (remote-anchors.ts), when it keeps any. */
  anchors?: { sent: number; error?: string };
  /** Tombstones sent after the pass (lines of DIR/tombstones.jsonl). */
  tombstones?: { sent: number; error?: string };
  startedAt: number;
  finishedAt: number;
}

/** Consecutive jobs failing on transport before the target counts as unreachable. */
const UNREACHABLE_AFTER = 3;
const JOB_BACKOFF_BASE_MS = 60_000;
const JOB_BACKOFF_MAX_MS = 6 * 3_600_000;

/** Outcome of replicating the objects of a container. */
interface Tally {
  objects: number;
  bytes: number;
  level: ConfirmationLevel | undefined;
  heldBack: number;
  rejected: number;
}

export class ReplicationPass {
  readonly #c: PassContext;
  readonly #now: () => number;
  readonly #requests: TargetRequests;
  readonly #ensuredContainers = new Map<string, Promise<void>>();
  #capabilities = new Set<string>();
  /** Made once the target's capabilities are read. */
  #transfer: ObjectTransfer | undefined;
  #report!: PassReport;
  #progress!: PassProgress;
  #onProgress: ((p: PassProgress) => void) | undefined;
  /** Retention and holds as this pass weighs them: read once (every hold, each account's categories), not per recording. */
  #deleteAtJudge: Promise<DeleteAtJudge> | undefined;

  constructor(context: PassContext) {
    this.#c = context;
    this.#now = context.now ?? Date.now;
    this.#requests = new TargetRequests(context.client, context.target.name, context.log);
  }

  /**
   * Ends the pass early (the daemon is stopping): no new request starts, and
   * the job under way stays queued as it was, neither finished nor deferred.
   * The caller closes the client to cut transfers in flight.
   */
  stop(): void {
    this.#requests.stop();
  }

  get #name(): string {
    return this.#c.target.name;
  }

  async run(options: PassOptions): Promise<PassReport> {
    const { ledger } = this.#c;
    const now = this.#now();
    this.#report = {
      target: this.#name,
      outcome: 'done',
      recordingsCompleted: 0,
      objectsSent: 0,
      objectsConfirmed: 0,
      bytesSent: 0,
      jobsDeferred: 0,
      objectsHeldBack: 0,
      objectsRejected: 0,
      capabilities: [],
      licence: [],
      requests: 0,
      failures: [],
      startedAt: now,
      finishedAt: now,
    };
    let unreachableStreak = 0;
    try {
      await this.#readTarget();
      if (this.#c.deleteAt && this.#c.sweepDeleteAt) await this.#sweepDeleteAt(await this.#judge()!, now);
      const backlog = await queueBacklog(this.#c.store, ledger, this.#name, { now, ignoreBackoff: options.ignoreBackoff, retryFailed: options.retryFailed });
      this.#progress = { target: this.#name, jobsDone: 0, jobsTotal: backlog.jobs, bytesDone: 0, bytesTotal: backlog.bytes };
      this.#onProgress = options.onProgress;
      this.#onProgress?.({ ...this.#progress });
      for await (const group of ledger.jobs(this.#name, { now, ignoreBackoff: options.ignoreBackoff, retryFailed: options.retryFailed })) {
        if (this.#requests.stopping) throw stopped();
        this.#progress.current = group.object ? `${group.container}/${group.object}` : group.container;
        try {
          await this.#runJob(group);
          await ledger.finish(group);
          unreachableStreak = 0;
        } catch (caught) {
          if (this.#requests.stopping) throw stopped();
          if (caught instanceof ReplicationFailure && caught.kind === 'stop') throw caught;
          // Anything else (a file that cannot be read, say) fails this job only, and it tries again later.
          const err = caught instanceof ReplicationFailure ? caught : new ReplicationFailure('transient', (caught as Error).message);
          const refused = err.kind === 'refused';
          const retryAt = this.#now() + backoffMs(group.attempts, JOB_BACKOFF_BASE_MS, JOB_BACKOFF_MAX_MS);
          await ledger.defer(group, err.message, refused, refused ? 0 : retryAt);
          this.#report.jobsDeferred += 1;
          this.#report.reason = err.message;
          this.#c.log.warn(
            { target: this.#name, container: group.container, object: group.object, refused, attempts: group.attempts + 1, err: err.message },
            refused ? 'replication refused by the target: waits for an operator' : 'replication job deferred',
          );
          if (err.kind === 'unreachable' && ++unreachableStreak >= UNREACHABLE_AFTER)
            throw new ReplicationFailure('stop', `target unreachable: ${err.message}`, { outcome: 'unreachable' });
          if (err.kind !== 'unreachable') unreachableStreak = 0;
        }
        this.#progress.jobsDone += 1;
        this.#onProgress?.({ ...this.#progress });
      }
      if (this.#report.jobsDeferred > 0) this.#report.outcome = 'deferred';
    } catch (err) {
      if (!(err instanceof ReplicationFailure) || err.kind !== 'stop') throw err;
      this.#report.outcome = err.outcome!;
      this.#report.reason = err.message;
    }
    await this.#saveProfile();
    this.#report.requests = this.#requests.count;
    this.#report.finishedAt = this.#now();
    return this.#report;
  }

  // ---- the target -----------------------------------------------------------

  /**
   * Reads the target's capabilities (a BWS reads them before anything else)
   * and its categories. Capabilities it declares for the first time release
   * what was held back for them.
   */
  async #readTarget(): Promise<void> {
    const { ledger, target } = this.#c;
    const res = await this.#requests.call('GET', swiftPath(SYSTEM, 'Capabilities.json')).catch((err: unknown) => {
      if (err instanceof ReplicationFailure && err.kind !== 'stop') throw new ReplicationFailure('stop', `target unreachable: ${err.message}`, { outcome: 'unreachable' });
      throw err;
    });
    const read = readCapabilities(res.status, res.bytes, header(res.headers, 'etag'));
    const state = (await ledger.targetState(this.#name)) ?? ({ registeredAt: this.#now(), authUrl: target.authUrl, user: target.user } satisfies TargetState);
    const before = Object.keys(state.declared ?? {});
    this.#capabilities = effectiveCapabilities(read.declared, before, target.central.fullStoreAndReadSupport);
    this.#report.capabilities = [...this.#capabilities].sort();
    if (read.problem && !target.central.fullStoreAndReadSupport)
      this.#c.log.warn({ target: this.#name, problem: read.problem }, 'target capabilities: every capability counts as unsupported unless declared before');
    const fresh = [...this.#capabilities].filter((c) => !before.includes(c));
    if (fresh.length > 0) {
      // Queued first, remembered second: a crash between queues them again, harmlessly.
      const queued = await ledger.requeueHeldBack(this.#name, new Set(fresh), this.#now());
      const at = new Date(this.#now()).toISOString();
      state.declared = { ...state.declared, ...Object.fromEntries(fresh.map((c) => [c, at])) };
      if (before.length > 0 || queued > 0)
        this.#c.log.info({ target: this.#name, capabilities: fresh, requeued: queued }, 'target declares new capabilities: what was held back for them is queued');
    }
    if (read.problem) state.capabilitiesProblem = read.problem;
    else delete state.capabilitiesProblem;
    this.#transfer = new ObjectTransfer(this.#c, {
      requests: this.#requests,
      capabilities: this.#capabilities,
      keepsCustody: state.profile?.keepsCustody,
      counts: this.#report,
      advance: (bytes: number) => this.#advance(bytes),
      now: this.#now,
    });
    await ledger.setTargetState(this.#name, state);
    if (this.#capabilities.has('ReadCategories') && this.#c.onCategories) await this.#readCategories();
  }

  /** The central's categories, republished by the station for its cameras (its own, if set, win). */
  async #readCategories(): Promise<void> {
    let res;
    try {
      res = await this.#requests.call('GET', swiftPath(SYSTEM, 'Categories.json'));
    } catch (err) {
      if (err instanceof ReplicationFailure && err.kind === 'stop') throw err;
      this.#c.log.warn({ target: this.#name, err: (err as Error).message }, 'target categories not read: the last ones stay published');
      return;
    }
    if (res.status === 404) return this.#c.onCategories!(null);
    const problem =
      res.status !== 200 ? `answered ${res.status}` : !etagMatches(res.bytes, header(res.headers, 'etag')) ? 'object corrupt (Etag is not the md5 of its bytes)' : undefined;
    if (problem) {
      this.#c.log.warn({ target: this.#name, problem }, 'target categories not read: the last ones stay published');
      return;
    }
    try {
      await this.#c.onCategories!(res.bytes);
    } catch (err) {
      this.#c.log.warn({ target: this.#name, err: (err as Error).message }, 'target categories refused: the last ones stay published');
    }
  }

  /** What this pass learnt of the target's HEAD, for status and the start-up warning. */
  async #saveProfile(): Promise<void> {
    const { ledger } = this.#c;
    const state = await ledger.targetState(this.#name);
    if (!state) return;
    const transfer = this.#transfer;
    const level = transfer?.level();
    if (level) {
      if (level === 'acknowledged' && state.profile?.level !== 'acknowledged') {
        this.#c.log.warn(
          { target: this.#name },
          'target can only acknowledge objects: its HEAD shows no size or md5 and no reader credentials are configured; its evidence is not verified',
        );
      }
      const keepsCustody = transfer!.keepsCustody;
      state.profile = { headShowsContent: transfer!.headShowsContent!, level, at: this.#now(), ...(keepsCustody !== undefined ? { keepsCustody } : {}) };
      this.#report.confirmation = level;
    }
    state.heldBack = await ledger.heldBackCounts(this.#name);
    await ledger.setTargetState(this.#name, state);
  }

  /**
   * Recordings the target holds whose X-Delete-At no longer matches retention
   * and holds are queued again: their job moves it (#moveDeleteAt). One key
   * scan of what the target holds, each weighed as the plan weighs it.
   */
  async #sweepDeleteAt(judge: DeleteAtJudge, now: number): Promise<void> {
    const { ledger } = this.#c;
    const jobs: Job[] = [];
    for await (const [key, complete] of ledger.complete.iterator({ gt: ReplicationLedger.key(this.#name, ''), lt: ReplicationLedger.key(this.#name, KEY_TOP) })) {
      const [, account, container] = key.split(KEY_SEPARATOR) as [string, string, string];
      if (deleteAtChanged(complete.deleteAt, await judge.of(account, container))) jobs.push({ kind: 'recording', account, container, enqueuedAt: now, attempts: 0, notBefore: 0 });
    }
    await ledger.requeue(this.#name, jobs, 'delete-at');
    const queued = jobs.length;
    if (queued > 0) this.#c.log.info({ target: this.#name, recordings: queued }, "recordings queued: their copies' X-Delete-At changes");
  }

  // ---- jobs -----------------------------------------------------------------

  async #runJob(group: JobGroup): Promise<void> {
    const { store } = this.#c;
    const container = await store.container(group.account, group.container).catch(notFoundAs(undefined));
    if (!container) return; // evicted or never there: nothing left to send
    if (group.kind === 'object') {
      const entry = await store.object(group.account, group.container, group.object!).catch(notFoundAs(undefined));
      if (!entry) return;
      const tally = emptyTally();
      await this.#objects(group.account, container, [entry], { targetMayHave: true, sealedOnTarget: false }, tally);
      return;
    }
    if (group.kind === 'recording') await this.#recording(group.account, container);
    else await this.#wholeContainer(group.account, container);
  }

  async #recording(account: string, container: ContainerEntry): Promise<void> {
    const { ledger } = this.#c;
    if (!isSealed(container.meta)) return; // not sealed: not for replication (a stale job)
    const deleteAt = await (await this.#judge())?.of(account, container.name);
    const complete = await ledger.isComplete(this.#name, account, container.name);
    if (complete) {
      const current = deleteAt !== undefined && deleteAtChanged(complete.deleteAt, deleteAt) ? await this.#moveDeleteAt(account, container, complete, deleteAt) : complete;
      return this.#lateDelivery(account, container, current, deleteAt);
    }
    await this.#dependencies(account, container.name);
    await this.#c.videoChecked?.(account, container.name);
    const head = await this.#requests.call('HEAD', swiftPath(container.name));
    const onTarget = is2xx(head);
    if (!onTarget && head.status !== 404) throw refusal(head, `HEAD ${container.name}`);
    const sealedOnTarget = onTarget && decodeMetaValue(header(head.headers, 'x-container-meta-status') ?? '') === 'Complete';
    const tally = emptyTally();
    const rejection = this.#capabilities.has('StoreRejectedContent') ? new Rejection(container) : undefined;
    if (!sealedOnTarget) {
      // Sealed last: the target sees Complete only when everything is there.
      const put = await this.#requests.call('PUT', swiftPath(container.name), metaHeaders('Container', { ...container.meta, status: 'Transferring' }));
      if (!is2xx(put)) {
        const failure = refusal(put, `PUT ${container.name}`);
        if (!(rejection && put.status === 400)) throw failure;
        // The target can never store this recording: all of it goes to rejected content, as a BWS sends it.
        rejection.reason = failure.message;
        await this.#allObjects(account, container, { targetMayHave: false, sealedOnTarget: false, rejection, allRejected: true }, tally, true);
        return this.#completed(account, container, tally, `into ${rejection.name}`);
      }
    }
    await this.#allObjects(
      account,
      container,
      { targetMayHave: onTarget, sealedOnTarget, ...(rejection ? { rejection } : {}), ...(deleteAt !== undefined ? { deleteAt } : {}) },
      tally,
    );
    if (!sealedOnTarget) {
      const post = await this.#requests.call('POST', swiftPath(container.name), { 'X-Container-Meta-Status': container.meta.status! });
      if (!is2xx(post)) throw refusal(post, `POST ${container.name} Status: Complete`);
    }
    const check = await this.#requests.call('HEAD', swiftPath(container.name));
    if (decodeMetaValue(header(check.headers, 'x-container-meta-status') ?? '') !== 'Complete') {
      throw new ReplicationFailure('transient', `${container.name}: the target does not show Status Complete after the POST (HEAD ${check.status})`);
    }
    await this.#completed(account, container, tally, undefined, deleteAt);
  }

  async #completed(account: string, container: ContainerEntry, tally: Tally, how?: string, deleteAt?: DeleteAt | null): Promise<void> {
    const sealedAt = Math.round(Number(container.timestamp) * 1000);
    const state: CompleteState = {
      completedAt: this.#now(),
      objects: tally.objects,
      bytes: tally.bytes,
      level: tally.level ?? 'verified',
      ...(tally.heldBack ? { heldBack: tally.heldBack } : {}),
      ...(tally.rejected ? { rejected: tally.rejected } : {}),
      ...(deleteAt !== undefined ? { deleteAt: deleteAt?.at ?? null } : {}),
    };
    await this.#c.ledger.markComplete(this.#name, account, container.name, state, sealedAt);
    const details = {
      to: this.#name,
      objects: tally.objects,
      bytes: tally.bytes,
      confirmation: state.level,
      ...(tally.heldBack ? { heldBack: tally.heldBack } : {}),
      ...(tally.rejected ? { rejected: tally.rejected } : {}),
      ...(how ? { as: `rejected content ${how}` } : {}),
    };
    await this.#c.audit?.append({ actor: 'system', source: 'replication', action: 'replicated', target: `AUTH_${account}/${container.name}`, result: 'ok', details });
    this.#report.recordingsCompleted += 1;
    this.#c.log.info({ target: this.#name, container: container.name, ...details }, 'recording replicated and confirmed Complete');
  }

  /**
   * A recording the target holds as Complete whose X-Delete-At must change
   * (a hold placed or released, a category given, a rule changed): each copy
   * gets the new one, and the trail says so.
   */
  async #moveDeleteAt(account: string, container: ContainerEntry, complete: CompleteState, deleteAt: DeleteAt | null): Promise<CompleteState> {
    const tally = emptyTally();
    await this.#allObjects(account, container, { targetMayHave: true, sealedOnTarget: true, deleteAt }, tally);
    const at = deleteAt?.at ?? null;
    const moved = { ...complete, deleteAt: at };
    await this.#c.ledger.markComplete(this.#name, account, container.name, moved, Math.round(Number(container.timestamp) * 1000));
    const details = { to: this.#name, from: complete.deleteAt ?? null, deleteAt: at, ...(at !== null ? { expires: new Date(at * 1000).toISOString() } : {}) };
    await this.#c.audit?.append({ actor: 'system', source: 'replication', action: 'replication.delete-at', target: `AUTH_${account}/${container.name}`, result: 'ok', details });
    this.#c.log.info(
      { target: this.#name, container: container.name, ...details },
      at === null ? "X-Delete-At removed from the target's copies" : "the target's copies carry a new X-Delete-At",
    );
    return moved;
  }

  /** The pass's DeleteAtJudge, opened on first use; undefined when the target takes no X-Delete-At. */
  #judge(): Promise<DeleteAtJudge> | undefined {
    if (!this.#c.deleteAt) return undefined;
    this.#deleteAtJudge ??= this.#c.deleteAt();
    return this.#deleteAtJudge;
  }

  /**
   * A recording the target already holds as Complete: what was held back
   * from it and is now declared goes too (a later capability), and its
   * record is brought up to date.
   */
  async #lateDelivery(account: string, container: ContainerEntry, complete: CompleteState, deleteAt: DeleteAt | null | undefined): Promise<void> {
    if (!complete.heldBack) return;
    const states = await this.#c.ledger.objectStates(this.#name, account, container.name);
    const entries = await this.#entries(account, container.name);
    const late = entries.filter((entry) => states.get(entry.name)?.state === 'held-back');
    const tally = emptyTally();
    // The track before its key: a central pairs a late key with the track it already holds.
    const keys = trackKeys(container, entries);
    for (const batch of [late.filter((e) => !keys.has(e.name)), late.filter((e) => keys.has(e.name))]) {
      await this.#objects(account, container, batch, { targetMayHave: true, sealedOnTarget: false, ...(deleteAt !== undefined ? { deleteAt } : {}) }, tally, keys);
    }
    if (tally.objects === 0) return;
    const state: CompleteState = {
      ...complete,
      objects: complete.objects + tally.objects,
      bytes: complete.bytes + tally.bytes,
      level: weaker(complete.level ?? 'verified', tally.level ?? 'verified'),
      heldBack: tally.heldBack,
    };
    if (!state.heldBack) delete state.heldBack;
    await this.#c.ledger.markComplete(this.#name, account, container.name, state, Math.round(Number(container.timestamp) * 1000));
    await this.#c.audit?.append({
      actor: 'system',
      source: 'replication',
      action: 'replicated',
      target: `AUTH_${account}/${container.name}`,
      result: 'ok',
      details: { to: this.#name, late: tally.objects, bytes: tally.bytes, confirmation: state.level },
    });
    this.#c.log.info({ target: this.#name, container: container.name, objects: tally.objects }, 'held-back objects delivered: the target now declares what they need');
  }

  /**
   * A container that goes whole, as it is: rejected content from the BWS
   * (once the target declares StoreRejectedContent), or one whose name this
   * station does not recognise (nothing on the station is invisible to
   * replication).
   */
  async #wholeContainer(account: string, container: ContainerEntry): Promise<void> {
    const capability = containerCapability(container.name);
    if (capability && !this.#capabilities.has(capability)) {
      await this.#c.ledger.holdBack(this.#name, account, container.name, '', capability);
      this.#report.objectsHeldBack += 1;
      return;
    }
    const head = await this.#requests.call('HEAD', swiftPath(container.name));
    if (head.status !== 404 && !is2xx(head)) throw refusal(head, `HEAD ${container.name}`);
    await putContainer(this.#requests, container.name, container.meta);
    await this.#allObjects(account, container, { targetMayHave: head.status !== 404, sealedOnTarget: false }, emptyTally(), true);
    if (capability) await this.#c.ledger.releaseContainer(this.#name, account, container.name);
  }

  /** A strict central refuses a recording of a user or camera it does not know: those go first. */
  async #dependencies(account: string, recording: string): Promise<void> {
    const name = parseRecordingName(recording);
    if (!name) return;
    for (const [registry, object] of [
      [USERS, name.userId],
      [DEVICES, name.deviceSerial],
    ] as const) {
      const container = await this.#c.store.container(account, registry).catch(notFoundAs(undefined));
      const entry = container && (await this.#c.store.object(account, registry, object).catch(notFoundAs(undefined)));
      if (!container || !entry) continue;
      await this.#objects(account, container, [entry], { targetMayHave: true, sealedOnTarget: false }, emptyTally());
    }
  }

  /** A registry container (Users/, Devices/, System/) is put once a pass, before the first object sent into it. */
  #ensureContainer(account: string, container: ContainerEntry): Promise<void> {
    const key = `${account}\0${container.name}`;
    let ensured = this.#ensuredContainers.get(key);
    if (!ensured) {
      ensured = putContainer(this.#requests, container.name, container.meta);
      ensured.catch(() => this.#ensuredContainers.delete(key));
      this.#ensuredContainers.set(key, ensured);
    }
    return ensured;
  }

  async #entries(account: string, container: string): Promise<ObjectEntry[]> {
    const entries: ObjectEntry[] = [];
    for await (const page of this.#c.store.objectPages(account, container)) entries.push(...page);
    return entries;
  }

  /**
   * Every object of the container. A recording's objects are classified
   * together (a key file is a track's by pairing: see bws/key-files.ts); a
   * container that goes whole (`everything`: no capability holds any back)
   * streams a page at a time.
   */
  async #allObjects(account: string, container: ContainerEntry, how: ObjectHow, tally: Tally, everything = false): Promise<void> {
    if (everything) {
      for await (const page of this.#c.store.objectPages(account, container.name)) await this.#objects(account, container, page, how, tally, 'everything');
      return;
    }
    const entries = await this.#entries(account, container.name);
    await this.#objects(account, container, entries, how, tally, trackKeys(container, entries));
  }

  /**
   * Replicates objects `concurrency` at a time, holding back what the target
   * does not declare. Every object is tried even when another fails; the job
   * then fails with the first failure that is not a refusal, or as refused.
   */
  async #objects(
    account: string,
    container: ContainerEntry,
    entries: ObjectEntry[],
    how: ObjectHow,
    tally: Tally,
    plan: ReadonlySet<string> | 'everything' = new Set(),
  ): Promise<void> {
    const failures: ReplicationFailure[] = [];
    const refused: string[] = [];
    let stop: ReplicationFailure | undefined;
    let next = 0;
    const registry = container.name === USERS || container.name === DEVICES || container.name === SYSTEM;
    const worker = async () => {
      while (next < entries.length && !stop) {
        const entry = entries[next++]!;
        const capability = plan === 'everything' ? undefined : capabilityFor(objectKind(container.name, entry.name, plan));
        if (capability && !this.#capabilities.has(capability)) {
          await this.#holdBack(account, container.name, entry, capability);
          tally.heldBack += 1;
          continue;
        }
        try {
          if (registry) await this.#ensureContainer(account, container);
          const { level, rejected } = await this.#transfer!.send(account, container, entry, how);
          tally.level = weaker(tally.level, level);
          if (rejected) tally.rejected += 1;
          tally.objects += 1;
          tally.bytes += entry.bytes;
        } catch (err) {
          if (!(err instanceof ReplicationFailure)) throw err;
          if (err.kind === 'stop') stop = err;
          else if (err.kind === 'refused') {
            refused.push(`${entry.name}: ${err.message}`);
            this.#report.failures.push({ container: container.name, object: entry.name, error: err.message });
            await this.#c.ledger.setObjectState(this.#name, account, container.name, entry.name, { ...this.#transfer!.state('failed', entry), error: err.message.slice(0, 2000) });
          } else {
            if (err.kind === 'licence') this.#report.licence.push(`${container.name}/${entry.name}`);
            failures.push(err);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#c.target.concurrency, entries.length) }, worker));
    if (stop) throw stop;
    if (failures.length > 0) throw failures[0]!;
    if (refused.length > 0) throw new ReplicationFailure('refused', `${container.name}: the target refused ${refused.length} object(s): ${refused.join('; ')}`);
  }

  async #holdBack(account: string, container: string, entry: ObjectEntry, capability: GatingCapability): Promise<void> {
    const state = await this.#c.ledger.objectState(this.#name, account, container, entry.name);
    if (state?.state !== 'held-back')
      this.#c.log.info({ target: this.#name, container, object: entry.name, capability }, 'held back: the target does not declare what this object needs');
    await this.#c.ledger.holdBack(this.#name, account, container, entry.name, capability, this.#transfer!.state('held-back', entry));
    this.#report.objectsHeldBack += 1;
    this.#advance(entry.bytes);
  }

  #advance(bytes: number): void {
    this.#progress.bytesDone += bytes;
  }
}

const emptyTally = (): Tally => ({ objects: 0, bytes: 0, level: undefined, heldBack: 0, rejected: 0 });

/** The key files of a recording that unlock its GNSS track (held back with it). */
function trackKeys(container: ContainerEntry, entries: ObjectEntry[]): Set<string> {
  const start = container.meta.starttime === undefined ? parseRecordingName(container.name)?.triggerOn : parseEpoch(decodeMetaValue(container.meta.starttime));
  return new Set([...pairKeyFiles(entries, start).keyOf].filter(([content]) => isTrack(content)).map(([, key]) => key));
}

const notFoundAs =
  <T>(value: T) =>
  (err: unknown): T => {
    if (err instanceof EdgeError && err.code === 'NotFound') return value;
    throw err;
  };
