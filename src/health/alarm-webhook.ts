/**
 * Alarms pushed to a webhook, for stations without Prometheus (off unless
 * health.alarmWebhook.url is set). Each alarm the station watch raises is
 * queued in the index and POSTed as JSON, one at a time, oldest first; a
 * delivery that fails waits out a backoff (retrySeconds, doubling, at most an
 * hour) and is tried again, after a restart too. Every delivery and every
 * failed attempt is in the audit trail (recorded, not awaited: an alarm about the
 * trail itself still goes out). Nothing here is awaited by a request.
 *
 * The body: { station, alarm: { kind, severity, message, details, raisedAt }, attempt }.
 */
import { randomBytes } from 'node:crypto';
import type { AbstractSublevel } from 'abstract-level';
import type { Level } from 'level';
import type { Logger } from 'pino';
import type { AuditSink } from '../audit/trail.ts';
import { OperatorError } from '../lib/errors.ts';
import type { IndexDb } from '../store/index-db.ts';

export interface Alarm {
  /** What kind of trouble: storage, cpu-temperature, read-only, replication, video, audit-trail. */
  kind: string;
  severity: 'warning' | 'critical';
  message: string;
  details: Record<string, unknown>;
  /** ISO time it was raised. */
  raisedAt: string;
}

interface Queued {
  alarm: Alarm;
  attempts: number;
  /** ms since the epoch before which it is not tried again. */
  notBefore: number;
}

export interface AlarmWebhookOptions {
  index: IndexDb;
  url: string;
  station: string;
  audit: AuditSink;
  log: Logger;
  /** The first retry's wait; each later one doubles, up to MAX_BACKOFF_MS. */
  retryMs: number;
  timeoutMs?: number;
  now?: () => number;
}

type Sub<V> = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, V>;

const MAX_BACKOFF_MS = 3_600_000;
/** The queue keeps at most this many undelivered alarms; the oldest give way (and the log says so). */
const MAX_QUEUED = 1000;

export class AlarmWebhook {
  readonly #o: AlarmWebhookOptions;
  readonly #queue: Sub<Queued>;
  readonly #now: () => number;
  #running: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: AlarmWebhookOptions) {
    AlarmWebhook.checkUrl(options.url);
    this.#o = options;
    this.#queue = options.index.db.sublevel<string, Queued>('wa', { valueEncoding: 'json' });
    this.#now = options.now ?? Date.now;
  }

  /** Refuses (at start, before anything runs) a URL that is not http(s). */
  static checkUrl(url: string): void {
    const protocol = URL.canParse(url) ? new URL(url).protocol : undefined;
    if (protocol !== 'https:' && protocol !== 'http:') throw new OperatorError(`health.alarmWebhook.url: an http or https URL, not ${JSON.stringify(url)}`);
  }

  /** Queues an alarm for delivery; never waits for the delivery itself. */
  raise(alarm: Omit<Alarm, 'raisedAt'>): void {
    if (this.#closed) return;
    const now = this.#now();
    const key = `${now.toString(36).padStart(9, '0')}-${randomBytes(4).toString('hex')}`;
    void this.#queue
      .put(key, { alarm: { ...alarm, raisedAt: new Date(now).toISOString() }, attempts: 0, notBefore: 0 })
      .then(() => this.#trim())
      .then(() => this.deliver())
      .catch((err: unknown) => this.#o.log.error({ err, alarm: alarm.kind }, 'could not queue an alarm for the webhook'));
  }

  /** Delivers what is due now (also at start: what a restart left queued). Resolves when this round is over. */
  deliver(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#round()
      .catch((err: unknown) => this.#o.log.error({ err }, 'alarm webhook: the queue could not be read or written'))
      .finally(() => {
        this.#running = undefined;
        if (this.#again && !this.#closed) {
          this.#again = false;
          void this.deliver();
        }
      });
    return this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  async #round(): Promise<void> {
    let wakeAt = Infinity;
    for await (const [key, queued] of this.#queue.iterator()) {
      if (this.#closed) return;
      if (queued.notBefore > this.#now()) {
        wakeAt = Math.min(wakeAt, queued.notBefore);
        continue;
      }
      const failure = await this.#post(queued);
      if (failure === undefined) {
        await this.#queue.del(key);
        this.#o.audit.record({
          actor: 'system',
          source: 'alarm-webhook',
          action: 'alarm.webhook',
          target: queued.alarm.kind,
          result: 'sent',
          details: { attempts: queued.attempts + 1 },
        });
        continue;
      }
      const attempts = queued.attempts + 1;
      const notBefore = this.#now() + Math.min(MAX_BACKOFF_MS, this.#o.retryMs * 2 ** (attempts - 1));
      await this.#queue.put(key, { ...queued, attempts, notBefore });
      this.#o.audit.record({
        actor: 'system',
        source: 'alarm-webhook',
        action: 'alarm.webhook',
        target: queued.alarm.kind,
        result: 'failed',
        details: { attempts, error: failure },
      });
      this.#o.log.warn({ alarm: queued.alarm.kind, attempts, error: failure, retryAt: new Date(notBefore).toISOString() }, 'alarm webhook failed; trying again later');
      wakeAt = Math.min(wakeAt, notBefore);
      break; // one at a time, in order: the rest wait for this one
    }
    if (wakeAt !== Infinity && !this.#closed) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.deliver(), Math.max(0, wakeAt - this.#now()));
      this.#timer.unref();
    }
  }

  /** Undefined when the webhook took it (2xx), else why not. */
  async #post(queued: Queued): Promise<string | undefined> {
    try {
      const res = await fetch(this.#o.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ station: this.#o.station, alarm: queued.alarm, attempt: queued.attempts + 1 }),
        redirect: 'error',
        signal: AbortSignal.timeout(this.#o.timeoutMs ?? 10_000),
      });
      await res.body?.cancel();
      return res.ok ? undefined : `answered ${res.status}`;
    } catch (err) {
      return (err as Error).message;
    }
  }

  async #trim(): Promise<void> {
    const keys = await this.#queue.keys({ reverse: true, limit: MAX_QUEUED + 100 }).all();
    if (keys.length <= MAX_QUEUED) return;
    const dropped = keys.slice(MAX_QUEUED);
    await this.#queue.batch(dropped.map((key) => ({ type: 'del' as const, key })));
    this.#o.log.warn({ dropped: dropped.length }, 'alarm webhook queue full: the oldest undelivered alarms were dropped');
  }
}
