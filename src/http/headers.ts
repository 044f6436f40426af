/** Small translations between domain values and Swift response headers. */
import type { Context } from 'hono';
import { metaHeaders, readMetaHeaders, type MetaTarget, type MetaUpdate } from '../swift/metadata.ts';
import type { MetaMap } from '../swift/metadata.ts';
import type { Env } from './env.ts';

/** HTTP-date of a timestamp, rounded up to the second as Swift does. */
export const httpDate = (ms: number) => new Date(Math.ceil(ms / 1000) * 1000).toUTCString();

/** The request's headers as Node parsed them: lower-case names, latin1 values. */
export function headerPairs(c: Context<Env>): [string, string][] {
  const incoming = c.env?.incoming;
  if (incoming) {
    return Object.entries(incoming.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]);
  }
  return [...c.req.raw.headers.entries()];
}

export function readMeta(c: Context<Env>, target: MetaTarget): MetaUpdate {
  return readMetaHeaders(headerPairs(c), target);
}

export function setMetaHeaders(c: Context<Env>, meta: MetaMap, target: MetaTarget): void {
  const out = c.get('out');
  for (const [name, value] of metaHeaders(meta, target)) out[name] = value;
}
