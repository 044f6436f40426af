/** The one place where domain errors become Swift status codes. */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { EdgeError, type ErrorCode } from '../lib/errors.ts';
import type { Env } from './env.ts';
import { outHeaders, reply } from './reply.ts';

export const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  BadRequest: 400,
  Unauthorized: 401,
  PaymentRequired: 402,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  LengthRequired: 411,
  Conflict: 409,
  PreconditionFailed: 412,
  EntityTooLarge: 413,
  RangeNotSatisfiable: 416,
  EtagMismatch: 422,
  TooManyRequests: 429,
  RequestTimeout: 408,
  UriTooLong: 414,
  HeadersTooLarge: 431,
  ClientDisconnected: 499 as ContentfulStatusCode,
  InsufficientStorage: 507,
  Unavailable: 503,
};

const KEEP_ON_ERROR = new Set(['X-Trans-Id', 'X-Openstack-Request-Id', 'X-Timestamp']);

export function errorResponse(c: Context<Env>, err: unknown): Response {
  if (!(err instanceof EdgeError)) {
    c.get('log').error({ err, tx: c.get('txId') }, 'request failed');
    return reply(c, 500, `Internal Server Error (transaction ${c.get('txId')})\n`, 'text/plain; charset=utf-8');
  }
  const status = STATUS[err.code];
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
