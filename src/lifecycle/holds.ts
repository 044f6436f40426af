/**
 * Legal holds: a recording under a hold is never deleted or evicted, whatever
 * retention or a full disk would want.
 *
 * A hold covers one recording, or every recording matching a query (user,
 * camera, trigger-time range, category), those that arrive later included:
 * a query is evaluated against the recording catalogue whenever a deletion or
 * eviction asks, so a recording is held the moment it exists. Holds are kept
 * in the index (sublevel lh) and never deleted: a released hold stays, with
 * who released it, when and why. Placing and releasing are audited by the
 * caller (lifecycle/hold-operations.ts).
 */
import { randomBytes } from 'node:crypto';
import type { AbstractSublevel } from 'abstract-level';
import type { Level } from 'level';
import { type CatalogueEntry, RecordingCatalogue } from '../bws/catalogue.ts';
import { EdgeError } from '../lib/errors.ts';
import type { IndexDb } from '../store/index-db.ts';
import type { ObjectStore } from '../store/object-store.ts';

/** What a hold covers: one recording, or every recording matching all the given fields. */
export interface HoldScope {
  recording?: string;
  /** The user's UUID, as in recording names. */
  userId?: string;
  device?: string;
  /** Trigger-time bounds, ms, inclusive. */
  since?: number;
  until?: number;
  /** A category ID a bookmark gave the recording. */
  category?: string;
}

export interface Hold {
  id: string;
  account: string;
  caseNumber: string;
  reason: string;
  scope: HoldScope;
  placedBy: string;
  placedAt: number;
  released?: { by: string; at: number; reason: string };
}

export interface PlaceHold {
  account: string;
  caseNumber: string;
  reason: string;
  scope: HoldScope;
  placedBy: string;
}

type Sub<V> = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, V>;

/** Holds are decisions, not derived from the disk: a reindex carries them over. */
export const HOLD_SUBLEVELS = ['lh'] as const;

const books = new WeakMap<IndexDb, HoldBook>();
const MAX_TEXT = 1000;

export class HoldBook {
  readonly holds: Sub<Hold>;
  readonly #index: IndexDb;

  private constructor(index: IndexDb) {
    this.#index = index;
    this.holds = index.db.sublevel<string, Hold>('lh', { valueEncoding: 'json' });
  }

  static of(index: IndexDb): HoldBook {
    let book = books.get(index);
    if (!book) books.set(index, (book = new HoldBook(index)));
    return book;
  }

  /** Records a hold (synced before it returns). Bad input is a 400 and records nothing. */
  async place(input: PlaceHold, now: number): Promise<Hold> {
    const hold: Hold = { id: newHoldId(now), ...checkPlace(input), placedAt: now };
    await this.#index.write([{ type: 'put', sublevel: this.holds, key: hold.id, value: hold }], true);
    return hold;
  }

  /** Ends a hold; it stays on record with who released it, when and why. */
  async release(id: string, by: string, reason: string, now: number): Promise<Hold> {
    const hold = await this.holds.get(id);
    if (!hold) throw new EdgeError('NotFound', `no hold ${id}`);
    if (hold.released) throw new EdgeError('Conflict', `hold ${id} was released by ${hold.released.by} at ${new Date(hold.released.at).toISOString()}`);
    const released: Hold = { ...hold, released: { by, at: now, reason: text(reason, 'reason') } };
    await this.#index.write([{ type: 'put', sublevel: this.holds, key: id, value: released }], true);
    return released;
  }

  /** Every hold, oldest first; released ones only when asked. */
  async list(options: { released?: boolean; account?: string } = {}): Promise<Hold[]> {
    const found: Hold[] = [];
    for await (const hold of this.holds.values()) {
      if ((options.released || !hold.released) && (options.account === undefined || hold.account === options.account)) found.push(hold);
    }
    return found;
  }

  /** The active holds that cover a recording now. */
  async holding(store: ObjectStore, account: string, container: string): Promise<Hold[]> {
    const active = await this.list({ account });
    if (active.length === 0) return [];
    const record = await store.container(account, container).catch(() => undefined);
    const catalogue = RecordingCatalogue.of(store.index);
    const entry = (record && (await catalogue.find(account, container, record))) ?? { container };
    return holdsCovering(active, account, entry, (id) => catalogue.hasCategory(account, id, container));
  }
}

/**
 * Which of `active` cover a recording: by name, or by query against its
 * catalogue entry (a query covers only what the catalogue knows: recordings
 * and rejected content). `hasCategory` answers for the recording's categories.
 */
export async function holdsCovering(
  active: readonly Hold[],
  account: string,
  entry: Pick<CatalogueEntry, 'container'> & Partial<CatalogueEntry>,
  hasCategory: (id: string) => boolean | Promise<boolean>,
): Promise<Hold[]> {
  const found: Hold[] = [];
  for (const hold of active) {
    const s = hold.scope;
    if (hold.account !== account || hold.released) continue;
    if (s.recording !== undefined) {
      if (s.recording === entry.container) found.push(hold);
      continue;
    }
    if (entry.at === undefined) continue;
    if (s.userId !== undefined && entry.userId !== s.userId) continue;
    if (s.device !== undefined && entry.deviceSerial !== s.device) continue;
    if (s.since !== undefined && entry.at < s.since) continue;
    if (s.until !== undefined && entry.at > s.until) continue;
    if (s.category !== undefined && !(await hasCategory(s.category))) continue;
    found.push(hold);
  }
  return found;
}

/** H-20261204-3f9a2c: the day it was placed, and randomness enough that two placed at once differ. */
function newHoldId(now: number): string {
  return `H-${new Date(now).toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
}

function checkPlace(input: PlaceHold): Omit<Hold, 'id' | 'placedAt'> {
  const s = input.scope;
  const keys = Object.entries(s).filter(([, value]) => value !== undefined);
  if (keys.length === 0) throw new EdgeError('BadRequest', 'a hold needs a recording, or a query (user, camera, date range, category)');
  if (s.recording !== undefined && keys.length > 1) throw new EdgeError('BadRequest', 'a hold covers one recording or a query, not both');
  for (const [key, value] of keys) {
    if ((key === 'since' || key === 'until') && !Number.isSafeInteger(value)) throw new EdgeError('BadRequest', `${key}: a time in ms`);
    if (key !== 'since' && key !== 'until') text(value as string, key);
  }
  if (s.since !== undefined && s.until !== undefined && s.since > s.until) throw new EdgeError('BadRequest', 'since is after until');
  return {
    account: text(input.account, 'account'),
    caseNumber: text(input.caseNumber, 'case number'),
    reason: text(input.reason, 'reason'),
    scope: Object.fromEntries(keys) as HoldScope,
    placedBy: text(input.placedBy, 'placed by'),
  };
}

/** A field a person typed: present, printable, bounded. */
function text(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new EdgeError('BadRequest', `${what}: required`);
  if (value.length > MAX_TEXT || /[\u0000-\u001f\u007f]/.test(value)) throw new EdgeError('BadRequest', `${what}: at most ${MAX_TEXT} printable characters`);
  return value.trim();
}
