/**
 * Retention: how long a recording is kept, from the rules in
 * `retention.keep` and what the recording is (its categories, user, camera,
 * or rejected content). Every rule that applies is weighed and the longest
 * wins, so a recording one bookmark files under a long-kept category keeps
 * that category's period whatever else it is. Pure: the plan (plan.ts) feeds
 * it from the catalogue at the moment it asks, so a category given later (a
 * bookmark's POST) counts at once.
 */
import type { CatalogueEntry } from '../bws/catalogue.ts';
import type { Config, KeepFor } from '../config/config.ts';

export type KeepRules = Config['retention']['keep'];

/** What retention needs to know of a recording. */
export interface RetentionSubject {
  kind: 'recording' | 'rejected';
  /** Category IDs its bookmarks gave it. */
  categories: readonly string[];
  userId?: string;
  deviceSerial?: string;
  /** TriggerOnTime (or, for rejected content, when it was rejected), ms. */
  triggeredAt: number;
  /** When it was sealed (Status: Complete), ms; undefined while it is not. */
  sealedAt?: number;
  /** The X-Delete-At a replicating station gave every one of its objects (the latest), ms. */
  stationDeleteAt?: number;
}

export interface Retention {
  /** When it may be deleted, ms; null: kept for ever (or, counted from the seal, not sealed yet). */
  keepUntil: number | null;
  /** The rule that decided, in words ("category 7: 365 days"). */
  rule: string;
  /** Category IDs it has that no rule names: the default applied to them. */
  unruledCategories: string[];
}

const DAY_MS = 86_400_000;

/** What retention weighs of a catalogued recording, given its categories. */
export function retentionSubject(entry: CatalogueEntry, categories: readonly string[], stationDeleteAt?: number): RetentionSubject {
  return {
    ...(stationDeleteAt !== undefined ? { stationDeleteAt } : {}),
    kind: entry.kind,
    categories,
    ...(entry.userId !== undefined ? { userId: entry.userId } : {}),
    ...(entry.deviceSerial !== undefined ? { deviceSerial: entry.deviceSerial } : {}),
    triggeredAt: entry.at,
    ...(entry.sealedAt !== undefined ? { sealedAt: entry.sealedAt } : {}),
  };
}

export function retentionOf(subject: RetentionSubject, rules: KeepRules): Retention {
  // Each rule that applies; `fallback`: it is (or defers to) the default.
  const applicable: { keep: number | 'forever' | { until: number }; why: string; fallback: boolean }[] = [];
  // retention.keep.default itself cannot be "default" (the config refuses it).
  const fallback = rules.default === 'default' ? 'forever' : rules.default;
  const rule = (value: KeepFor, why: string) => applicable.push({ keep: value === 'default' ? fallback : value, why, fallback: value === 'default' });
  const unruledCategories: string[] = [];
  if (subject.kind === 'rejected') rule(rules.rejected, 'rejected content');
  else if (subject.categories.length === 0) rule(rules.uncategorised, 'uncategorised');
  for (const id of subject.categories) {
    const value = rules.categories[id];
    if (value === undefined) unruledCategories.push(id);
    if (value === undefined) applicable.push({ keep: fallback, why: `category ${id} (no rule: the default)`, fallback: true });
    else rule(value, `category ${id}`);
  }
  if (subject.userId !== undefined && rules.users[subject.userId] !== undefined) rule(rules.users[subject.userId]!, `user ${subject.userId}`);
  if (subject.deviceSerial !== undefined && rules.devices[subject.deviceSerial] !== undefined) rule(rules.devices[subject.deviceSerial]!, `camera ${subject.deviceSerial}`);
  // A station's X-Delete-At stands in for the default here: rules set for what the recording is still weigh.
  if (subject.stationDeleteAt !== undefined && rules.stationDeleteAt === 'honour') {
    applicable.splice(0, applicable.length, ...applicable.filter((a) => !a.fallback));
    applicable.push({ keep: { until: subject.stationDeleteAt }, why: 'X-Delete-At from the replicating station', fallback: false });
  }
  const start = rules.from === 'seal' ? subject.sealedAt : subject.triggeredAt;
  const untilOf = (keep: (typeof applicable)[number]['keep']) =>
    keep === 'forever' ? Number.POSITIVE_INFINITY : typeof keep === 'number' ? (start ?? Number.NaN) + keep * DAY_MS : keep.until;
  const longest = applicable.reduce((a, b) => (untilOf(b.keep) > untilOf(a.keep) ? b : a));
  const words = longest.keep === 'forever' ? 'kept for ever' : typeof longest.keep === 'number' ? `${longest.keep} days` : `until ${new Date(longest.keep.until).toISOString()}`;
  const until = untilOf(longest.keep);
  // Counted from a seal not made yet: not counted yet.
  const counted = start !== undefined || typeof longest.keep === 'object';
  return { keepUntil: !counted || until === Number.POSITIVE_INFINITY ? null : until, rule: `${longest.why}: ${words}`, unruledCategories };
}
