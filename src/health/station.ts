/**
 * One snapshot of the station for /status and /metrics, and the watcher that
 * logs when it crosses a line an operator must hear about.
 */
import type { WeeklySummary } from '../lifecycle/deletion.ts';
import { access, constants } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Alarm } from './alarm-webhook.ts';
import { VideoLedger, type VideoStatus } from '../authenticity/video-ledger.ts';
import { RecordingCatalogue } from '../bws/catalogue.ts';
import { HoldBook } from '../lifecycle/holds.ts';
import type { CategoriesSource } from '../bws/categories.ts';
import type { ClockState } from '../ntp/clock-state.ts';
import type { NtpStats } from '../ntp/server.ts';
import type { ReplicationStatus } from '../replication/replicator.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { SpaceView } from '../store/space.ts';
import { VERSION } from '../lib/version.ts';
import type { RequestStats } from './request-stats.ts';
import { systemHealth, type SystemHealth } from './system.ts';

export interface LoadView {
  requests: number;
  uploads: number;
  waiting: number;
  refused: number;
  eventLoopDelayMs: number;
}

/** The station's signing key, and how far its audit trail is anchored (signed, and held by each target). */
export interface AuditAnchorView {
  /** Raw Ed25519 public key, base64: what verifiers trust the station's signed heads by. */
  stationKey: string;
  keyId: string;
  /** The newest signed head. */
  lastAnchor: { seq: number; time: string } | null;
  /** Per replication target, the newest head it holds. */
  anchoredAt: Record<string, number>;
  /** False once the trail refuses lines (a failed sync, another writer): nothing is served until a restart repairs it. */
  writable: boolean;
}

/** Open connections against the cap, and those refused or closed to stay under it. */
export interface ConnectionsView {
  open: number;
  /** Not a byte sent yet. */
  silent: number;
  maxConnections: number;
  /** Since start, by why: too many from one address, or the station full. */
  refused: { 'per-address': number; full: number };
  /** Silent connections closed to make room for new ones. */
  evicted: number;
}

export interface StationHealth {
  version: string;
  uptimeSeconds: number;
  ready: boolean;
  storage: SpaceView & { usedPercent: number; readOnly: boolean };
  load: LoadView;
  connections: ConnectionsView;
  audit: AuditAnchorView;
  requests: { recentPerSecondByStatus: Record<string, number>; totals: Record<string, number>; uploadBytes: number };
  system: SystemHealth;
  clock: { synchronised: boolean; source: ClockState['source']; ntp: NtpStats | null };
  /** Per target: backlog, alarm, last pass; null when no target is configured. */
  replication: ReplicationStatus | null;
  /** Containers whose names are not a recording's, rejected content or a registry: kept, replicated as they are. */
  containers: { unrecognisedName: { count: number; names: string[] } };
  /** What the station declares to the body-worn system, and where the categories it publishes come from. */
  bws: BwsView;
  tls: TlsHealth;
  /** Signed-video checks: queued recordings, and verdicts of the last 24 hours (tampered ones are alarms). */
  video: VideoStatus;
  /** Legal holds in force, and those that kept the last eviction from freeing enough (uploads may get 507). */
  holds: { active: number; blockingEviction: HoldsBlockingEviction | null };
  /** Category IDs in use that no retention.keep rule names (the default applies to them), and the retention job's last run. */
  retention: { unruledCategories: string[]; lastRun: { at: string; deleted: number; purged: number; kept: number } | null; weeklySummary: WeeklySummary | null };
}

export interface HoldsBlockingEviction {
  at: number;
  holds: { id: string; caseNumber: string; recordings: string[] }[];
}

export interface HealthSources {
  store: ObjectStore;
  requests: RequestStats;
  load: () => LoadView;
  connections: () => ConnectionsView;
  audit: () => AuditAnchorView;
  startedAt: number;
  ready: () => boolean;
  clock: () => ClockState;
  /** The NTP server's counters and mode; null when it is off or could not bind. */
  ntp: () => NtpStats | null;
  replication: () => Promise<ReplicationStatus | null>;
  /** HTTPS endpoints and the days until the first certificate expires (null: plain HTTP). */
  tls: () => TlsHealth;
  bws: () => Promise<BwsView>;
  /** Holds that kept the last eviction from freeing enough; null when none did (or there is no eviction). */
  holdsBlockingEviction: () => HoldsBlockingEviction | null;
  unruledCategories: () => Promise<string[]>;
  retentionLastRun: () => StationHealth['retention']['lastRun'];
  retentionSummary: () => WeeklySummary | null;
}

export interface BwsView {
  /** Capability → declared since. */
  capabilities: Record<string, string>;
  notes: string[];
  categories: CategoriesSource;
}

export interface TlsHealth {
  endpoints: { name: string; notAfter: string }[];
  daysUntilExpiry: number | null;
}

/** How full: of the quota when one is set, else of the filesystem. */
export function usedPercent(space: SpaceView): number {
  const fraction = space.quotaBytes > 0 ? space.usedBytes / space.quotaBytes : space.totalBytes > 0 ? 1 - space.freeBytes / space.totalBytes : 0;
  return Math.round(fraction * 1000) / 10;
}

async function readOnly(dir: string): Promise<boolean> {
  return access(dir, constants.W_OK).then(
    () => false,
    (err: NodeJS.ErrnoException) => err.code === 'EROFS',
  );
}

export async function stationHealth(s: HealthSources): Promise<StationHealth> {
  const [space, system, ro, replication, unrecognised, bws, video, holds, unruledCategories] = await Promise.all([
    s.store.space(),
    systemHealth(),
    readOnly(s.store.layout.root),
    s.replication(),
    RecordingCatalogue.of(s.store.index).unrecognisedContainers(),
    s.bws(),
    VideoLedger.of(s.store.index).status(Date.now()),
    HoldBook.of(s.store.index).list(),
    s.unruledCategories(),
  ]);
  const clock = s.clock();
  return {
    version: VERSION,
    uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000),
    ready: s.ready(),
    storage: { ...space, usedPercent: usedPercent(space), readOnly: ro },
    load: s.load(),
    connections: s.connections(),
    audit: s.audit(),
    requests: { recentPerSecondByStatus: s.requests.recentRates(), totals: Object.fromEntries(s.requests.totals), uploadBytes: s.requests.uploadBytes },
    system,
    clock: { synchronised: clock.synchronised, source: clock.source, ntp: s.ntp() },
    replication,
    containers: { unrecognisedName: unrecognised },
    bws,
    tls: s.tls(),
    video,
    holds: { active: holds.length, blockingEviction: s.holdsBlockingEviction() },
    retention: { unruledCategories, lastRun: s.retentionLastRun(), weeklySummary: s.retentionSummary() },
  };
}

const LEVELS = [80, 90, 95];
const HOT_C = 80;

/**
 * Logs each alarm as it is raised: storage crossing 80/90/95 %, the CPU
 * running hot, the disk turning read-only, a replication or signed-video
 * alarm, the audit trail failing. `onAlarm` is told of each too (the webhook).
 */
export function watchStation(s: HealthSources, log: Logger, everyMs = 30_000, onAlarm: (alarm: Omit<Alarm, 'raisedAt'>) => void = () => undefined): () => void {
  let level = 0;
  let hot = false;
  let ro = false;
  let auditWritable = true;
  let replicationAlarms = new Set<string>();
  let videoAlarms = new Set<string>();
  const check = async () => {
    const h = await stationHealth(s);
    const reached = LEVELS.filter((l) => h.storage.usedPercent >= l).at(-1) ?? 0;
    if (reached > level) {
      const details = { usedPercent: h.storage.usedPercent, quotaBytes: h.storage.quotaBytes };
      log.warn(details, `storage is ${reached} % full`);
      onAlarm({ kind: 'storage', severity: reached >= 95 ? 'critical' : 'warning', message: `storage is ${reached} % full`, details });
    }
    level = reached;
    const isHot = (h.system.cpuTemperatureC ?? 0) >= HOT_C;
    if (isHot && !hot) {
      const details = { cpuTemperatureC: h.system.cpuTemperatureC, throttled: h.system.throttled };
      log.warn(details, 'CPU temperature is high');
      onAlarm({ kind: 'cpu-temperature', severity: 'warning', message: 'CPU temperature is high', details });
    }
    hot = isHot;
    if (h.storage.readOnly && !ro) {
      log.error({ data: s.store.layout.root }, 'the data filesystem is read-only: uploads will fail');
      onAlarm({ kind: 'read-only', severity: 'critical', message: 'the data filesystem is read-only: uploads will fail', details: {} });
    }
    ro = h.storage.readOnly;
    const alarms = new Set(h.replication?.targets.filter((t) => t.alarm).map((t) => `${t.name}: ${t.alarm!.reason}`));
    for (const a of alarms) {
      if (replicationAlarms.has(a)) continue;
      log.error({ alarm: a }, 'replication alarm');
      onAlarm({ kind: 'replication', severity: 'critical', message: `replication alarm: ${a}`, details: { alarm: a } });
    }
    replicationAlarms = alarms;
    const tampered = new Set(h.video.last24h.alarms);
    for (const recording of tampered) {
      if (videoAlarms.has(recording)) continue;
      log.error({ recording }, 'video alarm: a recording fails its signed-video check');
      onAlarm({ kind: 'video', severity: 'warning', message: 'a recording fails its signed-video check', details: { recording } });
    }
    videoAlarms = tampered;
    if (!h.audit.writable && auditWritable) {
      // The trail's own failure is logged where it happens; this tells whoever watches the station.
      onAlarm({ kind: 'audit-trail', severity: 'critical', message: 'the audit trail cannot be written: nothing is served until it is repaired', details: {} });
    }
    auditWritable = h.audit.writable;
  };
  const timer = setInterval(() => void check().catch((err: unknown) => log.warn({ err }, 'health check failed')), everyMs);
  timer.unref();
  void check().catch(() => undefined);
  return () => clearInterval(timer);
}

/** The store's totals, as `edgecd status` and the admin endpoint report them (from the running daemon, or the index when it is stopped). */
export interface StoreStatus {
  version: string;
  accounts: Record<string, { containerCount: number; objectCount: number; bytesUsed: number }>;
  /** Commits journaled but not yet applied (non-zero only mid-request or after a crash). */
  pendingCommits: number;
  source: 'daemon' | 'index';
}

export async function storeStatus(store: ObjectStore, source: StoreStatus['source']): Promise<StoreStatus> {
  const accounts: StoreStatus['accounts'] = {};
  for await (const [name, entry] of store.accounts()) accounts[name] = entry;
  return { version: VERSION, accounts, pendingCommits: await store.pendingCommits(), source };
}
