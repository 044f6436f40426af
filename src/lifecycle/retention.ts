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
export function retentionSubject(entry: CatalogueEntry, categories: readonly string[]): RetentionSubject {
  return {
    kind: entry.kind,
    categories,
    ...(entry.userId !== undefined ? { userId: entry.userId } : {}),
    ...(entry.deviceSerial !== undefined ? { deviceSerial: entry.deviceSerial } : {}),
    triggeredAt: entry.at,
    ...(entry.sealedAt !== undefined ? { sealedAt: entry.sealedAt } : {}),
  };
}

export function retentionOf(subject: RetentionSubject, rules: KeepRules): Retention {
  const applicable: { days: number | 'forever'; why: string }[] = [];
  // retention.keep.default itself cannot be "default" (the config refuses it).
  const fallback = rules.default === 'default' ? 'forever' : rules.default;
  const resolve = (value: KeepFor) => (value === 'default' ? fallback : value);
  const unruledCategories: string[] = [];
  if (subject.kind === 'rejected') applicable.push({ days: resolve(rules.rejected), why: 'rejected content' });
  else if (subject.categories.length === 0) applicable.push({ days: resolve(rules.uncategorised), why: 'uncategorised' });
  for (const id of subject.categories) {
    const rule = rules.categories[id];
    if (rule === undefined) unruledCategories.push(id);
    applicable.push({ days: rule === undefined ? fallback : resolve(rule), why: rule === undefined ? `category ${id} (no rule: the default)` : `category ${id}` });
  }
  if (subject.userId !== undefined && rules.users[subject.userId] !== undefined) applicable.push({ days: resolve(rules.users[subject.userId]!), why: `user ${subject.userId}` });
  if (subject.deviceSerial !== undefined && rules.devices[subject.deviceSerial] !== undefined)
    applicable.push({ days: resolve(rules.devices[subject.deviceSerial]!), why: `camera ${subject.deviceSerial}` });
  const longest = applicable.reduce((a, b) => (a.days === 'forever' || (b.days !== 'forever' && a.days >= b.days) ? a : b));
  const rule = `${longest.why}: ${longest.days === 'forever' ? 'kept for ever' : `${longest.days} days`}`;
  const start = rules.from === 'seal' ? subject.sealedAt : subject.triggeredAt;
  if (longest.days === 'forever' || start === undefined) return { keepUntil: null, rule, unruledCategories };
  return { keepUntil: start + longest.days * DAY_MS, rule, unruledCategories };
}
