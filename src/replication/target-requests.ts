/**
 * Requests to a replication target with the spec's meaning of each answer,
 * as a body-worn system applies it, and one error type for what goes wrong:
 *
 * - a refused or dropped connection, and other 5xx: retried with backoff,
 *   moving on to the connection file's next URI where there is one;
 * - 503 (and Swift's 429/498): wait out Retry-After and retry;
 * - 401: authenticate once more, then stop the pass (refused credentials);
 * - 507: stop the pass, the target is full;
 * - a certificate that is not the pinned one: stop the pass.
 *
 * Everything else is returned for the caller to judge (`refusal` maps the
 * usual 4xx). A stop() cuts waits short and makes the next call fail.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { AuthError, CertificateError, header, retryAfterMs, TransportError, type SwiftClient, type SwiftResponse } from '../swift/client.ts';

export type PassOutcome = 'done' | 'deferred' | 'target-full' | 'auth-refused' | 'certificate-refused' | 'unreachable' | 'stopped';

/**
 * What a failure means for the pass:
 * - stop: the target can take nothing now (the pass ends with `outcome`);
 * - unreachable: the link or the target's health (5xx); the job backs off;
 * - transient: a wrong or missing answer; the job backs off;
 * - licence: the target has no licence for a user or camera (402); the job backs off, with an alarm;
 * - refused: the target refuses the content (4xx); the job waits for an operator.
 */
export type FailureKind = 'stop' | 'unreachable' | 'transient' | 'licence' | 'refused';

export class ReplicationFailure extends Error {
  override name = 'ReplicationFailure';
  readonly kind: FailureKind;
  /** For kind 'stop'. */
  readonly outcome: PassOutcome | undefined;
  /** The target's status, when it answered. */
  readonly status: number | undefined;

  constructor(kind: FailureKind, message: string, details: { outcome?: PassOutcome; status?: number } = {}) {
    super(message);
    this.kind = kind;
    this.outcome = details.outcome;
    this.status = details.status;
  }
}

const REQUEST_ATTEMPTS = 4;
/** Longest Retry-After waited out inside a pass; longer ones end the job's turn. */
const MAX_INLINE_WAIT_MS = 120_000;

/** Exponential backoff with full jitter over [d/2, d·3/2]. */
export function backoffMs(attempt: number, base: number, max: number): number {
  const d = Math.min(max, base * 2 ** attempt);
  return Math.round(d / 2 + Math.random() * d);
}

export class TargetRequests {
  readonly #client: SwiftClient;
  readonly #target: string;
  readonly #log: Logger;
  #stopping = false;
  readonly #sleepers = new Set<() => void>();
  /** Requests sent (auth excluded), for the pass report. */
  count = 0;

  constructor(client: SwiftClient, target: string, log: Logger) {
    this.#client = client;
    this.#target = target;
    this.#log = log;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Ends waits at once; every later call fails with outcome 'stopped'. */
  stop(): void {
    this.#stopping = true;
    for (const wake of [...this.#sleepers]) wake();
  }

  /** A wait that stop() cuts short. */
  sleep(ms: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  async call(method: string, path: string, headers: Record<string, string> = {}, body?: () => Promise<Readable>): Promise<SwiftResponse> {
    let reauthenticated = false;
    for (let attempt = 0; ; attempt++) {
      if (this.#stopping) throw stopped();
      const last = attempt + 1 >= REQUEST_ATTEMPTS;
      let res: SwiftResponse;
      try {
        this.count += 1;
        res = await this.#client.request(method, path, headers, body);
      } catch (err) {
        if (err instanceof AuthError) throw this.#authStop(err.response);
        if (err instanceof CertificateError)
          throw new ReplicationFailure('stop', `${this.#target}'s certificate is not trusted: ${err.message}`, { outcome: 'certificate-refused' });
        if (!(err instanceof TransportError)) throw err;
        if (last) throw new ReplicationFailure('unreachable', err.message);
        this.#failover(err.message);
        await this.sleep(backoffMs(attempt, 1000, 10_000));
        continue;
      }
      if (res.status === 401) {
        if (reauthenticated) throw this.#authStop(res);
        reauthenticated = true;
        this.#client.forgetToken();
        attempt -= 1;
        continue;
      }
      if (res.status === 507)
        throw new ReplicationFailure('stop', `${this.#target} answered 507 (insufficient storage) to ${method} ${path}`, { outcome: 'target-full', status: 507 });
      if (res.status === 503 || res.status === 429 || res.status === 498) {
        const wait = retryAfterMs(res.headers) ?? backoffMs(attempt, 2000, 30_000);
        // Told to come back much later: the whole target is busy, not this object.
        if (wait > MAX_INLINE_WAIT_MS)
          throw new ReplicationFailure('stop', `${this.#target} asks to wait ${Math.round(wait / 1000)} s (${res.status} to ${method} ${path})`, {
            outcome: 'unreachable',
            status: res.status,
          });
        if (last) throw new ReplicationFailure('unreachable', `${method} ${path}: ${res.status}, Retry-After ${header(res.headers, 'retry-after') ?? '-'}`, { status: res.status });
        this.#log.info({ target: this.#target, status: res.status, waitMs: wait }, 'target asks to slow down');
        await this.sleep(wait);
        continue;
      }
      if (res.status >= 500 && !last && res.status !== 501) {
        this.#failover(`${method} ${path}: ${res.status}`);
        await this.sleep(backoffMs(attempt, 1000, 10_000));
        continue;
      }
      return res;
    }
  }

  /** The next auth URI, as a BWS moves on when one fails. */
  #failover(why: string): void {
    const from = this.#client.authUrl;
    if (this.#client.failover()) this.#log.warn({ target: this.#target, from, to: this.#client.authUrl, why }, 'target URI failed: trying the next one');
  }

  #authStop(res: SwiftResponse): ReplicationFailure {
    return new ReplicationFailure('stop', `${this.#target} refused the credentials (${res.status}): check the target's user and key (or its connection file)`, {
      outcome: 'auth-refused',
      status: res.status,
    });
  }
}

/** A failure for an answer the caller did not expect: 5xx is the target's health, 402 a licence, other 4xx a refusal. */
export function refusal(res: SwiftResponse, what: string): ReplicationFailure {
  const message = `${what}: ${res.status} ${res.text.trim().slice(0, 300)}`;
  if (res.status >= 500) return new ReplicationFailure('unreachable', message, { status: res.status });
  if (res.status === 402) return new ReplicationFailure('licence', message, { status: 402 });
  if (res.status === 404 || res.status === 408 || res.status === 409) return new ReplicationFailure('transient', message, { status: res.status });
  return new ReplicationFailure('refused', message, { status: res.status });
}

export const stopped = () => new ReplicationFailure('stop', 'edgecd is stopping', { outcome: 'stopped' });

export const is2xx = (res: SwiftResponse) => res.status >= 200 && res.status < 300;
