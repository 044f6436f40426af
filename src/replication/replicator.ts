/**
 * Replication as the daemon (or `edgecd replicate`) runs it: one schedule
 * per enabled target (node-cron), one pass at a time per target, alarms when
 * a target is full or refuses the credentials, and a status for operators.
 */
import { sendTombstones } from './remote-tombstones.ts';
import { DeleteAtJudge } from '../lifecycle/delete-at.ts';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { AnchorBook } from '../audit/anchors.ts';
import type { AuditSink } from '../audit/trail.ts';
import { sendAnchors } from './remote-anchors.ts';
import { RecordingCatalogue } from '../bws/catalogue.ts';
import { publishedCategories, setCentralCategories } from '../bws/categories.ts';
import type { ConfirmationLevel, Config, ReplicationTarget } from '../config/config.ts';
import { KeyedMutex } from '../lib/keyed-mutex.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { mayEvict, type EvictionTarget } from './eviction.ts';
import { ReplicationLedger, type TargetState } from './ledger.ts';
import { queueBacklog, type Backlog } from './backlog.ts';
import { backoffMs, ReplicationPass, type PassProgress, type PassReport } from './pass.ts';
import { readCaFile, SwiftClient, type SwiftEndpoint } from '../swift/client.ts';
import type { GatingCapability } from './target-plan.ts';
import { TokenBucket } from './throttle.ts';

/** Sublevels of the index that hold replication state (carried over by reindex). */
export const LEDGER_SUBLEVELS = ['rq', 'ro', 'rc', 'rt', 'ev', 'rh'] as const;

/** A setDeleteAt target's copies are looked over at least this often. */
const SWEEP_EVERY_MS = 3_600_000;
const ALARM_BACKOFF_BASE_MS = 5 * 60_000;
const ALARM_BACKOFF_MAX_MS = 6 * 3_600_000;
/** Passes in a row that find a target unreachable before it raises an alarm. */
const UNREACHABLE_ALARM_PASSES = 3;

export interface TargetStatus {
  name: string;
  enabled: boolean;
  schedule: string;
  authUrl: string;
  running: boolean;
  /** False until the daemon (or a pass) has registered it and queued its backlog. */
  registered: boolean;
  nextRun?: string;
  alarm?: TargetState['alarm'] & { message: string };
  lastPass?: TargetState['lastPass'];
  lastSuccess?: number;
  backlog: Backlog;
  /** Capabilities the target has declared (FullStoreAndReadSupport declares them all). */
  capabilities: string[];
  /** Why its Capabilities.json counted as missing at the last pass. */
  capabilitiesProblem?: string;
  /** The strongest confirmation the target allowed at the last pass, and what eviction needs from it. */
  confirmation: { level?: ConfirmationLevel; needed: ConfirmationLevel; warning?: string };
  /** What the target cannot take yet, by the capability it lacks. */
  heldBack: Partial<Record<GatingCapability, number>>;
}

export interface ReplicationStatus {
  targets: TargetStatus[];
  /** Containers with unrecognised names: they replicate as they are (opaque). */
  unrecognisedName: { count: number; names: string[] };
  /** Recordings every enabled target holds, confirmed as each must be (evictable once old enough, when eviction is on). */
  heldByAllTargets: number;
}

export interface RunOptions {
  target?: string;
  retryFailed?: boolean;
  onProgress?: (progress: PassProgress) => void;
}

export interface ReplicatorOptions {
  audit?: AuditSink;
  /** The station's audit anchors: signed and sent to each target after its pass. */
  anchors?: AnchorBook;
  /** The data directory: the central's categories are republished there. */
  dir?: string;
  /** DIR/tombstones.jsonl: each target is sent the tombstones it has not taken after its pass. */
  tombstoneFile?: string;
  /** Resolves once a recording's clips have their signed-video verdicts (the daemon's video check), so the verdicts travel with them. */
  videoChecked?: (account: string, container: string) => Promise<unknown>;
}

export class Replicator {
  readonly ledger: ReplicationLedger;
  readonly #store: ObjectStore;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #audit: AuditSink | undefined;
  readonly #anchors: AnchorBook | undefined;
  readonly #dir: string | undefined;
  readonly #tombstoneFile: string | undefined;
  readonly #videoChecked: ReplicatorOptions['videoChecked'];
  readonly #passes = new KeyedMutex();
  readonly #running = new Map<string, ReplicationPass>();
  /** When each target's copies were last looked over for X-Delete-At, and when holds last changed. */
  readonly #sweptAt = new Map<string, number>();
  #deleteAtChangedAt = 0;
  readonly #tasks = new Map<string, ScheduledTask>();
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #clients = new Map<string, SwiftClient>();
  #closed = false;

  private constructor(store: ObjectStore, config: Config, log: Logger, options: ReplicatorOptions) {
    this.#store = store;
    this.#config = config;
    this.#audit = options.audit;
    this.#anchors = options.anchors;
    this.#dir = options.dir;
    this.#tombstoneFile = options.tombstoneFile;
    this.#videoChecked = options.videoChecked;
    this.#log = log.child({ component: 'replication' });
    this.ledger = ReplicationLedger.of(store.index);
  }

  /**
   * Opens replication over an open store. `register` ('daemon' also drops
   * targets no longer configured; 'none' only looks) gives a target seen for
   * the first time, or pointed at another store, the backlog so far.
   */
  static async open(store: ObjectStore, config: Config, log: Logger, register: 'daemon' | 'pass' | 'none', options: ReplicatorOptions = {}): Promise<Replicator> {
    const replicator = new Replicator(store, config, log, options);
    if (register !== 'none') {
      const fresh = await replicator.ledger.registerTargets(store, replicator.#targets(), register === 'daemon');
      if (fresh.length > 0) replicator.#log.info({ targets: fresh }, 'new replication targets: queued everything they should hold');
    }
    if (register === 'daemon') {
      for (const t of replicator.#targets()) {
        const warning = confirmationWarning(t, (await replicator.ledger.targetState(t.name))?.profile?.level, config.retention.minConfirmation);
        if (warning) replicator.#log.warn({ target: t.name }, warning);
      }
    }
    return replicator;
  }

  #targets(): ReplicationTarget[] {
    return this.#config.replication.targets;
  }

  /** Starts each enabled target's schedule. */
  schedule(): void {
    for (const target of this.#targets()) {
      if (!target.enabled) continue;
      const task = cron.schedule(target.schedule, () => this.#scheduledPass(target), { name: `replicate-${target.name}`, noOverlap: true });
      this.#tasks.set(target.name, task);
    }
  }

  async #scheduledPass(target: ReplicationTarget): Promise<void> {
    if (this.#running.has(target.name) || this.#closed) return; // a --now pass is under way, or stopping
    const state = await this.ledger.targetState(target.name);
    if (state?.alarm && state.alarm.until > Date.now()) return; // paused: waits out its backoff
    try {
      await this.#pass(target, { retryFailed: false, ignoreBackoff: false });
    } catch (err) {
      this.#log.error({ err, target: target.name }, 'replication pass failed');
    }
  }

  /**
   * Holds changed: every setDeleteAt target's copies are looked over at its
   * next pass, which starts now where none is under way.
   */
  holdsChanged(): void {
    this.#deleteAtChangedAt = Date.now();
    for (const target of this.#targets()) if (target.enabled && target.setDeleteAt) void this.#scheduledPass(target);
  }

  /**
   * Whether a pass to this target looks over its copies' X-Delete-At: the
   * first after a start, after holds changed, and hourly (a bookmark's new
   * category, time making a recording late).
   */
  #sweepDue(target: string): boolean {
    const last = this.#sweptAt.get(target);
    const now = Date.now();
    if (last !== undefined && last > this.#deleteAtChangedAt && now - last < SWEEP_EVERY_MS) return false;
    this.#sweptAt.set(target, now);
    return true;
  }

  /** One pass now for each enabled target (or the one named), waiting for it; backoffs are ignored. */
  async runNow(options: RunOptions = {}): Promise<PassReport[]> {
    const targets = this.#targets().filter((t) => (options.target === undefined ? t.enabled : t.name === options.target));
    if (options.target !== undefined && targets.length === 0) throw new Error(`no replication target named ${options.target}`);
    const reports: PassReport[] = [];
    for (const target of targets) reports.push(await this.#pass(target, { retryFailed: options.retryFailed ?? false, ignoreBackoff: true, onProgress: options.onProgress }));
    return reports;
  }

  #pass(target: ReplicationTarget, options: { retryFailed: boolean; ignoreBackoff: boolean; onProgress?: (p: PassProgress) => void }): Promise<PassReport> {
    return this.#passes.run(target.name, async () => {
      if (this.#closed) throw new Error('replication is shutting down');
      try {
        const client = await this.#client(target);
        if (this.#closed) throw new Error('replication is shutting down');
        const reader = await this.#reader(target);
        const pass = new ReplicationPass({
          store: this.#store,
          ledger: this.ledger,
          target,
          client,
          ...(reader ? { reader } : {}),
          bucket: this.#bucket(target),
          station: this.#config.siteName,
          ...(this.#anchors ? { stationKey: this.#anchors.key.publicKey } : {}),
          ...(this.#audit ? { audit: this.#audit } : {}),
          ...(this.#videoChecked ? { videoChecked: this.#videoChecked } : {}),
          ...(target.setDeleteAt ? { deleteAt: () => DeleteAtJudge.open(this.#store, this.#config.retention.keep, Date.now()), sweepDeleteAt: this.#sweepDue(target.name) } : {}),
          ...(this.#dir ? { onCategories: (body: Buffer | null) => this.#categories(target.name, body) } : {}),
          log: this.#log,
        });
        this.#running.set(target.name, pass);
        this.#log.info({ target: target.name }, 'replication pass starting');
        const report = await pass.run(options);
        await this.#afterPass(target.name, report);
        const reached = report.outcome !== 'auth-refused' && report.outcome !== 'certificate-refused';
        if (this.#anchors && reached) report.anchors = await this.#sendAnchors(target.name, client);
        if (this.#tombstoneFile && reached) report.tombstones = await this.#sendTombstones(target.name, client, this.#tombstoneFile);
        const level = report.outcome === 'done' ? 'info' : 'warn';
        this.#log[level](
          {
            target: target.name,
            outcome: report.outcome,
            reason: report.reason,
            recordings: report.recordingsCompleted,
            sent: report.objectsSent,
            confirmed: report.objectsConfirmed,
            bytes: report.bytesSent,
            deferred: report.jobsDeferred,
            ms: report.finishedAt - report.startedAt,
          },
          'replication pass finished',
        );
        return report;
      } finally {
        this.#running.delete(target.name);
      }
    });
  }

  /** Raises or clears the target's alarm. */
  async #afterPass(name: string, report: PassReport): Promise<void> {
    const state = await this.ledger.targetState(name);
    if (!state) return; // dropped meanwhile (it cannot be: registration happens before any pass)
    state.lastPass = { startedAt: report.startedAt, finishedAt: report.finishedAt, outcome: report.outcome };
    if (report.outcome === 'done') state.lastSuccess = report.finishedAt;
    if (report.licence.length > 0 && (!state.alarm || state.alarm.reason === 'licence')) {
      // Not a pause: other recordings go on; these wait for the central's licences.
      state.alarm = { reason: 'licence', since: state.alarm?.since ?? report.finishedAt, until: report.finishedAt, retries: 0, subjects: report.licence.slice(0, 20) };
      this.#log.error({ target: name, subjects: report.licence }, 'replication target has no licence for some users or cameras (402)');
    } else if (report.outcome === 'target-full' || report.outcome === 'auth-refused' || report.outcome === 'certificate-refused') {
      const retries = state.alarm?.retries ?? 0;
      state.alarm = {
        reason: report.outcome,
        since: state.alarm?.since ?? report.finishedAt,
        until: report.finishedAt + backoffMs(retries, ALARM_BACKOFF_BASE_MS, ALARM_BACKOFF_MAX_MS),
        retries: retries + 1,
      };
      this.#log.error({ target: name, alarm: report.outcome, reason: report.reason, retryAt: new Date(state.alarm.until).toISOString() }, 'replication target paused');
    } else if (report.outcome === 'unreachable') {
      // Not a pause (passes go on as scheduled), but someone should look:
      // a Swift proxy reports a full cluster as 503, not 507.
      state.unreachablePasses = (state.unreachablePasses ?? 0) + 1;
      if (state.unreachablePasses >= UNREACHABLE_ALARM_PASSES && !state.alarm) {
        state.alarm = { reason: 'unreachable', since: report.finishedAt, until: report.finishedAt, retries: 0 };
        this.#log.error({ target: name, passes: state.unreachablePasses, reason: report.reason }, 'replication target unreachable pass after pass');
      }
    } else if (report.outcome === 'done' || report.outcome === 'deferred') {
      delete state.unreachablePasses;
      if (state.alarm?.reason === 'licence' && (await this.#waitsForLicence(name))) {
        // Those jobs wait out a backoff: the licences are still missing as far as anyone knows.
      } else if (state.alarm) {
        this.#log.info({ target: name, alarm: state.alarm.reason }, 'replication target alarm cleared');
        delete state.alarm;
      }
    }
    await this.ledger.setTargetState(name, state);
  }

  /** Anchors the trail as it stands after the pass, and sends the target what it lacks. */
  async #sendAnchors(target: string, client: SwiftClient): Promise<{ sent: number; error?: string }> {
    try {
      await this.#anchors!.anchor();
      return await sendAnchors(client, this.#anchors!, target, this.#log);
    } catch (err) {
      this.#log.warn({ err, target }, 'audit anchors not sent; the next pass tries again');
      return { sent: 0, error: (err as Error).message };
    }
  }

  async #sendTombstones(target: string, client: SwiftClient, file: string): Promise<{ sent: number; error?: string }> {
    try {
      return await sendTombstones(client, file, this.ledger, target, this.#config.siteName, this.#log);
    } catch (err) {
      this.#log.warn({ err, target }, 'tombstones not sent; the next pass tries again');
      return { sent: 0, error: (err as Error).message };
    }
  }

  async #waitsForLicence(target: string): Promise<boolean> {
    for await (const g of this.ledger.jobs(target, { now: Date.now(), ignoreBackoff: true, retryFailed: false })) if (/: 402 /.test(g.lastError ?? '')) return true;
    return false;
  }

  async #client(target: ReplicationTarget): Promise<SwiftClient> {
    let client = this.#clients.get(target.name);
    if (!client) {
      client = new SwiftClient({ endpoints: await this.#endpoints(target), user: target.central.user, key: target.central.key, sockets: target.concurrency + 1 });
      this.#clients.set(target.name, client);
    }
    return client;
  }

  /** The target's URIs with the certificate each trusts (a cacert file is read now). */
  async #endpoints(target: ReplicationTarget): Promise<SwiftEndpoint[]> {
    return Promise.all(
      target.central.endpoints.map(async ({ authUrl, ca, caFile }) => {
        const pem = ca ?? (caFile ? await readCaFile(caFile) : undefined);
        return { authUrl, ...(pem ? { ca: pem } : {}) };
      }),
    );
  }

  /** The target's reader credentials, for reading objects back where its HEAD cannot show them. */
  async #reader(target: ReplicationTarget): Promise<SwiftClient | undefined> {
    if (target.readerUser === '') return undefined;
    const name = `${target.name}\0reader`;
    let client = this.#clients.get(name);
    if (!client) {
      client = new SwiftClient({ endpoints: await this.#endpoints(target), user: target.readerUser, key: target.readerKey, sockets: target.concurrency });
      this.#clients.set(name, client);
    }
    return client;
  }

  /** A target's categories: stored, and said when they become (or stay) what the cameras get. */
  async #categories(target: string, body: Buffer | null): Promise<void> {
    const dir = this.#dir!;
    if (!(await setCentralCategories(dir, target, body))) return;
    const { source } = await publishedCategories(
      dir,
      this.#targets().map((t) => t.name),
    );
    this.#log.info(
      { target, categories: body === null ? 'none' : 'updated', published: source.kind === 'central' ? `central ${source.target}` : source.kind },
      source.kind === 'station' ? "central's categories stored; the station's own categories stay published" : 'categories published to the cameras changed',
    );
  }

  #bucket(target: ReplicationTarget): TokenBucket | undefined {
    if (target.bandwidthBytesPerSec === 0) return undefined;
    let bucket = this.#buckets.get(target.name);
    if (!bucket) this.#buckets.set(target.name, (bucket = new TokenBucket(target.bandwidthBytesPerSec)));
    return bucket;
  }

  async status(): Promise<ReplicationStatus> {
    const now = Date.now();
    const targets: TargetStatus[] = [];
    for (const t of this.#targets()) {
      const state = await this.ledger.targetState(t.name);
      const next = this.#tasks.get(t.name)?.getNextRun();
      const needed = t.minConfirmation || this.#config.retention.minConfirmation;
      const level = state?.profile?.level;
      const warning = confirmationWarning(t, level, this.#config.retention.minConfirmation);
      targets.push({
        name: t.name,
        enabled: t.enabled,
        schedule: t.schedule,
        authUrl: t.authUrl,
        running: this.#running.has(t.name),
        registered: state !== undefined,
        ...(next ? { nextRun: next.toISOString() } : {}),
        ...(state?.alarm ? { alarm: { ...state.alarm, message: alarmMessage(t.name, state.alarm) } } : {}),
        ...(state?.lastPass ? { lastPass: state.lastPass } : {}),
        ...(state?.lastSuccess ? { lastSuccess: state.lastSuccess } : {}),
        backlog: await queueBacklog(this.#store, this.ledger, t.name, { now, ignoreBackoff: false, retryFailed: false }),
        capabilities: Object.keys(state?.declared ?? {}).sort(),
        ...(state?.capabilitiesProblem ? { capabilitiesProblem: state.capabilitiesProblem } : {}),
        confirmation: { ...(level ? { level } : {}), needed, ...(warning ? { warning } : {}) },
        heldBack: state?.heldBack ?? {},
      });
    }
    let heldByAllTargets = 0;
    const enabled = this.evictionTargets();
    for await (const e of this.ledger.evictable.values()) {
      const held = await this.ledger.heldByAll(
        enabled.map((t) => t.name),
        e.account,
        e.container,
      );
      if (held && enabled.every((t, i) => mayEvict(t, held[i]!))) heldByAllTargets += 1;
    }
    return { targets, heldByAllTargets, unrecognisedName: await RecordingCatalogue.of(this.#store.index).unrecognisedContainers() };
  }

  /**
   * Whether every configured target (enabled or not) holds the recording as
   * eviction would need: what retention may delete on a station that
   * replicates. A station without targets holds its own evidence: true.
   */
  async heldByEveryTarget(account: string, container: string): Promise<boolean> {
    const targets = this.#targets().map((t) => ({ name: t.name, needed: t.minConfirmation || this.#config.retention.minConfirmation, evictHeldBack: t.evictHeldBack }));
    if (targets.length === 0) return true;
    const held = await this.ledger.heldByAll(
      targets.map((t) => t.name),
      account,
      container,
    );
    return held !== undefined && targets.every((t, i) => mayEvict(t, held[i]!));
  }

  /** The enabled targets, with what each must have confirmed before a recording may leave the station. */
  evictionTargets(): EvictionTarget[] {
    return this.#targets()
      .filter((t) => t.enabled)
      .map((t) => ({ name: t.name, needed: t.minConfirmation || this.#config.retention.minConfirmation, evictHeldBack: t.evictHeldBack }));
  }

  /**
   * Stops the schedules and any pass under way: transfers in flight are cut
   * (their objects are not verified, so the next pass sends them again) and
   * every job stays queued as it was.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const task of this.#tasks.values()) await task.destroy();
    this.#tasks.clear();
    for (const pass of this.#running.values()) pass.stop();
    for (const client of this.#clients.values()) client.close();
    await Promise.all(this.#targets().map((t) => this.#passes.run(t.name, async () => undefined)));
  }
}

/**
 * What an operator must hear about a target whose objects can only be
 * acknowledged: its evidence is not verified, and eviction waits until they
 * say so explicitly.
 */
export function confirmationWarning(target: ReplicationTarget, level: ConfirmationLevel | undefined, defaultNeeded: ConfirmationLevel): string | undefined {
  if (level !== 'acknowledged') return undefined;
  const needed = target.minConfirmation || defaultNeeded;
  return (
    `${target.name} only acknowledges what it receives (its HEAD shows no size or md5${target.readerUser ? ', and the reader credentials cannot read back' : ''}): its evidence is not verified` +
    (needed === 'acknowledged'
      ? '; eviction accepts that (minConfirmation: acknowledged)'
      : `; recordings are not evicted on its word unless replication.targets[].minConfirmation is set to "acknowledged"${target.readerUser ? '' : ' (or give readerUser/readerKey so objects are read back)'}`)
  );
}

function alarmMessage(target: string, alarm: NonNullable<TargetState['alarm']>): string {
  const reason = alarm.reason;
  if (reason === 'licence')
    return `${target} has no licence for ${alarm.subjects?.join(', ') ?? 'some users or cameras'} (402): their recordings wait; add licences at the central`;
  if (reason === 'target-full') return `${target} is full (507): replication paused; it retries on its own with backoff, or run edgecd replicate --now`;
  if (reason === 'auth-refused') return `${target} refused the credentials: fix replication.targets[].user/key (or its connection file) and restart`;
  if (reason === 'certificate-refused')
    return `${target}'s TLS certificate does not match the pinned one (replication.targets[].cacert, or the connection file's HTTPSCertificate), or is invalid: replication paused`;
  if (reason === 'unreachable')
    return `${target} has been unreachable or busy (503) for ${UNREACHABLE_ALARM_PASSES} passes or more: check the link and the target (a full Swift cluster answers 503)`;
  return reason;
}
