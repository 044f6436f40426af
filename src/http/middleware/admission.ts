import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { MiddlewareHandler } from 'hono';
import { EdgeError } from '../../lib/errors.ts';
import type { Env } from '../env.ts';

export interface AdmissionOptions {
  /** Requests served at once (all kinds). */
  maxRequests: number;
  /** Uploads (object PUTs) served at once; small ones (SMALL_UPLOAD_BYTES) are not counted. */
  maxUploads: number;
  /** How many requests may wait for a slot before the rest get 503. */
  queue: number;
  /** Longest a queued request waits for a slot. */
  queueTimeoutMs: number;
  /** Event-loop delay (p99 over the last second) above which new uploads get 503. */
  maxEventLoopDelayMs: number;
  /** V8 heap in use above which new uploads get 503. */
  maxHeapBytes: number;
}

export interface AdmissionStats {
  requests: number;
  uploads: number;
  waiting: number;
  refused: number;
  eventLoopDelayMs: number;
}

/** Counting semaphore with a bounded FIFO of waiters. */
class Slots {
  readonly #max: number;
  active = 0;
  readonly #waiters: (() => void)[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  tryTake(): boolean {
    if (this.active >= this.#max) return false;
    this.active += 1;
    return true;
  }

  /** Waits for a slot; false on timeout. */
  wait(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const grant = () => {
        clearTimeout(timer);
        this.active += 1;
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(grant);
        if (i !== -1) this.#waiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      this.#waiters.push(grant);
    });
  }

  release(): void {
    this.active -= 1;
    this.#waiters.shift()?.();
  }
}

const UPLOAD = /^\/v1\/[^/?]+\/[^/?]+\/[^?]/;

/**
 * An upload that declares at most this many bytes (a recording's metadata,
 * its key files) needs no upload slot: it holds one body-sized buffer and its
 * commit shares the group commits of the others, so the upload bound, which
 * guards memory and disk bandwidth against large bodies, would only queue it
 * behind them. It still counts against maxRequests and the pressure signals.
 */
export const SMALL_UPLOAD_BYTES = 64 * 1024;

function isSmallUpload(contentLength: string | undefined): boolean {
  return contentLength !== undefined && /^\d{1,6}$/.test(contentLength) && Number(contentLength) <= SMALL_UPLOAD_BYTES;
}

/**
 * Admission control: bounds on concurrent requests and uploads, a short wait
 * queue, and event-loop delay and heap size as pressure signals. Past them a
 * request gets 503 with a Retry-After sized from the backlog, at once and
 * without its body being read, so an overloaded station keeps answering and
 * the BWS simply comes back later.
 *
 * @example app.use('/v1/*', admission({ maxRequests: 64, maxUploads: 8, ... }))
 */
export function admission(options: AdmissionOptions): MiddlewareHandler<Env> & { stats(): AdmissionStats } {
  const requests = new Slots(options.maxRequests);
  const uploads = new Slots(options.maxUploads);
  let smallUploads = 0; // in flight without an upload slot, still reported as uploads
  let refused = 0;
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  let delayMs = 0;
  setInterval(() => {
    delayMs = delay.percentile(99) / 1e6;
    delay.reset();
  }, 1000).unref();

  const refuse = (why: string, backlog: number, capacity: number): never => {
    refused += 1;
    const retryAfter = Math.min(60, Math.max(1, Math.ceil(backlog / Math.max(1, capacity))));
    throw new EdgeError('Unavailable', `Busy: ${why}; try again in ${retryAfter} s`, { retryAfter });
  };

  const take = async (slots: Slots, capacity: number, what: string): Promise<void> => {
    if (slots.tryTake()) return;
    if (slots.waiting >= options.queue) refuse(`${what} at their limit and the queue is full`, slots.active + slots.waiting, capacity);
    if (!(await slots.wait(options.queueTimeoutMs))) refuse(`no ${what} slot came free`, slots.active + slots.waiting, capacity);
  };

  const middleware = async function admission(c: Parameters<MiddlewareHandler<Env>>[0], next: () => Promise<void>): Promise<void> {
    const isUpload = c.req.method === 'PUT' && UPLOAD.test(c.env?.incoming?.url ?? c.req.path);
    if (isUpload) {
      if (delayMs > options.maxEventLoopDelayMs) refuse(`event loop delayed ${Math.round(delayMs)} ms`, uploads.active, options.maxUploads);
      if (getHeapStatistics().used_heap_size > options.maxHeapBytes) refuse('memory pressure', uploads.active, options.maxUploads);
    }
    await take(requests, options.maxRequests, 'requests');
    try {
      if (!isUpload) return await next();
      if (isSmallUpload(c.req.header('content-length'))) {
        smallUploads += 1;
        try {
          return await next();
        } finally {
          smallUploads -= 1;
        }
      }
      await take(uploads, options.maxUploads, 'uploads');
      try {
        await next();
      } finally {
        uploads.release();
      }
    } finally {
      requests.release();
    }
  };
  return Object.assign(middleware as MiddlewareHandler<Env>, {
    stats: (): AdmissionStats => ({
      requests: requests.active,
      uploads: uploads.active + smallUploads,
      waiting: requests.waiting + uploads.waiting,
      refused,
      eventLoopDelayMs: delayMs,
    }),
  });
}
