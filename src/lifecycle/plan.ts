/**
 * The retention plan: which recordings retention lets go within the next N
 * days, and why; and which it would let go but something keeps (a legal hold,
 * not sealed, not yet held by every replication target). `edgecd retention
 * plan` shows it; the deletion job will act on exactly this list.
 *
 * Read from the catalogue (a key scan by account and time), the index's
 * bookmark entries for each recording's categories, and the holds: never a
 * walk of the disk.
 */
import { RecordingCatalogue } from '../bws/catalogue.ts';
import { decodeMetaValue } from '../swift/metadata.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { IndexDb } from '../store/index-db.ts';
import { KEY_TOP } from '../store/index-keys.ts';
import { HoldBook } from './holds.ts';
import { type KeepRules, retentionOf } from './retention.ts';

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
}

const DAY_MS = 86_400_000;
const BOOKMARK = 'bookmark_';

export async function retentionPlan(store: ObjectStore, rules: KeepRules, options: PlanOptions): Promise<RetentionPlan> {
  const until = options.now + options.days * DAY_MS;
  const catalogue = RecordingCatalogue.of(store.index);
  const holds = HoldBook.of(store.index);
  const due: PlannedRecording[] = [];
  const kept: KeptRecording[] = [];
  const unruled = new Set<string>();
  let scanned = 0;
  const inForce = await holds.list();
  for await (const [account] of store.accounts()) {
    for await (const entry of catalogue.entries(account)) {
      scanned++;
      const container = await store.container(account, entry.container).catch(() => undefined);
      if (!container) continue;
      const sealed = entry.status === 'Complete' || entry.kind === 'rejected';
      const retention = retentionOf(
        {
          kind: entry.kind,
          categories: await categoriesOf(store, account, entry.container),
          ...(entry.userId !== undefined ? { userId: entry.userId } : {}),
          ...(entry.deviceSerial !== undefined ? { deviceSerial: entry.deviceSerial } : {}),
          triggeredAt: entry.at,
          ...(sealed ? { sealedAt: Math.round(Number(container.timestamp) * 1000) } : {}),
        },
        rules,
      );
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
      const holding = await holds.holding(store, account, entry.container, inForce);
      const keptBecause =
        holding.length > 0
          ? `legal hold ${holding.map((h) => `${h.id} (case ${h.caseNumber})`).join(', ')}`
          : !sealed
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

/** The category IDs a recording's bookmarks give it. */
async function categoriesOf(store: ObjectStore, account: string, container: string): Promise<string[]> {
  const prefix = IndexDb.objectKey(account, container, BOOKMARK);
  const ids = new Set<string>();
  for await (const bookmark of store.index.objects.values({ gte: prefix, lt: prefix + KEY_TOP })) {
    const id = bookmark.meta.categoryid === undefined ? '' : decodeMetaValue(bookmark.meta.categoryid).trim();
    if (id) ids.add(id);
  }
  return [...ids];
}
