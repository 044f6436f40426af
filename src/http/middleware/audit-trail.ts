/**
 * Every storage request that matters for custody leaves a line in the audit
 * trail: each write (durable before the client hears 201), each read of
 * evidence or listing, and each refusal for want of a token or a right.
 * HEADs that succeed are not recorded: they read no evidence, and a BWS
 * makes many.
 */
import type { MiddlewareHandler } from 'hono';
import type { AuditSink } from '../../audit/trail.ts';
import { parseStoragePath, type StoragePath } from '../../swift/names.ts';
import type { Env } from '../env.ts';

export function auditTrail(audit: AuditSink): MiddlewareHandler<Env> {
  return async function auditTrail(c, next) {
    await next();
    const method = c.req.method;
    const status = c.res.status;
    const denied = status === 401 || status === 403;
    const writes = method === 'PUT' || method === 'POST';
    if (!writes && !denied && method !== 'GET') return;
    let path: StoragePath | undefined;
    try {
      path = parseStoragePath(c.env?.incoming?.url ?? c.req.path);
    } catch {
      path = undefined; // refused as malformed: recorded by its raw target below
    }
    // /status and /metrics: only refusals matter (an admin reading status is not custody).
    if (!path && !denied) return;
    const level = !path ? c.req.path : path.object !== undefined ? 'object' : path.container !== undefined ? 'container' : 'account';
    const identity = c.get('identity');
    const event = {
      actor: identity?.user ?? 'anonymous',
      ...(identity ? { role: identity.role } : {}),
      source: c.env?.incoming?.socket.remoteAddress ?? 'unknown',
      action: denied ? `denied ${method} ${level}` : method === 'GET' ? (level === 'object' ? 'object.get' : `${level}.list`) : `${level}.${method.toLowerCase()}`,
      target: path ? [path.account, path.container, path.object].filter((p) => p !== undefined).join('/') : (c.env?.incoming?.url ?? '').slice(0, 512),
      result: String(status),
      txId: c.get('txId'),
    };
    if (writes || denied) await audit.append(event);
    else audit.record(event);
  };
}
