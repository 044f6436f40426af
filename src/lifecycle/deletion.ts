/**
 * The retention job: deletes what the retention plan says is due (the same
 * list `edgecd retention plan` shows), and purges the trash after its grace
 * period.
 *
 * Each deletion, in this order, so a crash at any point leaves evidence
 * either still in place or recorded and in the trash, never gone unrecorded:
 * 1. the tombstone is appended to DIR/tombstones.jsonl and synced (kept for
 *    ever; outside the index, so a reindex never loses it);
 * 2. the audit line (retention.delete);
 * 3. the store's journaled container removal moves the recording into
 *    DIR/trash/ for the grace period (with 0 days it is removed outright).
 * A crash between 1 and 3 leaves the newest tombstone naming a recording
 * still in place, as it recorded it (deletions run one at a time): the next
 * run, or the daemon's start, finishes that deletion under the same
 * tombstone (retention.delete.finished), unless a hold now covers the
 * recording, and then a cancellation line follows the tombstone instead. A
 * crash inside 3 is the store's journal's to finish.
 * Holds are checked again just before each deletion, under the job's own
 * lock.
 */
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AuditSink } from '../audit/trail.ts';
import { formatCompactTime, parseCompactTime } from '../bws/names.ts';
import type { Config } from '../config/config.ts';
import { KeyedMutex } from '../lib/keyed-mutex.ts';
import { appendLineDurably } from '../lib/durable.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { HoldBook } from './holds.ts';
import { type PlanOptions, type PlannedRecording, type RetentionPlan, retentionPlan } from './plan.ts';
import type { KeepRules } from './retention.ts';
import { type Cancellation, newestTombstones, type Tombstone } from './tombstones.ts';

export interface DeletionOptions {
  store: ObjectStore;
  audit: AuditSink;
  log: Logger;
  rules: KeepRules;
  graceDays: number;
  /** DIR/tombstones.jsonl */
  tombstoneFile: string;
  replicated: PlanOptions['replicated'];
  now?: () => number;
}

/** A week of the station's lifecycle, for the log and /status. */
export interface WeeklySummary {
  from: string;
  to: string;
  /** Recordings retention deleted (cut-short deletions a hold stopped not counted), and their bytes. */
  deleted: number;
  bytesDeleted: number;
  /** Of those, brought back by `edgecd restore`. */
  restored: number;
  holdsPlaced: number;
  holdsReleased: number;
  holdsInForce: number;
  /** What the job will delete in the coming week, as the plan sees it now. */
  dueNextWeek: number;
}

export interface DeletionReport {
  deleted: string[];
  purged: string[];
  kept: number;
}

const DAY_MS = 86_400_000;
/** How long a previewed plan is shown again rather than read afresh (a console page reloaded). */
const PLAN_FRESH_MS = 30_000;
const sameManifest = (a: Tombstone['manifest'], b: Tombstone['manifest']) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([name, o]) => b[name]?.sha256 === o.sha256);

/** Where a deletion's recording waits out its grace period: DIR/trash/<account>/<recording>@<this stamp>. */
export const trashStamp = formatCompactTime;

export class RetentionJob {
  readonly #o: DeletionOptions;
  readonly #one = new KeyedMutex();
  readonly #plans = new Map<string, { at: number; plan: Promise<RetentionPlan> }>();
  /** The last run, for /status: when, and what it did. */
  lastRun: (DeletionReport & { at: string }) | undefined;
  /** The last weekly summary, for /status. */
  lastSummary: WeeklySummary | undefined;

  constructor(options: DeletionOptions) {
    this.#o = options;
  }

  /** The job as a station's configuration sets it (retention.keep, retention.delete). */
  static forStation(config: Config, o: Pick<DeletionOptions, 'store' | 'audit' | 'log' | 'tombstoneFile' | 'replicated'>): RetentionJob {
    return new RetentionJob({ ...o, rules: config.retention.keep, graceDays: config.retention.delete.graceDays });
  }

  /** What the job would delete within the next `days` days (0: a run now), and what stays although due; of one account, or all. */
  plan(days: number, account?: string): Promise<RetentionPlan> {
    return retentionPlan(this.#o.store, this.#o.rules, { now: (this.#o.now ?? Date.now)(), days, replicated: this.#o.replicated, ...(account !== undefined ? { account } : {}) });
  }

  /**
   * The plan for a page: one asked for again within PLAN_FRESH_MS (a page
   * reloaded, its download) is the one already read, unless a run or a
   * hold changed things since (forgetPreviews).
   */
  preview(days: number, account: string): Promise<RetentionPlan> {
    const now = (this.#o.now ?? Date.now)();
    const key = `${days}\0${account}`;
    const cached = this.#plans.get(key);
    if (cached && now - cached.at < PLAN_FRESH_MS) return cached.plan;
    const plan = this.plan(days, account);
    if (this.#plans.size >= 16) this.#plans.clear(); // a few windows of a few accounts, not every window asked for
    this.#plans.set(key, { at: now, plan });
    plan.catch(() => this.#plans.delete(key));
    return plan;
  }

  forgetPreviews(): void {
    this.#plans.clear();
  }

  /** One run: what is due now goes (into the trash), and what outlived its grace period leaves the trash. */
  run(): Promise<DeletionReport> {
    return this.#one.run('retention', async () => {
      const now = (this.#o.now ?? Date.now)();
      this.forgetPreviews();
      const resumed = await this.#finishInterrupted(now);
      const plan = await this.plan(0);
      const deleted: string[] = resumed ? [resumed] : [];
      for (const due of plan.due) if (await this.#delete(due, now)) deleted.push(due.recording);
      const purged = await this.#purge(now);
      if (deleted.length + purged.length > 0) this.#o.log.info({ deleted: deleted.length, purged: purged.length, kept: plan.kept.length }, 'retention run');
      const report = { deleted, purged, kept: plan.kept.length };
      this.lastRun = { at: new Date(now).toISOString(), ...report };
      return report;
    });
  }

  /** The past week (up to now): deletions, restorations and holds; and what the coming week will delete. */
  async weeklySummary(): Promise<WeeklySummary> {
    const now = (this.#o.now ?? Date.now)();
    const since = now - 7 * DAY_MS;
    const deleted = (await newestTombstones(this.#o.tombstoneFile, Number.POSITIVE_INFINITY, (t) => !t.cancelled, since)).filter((t) => Date.parse(t.deletedAt) <= now);
    const holds = await HoldBook.of(this.#o.store.index).list({ released: true });
    const inWeek = (at: number | undefined) => at !== undefined && at >= since && at <= now;
    this.lastSummary = {
      from: new Date(since).toISOString(),
      to: new Date(now).toISOString(),
      deleted: deleted.length,
      bytesDeleted: deleted.reduce((n, t) => n + t.bytes, 0),
      restored: deleted.filter((t) => t.restored).length,
      holdsPlaced: holds.filter((h) => inWeek(h.placedAt)).length,
      holdsReleased: holds.filter((h) => inWeek(h.released?.at)).length,
      holdsInForce: holds.filter((h) => !h.released).length,
      dueNextWeek: (await this.plan(7)).due.length,
    };
    this.#o.log.info({ summary: this.lastSummary }, 'retention: the week in summary');
    return this.lastSummary;
  }

  /** What the daemon runs at its start: a deletion a crash cut short is finished (or cancelled) before anything else. */
  recover(): Promise<string | undefined> {
    return this.#one.run('retention', () => this.#finishInterrupted((this.#o.now ?? Date.now)()));
  }

  /**
   * The newest tombstone's deletion, if a crash cut it short: finished, or
   * cancelled when a hold now covers it. Cut short means the recording is
   * here as the tombstone recorded it (every object, same SHA-256) and
   * nothing is in its trash place; anything else is left for an operator.
   * Returns the recording it finished.
   */
  async #finishInterrupted(now: number): Promise<string | undefined> {
    const { store, audit, log } = this.#o;
    const [last] = await newestTombstones(this.#o.tombstoneFile, 1);
    if (!last || last.restored || last.cancelled) return undefined;
    const present = await store.container(last.account, last.recording).catch(() => undefined);
    if (!present) return undefined;
    const target = `AUTH_${last.account}/${last.recording}`;
    const here = await store.manifest(last.account, last.recording);
    const inTrash = last.trashStamp !== null && existsSync(store.layout.trashedContainerDir(last.account, last.recording, last.trashStamp));
    if (inTrash || !sameManifest(here, last.manifest)) {
      log.error(
        { recording: last.recording, trashStamp: last.trashStamp, inTrash },
        'the newest tombstone names a recording here that is not the one it recorded: left as it is, for an operator',
      );
      return undefined;
    }
    const holding = await HoldBook.of(store.index).holding(store, last.account, last.recording);
    if (holding.length > 0) {
      const reason = `legal hold ${holding.map((h) => `${h.id} (case ${h.caseNumber})`).join(', ')} placed before the deletion finished`;
      const cancellation: Cancellation = {
        cancelledAt: new Date(now).toISOString(),
        account: last.account,
        recording: last.recording,
        trashStamp: last.trashStamp,
        deletedAt: last.deletedAt,
        reason,
      };
      await appendLineDurably(this.#o.tombstoneFile, JSON.stringify(cancellation));
      await audit.append({ actor: 'system', source: 'retention', action: 'retention.delete', target, result: 'cancelled', details: { reason, deletedAt: last.deletedAt } });
      log.warn({ recording: last.recording, reason }, 'an interrupted retention deletion was cancelled: the recording stays');
      return undefined;
    }
    // Its own action: the crash may have come before or after the deletion's retention.delete line.
    await audit.append({
      actor: 'system',
      source: 'retention',
      action: 'retention.delete.finished',
      target,
      result: 'ok',
      details: { rule: last.rule, objects: Object.keys(last.manifest).length, bytes: last.bytes, restorableUntil: last.restorableUntil, deletedAt: last.deletedAt },
    });
    await store.removeContainer(last.account, last.recording, last.trashStamp ? { trashStamp: last.trashStamp } : {});
    log.warn({ recording: last.recording, deletedAt: last.deletedAt }, 'an interrupted retention deletion was finished');
    return last.recording;
  }

  async #delete(due: PlannedRecording, now: number): Promise<boolean> {
    const { store, audit, log } = this.#o;
    // A hold placed since the plan was read wins.
    if ((await HoldBook.of(store.index).holding(store, due.account, due.recording)).length > 0) return false;
    const container = await store.container(due.account, due.recording).catch(() => undefined);
    if (!container) return false;
    const manifest = await store.manifest(due.account, due.recording);
    const stamp = this.#o.graceDays > 0 ? trashStamp(now) : null;
    const tombstone: Tombstone = {
      ...due,
      deletedAt: new Date(now).toISOString(),
      manifest,
      bytes: container.bytesUsed,
      holds: 'none',
      restorableUntil: stamp ? new Date(now + this.#o.graceDays * DAY_MS).toISOString() : null,
      trashStamp: stamp,
    };
    await appendLineDurably(this.#o.tombstoneFile, JSON.stringify(tombstone));
    await audit.append({
      actor: 'system',
      source: 'retention',
      action: 'retention.delete',
      target: `AUTH_${due.account}/${due.recording}`,
      result: 'ok',
      details: { rule: due.rule, keepUntil: due.keepUntil, objects: Object.keys(manifest).length, bytes: tombstone.bytes, restorableUntil: tombstone.restorableUntil },
    });
    await store.removeContainer(due.account, due.recording, stamp ? { trashStamp: stamp } : {});
    log.warn({ recording: due.recording, rule: due.rule, restorableUntil: tombstone.restorableUntil }, 'recording deleted by retention');
    return true;
  }

  /** Trash entries past their grace period leave the disk, each audited. */
  async #purge(now: number): Promise<string[]> {
    const { trashDir } = this.#o.store.layout;
    const purged: string[] = [];
    for (const account of await readdir(trashDir).catch(() => [] as string[])) {
      for (const entry of await readdir(join(trashDir, account))) {
        const at = entry.lastIndexOf('@');
        const deletedAt = at < 0 ? undefined : parseCompactTime(entry.slice(at + 1));
        if (deletedAt === undefined || deletedAt + this.#o.graceDays * DAY_MS > now) continue;
        await rm(join(trashDir, account, entry), { recursive: true, force: true });
        await this.#o.audit.append({ actor: 'system', source: 'retention', action: 'retention.purge', target: `trash:${account}/${entry}`, result: 'ok' });
        purged.push(`${account}/${entry}`);
      }
    }
    return purged;
  }
}
