/**
 * /v1/<account>[/<container>[/<object>]]: parses the raw path (see
 * swift/names.ts), checks the token's account, and hands the request to the
 * account, container or object handlers. Handlers only translate: HTTP in,
 * an ObjectStore call, HTTP out.
 */
import type { Context } from 'hono';
import { authorizeStorage } from '../../auth/roles.ts';
import { EdgeError } from '../../errors.ts';
import type { ContentDestination } from '../../bws/content-destination.ts';
import type { ObjectStore } from '../../store/object-store.ts';
import { parseStoragePath, type StoragePath } from '../../swift/names.ts';
import type { Env } from '../env.ts';
import { accountHandlers } from './account.ts';
import { containerHandlers } from './container.ts';
import { objectHandlers } from './object.ts';
import { SYSTEM_CONTAINER, systemDocumentHandlers, type SystemDocuments } from './system-documents.ts';

export interface StorageDeps {
  store: ObjectStore;
  /** Every mutation goes through it (sealing, registry rules); reads go to the store. */
  destination: ContentDestination;
  maxObjectBytes: number;
  systemDocuments: SystemDocuments;
}

export type Handler = (c: Context<Env>, path: Required<StoragePath>) => Promise<Response>;
export type Handlers = Partial<Record<string, Handler>>;

export function storageHandler(deps: StorageDeps) {
  const levels: Record<'account' | 'container' | 'object', Handlers> = {
    account: accountHandlers(deps),
    container: containerHandlers(deps),
    object: objectHandlers(deps),
  };
  return async function storage(c: Context<Env>): Promise<Response> {
    const path = parseStoragePath(c.env?.incoming?.url ?? c.req.path);
    if (!path) throw new EdgeError('NotFound', 'Not a storage path');
    const identity = c.get('identity');
    if (path.account !== `AUTH_${identity.account}`) {
      throw new EdgeError('Forbidden', 'The token is not valid for this account');
    }
    const level = path.object !== undefined ? 'object' : path.container !== undefined ? 'container' : 'account';
    authorizeStorage(identity.role, { method: c.req.method, level, container: path.container, object: path.object });
    const published = level === 'object' && path.container === SYSTEM_CONTAINER ? systemDocumentHandlers(deps.systemDocuments, path.object!) : undefined;
    const handlers = published ?? levels[level];
    const handler = handlers[c.req.method];
    if (!handler) {
      throw new EdgeError('MethodNotAllowed', `${c.req.method} is not supported on ${level}s`, { allow: Object.keys(handlers).join(', ') });
    }
    const account = path.account.slice('AUTH_'.length);
    return handler(c, { account, container: path.container ?? '', object: path.object ?? '' });
  };
}
