/** GET /auth/v1.0: Swift v1 auth (tempauth), as the BWS and swift clients use it. */
import type { Context } from 'hono';
import type { LiveCredentials } from '../../auth/credentials.ts';
import type { LoginThrottle } from '../../auth/login-throttle.ts';
import type { TokenRegistry } from '../../auth/tokens.ts';
import type { AuditSink } from '../../audit/trail.ts';
import { EdgeError } from '../../errors.ts';
import type { Env } from '../env.ts';
import { DenialBudget } from '../middleware/audit-trail.ts';
import { outHeaders, reply } from '../reply.ts';

export interface AuthDeps {
  credentials: LiveCredentials;
  tokens: TokenRegistry;
  throttle: LoginThrottle;
  audit: AuditSink;
}

export function authHandler(deps: AuthDeps) {
  const lockedAttempts = new DenialBudget(deps.audit);
  return async function auth(c: Context<Env>): Promise<Response> {
    const user = c.req.header('x-auth-user') ?? c.req.header('x-storage-user');
    // The spec's text spells the key header "Auth-Key"; Swift's are X-Auth-Key and X-Storage-Pass.
    const key = c.req.header('x-auth-key') ?? c.req.header('x-storage-pass') ?? c.req.header('auth-key');
    if (!user || !key) throw new EdgeError('Unauthorized', 'Send X-Auth-User and X-Auth-Key');
    const source = c.env?.incoming?.socket.remoteAddress ?? 'unknown';
    const actor = user.slice(0, 128);
    // "user" or Swift's "account:user": one name, whichever way it is written, for the throttle too.
    const parts = user.split(':');
    if (parts.length > 2 || user.length > 129) throw new EdgeError('Unauthorized', 'Invalid user or key');
    const name = parts.at(-1)!;
    const waiting = deps.throttle.check(source, name);
    if (waiting.waitMs > 0) {
      await lockedAttempts.append(source, { actor, source, action: 'auth', result: 'locked', txId: c.get('txId') });
      throw new EdgeError('TooManyRequests', 'Too many failed logins: wait before trying again', { retryAfter: Math.ceil(waiting.waitMs / 1000) });
    }
    const identity = await (await deps.credentials.current()).verify(user, key);
    if (!identity) {
      const verdict = deps.throttle.failed(source, name);
      if (verdict.locked) c.get('log').warn({ source, user: actor, lockedFor: verdict.locked, waitMs: verdict.waitMs }, 'failed logins: locked out');
      await deps.audit.append({ actor, source, action: 'auth', result: verdict.locked ? 'failed, locked' : 'failed', txId: c.get('txId') });
      throw new EdgeError('Unauthorized', 'Invalid user or key');
    }
    deps.throttle.succeeded(identity.user);
    await deps.audit.append({ actor: identity.user, role: identity.role, source, action: 'auth', result: 'ok', txId: c.get('txId') });
    c.set('identity', identity);
    const { token, expiresAt } = deps.tokens.issue(identity);
    // The storage URL names the host the way the client reached us, so it works
    // through whichever of the connection file's addresses the BWS used.
    const host = c.req.header('host');
    if (!host || !/^[A-Za-z0-9.\-:[\]]+$/.test(host)) throw new EdgeError('BadRequest', 'A valid Host header is required');
    const scheme = (c.env?.incoming?.socket as { encrypted?: boolean } | undefined)?.encrypted ? 'https' : 'http';
    const storageUrl = `${scheme}://${host}/v1/AUTH_${identity.account}`;
    const out = outHeaders(c);
    out['X-Auth-Token'] = token;
    out['X-Storage-Token'] = token;
    out['X-Storage-Url'] = storageUrl;
    out['X-Auth-Token-Expires'] = String(Math.max(0, Math.floor((expiresAt - Date.now()) / 1000)));
    return reply(c, 200);
  };
}
