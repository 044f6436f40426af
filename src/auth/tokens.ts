/**
 * Auth tokens (Swift tempauth style: AUTH_tk<hex>). Only the token's SHA-256
 * is kept, and lookups go by that hash, so the time a lookup takes says
 * nothing useful about the secret. Tokens live in memory: after a restart a
 * client re-authenticates on its first 401, as Swift clients do.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Identity } from './credentials.ts';

interface Issued {
  identity: Identity;
  issuedAt: number;
  expiresAt: number;
}

export class TokenRegistry {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #tokens = new Map<string, Issued>();
  #lastPrune = 0;

  constructor(ttlSeconds: number, now: () => number = Date.now) {
    this.#ttlMs = ttlSeconds * 1000;
    this.#now = now;
  }

  issue(identity: Identity): { token: string; expiresAt: number } {
    const now = this.#now();
    this.#prune(now);
    const token = 'AUTH_tk' + randomBytes(16).toString('hex');
    const expiresAt = now + this.#ttlMs;
    this.#tokens.set(digest(token), { identity, issuedAt: now, expiresAt });
    return { token, expiresAt };
  }

  /** The identity a live token was issued to, and when. */
  check(token: string): { identity: Identity; issuedAt: number } | undefined {
    const issued = this.#tokens.get(digest(token));
    if (!issued) return undefined;
    if (issued.expiresAt <= this.#now()) {
      this.#tokens.delete(digest(token));
      return undefined;
    }
    return { identity: issued.identity, issuedAt: issued.issuedAt };
  }

  #prune(now: number): void {
    if (now - this.#lastPrune < 60_000) return;
    this.#lastPrune = now;
    for (const [key, issued] of this.#tokens) if (issued.expiresAt <= now) this.#tokens.delete(key);
  }
}

const digest = (token: string) => createHash('sha256').update(token).digest('hex');
