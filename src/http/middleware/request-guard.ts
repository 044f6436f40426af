/**
 * Limits checked before any work: the request target's length, the number
 * of header fields, and — on a station serving HTTPS — plain HTTP only for
 * /healthcheck. Each refusal is a clear 4xx (the request log records it).
 */
import type { MiddlewareHandler } from 'hono';
import { EdgeError } from '../../lib/errors.ts';
import type { Env } from '../env.ts';

export interface RequestGuardOptions {
  maxUrlBytes: number;
  maxHeaders: number;
  /** Plain HTTP is served (development) rather than only /healthcheck. */
  plaintextAllowed: boolean;
}

export function requestGuard(options: RequestGuardOptions): MiddlewareHandler<Env> {
  return async function requestGuard(c, next) {
    const incoming = c.env?.incoming;
    if (incoming) {
      if (Buffer.byteLength(incoming.url ?? '') > options.maxUrlBytes) throw new EdgeError('UriTooLong', `The request target is longer than ${options.maxUrlBytes} bytes`);
      if (incoming.rawHeaders.length / 2 > options.maxHeaders) throw new EdgeError('HeadersTooLarge', `More than ${options.maxHeaders} header fields`);
      // RFC 9112: two Hosts, or a transfer coding other than chunked, cannot be served faithfully.
      if (incoming.headersDistinct.host && incoming.headersDistinct.host.length > 1) throw new EdgeError('BadRequest', 'More than one Host header');
      const te = incoming.headers['transfer-encoding'];
      if (te !== undefined && te.trim().toLowerCase() !== 'chunked')
        throw new EdgeError('BadRequest', `Transfer-Encoding ${JSON.stringify(te)} is not supported: send the body as is, or chunked`);
      const encrypted = (incoming.socket as { encrypted?: boolean }).encrypted === true;
      if (!encrypted && !options.plaintextAllowed && c.req.path !== '/healthcheck') {
        throw new EdgeError('Forbidden', 'This station serves HTTPS only (plain HTTP answers /healthcheck alone): use the https:// address in the connection file');
      }
    }
    await next();
  };
}
