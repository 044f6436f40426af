/** GET /auth/v1.0: Swift v1 auth (tempauth), as the BWS and swift clients use it. */
import type { Context } from 'hono';
import type { TokenRegistry } from '../../auth/tokens.ts';
import type { AuditSink } from '../../audit/trail.ts';
import { EdgeError } from '../../lib/errors.ts';
import type { Env } from '../env.ts';
import type { LoginGate } from '../login-gate.ts';
import { outHeaders, reply } from '../reply.ts';

export interface AuthDeps {
  tokens: TokenRegistry;
  audit: AuditSink;
  logins: LoginGate;
}

export function authHandler(deps: AuthDeps) {
  return async function auth(c: Context<Env>): Promise<Response> {
    const user = c.req.header('x-auth-user') ?? c.req.header('x-storage-user');
    // The spec's text spells the key header "Auth-Key"; Swift's are X-Auth-Key and X-Storage-Pass.
    const key = c.req.header('x-auth-key') ?? c.req.header('x-storage-pass') ?? c.req.header('auth-key');
    if (!user || !key) throw new EdgeError('Unauthorized', 'Send X-Auth-User and X-Auth-Key');
    const source = c.env?.incoming?.socket.remoteAddress ?? 'unknown';
    const identity = await deps.logins.check({ user, key, source, txId: c.get('txId'), action: 'auth', log: c.get('log') });
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
