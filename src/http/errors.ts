/** Domain errors as Swift answers them: the status (lib/errors.ts), the headers a client needs, a plain-text reason. */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { EdgeError, STATUS } from '../lib/errors.ts';
import type { Env } from './env.ts';
import { outHeaders, reply } from './reply.ts';

const KEEP_ON_ERROR = new Set(['X-Trans-Id', 'X-Openstack-Request-Id', 'X-Timestamp']);

export function errorResponse(c: Context<Env>, err: unknown): Response {
  if (!(err instanceof EdgeError)) {
    c.get('log').error({ err, tx: c.get('txId') }, 'request failed');
    return reply(c, 500, `Internal Server Error (transaction ${c.get('txId')})\n`, 'text/plain; charset=utf-8');
  }
  const status = STATUS[err.code] as ContentfulStatusCode;
  const d = err.details;
  // Headers collected for a success (Etag, metadata) must not leak into an error.
  const headers = outHeaders(c);
  for (const name of Object.keys(headers)) if (!KEEP_ON_ERROR.has(name)) delete headers[name];
  if (d.allow !== undefined) headers['Allow'] = String(d.allow);
  if (d.size !== undefined) headers['Content-Range'] = `bytes */${d.size}`;
  if (d.retryAfter !== undefined) headers['Retry-After'] = String(d.retryAfter);
  if (err.code === 'Unauthorized') headers['Www-Authenticate'] = 'Swift realm="edgecd"';
  return reply(c, status, err.message + '\n', 'text/plain; charset=utf-8');
}
