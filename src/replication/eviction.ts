/**
 * Eviction keeps the station a buffer: when an upload would not fit, sealed
 * recordings that every enabled target has confirmed Complete, and that are
 * older than retention.minAgeHours, leave the station, oldest first. Nothing
 * unsealed or unreplicated ever does. Each target must also have confirmed
 * the recording at the level it is trusted for (minConfirmation: verified
 * unless the operator says otherwise), and hold every object of it: what a
 * target cannot take (held back) keeps the recording here, unless the
 * operator allowed that target's held-back objects to go (evictHeldBack),
 * which is logged and audited each time it is used. A recording under a
 * legal hold (lifecycle/holds.ts) never leaves: when holds keep eviction
 * from freeing enough, the 507 stands and /status names the holds.
 *
 * Each eviction is written, before the recording goes, to
 * DIR/evictions.jsonl (and the log): the recording, its SHA-256 manifest and
 * the targets that hold it, so the chain of custody shows where it went.
 */
import { isSealed } from '../bws/catalogue.ts';
import type { Logger } from 'pino';
import type { AuditSink } from '../audit/trail.ts';
import type { ConfirmationLevel } from '../config/config.ts';
import { KeyedMutex } from '../lib/keyed-mutex.ts';
import { HoldBook } from '../lifecycle/holds.ts';
import type { Manifest, ObjectStore } from '../store/object-store.ts';
import { appendLineDurably } from '../lib/durable.ts';
import { atLeast } from './confirmation.ts';
import { evictableKey, type CompleteState, type ReplicationLedger } from './ledger.ts';

export interface EvictionRecord {
  evictedAt: string;
  account: string;
  recording: string;
  sealedAt: string;
  bytes: number;
  manifest: Manifest;
  heldBy: { target: string; completedAt: string; confirmation: ConfirmationLevel; heldBack?: number }[];
}

/** A target eviction depends on, with what it must have confirmed. */
export interface EvictionTarget {
  name: string;
  /** The weakest confirmation accepted from it. */
  needed: ConfirmationLevel;
  /** Whether objects it could not take may go anyway. */
  evictHeldBack: boolean;
}

export interface EvictorOptions {
  store: ObjectStore;
  ledger: ReplicationLedger;
  /** Targets that must all hold a recording before it may go. */
  enabledTargets: () => readonly EvictionTarget[];
  minAgeHours: number;
  /** DIR/evictions.jsonl */
  recordFile: string;
  audit: AuditSink;
  log: Logger;
  now?: () => number;
}

/** A hold that kept recordings eviction would have freed. */
export interface HoldBlocking {
  id: string;
  caseNumber: string;
  recordings: string[];
}

export class Evictor {
  readonly #o: EvictorOptions;
  readonly #one = new KeyedMutex();
  readonly #holds: HoldBook;
  /** Set when the last eviction fell short because of legal holds (/status names them). */
  blockedByHolds: { at: number; holds: HoldBlocking[] } | undefined;

  constructor(options: EvictorOptions) {
    this.#o = options;
    this.#holds = HoldBook.of(options.store.index);
  }

  /**
   * Evicts until `needed()` bytes are freed or nothing more may go; returns
   * the bytes freed. `needed` is asked once this caller's turn comes, so
   * uploads refused together do not each evict their own share.
   */
  makeRoom(needed: () => Promise<number>): Promise<number> {
    return this.#one.run('evict', async () => {
      const { ledger, store, log } = this.#o;
      const targets = this.#o.enabledTargets();
      const bytes = await needed();
      if (targets.length === 0 || bytes === 0) return 0;
      const youngest = (this.#o.now ?? Date.now)() - this.#o.minAgeHours * 3_600_000;
      let freed = 0;
      const blocking = new Map<string, HoldBlocking>();
      // Keys sort by seal time: the first too young ends the search.
      for await (const [key, e] of ledger.evictable.iterator({ lt: evictableKey(youngest + 1, '', '') })) {
        if (freed >= bytes) break;
        const container = await store.container(e.account, e.container).catch(() => undefined);
        // Gone, unsealed, or not the recording that was replicated (sealed at another time): never evicted.
        if (!container || !isSealed(container.meta) || Math.round(Number(container.timestamp) * 1000) !== e.sealedAt) {
          await ledger.evictable.del(key);
          continue;
        }
        const held = await ledger.heldByAll(
          targets.map((t) => t.name),
          e.account,
          e.container,
        );
        if (!held || !targets.every((t, i) => mayEvict(t, held[i]!))) continue; // not (well enough) on every enabled target
        const holds = await this.#holds.holding(store, e.account, e.container);
        if (holds.length > 0) {
          // A legal hold beats a full disk: the recording stays, and the 507 that may follow names the hold.
          for (const h of holds) blocking.set(h.id, { id: h.id, caseNumber: h.caseNumber, recordings: [...(blocking.get(h.id)?.recordings ?? []), e.container] });
          continue;
        }
        const record: EvictionRecord = {
          evictedAt: new Date().toISOString(),
          account: e.account,
          recording: e.container,
          sealedAt: new Date(e.sealedAt).toISOString(),
          bytes: container.bytesUsed,
          manifest: await store.manifest(e.account, e.container),
          heldBy: held.map((h, i) => ({
            target: targets[i]!.name,
            completedAt: new Date(h.completedAt).toISOString(),
            confirmation: h.level ?? 'verified',
            ...(h.heldBack ? { heldBack: h.heldBack } : {}),
          })),
        };
        const withoutHeldBack = record.heldBy.filter((h) => h.heldBack);
        if (withoutHeldBack.length > 0) {
          // The operator allowed it (evictHeldBack): said loudly, every time.
          log.warn(
            { recording: e.container, targets: withoutHeldBack.map((h) => ({ target: h.target, heldBack: h.heldBack })) },
            'evicting a recording some of whose objects a target never took (evictHeldBack)',
          );
          await this.#o.audit.append({
            actor: 'system',
            source: 'retention',
            action: 'eviction.held-back',
            target: `AUTH_${e.account}/${e.container}`,
            result: 'ok',
            details: { targets: withoutHeldBack.map((h) => ({ target: h.target, heldBack: h.heldBack })) },
          });
        }
        await appendLineDurably(this.#o.recordFile, JSON.stringify(record)); // durable before the recording goes: an eviction is never unrecorded
        await this.#o.audit.append({
          actor: 'system',
          source: 'retention',
          action: 'eviction',
          target: `AUTH_${e.account}/${e.container}`,
          result: 'ok',
          details: { bytes: record.bytes, objects: Object.keys(record.manifest).length, heldBy: record.heldBy },
        });
        await store.removeContainer(e.account, e.container);
        await ledger.evictable.del(key);
        freed += container.bytesUsed;
        log.warn({ eviction: record }, 'recording evicted: every target holds it');
      }
      this.blockedByHolds = freed < bytes && blocking.size > 0 ? { at: (this.#o.now ?? Date.now)(), holds: [...blocking.values()] } : undefined;
      if (this.blockedByHolds) log.warn({ holds: this.blockedByHolds.holds }, 'legal holds keep recordings that eviction would free: uploads may be refused (507)');
      return freed;
    });
  }
}

/** Whether a target's record of a recording lets it leave the station. */
export function mayEvict(target: EvictionTarget, held: CompleteState): boolean {
  return atLeast(held.level, target.needed) && (!held.heldBack || target.evictHeldBack);
}
