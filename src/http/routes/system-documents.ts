/**
 * System/Capabilities.json and System/Categories.json: documents edgecd
 * publishes to the BWS from its own configuration. They are read-only over
 * the API (the reference server lets any token overwrite them).
 */
import { EdgeError } from '../../lib/errors.ts';
import { outHeaders, reply } from '../reply.ts';
import type { Handler, Handlers, SystemDocuments } from './handlers.ts';

export const SYSTEM_CONTAINER = 'System';
const NAMES: Record<string, keyof SystemDocuments> = {
  'Capabilities.json': 'capabilities',
  'Categories.json': 'categories',
};

/** The handlers for `System/<object>` when it is one of the published documents. */
export function systemDocumentHandlers(documents: SystemDocuments, object: string): Handlers | undefined {
  // Own keys only: a name like __proto__ or constructor is an ordinary object name.
  const which = Object.hasOwn(NAMES, object) ? NAMES[object] : undefined;
  if (!which) return undefined;
  const serve: Handler = async (c) => {
    const doc = await documents[which]();
    if (!doc) throw new EdgeError('NotFound', `${SYSTEM_CONTAINER}/${object} is not published: no categories are set`);
    const out = outHeaders(c);
    out['Content-Type'] = 'application/json';
    out['Etag'] = doc.etag;
    out['Content-Length'] = String(doc.body.length);
    return reply(c, 200, c.req.method === 'HEAD' ? null : new Blob([doc.body]).stream());
  };
  const refuse: Handler = async () => {
    throw new EdgeError('Forbidden', `${SYSTEM_CONTAINER}/${object} is published by edgecd from its configuration and cannot be changed over the API`);
  };
  return { GET: serve, HEAD: serve, PUT: refuse, POST: refuse };
}
