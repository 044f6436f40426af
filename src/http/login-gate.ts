/**
 * A login attempt, however it arrives (Swift auth headers, or the console's
 * form): throttled per address and user, checked, and written to the audit
 * trail whichever way it goes.
 */
import type { Identity, LiveCredentials } from '../auth/credentials.ts';
import type { LoginThrottle } from '../auth/login-throttle.ts';
import type { ConnectionGuard } from './connection-guard.ts';
import type { AuditSink } from '../audit/trail.ts';
import { EdgeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { DenialBudget } from './middleware/audit-trail.ts';

export interface LoginAttempt {
  /** "user" or Swift's "account:user". */
  user: string;
  key: string;
  source: string;
  txId?: string;
  /** The audit action: 'auth' (Swift) or 'console.sign-in'. */
  action: string;
  log: Logger;
}

export class LoginGate {
  readonly #credentials: LiveCredentials;
  readonly #throttle: LoginThrottle;
  readonly #audit: AuditSink;
  readonly #lockedAttempts: DenialBudget;
  readonly #connections: ConnectionGuard;

  constructor(deps: { credentials: LiveCredentials; throttle: LoginThrottle; audit: AuditSink; connections: ConnectionGuard }) {
    this.#credentials = deps.credentials;
    this.#throttle = deps.throttle;
    this.#audit = deps.audit;
    this.#connections = deps.connections;
    this.#lockedAttempts = new DenialBudget(deps.audit);
  }

  /** The identity the user and key prove; throws 401 (wrong) or 429 (locked out). */
  async check(a: LoginAttempt): Promise<Identity> {
    const actor = a.user.slice(0, 128);
    // "user" or Swift's "account:user": one name, whichever way it is written, for the throttle too.
    const parts = a.user.split(':');
    if (parts.length > 2 || a.user.length > 129) throw new EdgeError('Unauthorized', 'Invalid user or key');
    const name = parts.at(-1)!;
    const waiting = this.#throttle.check(a.source, name);
    if (waiting.waitMs > 0) {
      await this.#lockedAttempts.append(a.source, { actor, source: a.source, action: a.action, result: 'locked', txId: a.txId });
      throw new EdgeError('TooManyRequests', 'Too many failed logins: wait before trying again', { retryAfter: Math.ceil(waiting.waitMs / 1000) });
    }
    const identity = await (await this.#credentials.current()).verify(a.user, a.key);
    if (!identity) {
      const verdict = this.#throttle.failed(a.source, name);
      if (verdict.locked) a.log.warn({ source: a.source, user: actor, lockedFor: verdict.locked, waitMs: verdict.waitMs }, 'failed logins: locked out');
      await this.#audit.append({ actor, source: a.source, action: a.action, result: verdict.locked ? 'failed, locked' : 'failed', txId: a.txId });
      throw new EdgeError('Unauthorized', 'Invalid user or key');
    }
    this.#throttle.succeeded(name, a.source);
    // The body-worn system's and replicating stations' addresses keep their connections under load (see ConnectionGuard).
    if (identity.role === 'uploader' || identity.role === 'replicator') this.#connections.trust(a.source);
    return identity;
  }
}
