import type { MiddlewareHandler } from 'hono';
import type { TokenRegistry } from '../../auth/tokens.ts';
import { EdgeError } from '../../errors.ts';
import type { Env } from '../env.ts';

export interface RequireTokenOptions {
  tokens: TokenRegistry;
}

/**
 * Admits storage requests that carry a live token (X-Auth-Token, or Swift's
 * older X-Storage-Token) and records whose it is.
 *
 * @example app.use('/v1/*', requireToken({ tokens }))
 */
export function requireToken(options: RequireTokenOptions): MiddlewareHandler<Env> {
  const { tokens } = options;
  return async function requireToken(c, next) {
    const token = c.req.header('x-auth-token') ?? c.req.header('x-storage-token');
    if (!token) throw new EdgeError('Unauthorized', 'Authentication required: send X-Auth-Token from GET /auth/v1.0');
    const identity = tokens.check(token);
    if (!identity) throw new EdgeError('Unauthorized', 'The auth token is invalid or has expired');
    c.set('identity', identity);
    await next();
  };
}
