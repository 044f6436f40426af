/**
 * Failed logins slow down the next attempt, per source address and per user
 * name, with a delay that doubles after a few free mistakes. While locked,
 * attempts are refused (429 + Retry-After) without running scrypt.
 *
 * A user's lock holds whatever address the next attempt comes from, so a
 * guesser cannot escape it by changing address; it stays short (at most a
 * minute). Anyone can fail logins with a known user name, so a user's lock
 * never applies to the addresses that user has logged in from (the body-worn
 * system's docking stations): those are locked only by their own failures,
 * and a correct key clears its address's tally. An address's lock grows to a
 * quarter of an hour.
 */
export interface ThrottleVerdict {
  /** How long the caller must wait before trying again, ms (0: go ahead). */
  waitMs: number;
  /** This failure started a lock (log it once, not at every refused attempt). */
  locked?: 'source' | 'user';
}

interface Tally {
  failures: number;
  lastAt: number;
  lockedUntil: number;
}

const FREE_FAILURES = 5;
const BASE_DELAY_MS = 1000;
const MAX_SOURCE_DELAY_MS = 15 * 60_000;
const MAX_USER_DELAY_MS = 60_000;
/** A key quiet this long starts over. */
const FORGET_AFTER_MS = 60 * 60_000;
const MAX_TALLIES = 50_000;
/** An address a user logged in from stays trusted for the user's own lock this long after its last success. */
const KNOWN_FOR_MS = 30 * 86_400_000;
const MAX_KNOWN = 10_000;

export class LoginThrottle {
  readonly #tallies = new Map<string, Tally>();
  /** user and address → when a correct key last came from there. */
  readonly #known = new Map<string, number>();
  readonly #now: () => number;
  #prunedAt = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Before checking a key: how long this source or user must still wait. */
  check(source: string, user: string): ThrottleVerdict {
    const now = this.#now();
    const bySource = this.#lockedFor(`s:${source}`, now);
    const known = this.#known.get(`${user}\0${source}`);
    const trusted = known !== undefined && now - known < KNOWN_FOR_MS;
    return { waitMs: Math.max(bySource, trusted ? 0 : this.#lockedFor(`u:${user}`, now)) };
  }

  failed(source: string, user: string): ThrottleVerdict {
    const now = this.#now();
    this.#prune(now);
    const bySource = this.#count(`s:${source}`, now, MAX_SOURCE_DELAY_MS);
    const byUser = this.#count(`u:${user}`, now, MAX_USER_DELAY_MS);
    const waitMs = Math.max(bySource.waitMs, byUser.waitMs);
    const locked = bySource.waitMs > 0 ? 'source' : byUser.waitMs > 0 ? 'user' : undefined;
    return locked ? { waitMs, locked } : { waitMs };
  }

  /** A correct key clears the user's tally and its address's, and makes the address one the user logs in from. */
  succeeded(user: string, source: string): void {
    this.#tallies.delete(`u:${user}`);
    this.#tallies.delete(`s:${source}`);
    const key = `${user}\0${source}`;
    this.#known.delete(key); // re-inserted last: the map stays in order of last success
    this.#known.set(key, this.#now());
    for (const oldest of this.#known.keys()) {
      if (this.#known.size <= MAX_KNOWN) break;
      this.#known.delete(oldest);
    }
  }

  #lockedFor(key: string, now: number): number {
    const t = this.#tallies.get(key);
    return t ? Math.max(0, t.lockedUntil - now) : 0;
  }

  #count(key: string, now: number, maxDelay: number): { waitMs: number } {
    const t = this.#tallies.get(key) ?? { failures: 0, lastAt: now, lockedUntil: 0 };
    if (now - t.lastAt > FORGET_AFTER_MS) t.failures = 0;
    t.failures += 1;
    t.lastAt = now;
    const over = t.failures - FREE_FAILURES;
    const waitMs = over > 0 ? Math.min(maxDelay, BASE_DELAY_MS * 2 ** (over - 1)) : 0;
    t.lockedUntil = now + waitMs;
    this.#tallies.set(key, t);
    return { waitMs };
  }

  /** Bounded memory however many addresses try. */
  #prune(now: number): void {
    if (now - this.#prunedAt < 60_000 && this.#tallies.size < 10_000) return;
    this.#prunedAt = now;
    for (const [key, t] of this.#tallies) if (now - t.lastAt > FORGET_AFTER_MS && t.lockedUntil <= now) this.#tallies.delete(key);
    // Under a spray from very many addresses, forget the earliest seen first.
    for (const key of this.#tallies.keys()) {
      if (this.#tallies.size <= MAX_TALLIES) break;
      this.#tallies.delete(key);
    }
  }
}
