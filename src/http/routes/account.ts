import type { Context } from 'hono';
import { ACCOUNT_LISTING_LIMIT } from '../../config/limits.ts';
import type { AccountEntry } from '../../store/object-store.ts';
import { listingTime, parseListingQuery, renderListing } from '../../swift/listing.ts';
import type { Env } from '../env.ts';
import { outHeaders, reply } from '../reply.ts';
import type { Handlers, StorageDeps } from './handlers.ts';

function accountHeaders(c: Context<Env>, stats: AccountEntry): void {
  const out = outHeaders(c);
  out['X-Account-Container-Count'] = String(stats.containerCount);
  out['X-Account-Object-Count'] = String(stats.objectCount);
  out['X-Account-Bytes-Used'] = String(stats.bytesUsed);
}

export function accountHandlers({ store }: StorageDeps): Handlers {
  return {
    async HEAD(c, { account }) {
      accountHeaders(c, await store.account(account));
      return reply(c, 204);
    },
    async GET(c, { account }) {
      const query = parseListingQuery(new URL(c.req.url).searchParams, c.req.header('accept'), ACCOUNT_LISTING_LIMIT);
      accountHeaders(c, await store.account(account));
      const entries = await store.listContainers(account, query);
      if (query.format === 'plain' && entries.length === 0) return reply(c, 204);
      const { body, contentType } = renderListing(entries, query.format, (e) => ({
        name: e.name,
        count: e.objectCount,
        bytes: e.bytesUsed,
        last_modified: listingTime(e.created),
      }));
      return reply(c, 200, body, contentType);
    },
  };
}
