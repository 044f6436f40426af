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
 * Each object is confirmed as strongly as the target allows (see
 * confirmation.ts), and the level is recorded. What a target's HEAD offers
 * is learnt from the first object HEAD of the pass, so no object is sent
 * twice in a pass for want of a field. Before sending an object whose state
 * is not confirmed, the target is asked whether it already holds it: a pass
 * cut off after a PUT does not send the bytes again where that can be seen.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditSink } from '../audit/trail.ts';
import type { ConfirmationLevel, ReplicationTarget } from '../config/config.ts';
import { EdgeError } from '../lib/errors.ts';
import { isTrack, pairKeyFiles } from '../bws/key-files.ts';
import { parseEpoch, parseRecordingName } from '../bws/names.ts';
import { DEVICES, SYSTEM, USERS } from '../bws/content-destination.ts';
import type { ContainerEntry, ObjectEntry, ObjectStore } from '../store/object-store.ts';
import { hashStream } from '../lib/digests.ts';
import { canonicalKey, decodeMetaValue, type MetaMap } from '../swift/metadata.ts';
import { etagOf, header, swiftPath, type SwiftClient } from '../swift/client.ts';
import { headShowsContent, keptCustody, sameContent, showsMeta, weaker } from './confirmation.ts';
import { CUSTODY_SHA256, custodyMeta } from '../audit/custody-metadata.ts';
import { isSealed, type CompleteState, type JobGroup, type ObjectState, type ReplicationLedger, type TargetState } from './ledger.ts';
import { capabilityFor, containerCapability, effectiveCapabilities, etagMatches, objectKind, readCapabilities, type GatingCapability } from './target-plan.ts';
import { backoffMs, is2xx, refusal, ReplicationFailure, stopped, TargetRequests, type PassOutcome } from './target-requests.ts';
import { metered, type TokenBucket } from './throttle.ts';

export type { PassOutcome } from './target-requests.ts';
export { backoffMs } from './target-requests.ts';

export interface PassContext {
  store: ObjectStore;
  ledger: ReplicationLedger;
  target: ReplicationTarget;
  client: SwiftClient;
  /** The target's reader credentials, where configured: objects are read back when its HEAD cannot show them. */
  reader?: SwiftClient;
  bucket: TokenBucket | undefined;
  station: string;
  /** The station's public signing key (audit/station-key.ts), sent with the custody metadata. */
  stationKey?: string;
  /** Where each confirmed recording is recorded for its chain of custody. */
  audit?: AuditSink;
  /** The central's System/Categories.json (its exact bytes), or null when it publishes none. */
  onCategories?: (body: Buffer | null) => Promise<void>;
  log: Logger;
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
  startedAt: number;
  finishedAt: number;
}

/** Consecutive jobs failing on transport before the target counts as unreachable. */
const UNREACHABLE_AFTER = 3;
const JOB_BACKOFF_BASE_MS = 60_000;
const JOB_BACKOFF_MAX_MS = 6 * 3_600_000;

interface ObjectHow {
  /** The container existed on the target: ask before sending. */
  targetMayHave: boolean;
  /** The target holds the recording as Complete: nothing may be added (but late deliveries). */
  sealedOnTarget: boolean;
  /** Where a refused object goes instead (a recording's rejected content), when the target declares it. */
  rejection?: Rejection;
  /** The whole recording was refused: every object goes into its rejected content. */
  allRejected?: boolean;
}

/** Outcome of replicating the objects of a container. */
interface Tally {
  objects: number;
  bytes: number;
  level: ConfirmationLevel | undefined;
  heldBack: number;
  rejected: number;
}

/** One RejectedContent_ container per recording and pass, made when the first object is refused. */
class Rejection {
  readonly original: ContainerEntry;
  name: string | undefined;
  /** Why the whole recording was refused, when it was. */
  reason: string | undefined;
  constructor(original: ContainerEntry) {
    this.original = original;
  }
}

export class ReplicationPass {
  readonly #c: PassContext;
  readonly #now: () => number;
  readonly #requests: TargetRequests;
  readonly #ensuredContainers = new Map<string, Promise<void>>();
  #capabilities = new Set<string>();
  /** Learnt at the first object HEAD of the pass. */
  #headShowsContent: boolean | undefined;
  #keepsCustody: boolean | undefined;
  #readerWorks: boolean;
  #report!: PassReport;
  #progress!: PassProgress;
  #onProgress: ((p: PassProgress) => void) | undefined;

  constructor(context: PassContext) {
    this.#c = context;
    this.#now = context.now ?? Date.now;
    this.#requests = new TargetRequests(context.client, context.target.name, context.log);
    this.#readerWorks = context.reader !== undefined;
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
    this.#keepsCustody = state.profile?.keepsCustody;
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
    const level = this.#level();
    if (level) {
      if (level === 'acknowledged' && state.profile?.level !== 'acknowledged') {
        this.#c.log.warn(
          { target: this.#name },
          'target can only acknowledge objects: its HEAD shows no size or md5 and no reader credentials are configured; its evidence is not verified',
        );
      }
      state.profile = { headShowsContent: this.#headShowsContent!, level, at: this.#now(), ...(this.#keepsCustody !== undefined ? { keepsCustody: this.#keepsCustody } : {}) };
      this.#report.confirmation = level;
    }
    state.heldBack = await ledger.heldBackCounts(this.#name);
    await ledger.setTargetState(this.#name, state);
  }

  /** The strongest level this target allows, once a HEAD has shown it. */
  #level(): ConfirmationLevel | undefined {
    if (this.#headShowsContent === undefined) return undefined;
    return this.#headShowsContent ? 'verified' : this.#readerWorks ? 'read-back' : 'acknowledged';
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
    const complete = await ledger.isComplete(this.#name, account, container.name);
    if (complete) return this.#lateDelivery(account, container, complete);
    await this.#dependencies(account, container.name);
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
    await this.#allObjects(account, container, { targetMayHave: onTarget, sealedOnTarget, ...(rejection ? { rejection } : {}) }, tally);
    if (!sealedOnTarget) {
      const post = await this.#requests.call('POST', swiftPath(container.name), { 'X-Container-Meta-Status': container.meta.status! });
      if (!is2xx(post)) throw refusal(post, `POST ${container.name} Status: Complete`);
    }
    const check = await this.#requests.call('HEAD', swiftPath(container.name));
    if (decodeMetaValue(header(check.headers, 'x-container-meta-status') ?? '') !== 'Complete') {
      throw new ReplicationFailure('transient', `${container.name}: the target does not show Status Complete after the POST (HEAD ${check.status})`);
    }
    await this.#completed(account, container, tally);
  }

  async #completed(account: string, container: ContainerEntry, tally: Tally, how?: string): Promise<void> {
    const sealedAt = Math.round(Number(container.timestamp) * 1000);
    const state: CompleteState = {
      completedAt: this.#now(),
      objects: tally.objects,
      bytes: tally.bytes,
      level: tally.level ?? 'verified',
      ...(tally.heldBack ? { heldBack: tally.heldBack } : {}),
      ...(tally.rejected ? { rejected: tally.rejected } : {}),
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
   * A recording the target already holds as Complete: what was held back
   * from it and is now declared goes too (a later capability), and its
   * record is brought up to date.
   */
  async #lateDelivery(account: string, container: ContainerEntry, complete: CompleteState): Promise<void> {
    if (!complete.heldBack) return;
    const states = await this.#c.ledger.objectStates(this.#name, account, container.name);
    const entries = await this.#entries(account, container.name);
    const late = entries.filter((entry) => states.get(entry.name)?.state === 'held-back');
    const tally = emptyTally();
    // The track before its key: a central pairs a late key with the track it already holds.
    const keys = trackKeys(container, entries);
    for (const batch of [late.filter((e) => !keys.has(e.name)), late.filter((e) => keys.has(e.name))]) {
      await this.#objects(account, container, batch, { targetMayHave: true, sealedOnTarget: false }, tally, keys);
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
    await this.#putContainer(container.name, container.meta);
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
      ensured = this.#putContainer(container.name, container.meta);
      ensured.catch(() => this.#ensuredContainers.delete(key));
      this.#ensuredContainers.set(key, ensured);
    }
    return ensured;
  }

  async #putContainer(name: string, meta: MetaMap): Promise<void> {
    const res = await this.#requests.call('PUT', swiftPath(name), metaHeaders('Container', meta));
    if (!is2xx(res)) throw refusal(res, `PUT ${name}`);
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
          const level = await this.#object(account, container, entry, how, tally);
          tally.level = weaker(tally.level, level);
          tally.objects += 1;
          tally.bytes += entry.bytes;
        } catch (err) {
          if (!(err instanceof ReplicationFailure)) throw err;
          if (err.kind === 'stop') stop = err;
          else if (err.kind === 'refused') {
            refused.push(`${entry.name}: ${err.message}`);
            this.#report.failures.push({ container: container.name, object: entry.name, error: err.message });
            await this.#c.ledger.setObjectState(this.#name, account, container.name, entry.name, { ...this.#state('failed', entry), error: err.message.slice(0, 2000) });
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
    await this.#c.ledger.holdBack(this.#name, account, container, entry.name, capability, this.#state('held-back', entry));
    this.#report.objectsHeldBack += 1;
    this.#advance(entry.bytes);
  }

  /** One object: confirmed where the target already holds it, else sent and confirmed. Returns the level reached. */
  async #object(account: string, container: ContainerEntry, entry: ObjectEntry, how: ObjectHow, tally: Tally): Promise<ConfirmationLevel> {
    const { ledger } = this.#c;
    const { meta, withheld } = this.#outgoingMeta(container.name, entry);
    const state = await ledger.objectState(this.#name, account, container.name, entry.name);
    const sameVersion = state !== undefined && state.md5 === entry.md5 && state.timestamp === entry.timestamp && sameList(state.withheld, withheld);
    if (sameVersion && state.state === 'confirmed') {
      this.#advance(entry.bytes);
      if (state.rejectedInto) tally.rejected += 1;
      return state.level ?? 'verified';
    }
    if (how.allRejected) {
      tally.rejected += 1;
      return this.#reject(account, how.rejection!, entry, how.rejection!.reason!);
    }
    if (how.targetMayHave || sameVersion) {
      const level = await this.#confirm(container.name, entry, meta, sameVersion && state.state === 'sent');
      if (level) {
        await this.#record(account, container.name, entry, level, withheld);
        this.#report.objectsConfirmed += 1;
        this.#advance(entry.bytes);
        return level;
      }
    }
    if (how.sealedOnTarget) throw new ReplicationFailure('refused', `the target holds ${container.name} as Complete without this version of the object`);
    const put = await this.#send(account, container.name, entry, meta);
    if (!is2xx(put)) {
      const failure = refusal(put, `PUT ${container.name}/${entry.name}`);
      if (put.status === 400 && how.rejection) {
        tally.rejected += 1;
        return this.#reject(account, how.rejection, entry, failure.message);
      }
      throw failure;
    }
    await ledger.setObjectState(this.#name, account, container.name, entry.name, { ...this.#state('sent', entry), ...(withheld.length ? { withheld } : {}) });
    const level = await this.#confirm(container.name, entry, meta, true);
    if (!level) throw new ReplicationFailure('transient', `${container.name}/${entry.name}: after a ${put.status} the target's HEAD does not show the object as sent`);
    await this.#record(account, container.name, entry, level, withheld);
    this.#report.objectsSent += 1;
    this.#report.bytesSent += entry.bytes;
    return level;
  }

  /** What goes with an object: the BWS's metadata (less what the target cannot take) and, where kept, custody. */
  #outgoingMeta(container: string, entry: ObjectEntry): { meta: MetaMap; bws: MetaMap; withheld: string[] } {
    const bws = { ...entry.meta };
    const withheld: string[] = [];
    if (container === USERS && bws.userid !== undefined && !this.#capabilities.has('StoreUserIDKey')) {
      delete bws.userid;
      withheld.push('userid');
    }
    const custody = this.#c.target.custodyMetadata && this.#keepsCustody !== false;
    return { meta: custody ? { ...bws, ...custodyMeta(entry, this.#c.station, this.#c.stationKey) } : bws, bws, withheld };
  }

  async #record(account: string, container: string, entry: ObjectEntry, level: ConfirmationLevel, withheld: string[]): Promise<void> {
    const { ledger } = this.#c;
    await ledger.setObjectState(this.#name, account, container, entry.name, { ...this.#state('confirmed', entry), level, ...(withheld.length ? { withheld } : {}) });
    // A user sent without its UserID waits for StoreUserIDKey, like a held-back object.
    if (withheld.length > 0) await ledger.holdBack(this.#name, account, container, entry.name, 'StoreUserIDKey');
  }

  async #send(account: string, container: string, entry: ObjectEntry, meta: MetaMap, source?: string) {
    const headers = { ...metaHeaders('Object', meta), 'Content-Length': String(entry.bytes), 'Content-Type': entry.contentType, Etag: entry.md5 };
    const res = await this.#requests.call('PUT', swiftPath(container, entry.name), headers, async () => {
      // Read from where the object is on this station (the rejected copy goes elsewhere on the target).
      const { body } = await this.#c.store.readObject(account, source ?? container, entry.name, () => undefined);
      let sent = 0;
      const out = metered((n) => {
        sent += n;
        this.#advance(n);
      }, this.#c.bucket);
      out.once('close', () => {
        body.destroy(); // the file closes whichever way the request ended
        // A send that failed part-way is counted again when retried: take it back.
        if (sent < entry.bytes) this.#advance(-sent);
      });
      return body.pipe(out);
    });
    const etag = etagOf(res.headers);
    if (is2xx(res) && etag !== undefined && etag !== entry.md5)
      throw new ReplicationFailure('transient', `${container}/${entry.name}: the target answered Etag ${etag} for md5 ${entry.md5}`);
    return res;
  }

  /**
   * The level at which the target is known to hold exactly this object, or
   * undefined. `acknowledged` counts only when this station's PUT of this
   * version got a 2xx (`putAnswered`): a HEAD alone cannot show bytes.
   */
  async #confirm(container: string, entry: ObjectEntry, meta: MetaMap, putAnswered: boolean): Promise<ConfirmationLevel | undefined> {
    const head = await this.#requests.call('HEAD', swiftPath(container, entry.name));
    if (head.status === 404) return undefined;
    if (!is2xx(head)) throw refusal(head, `HEAD ${container}/${entry.name}`);
    this.#headShowsContent ??= headShowsContent(head.headers);
    const { [CUSTODY_SHA256]: custodySha, ...bwsAndStation } = meta;
    if (custodySha !== undefined && this.#keepsCustody === undefined && putAnswered) {
      this.#keepsCustody = keptCustody(head.headers, entry.meta);
      if (this.#keepsCustody === false) this.#c.log.warn({ target: this.#name }, 'the target does not keep X-Object-Meta-Edgecd-* custody metadata: it is no longer sent there');
    }
    const kept = this.#keepsCustody !== false && custodySha !== undefined;
    if (!showsMeta(head.headers, kept ? meta : withoutCustody(bwsAndStation))) return undefined;
    if (this.#headShowsContent) return sameContent(head.headers, entry.bytes, entry.md5) ? 'verified' : undefined;
    if (this.#readerWorks && (await this.#readBack(container, entry))) return 'read-back';
    return putAnswered ? 'acknowledged' : undefined;
  }

  /** GET with the reader's credentials, hashed as it streams; false when it differs. */
  async #readBack(container: string, entry: ObjectEntry): Promise<boolean> {
    let res;
    try {
      res = await this.#c.reader!.download(swiftPath(container, entry.name));
    } catch (err) {
      throw new ReplicationFailure('unreachable', `read back ${container}/${entry.name}: ${(err as Error).message}`);
    }
    if (res.status === 401 || res.status === 403) {
      res.body.resume();
      this.#readerWorks = false;
      this.#c.log.warn({ target: this.#name, status: res.status }, 'the target refuses reads with the reader credentials: objects are only acknowledged');
      return false;
    }
    if (res.status !== 200) {
      res.body.resume();
      throw refusal({ status: res.status, headers: res.headers, text: '', bytes: Buffer.alloc(0) }, `read back ${container}/${entry.name}`);
    }
    const { md5, sha256, bytes } = await hashStream(res.body);
    return bytes === entry.bytes && md5 === entry.md5 && sha256 === entry.sha256;
  }

  /** The recording's RejectedContent_ container on the target, made as a BWS makes it. */
  async #openRejection(account: string, rejection: Rejection, reason: string): Promise<string> {
    if (rejection.name) return rejection.name;
    const at = compactTime(this.#now());
    const name = `RejectedContent_${at}_${randomUUID()}`;
    const { status: _status, ...meta } = rejection.original.meta;
    await this.#putContainer(name, { ...meta, containername: name, ...rejectionMeta(rejection.original.name, at, reason) });
    rejection.name = name;
    this.#c.log.warn({ target: this.#name, container: rejection.original.name, into: name, reason }, 'the target refused content: sent as rejected content');
    await this.#c.audit?.append({
      actor: 'system',
      source: 'replication',
      action: 'replication.rejected',
      target: `AUTH_${account}/${rejection.original.name}`,
      result: 'refused',
      details: { to: this.#name, into: name, reason: reason.slice(0, 500) },
    });
    return name;
  }

  /** An object the target refused (400), sent into the recording's rejected content instead; both attempts are recorded. */
  async #reject(account: string, rejection: Rejection, entry: ObjectEntry, reason: string): Promise<ConfirmationLevel> {
    const into = await this.#openRejection(account, rejection, reason);
    const { meta } = this.#outgoingMeta(rejection.original.name, entry);
    const rejectedMeta = { ...meta, rejectedcontentoriginalcontainer: encodeURIComponent(rejection.original.name) };
    const put = await this.#send(account, into, entry, rejectedMeta, rejection.original.name);
    if (!is2xx(put)) throw refusal(put, `PUT ${into}/${entry.name} (rejected content)`);
    const level = await this.#confirm(into, entry, rejectedMeta, true);
    if (!level) throw new ReplicationFailure('transient', `${into}/${entry.name}: after a ${put.status} the target's HEAD does not show the rejected object`);
    await this.#c.ledger.setObjectState(this.#name, account, rejection.original.name, entry.name, {
      ...this.#state('confirmed', entry),
      level,
      rejectedInto: into,
      error: reason.slice(0, 2000),
    });
    this.#report.objectsRejected += 1;
    this.#report.objectsSent += 1;
    this.#report.bytesSent += entry.bytes;
    return level;
  }

  #state(state: ObjectState['state'], entry: ObjectEntry): ObjectState {
    return { state, md5: entry.md5, bytes: entry.bytes, timestamp: entry.timestamp, at: this.#now() };
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

const sameList = (a: string[] | undefined, b: string[]) => (a ?? []).join('\0') === b.join('\0');

const withoutCustody = (meta: MetaMap): MetaMap => Object.fromEntries(Object.entries(meta).filter(([k]) => !k.startsWith('edgecd-')));

const notFoundAs =
  <T>(value: T) =>
  (err: unknown): T => {
    if (err instanceof EdgeError && err.code === 'NotFound') return value;
    throw err;
  };

function metaHeaders(kind: 'Container' | 'Object', meta: MetaMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta)) out[`X-${kind}-Meta-${canonicalKey(key)}`] = value;
  return out;
}

/** YYYYMMDDTHHMMSSZ, as the spec writes times in names. */
const compactTime = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

/** The spec's metadata for rejected content; the reason fits Swift's 256-byte value limit. */
function rejectionMeta(original: string, at: string, reason: string): MetaMap {
  let text = reason.replace(/[\u0000-\u001f]+/g, ' ');
  while (Buffer.byteLength(text, 'utf8') > 256) text = text.slice(0, -1);
  return { rejectedcontentoriginalcontainer: encodeURIComponent(original), rejectedcontenttime: at, rejectedcontentreason: encodeURIComponent(text) };
}

export interface Backlog {
  jobs: number;
  recordings: number;
  rejected: number;
  /** Containers with names the station does not recognise, sent as they are. */
  unrecognised: number;
  objects: number;
  bytes: number;
  /** Jobs the target refused, waiting for an operator. */
  failed: number;
  /** Jobs waiting out a backoff. */
  waiting: number;
  oldestEnqueuedAt?: number;
  lastError?: string;
}

/** What the target's queue holds (the jobs a pass with these options would run, and the rest). */
export async function queueBacklog(
  store: ObjectStore,
  ledger: ReplicationLedger,
  target: string,
  options: { now: number; ignoreBackoff: boolean; retryFailed: boolean },
): Promise<Backlog> {
  const backlog: Backlog = { jobs: 0, recordings: 0, rejected: 0, unrecognised: 0, objects: 0, bytes: 0, failed: 0, waiting: 0 };
  for await (const g of ledger.jobs(target, { now: options.now, ignoreBackoff: true, retryFailed: true })) {
    if (g.failed && !options.retryFailed) {
      backlog.failed += 1;
      backlog.lastError ??= g.lastError;
      continue;
    }
    if (!options.ignoreBackoff && g.notBefore > options.now) {
      backlog.waiting += 1;
      backlog.lastError ??= g.lastError;
      continue;
    }
    backlog.jobs += 1;
    backlog.oldestEnqueuedAt = Math.min(backlog.oldestEnqueuedAt ?? Infinity, g.enqueuedAt);
    if (g.kind === 'object') {
      backlog.objects += 1;
      backlog.bytes += (await store.object(g.account, g.container, g.object!).catch(() => undefined))?.bytes ?? 0;
    } else {
      backlog[({ recording: 'recordings', rejected: 'rejected', opaque: 'unrecognised' } as const)[g.kind]] += 1;
      backlog.bytes += (await store.container(g.account, g.container).catch(() => undefined))?.bytesUsed ?? 0;
    }
  }
  return backlog;
}
