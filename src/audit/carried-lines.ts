/**
 * Audit lines carried by commits: an upload's line and its index commit
 * share one group commit.
 *
 * Without this, a 201 waited for two syncs in a row: the index's journal,
 * then the trail's fdatasync. Now the line is made when the body checks
 * out, journaled in the same synced index write as the upload, and the 201
 * goes once that write is durable. The line then reaches the trail in its
 * next group; once it is durable there, the index copy goes.
 *
 *   made ─► journaled with the commit (synced) ─► kept under `auditLines`
 *        ─► appended to the trail (fdatasync) ─► removed from the index
 *
 * A crash anywhere in between leaves the line in the index (the journal, or
 * `auditLines` once the commit applied). At the next start, before anything
 * is served, recover() appends each line the trail does not hold, marked
 * as restored. The trail's order is the order lines reached it, as before;
 * a restored line is dated when it is appended and says in its details when
 * its upload was committed.
 */
import { randomBytes } from 'node:crypto';
import type { CarriedAuditLine, IndexDb } from '../store/index-db.ts';
import { eventBody, type AuditEvent } from './audit-format.ts';
import type { AuditLog } from './audit-log.ts';

/** What a restored line says in its details. */
const RESTORED = 'appended at start from the index: the process stopped before the trail held it';

export class AuditCarrier {
  readonly #audit: AuditLog;
  readonly #index: IndexDb;
  readonly #onError: (err: unknown) => void;
  /** Keys sort in the order lines were made; unique across processes sharing the index over time. */
  readonly #tag = randomBytes(4).toString('hex');
  #seq = 0;
  #delivering = 0;
  #idleWaiters: (() => void)[] = [];

  constructor(audit: AuditLog, index: IndexDb, onError: (err: unknown) => void) {
    this.#audit = audit;
    this.#index = index;
    this.#onError = onError;
  }

  /** The event's line, for a commit to carry. Its time is now. */
  carry(event: AuditEvent): CarriedAuditLine {
    const body = eventBody(event);
    if (body instanceof Error) throw body;
    const key = `${Date.now().toString(36).padStart(9, '0')}-${(this.#seq++).toString(36).padStart(8, '0')}-${this.#tag}`;
    // Any line queued from now on gets a higher seq than the trail's durable head.
    return { key, body, floor: this.#audit.head.seq };
  }

  /**
   * A committed line into the trail, then out of the index. Not awaited by
   * the request: the index holds the line meanwhile. A failure leaves it
   * there for the next start (a failed trail refuses all requests anyway).
   */
  deliver(line: CarriedAuditLine): void {
    this.#delivering += 1;
    this.#audit
      .appendBody(line.body)
      .then(() => this.#index.write([{ type: 'del', sublevel: this.#index.auditLines, key: line.key }], false))
      .catch(this.#onError)
      .finally(() => {
        this.#delivering -= 1;
        if (this.#delivering === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
      });
  }

  /** Resolves once every delivery started so far has ended: before the index closes. */
  idle(): Promise<void> {
    if (this.#delivering === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Appends the lines the index carries and the trail lacks, then clears
   * them from the index. Run at start, after the store's own recovery (which
   * moves lines out of the journal) and before anything is served or logged.
   * Idempotent: a line already appended, as made or as restored, is not
   * appended again. Returns how many it appended.
   */
  static async recover(audit: AuditLog, index: IndexDb): Promise<number> {
    const carried = await index.auditLines.iterator().all();
    if (carried.length === 0) return 0;
    // Each line's restored text is fixed, and synced, before any is appended: a stop midway restores none twice.
    const unfixed = carried.filter(([, line]) => typeof line.restored !== 'string');
    for (const entry of unfixed) entry[1] = { ...entry[1], restored: restoredBody(entry[1].body) };
    if (unfixed.length > 0)
      await index.write(
        unfixed.map(([key, value]) => ({ type: 'put', sublevel: index.auditLines, key, value })),
        true,
      );
    let lowest = Number.POSITIVE_INFINITY;
    let highest = 0;
    for (const [, line] of carried) {
      lowest = Math.min(lowest, line.floor);
      highest = Math.max(highest, line.floor);
    }
    // A trail begun afresh since (its head below the lines' floors) is searched whole.
    const after = audit.head.seq >= highest && Number.isSafeInteger(lowest) ? lowest : 0;
    const held = await audit.holds(new Set(carried.flatMap(([, line]) => [line.body, line.restored!])), after, carried.length);
    const missing = carried.filter(([, line]) => !held.has(line.body) && !held.has(line.restored!));
    // Queued together, in the order they were made: one group commit.
    await Promise.all(missing.map(([, line]) => audit.appendBody(line.restored!)));
    // Synced: a line restored must not be restored twice.
    await index.write(
      carried.map(([key]) => ({ type: 'del', sublevel: index.auditLines, key })),
      true,
    );
    return missing.length;
  }
}

/**
 * The line as restored: the event as made, dated when it is appended (the
 * trail's times then only move forward, as anchor checks expect), with
 * details saying when the upload was committed and where the line came
 * from. The index is checked like any input: what does not parse as an
 * event is restored as a line saying so.
 */
function restoredBody(body: string): string {
  let event: (AuditEvent & { time?: unknown }) | undefined;
  try {
    event = JSON.parse(`{${body}}`);
  } catch {
    event = undefined;
  }
  const committed = typeof event?.time === 'string' && !Number.isNaN(Date.parse(event.time)) ? event.time : undefined;
  const details = event?.details !== undefined && typeof event.details === 'object' && event.details !== null && !Array.isArray(event.details) ? event.details : {};
  const restored = event && committed ? eventBody({ ...event, details: { ...details, restored: RESTORED, committed } }) : new Error('not an event');
  if (typeof restored === 'string') return restored;
  const unreadable = eventBody({
    actor: 'system',
    source: 'daemon',
    action: 'audit.unreadable',
    result: 'restored as text',
    details: { text: body.slice(0, 4096), why: restored.message },
  });
  return unreadable as string;
}
