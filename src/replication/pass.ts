/**
 * One replication pass to one target: works through the target's queue and
 * leaves every job either finished (the target confirmed it) or deferred
 * with the reason.
 *
 * A recording travels as: container PUT with its metadata but Status
 * Transferring; each object PUT with its metadata, an Etag (the target
 * checks the md5) and the station's custody metadata (SHA-256, station,
 * time received); a HEAD of each object confirming size, Etag and metadata;
 * and only then a POST of Status Complete, confirmed by a HEAD. An object is
 * "verified" only on the target's own answer to that HEAD.
 *
 * Before sending an object whose state is not verified, the target is asked
 * whether it already holds it: a pass cut off after a PUT but before its
 * state was written does not send the bytes again.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { AuditSink } from '../audit/trail.ts';
import { EdgeError } from '../errors.ts';
import { parseRecordingName } from '../bws/names.ts';
import { DEVICES, USERS } from '../bws/content-destination.ts';
import type { ContainerEntry, ObjectEntry, ObjectStore } from '../store/object-store.ts';
import { canonicalKey, decodeMetaValue, type MetaMap } from '../swift/metadata.ts';
import { CUSTODY_SHA256, custodyMeta } from './custody.ts';
import { isSealed, type JobGroup, type ObjectState, type ReplicationLedger } from './ledger.ts';
import { AuthError, CertificateError, etagOf, header, retryAfterMs, swiftPath, TransportError, type SwiftClient, type SwiftResponse } from '../swift/client.ts';
import { metered, type TokenBucket } from './throttle.ts';

export interface PassContext {
  store: ObjectStore;
  ledger: ReplicationLedger;
  target: string;
  client: SwiftClient;
  concurrency: number;
  bucket: TokenBucket | undefined;
  station: string;
  /** Where each confirmed recording is recorded for its chain of custody. */
  audit?: AuditSink;
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

export type PassOutcome = 'done' | 'deferred' | 'target-full' | 'auth-refused' | 'certificate-refused' | 'unreachable' | 'stopped';

export interface PassReport {
  target: string;
  outcome: PassOutcome;
  /** Why the pass stopped early, or why jobs were deferred. */
  reason?: string;
  recordingsCompleted: number;
  objectsSent: number;
  /** Objects the target already held (confirmed by HEAD, not sent). */
  objectsConfirmed: number;
  bytesSent: number;
  jobsDeferred: number;
  /** Objects the target refused for their content: they wait for an operator. */
  failures: { container: string; object?: string; error: string }[];
  startedAt: number;
  finishedAt: number;
}

/** Stops the whole pass: the target cannot take anything now. */
class TargetStop extends Error {
  readonly outcome: PassOutcome;
  readonly retryAt: number | undefined;
  constructor(outcome: PassOutcome, message: string, retryAt?: number) {
    super(message);
    this.outcome = outcome;
    this.retryAt = retryAt;
  }
}

/** The target refused this object for what it is (400, 422…): retrying will not help. */
class Refused extends Error {}

/** Failed this time (network, 5xx, a wrong answer): the job backs off and tries again. */
class Transient extends Error {}

const REQUEST_ATTEMPTS = 4;
/** Longest Retry-After waited out inside a pass; longer ones end the job's turn. */
const MAX_INLINE_WAIT_MS = 120_000;
/** Consecutive jobs failing on transport before the target counts as unreachable. */
const UNREACHABLE_AFTER = 3;
const JOB_BACKOFF_BASE_MS = 60_000;
const JOB_BACKOFF_MAX_MS = 6 * 3_600_000;

/** Exponential backoff with full jitter over [d/2, d·3/2]. */
export function backoffMs(attempt: number, base: number, max: number): number {
  const d = Math.min(max, base * 2 ** attempt);
  return Math.round(d / 2 + Math.random() * d);
}

export class ReplicationPass {
  readonly #c: PassContext;
  readonly #now: () => number;
  readonly #ensuredContainers = new Set<string>();
  #report!: PassReport;
  #progress!: PassProgress;
  #onProgress: ((p: PassProgress) => void) | undefined;
  #stopping = false;
  readonly #sleepers = new Set<() => void>();

  constructor(context: PassContext) {
    this.#c = context;
    this.#now = context.now ?? Date.now;
  }

  /**
   * Ends the pass early (the daemon is stopping): no new request starts, and
   * the job under way stays queued as it was, neither finished nor deferred.
   * The caller closes the client to cut transfers in flight.
   */
  stop(): void {
    this.#stopping = true;
    for (const wake of [...this.#sleepers]) wake();
  }

  /** A wait that stop() cuts short. */
  #sleep(ms: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  async run(options: PassOptions): Promise<PassReport> {
    const { ledger, target } = this.#c;
    const now = this.#now();
    this.#report = { target, outcome: 'done', recordingsCompleted: 0, objectsSent: 0, objectsConfirmed: 0, bytesSent: 0, jobsDeferred: 0, failures: [], startedAt: now, finishedAt: now };
    const backlog = await queueBacklog(this.#c.store, ledger, target, { now, ignoreBackoff: options.ignoreBackoff, retryFailed: options.retryFailed });
    this.#progress = { target, jobsDone: 0, jobsTotal: backlog.jobs, bytesDone: 0, bytesTotal: backlog.bytes };
    this.#onProgress = options.onProgress;
    this.#onProgress?.({ ...this.#progress });
    let unreachableStreak = 0;
    try {
      for await (const group of ledger.jobs(target, { now, ignoreBackoff: options.ignoreBackoff, retryFailed: options.retryFailed })) {
        if (this.#stopping) throw new TargetStop('stopped', 'edgecd is stopping');
        this.#progress.current = group.object ? `${group.container}/${group.object}` : group.container;
        try {
          await this.#runJob(group);
          await ledger.finish(group);
          unreachableStreak = 0;
        } catch (err) {
          if (err instanceof TargetStop) throw err;
          if (this.#stopping) throw new TargetStop('stopped', 'edgecd is stopping');
          const refused = err instanceof JobRefused;
          const message = (err as Error).message;
          const retryAt = this.#now() + backoffMs(group.attempts, JOB_BACKOFF_BASE_MS, JOB_BACKOFF_MAX_MS);
          await ledger.defer(group, message, refused, refused ? 0 : retryAt);
          this.#report.jobsDeferred += 1;
          this.#report.reason = message;
          this.#c.log.warn({ target, container: group.container, object: group.object, refused, attempts: group.attempts + 1, err: message }, refused ? 'replication refused by the target: waits for an operator' : 'replication job deferred');
          const unreachable = err instanceof UnreachableJob || err instanceof TransportError;
          if (unreachable && ++unreachableStreak >= UNREACHABLE_AFTER) throw new TargetStop('unreachable', `target unreachable: ${message}`);
          if (!unreachable) unreachableStreak = 0;
        }
        this.#progress.jobsDone += 1;
        this.#onProgress?.({ ...this.#progress });
      }
      if (this.#report.jobsDeferred > 0) this.#report.outcome = 'deferred';
    } catch (err) {
      if (!(err instanceof TargetStop)) throw err;
      this.#report.outcome = err.outcome;
      this.#report.reason = err.message;
    }
    this.#report.finishedAt = this.#now();
    return this.#report;
  }

  // ---- jobs -----------------------------------------------------------------

  async #runJob(group: JobGroup): Promise<void> {
    const { store } = this.#c;
    const container = await store.container(group.account, group.container).catch(notFoundAs(undefined));
    if (!container) return; // evicted or never there: nothing left to send
    if (group.kind === 'object') {
      const entry = await store.object(group.account, group.container, group.object!).catch(notFoundAs(undefined));
      if (!entry) return;
      await this.#ensureContainer(group.account, container);
      await this.#objects(group.account, container, [entry], { targetMayHave: true, sealedOnTarget: false });
      return;
    }
    if (group.kind === 'recording') await this.#recording(group.account, container);
    else await this.#rejected(group.account, container);
  }

  async #recording(account: string, container: ContainerEntry): Promise<void> {
    const { ledger, target } = this.#c;
    if (!isSealed(container.meta)) return; // not sealed: not for replication (a stale job)
    if (await ledger.isComplete(target, account, container.name)) return;
    await this.#dependencies(account, container.name);
    const head = await this.#call('HEAD', swiftPath(container.name));
    const onTarget = head.status >= 200 && head.status < 300;
    if (!onTarget && head.status !== 404) throw this.#unexpected(head, `HEAD ${container.name}`);
    const sealedOnTarget = onTarget && decodeMetaValue(header(head.headers, 'x-container-meta-status') ?? '') === 'Complete';
    if (!sealedOnTarget) {
      // Sealed last: the target sees Complete only when everything is there.
      await this.#putContainer(container, { ...container.meta, status: 'Transferring' });
    }
    const { objects, bytes } = await this.#allObjects(account, container, { targetMayHave: onTarget, sealedOnTarget });
    if (!sealedOnTarget) {
      const post = await this.#call('POST', swiftPath(container.name), { 'X-Container-Meta-Status': container.meta.status! });
      if (post.status < 200 || post.status > 299) throw this.#unexpected(post, `POST ${container.name} Status: Complete`);
    }
    const check = await this.#call('HEAD', swiftPath(container.name));
    if (decodeMetaValue(header(check.headers, 'x-container-meta-status') ?? '') !== 'Complete') {
      throw new Transient(`${container.name}: the target does not show Status Complete after the POST (HEAD ${check.status})`);
    }
    const sealedAt = Math.round(Number(container.timestamp) * 1000);
    await ledger.markComplete(target, account, container.name, { completedAt: this.#now(), objects, bytes }, sealedAt);
    await this.#c.audit?.append({ actor: 'system', source: 'replication', action: 'replicated', target: `AUTH_${account}/${container.name}`, result: 'ok', details: { to: target, objects, bytes } });
    this.#report.recordingsCompleted += 1;
    this.#c.log.info({ target, container: container.name, objects, bytes }, 'recording replicated and confirmed Complete');
  }

  async #rejected(account: string, container: ContainerEntry): Promise<void> {
    const head = await this.#call('HEAD', swiftPath(container.name));
    if (head.status !== 404 && (head.status < 200 || head.status > 299)) throw this.#unexpected(head, `HEAD ${container.name}`);
    await this.#putContainer(container, container.meta);
    await this.#allObjects(account, container, { targetMayHave: head.status !== 404, sealedOnTarget: false });
  }

  /** A strict central refuses a recording of a user or camera it does not know: those go first. */
  async #dependencies(account: string, recording: string): Promise<void> {
    const name = parseRecordingName(recording);
    if (!name) return;
    for (const [registry, object] of [[USERS, name.userId], [DEVICES, name.deviceSerial]] as const) {
      const container = await this.#c.store.container(account, registry).catch(notFoundAs(undefined));
      const entry = container && (await this.#c.store.object(account, registry, object).catch(notFoundAs(undefined)));
      if (!container || !entry) continue;
      await this.#ensureContainer(account, container);
      await this.#objects(account, container, [entry], { targetMayHave: true, sealedOnTarget: false });
    }
  }

  async #ensureContainer(account: string, container: ContainerEntry): Promise<void> {
    const key = `${account}\0${container.name}`;
    if (this.#ensuredContainers.has(key)) return;
    await this.#putContainer(container, container.meta);
    this.#ensuredContainers.add(key);
  }

  async #putContainer(container: ContainerEntry, meta: MetaMap): Promise<void> {
    const res = await this.#call('PUT', swiftPath(container.name), metaHeaders('Container', meta));
    if (res.status < 200 || res.status > 299) throw this.#unexpected(res, `PUT ${container.name}`);
  }

  /** Every object of the container, a page at a time; all must end verified. */
  async #allObjects(account: string, container: ContainerEntry, how: ObjectHow): Promise<{ objects: number; bytes: number }> {
    let marker = '';
    let objects = 0;
    let bytes = 0;
    for (;;) {
      const page = (await this.#c.store.listObjects(account, container.name, { prefix: '', marker, endMarker: '', delimiter: '', limit: 1000 })).filter((o): o is ObjectEntry => !('subdir' in o));
      if (page.length === 0) break;
      await this.#objects(account, container, page, how);
      marker = page.at(-1)!.name;
      objects += page.length;
      for (const o of page) bytes += o.bytes;
    }
    return { objects, bytes };
  }

  /**
   * Replicates objects `concurrency` at a time. Every object is tried even
   * when another fails; the job then fails with the first transient reason,
   * or as refused when the target refused some and nothing else went wrong.
   */
  async #objects(account: string, container: ContainerEntry, entries: ObjectEntry[], how: ObjectHow): Promise<void> {
    const transient: Error[] = [];
    const refused: string[] = [];
    let stop: TargetStop | undefined;
    let next = 0;
    const worker = async () => {
      while (next < entries.length && !stop) {
        const entry = entries[next++]!;
        try {
          await this.#object(account, container.name, entry, how);
        } catch (err) {
          if (err instanceof TargetStop) stop = err;
          else if (err instanceof Refused) {
            refused.push(`${entry.name}: ${err.message}`);
            this.#report.failures.push({ container: container.name, object: entry.name, error: err.message });
            await this.#c.ledger.setObjectState(this.#c.target, account, container.name, entry.name, { ...this.#state('failed', entry), error: err.message.slice(0, 2000) });
          } else {
            transient.push(err as Error);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#c.concurrency, entries.length) }, worker));
    if (stop) throw stop;
    if (transient.length > 0) {
      const first = transient[0]!;
      throw first instanceof TransportError || first instanceof UnreachableJob ? new UnreachableJob(first.message) : first;
    }
    if (refused.length > 0) throw new JobRefused(`${container.name}: the target refused ${refused.length} object(s): ${refused.join('; ')}`);
  }

  async #object(account: string, container: string, entry: ObjectEntry, how: ObjectHow): Promise<void> {
    const { ledger, target } = this.#c;
    const state = await ledger.objectState(target, account, container, entry.name);
    const sameVersion = state !== undefined && state.md5 === entry.md5 && state.timestamp === entry.timestamp;
    if (sameVersion && state.state === 'verified') {
      this.#advance(entry.bytes);
      return;
    }
    if (how.targetMayHave || sameVersion) {
      if (await this.#confirm(account, container, entry)) {
        this.#report.objectsConfirmed += 1;
        this.#advance(entry.bytes);
        return;
      }
    }
    if (how.sealedOnTarget) throw new Refused(`the target holds ${container} as Complete without this version of the object`);
    await this.#send(account, container, entry);
    await ledger.setObjectState(target, account, container, entry.name, this.#state('sent', entry));
    if (!(await this.#confirm(account, container, entry))) {
      throw new Transient(`${container}/${entry.name}: after a 201 the target's HEAD does not show the object as sent`);
    }
    this.#report.objectsSent += 1;
    this.#report.bytesSent += entry.bytes;
  }

  /** True (and recorded as verified) when the target holds exactly this object. */
  async #confirm(account: string, container: string, entry: ObjectEntry): Promise<boolean> {
    const head = await this.#call('HEAD', swiftPath(container, entry.name));
    if (head.status === 404) return false;
    if (head.status < 200 || head.status > 299) throw this.#unexpected(head, `HEAD ${container}/${entry.name}`);
    if (!sameObject(entry, head)) return false;
    await this.#c.ledger.setObjectState(this.#c.target, account, container, entry.name, this.#state('verified', entry));
    return true;
  }

  async #send(account: string, container: string, entry: ObjectEntry): Promise<void> {
    const headers = {
      ...metaHeaders('Object', { ...entry.meta, ...custodyMeta(entry, this.#c.station) }),
      'Content-Length': String(entry.bytes),
      'Content-Type': entry.contentType,
      'Etag': entry.md5,
    };
    const res = await this.#call('PUT', swiftPath(container, entry.name), headers, async () => {
      const { body } = await this.#c.store.readObject(account, container, entry.name, () => undefined);
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
    if (res.status === 201 || (res.status >= 200 && res.status < 300)) {
      const etag = etagOf(res.headers);
      if (etag !== undefined && etag !== entry.md5) throw new Transient(`${container}/${entry.name}: the target answered Etag ${etag} for md5 ${entry.md5}`);
      return;
    }
    if (res.status === 404 || res.status === 409 || res.status === 408) throw new Transient(`PUT ${container}/${entry.name}: ${res.status} ${res.text.trim().slice(0, 300)}`);
    if (res.status >= 400 && res.status < 500) throw new Refused(`${res.status} ${res.text.trim().slice(0, 500)}`);
    throw this.#unexpected(res, `PUT ${container}/${entry.name}`);
  }

  #state(state: ObjectState['state'], entry: ObjectEntry): ObjectState {
    return { state, md5: entry.md5, bytes: entry.bytes, timestamp: entry.timestamp, at: this.#now() };
  }

  #advance(bytes: number): void {
    this.#progress.bytesDone += bytes;
  }

  // ---- requests -------------------------------------------------------------

  /**
   * One request with the target's error rules: transport errors and 5xx are
   * retried with backoff; 503/429/498 wait out Retry-After; 401 authenticates
   * once more; 507 and refused credentials stop the pass.
   */
  async #call(method: string, path: string, headers: Record<string, string> = {}, body?: () => Promise<Readable>): Promise<SwiftResponse> {
    const { client, target } = this.#c;
    let reauthenticated = false;
    for (let attempt = 0; ; attempt++) {
      if (this.#stopping) throw new TargetStop('stopped', 'edgecd is stopping');
      const last = attempt + 1 >= REQUEST_ATTEMPTS;
      let res: SwiftResponse;
      try {
        res = await client.request(method, path, headers, body);
      } catch (err) {
        if (err instanceof AuthError) throw this.#authStop(err.response);
        if (err instanceof CertificateError) throw new TargetStop('certificate-refused', `${target}'s certificate is not trusted: ${err.message}`);
        if (!(err instanceof TransportError) || last) throw err;
        await this.#sleep(backoffMs(attempt, 1000, 10_000));
        continue;
      }
      if (res.status === 401) {
        if (reauthenticated) throw this.#authStop(res);
        reauthenticated = true;
        client.forgetToken();
        attempt -= 1;
        continue;
      }
      if (res.status === 507) throw new TargetStop('target-full', `${target} answered 507 (insufficient storage) to ${method} ${path}`);
      if (res.status === 503 || res.status === 429 || res.status === 498) {
        const wait = retryAfterMs(res.headers) ?? backoffMs(attempt, 2000, 30_000);
        // Told to come back much later: the whole target is busy, not this object.
        if (wait > MAX_INLINE_WAIT_MS) throw new TargetStop('unreachable', `${target} asks to wait ${Math.round(wait / 1000)} s (${res.status} to ${method} ${path})`);
        if (last) throw new UnreachableJob(`${method} ${path}: ${res.status}, Retry-After ${header(res.headers, 'retry-after') ?? '-'}`);
        this.#c.log.info({ target, status: res.status, waitMs: wait }, 'target asks to slow down');
        await this.#sleep(wait);
        continue;
      }
      if (res.status >= 500 && !last && res.status !== 501) {
        await this.#sleep(backoffMs(attempt, 1000, 10_000));
        continue;
      }
      return res;
    }
  }

  #authStop(res: SwiftResponse): TargetStop {
    return new TargetStop('auth-refused', `${this.#c.target} refused the credentials (${res.status}): check replication.targets[].user/key`);
  }

  #unexpected(res: SwiftResponse, what: string): Error {
    const message = `${what}: ${res.status} ${res.text.trim().slice(0, 300)}`;
    return res.status >= 500 ? new UnreachableJob(message) : new JobRefused(message);
  }
}

interface ObjectHow {
  /** The container existed on the target: ask before sending. */
  targetMayHave: boolean;
  /** The target holds the recording as Complete: nothing may be added. */
  sealedOnTarget: boolean;
}

/** The job cannot finish because of the target's state or the link; it backs off. */
class UnreachableJob extends Transient {}
/** The job cannot finish because the target refuses its content. */
class JobRefused extends Error {}

const notFoundAs = <T>(value: T) => (err: unknown): T => {
  if (err instanceof EdgeError && err.code === 'NotFound') return value;
  throw err;
};

function metaHeaders(kind: 'Container' | 'Object', meta: MetaMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta)) out[`X-${kind}-Meta-${canonicalKey(key)}`] = value;
  return out;
}

/** The target's HEAD shows this very object: size, md5, our metadata and the custody SHA-256. */
function sameObject(entry: ObjectEntry, head: SwiftResponse): boolean {
  if (Number(header(head.headers, 'content-length')) !== entry.bytes) return false;
  if (etagOf(head.headers) !== entry.md5) return false;
  if (header(head.headers, `x-object-meta-${CUSTODY_SHA256}`) !== entry.sha256) return false;
  for (const [key, value] of Object.entries(entry.meta)) if (header(head.headers, `x-object-meta-${key}`) !== value) return false;
  return true;
}

export interface Backlog {
  jobs: number;
  recordings: number;
  rejected: number;
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
export async function queueBacklog(store: ObjectStore, ledger: ReplicationLedger, target: string, options: { now: number; ignoreBackoff: boolean; retryFailed: boolean }): Promise<Backlog> {
  const backlog: Backlog = { jobs: 0, recordings: 0, rejected: 0, objects: 0, bytes: 0, failed: 0, waiting: 0 };
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
      backlog[g.kind === 'recording' ? 'recordings' : 'rejected'] += 1;
      backlog.bytes += (await store.container(g.account, g.container).catch(() => undefined))?.bytesUsed ?? 0;
    }
  }
  return backlog;
}
