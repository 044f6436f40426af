import type { MiddlewareHandler } from 'hono';
import type { LoginGate } from '../login-gate.ts';
import type { LiveCredentials } from '../../auth/credentials.ts';
import type { TokenRegistry } from '../../auth/tokens.ts';
import { EdgeError } from '../../lib/errors.ts';
import type { Env } from '../env.ts';

export interface RequireTokenOptions {
  tokens: TokenRegistry;
  /** A token dies with its user: disabled, removed, or given another role or account. */
  credentials: LiveCredentials;
}

/**
 * Admits storage requests that carry a live token (X-Auth-Token, or Swift's
 * older X-Storage-Token) and records whose it is.
 *
 * @example app.use('/v1/*', requireToken({ tokens }))
 */
export function requireToken(options: RequireTokenOptions): MiddlewareHandler<Env> {
  const { tokens, credentials } = options;
  return async function requireToken(c, next) {
    const token = c.req.header('x-auth-token') ?? c.req.header('x-storage-token');
    if (!token) throw new EdgeError('Unauthorized', 'Authentication required: send X-Auth-Token from GET /auth/v1.0');
    const issued = tokens.check(token);
    if (!issued) throw new EdgeError('Unauthorized', 'The auth token is invalid or has expired');
    const { identity } = issued;
    const now = (await credentials.current()).active(identity.user);
    // Bound to the key it was proved with: a login checked against credentials a moment
    // old, just as the key changed, gets a token the new key voids all the same.
    if (!now || now.role !== identity.role || now.account !== identity.account || now.credential !== identity.credential || issued.issuedAt < now.tokensNotBefore) {
      throw new EdgeError('Unauthorized', 'The auth token was revoked: its user was disabled, or given another key, role or account');
    }
    c.set('identity', identity);
    await next();
  };
}

/**
 * For monitoring (/status, /metrics): Prometheus and most scrapers cannot do
 * the Swift login, so an admin's name and key may come as HTTP Basic
 * credentials instead of a token. They are checked, throttled and (when
 * wrong) audited exactly as a login; a successful scrape adds no audit line.
 */
export function basicOrToken(logins: LoginGate, token: MiddlewareHandler<Env>): MiddlewareHandler<Env> {
  return async function basicOrToken(c, next) {
    const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(c.req.header('authorization') ?? '');
    if (!basic || c.req.header('x-auth-token') !== undefined) return token(c, next);
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new EdgeError('Unauthorized', 'Basic credentials: user:key');
    const source = c.env?.incoming?.socket.remoteAddress ?? 'unknown';
    const identity = await logins.check({ user: decoded.slice(0, colon), key: decoded.slice(colon + 1), source, txId: c.get('txId'), action: 'auth (basic)', log: c.get('log') });
    c.set('identity', identity);
    await next();
  };
}
