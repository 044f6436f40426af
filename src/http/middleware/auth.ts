import type { MiddlewareHandler } from 'hono';
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
