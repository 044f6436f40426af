/**
 * /v1/<account>[/<container>[/<object>]]: parses the raw path (see
 * swift/names.ts), checks the token's account, and hands the request to the
 * account, container or object handlers. Handlers only translate: HTTP in,
 * an ObjectStore call, HTTP out.
 */
import type { Context } from 'hono';
import { authorizeStorage } from '../../auth/roles.ts';
import { EdgeError } from '../../lib/errors.ts';
import { parseStoragePath } from '../../swift/names.ts';
import type { Env } from '../env.ts';
import { accountHandlers } from './account.ts';
import { containerHandlers } from './container.ts';
import type { Handlers, StorageDeps } from './handlers.ts';
import { objectHandlers } from './object.ts';
import { SYSTEM_CONTAINER, systemDocumentHandlers } from './system-documents.ts';

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
