import { randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { RequestStats } from '../../health/request-stats.ts';
import type { Logger } from '../../lib/log.ts';
import type { Env } from '../env.ts';

export interface RequestLogOptions {
  log: Logger;
  /** Counts every answered request (for /status and /metrics). */
  stats?: RequestStats;
}

const processTag = randomBytes(7).toString('hex').slice(0, 13);
let counter = 0;

/** Swift's transaction id shape: tx<21 hex>-<10 hex epoch seconds>. */
export function newTransId(now = Date.now()): string {
  counter = (counter + 1) >>> 0;
  return `tx${processTag}${counter.toString(16).padStart(8, '0')}-${Math.floor(now / 1000)
    .toString(16)
    .padStart(10, '0')}`;
}

/**
 * Gives every request a transaction id (X-Trans-Id, X-Openstack-Request-Id),
 * an X-Timestamp, and exactly one log line once the response is ready (for
 * an upload that is after the body is stored; a download's body streams on
 * after the line, and bytesOut is its Content-Length).
 *
 * @example app.use(requestLog({ log }))
 */
export function requestLog(options: RequestLogOptions): MiddlewareHandler<Env> {
  const { log, stats } = options;
  return async function requestLog(c, next) {
    const started = performance.now();
    const now = Date.now();
    const txId = newTransId(now);
    c.set('txId', txId);
    c.set('log', log);
    const out: Record<string, string> = { 'X-Trans-Id': txId, 'X-Openstack-Request-Id': txId, 'X-Timestamp': (now / 1000).toFixed(5) };
    c.set('out', out);
    await next();
    const length = out['Content-Length'];
    stats?.record(c.req.method, c.res.status, c.get('bytesIn'));
    const incoming = c.env?.incoming;
    log.info(
      {
        tx: txId,
        method: c.req.method,
        path: incoming?.url ?? c.req.path,
        status: c.res.status,
        bytesIn: c.get('bytesIn'),
        bytesOut: length === undefined ? undefined : Number(length),
        ms: Math.round((performance.now() - started) * 100) / 100,
        user: c.get('identity')?.user,
      },
      'request',
    );
  };
}
