/**
 * The retention plan: which recordings retention lets go within the next N
 * days, and why; and which it would let go but something keeps (a legal hold,
 * not sealed, not yet held by every replication target). `edgecd retention
 * plan` shows it; the deletion job will act on exactly this list.
 *
 * Two key scans per account, and nothing else for what is not due: the
 * catalogue by time (which carries each recording's seal) and the catalogue
 * by category. Holds are matched in memory; only a due recording costs a
 * look at the replication ledger. Never a walk of containers or the disk.
 */
import { RecordingCatalogue } from '../bws/catalogue.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { HoldBook, holdsCovering } from './holds.ts';
import { type KeepRules, retentionOf, retentionSubject } from './retention.ts';
import { ensureStationDeleteAts, type StationDeleteAt, stationDeleteAts, wholeRecording } from './station-delete-at.ts';

export interface PlannedRecording {
  account: string;
  recording: string;
  kind: 'recording' | 'rejected';
  userId?: string;
  deviceSerial?: string;
  /** TriggerOnTime (rejected content: when it was rejected), ISO. */
  triggeredAt: string;
  /** When retention lets it go, ISO. */
  keepUntil: string;
  rule: string;
}

export interface KeptRecording extends PlannedRecording {
  /** Why it stays although retention would let it go. */
  keptBecause: string;
}

export interface RetentionPlan {
  asOf: string;
  /** The end of the window looked at, ISO. */
  until: string;
  /** What the deletion job would delete by then, oldest first. */
  due: PlannedRecording[];
  /** What retention would let go but stays, and why. */
  kept: KeptRecording[];
  /** Category IDs in use that no rule names (the default applies to them). */
  unruledCategories: string[];
  /** Catalogue entries looked at. */
  scanned: number;
}

export interface PlanOptions {
  now: number;
  days: number;
  /** Whether every replication target holds the recording (none configured: always true). */
  replicated: (account: string, container: string) => Promise<boolean>;
  /** Only this account's recordings (a console page); all of them otherwise. */
  account?: string;
}

const DAY_MS = 86_400_000;

/** The horizon a plan may look ahead, as asked for (a query, an option): whole days, 0 (due now) to 100 years; undefined when it is not. */
export function planDays(text: string | undefined): number | undefined {
  const days = Number(text ?? 0);
  return Number.isSafeInteger(days) && days >= 0 && days <= 36_500 ? days : undefined;
}

export async function retentionPlan(store: ObjectStore, rules: KeepRules, options: PlanOptions): Promise<RetentionPlan> {
  const until = options.now + options.days * DAY_MS;
  const catalogue = RecordingCatalogue.of(store.index);
  await catalogue.ensureBuilt();
  await ensureStationDeleteAts(store.index);
  const inForce = await HoldBook.of(store.index).list();
  const due: PlannedRecording[] = [];
  const kept: KeptRecording[] = [];
  const unruled = new Set<string>();
  let scanned = 0;
  for await (const [account] of store.accounts()) {
    if (options.account !== undefined && account !== options.account) continue;
    const categoriesOf = await catalogue.categoriesByRecording(account);
    const fromStations = rules.stationDeleteAt === 'honour' ? await stationDeleteAts(store.index, account) : new Map<string, StationDeleteAt>();
    for await (const entry of catalogue.entries(account)) {
      scanned++;
      const categories = categoriesOf.get(entry.container) ?? [];
      const fromStation = fromStations.get(entry.container);
      // A central's: whether every object of the recording carries its station's (one container read each).
      const objects = fromStation && (await store.container(account, entry.container).catch(() => undefined))?.objectCount;
      const stationDeleteAt = objects === undefined ? undefined : wholeRecording(fromStation, objects);
      const retention = retentionOf(retentionSubject(entry, categories, stationDeleteAt), rules);
      for (const id of retention.unruledCategories) unruled.add(id);
      if (retention.keepUntil === null || retention.keepUntil > until) continue;
      const planned: PlannedRecording = {
        account,
        recording: entry.container,
        kind: entry.kind,
        ...(entry.userId !== undefined ? { userId: entry.userId } : {}),
        ...(entry.deviceSerial !== undefined ? { deviceSerial: entry.deviceSerial } : {}),
        triggeredAt: new Date(entry.at).toISOString(),
        keepUntil: new Date(retention.keepUntil).toISOString(),
        rule: retention.rule,
      };
      const holding = await holdsCovering(inForce, account, entry, (id) => categories.includes(id));
      const keptBecause =
        holding.length > 0
          ? `legal hold ${holding.map((h) => `${h.id} (case ${h.caseNumber})`).join(', ')}`
          : entry.status === 'Transferring'
            ? 'not sealed: the body-worn system has not finished it'
            : !(await options.replicated(account, entry.container))
              ? 'not yet held by every replication target'
              : undefined;
      if (keptBecause) kept.push({ ...planned, keptBecause });
      else due.push(planned);
    }
  }
  const byTime = (a: PlannedRecording, b: PlannedRecording) => a.keepUntil.localeCompare(b.keepUntil) || a.recording.localeCompare(b.recording);
  return {
    asOf: new Date(options.now).toISOString(),
    until: new Date(until).toISOString(),
    due: due.sort(byTime),
    kept: kept.sort(byTime),
    unruledCategories: Object.keys(rules.categories).length > 0 ? [...unruled].sort() : [],
    scanned,
  };
}

/** Category IDs in use that no rule names, once any category has a rule (/status warns: the default applies to them). */
export async function unruledCategories(store: ObjectStore, rules: KeepRules): Promise<string[]> {
  if (Object.keys(rules.categories).length === 0) return [];
  const ids = new Set<string>();
  for await (const [account] of store.accounts()) {
    for (const id of (await RecordingCatalogue.of(store.index).categories(account)).keys()) if (rules.categories[id] === undefined) ids.add(id);
  }
  return [...ids].sort();
}
