/**
 * Console sessions: a random id in an HttpOnly, Secure, SameSite=Strict
 * cookie, and a CSRF token bound to it that every form carries. Like auth
 * tokens, only the id's SHA-256 is kept, and sessions live in memory (a
 * restart logs everyone out). A session ends after 30 idle minutes or 12
 * hours, at logout, or when its user is disabled, re-keyed or given another
 * role.
 *
 * A user holds at most MAX_PER_USER sessions (a new one ends that user's
 * oldest), and the station MAX_SESSIONS: when those are all live, a new
 * login is refused rather than ending someone else's session.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Identity } from '../../auth/credentials.ts';

export interface Session {
  identity: Identity;
  csrf: string;
  createdAt: number;
  lastSeen: number;
  /** Objects this session has been shown (playback is audited once per object, not per Range request). */
  viewed: Set<string>;
}

export const SESSION_COOKIE = 'edgecd_console';
const IDLE_MS = 30 * 60_000;
const MAX_AGE_MS = 12 * 3_600_000;
const MAX_SESSIONS = 1000;
const MAX_PER_USER = 20;

const digest = (id: string) => createHash('sha256').update(id).digest('hex');

export class ConsoleSessions {
  readonly #sessions = new Map<string, Session>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A new session and its cookie value; undefined when the station holds as many as it may. */
  open(identity: Identity): { id: string; session: Session } | undefined {
    this.#prune();
    const own = [...this.#sessions].filter(([, s]) => s.identity.user === identity.user);
    if (own.length >= MAX_PER_USER)
      this.#sessions.delete(own[0]![0]); // the user's oldest
    else if (this.#sessions.size >= MAX_SESSIONS) return undefined;
    const id = randomBytes(32).toString('base64url');
    const now = this.#now();
    const session: Session = { identity, csrf: randomBytes(24).toString('base64url'), createdAt: now, lastSeen: now, viewed: new Set() };
    this.#sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session for a cookie value, touched. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const key = digest(id);
    const session = this.#sessions.get(key);
    if (!session) return undefined;
    const now = this.#now();
    if (now - session.lastSeen > IDLE_MS || now - session.createdAt > MAX_AGE_MS) {
      this.#sessions.delete(key);
      return undefined;
    }
    session.lastSeen = now;
    return session;
  }

  close(id: string | undefined): void {
    if (id) this.#sessions.delete(digest(id));
  }

  /** Constant-time check of a form's CSRF token. */
  static csrfMatches(session: Session, token: string | undefined): boolean {
    if (!token) return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  #prune(): void {
    const now = this.#now();
    for (const [key, s] of this.#sessions) if (now - s.lastSeen > IDLE_MS || now - s.createdAt > MAX_AGE_MS) this.#sessions.delete(key);
  }
}
