import type { Context } from 'hono';
import { CONTAINER_LISTING_LIMIT } from '../../config/limits.ts';
import { swiftTimestamp, type ContainerEntry } from '../../store/object-store.ts';
import { listingTime, parseListingQuery, renderListing } from '../../swift/listing.ts';
import type { Env } from '../env.ts';
import { readMeta, setMetaHeaders } from '../headers.ts';
import { outHeaders, reply } from '../reply.ts';
import type { Handlers, StorageDeps } from './handlers.ts';

function containerHeaders(c: Context<Env>, entry: ContainerEntry): void {
  const out = outHeaders(c);
  out['X-Container-Object-Count'] = String(entry.objectCount);
  out['X-Container-Bytes-Used'] = String(entry.bytesUsed);
  out['X-Timestamp'] = swiftTimestamp(entry.created); // Swift: the creation time
  setMetaHeaders(c, entry.meta, 'container');
}

export function containerHandlers({ store, destination }: StorageDeps): Handlers {
  return {
    async PUT(c, { account, container }) {
      const created = await destination.putContainer(account, container, readMeta(c, 'container'));
      return reply(c, created ? 201 : 202);
    },
    async POST(c, { account, container }) {
      await destination.postContainer(account, container, readMeta(c, 'container'));
      return reply(c, 204);
    },
    async HEAD(c, { account, container }) {
      containerHeaders(c, await store.container(account, container));
      return reply(c, 204);
    },
    async GET(c, { account, container }) {
      const query = parseListingQuery(new URL(c.req.url).searchParams, c.req.header('accept'), CONTAINER_LISTING_LIMIT);
      const entry = await store.container(account, container);
      const entries = await store.listObjects(account, container, query);
      containerHeaders(c, entry);
      if (query.format === 'plain' && entries.length === 0) return reply(c, 204);
      const { body, contentType } = renderListing(entries, query.format, (e) => ({
        name: e.name,
        bytes: e.bytes,
        hash: e.md5,
        last_modified: listingTime(e.lastModified),
        content_type: e.contentType,
      }));
      return reply(c, 200, body, contentType);
    },
  };
}
