/**
 * Parsing of Swift storage paths, /v1/<account>[/<container>[/<object>]].
 *
 * Works on the raw request target, before any URL normalisation: a WHATWG URL
 * parser would silently fold `/c/%2e%2e/x` into `/x` and address another
 * container. Here every such trick is a 400 instead.
 */
import { badRequest } from '../lib/errors.ts';
import { MAX_CONTAINER_NAME_LENGTH, MAX_OBJECT_NAME_LENGTH } from '../config/limits.ts';

export interface StoragePath {
  account: string;
  container?: string;
  object?: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const HEX = /^[0-9a-fA-F]{2}$/;
// Control characters (C0, DEL, C1) are never part of a name.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Percent-decodes to bytes, then requires valid (hence non-overlong) UTF-8. */
export function decodePathComponent(raw: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const ch = raw.charCodeAt(i);
    if (ch === 0x25 /* % */) {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX.test(hex)) throw badRequest('Invalid percent-encoding in path');
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (ch > 0xff) {
      throw badRequest('Invalid character in path');
    } else {
      bytes.push(ch);
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw badRequest('Path is not valid UTF-8');
  }
}

function checkName(name: string, what: 'Container' | 'Object', max: number): void {
  if (CONTROL.test(name)) throw badRequest(`${what} name contains control characters`);
  if (Buffer.byteLength(name, 'utf8') > max) throw badRequest(`${what} name length of ${Buffer.byteLength(name, 'utf8')} longer than ${max}`);
  // Dot segments are refused outright: they mean nothing in Swift and are the
  // classic way out of a directory. Backslash counts as a separator here too.
  if (name.split(/[/\\]/).some((seg) => seg === '.' || seg === '..')) throw badRequest(`${what} name contains a '.' or '..' segment`);
}

/** Validates a container name as Swift does: 1–256 bytes, no '/'. */
export function checkContainerName(name: string): void {
  if (name.length === 0) throw badRequest('Container name is empty');
  if (name.includes('/')) throw badRequest("Container name contains '/'");
  checkName(name, 'Container', MAX_CONTAINER_NAME_LENGTH);
}

export function checkObjectName(name: string): void {
  if (name.length === 0) throw badRequest('Object name is empty');
  checkName(name, 'Object', MAX_OBJECT_NAME_LENGTH);
}

/**
 * Parses the path part of a raw request target under /v1/. Returns undefined
 * for paths outside the storage API; throws 400 for malformed ones.
 */
export function parseStoragePath(rawTarget: string): StoragePath | undefined {
  const q = rawTarget.indexOf('?');
  // Absolute form (RFC 9112 §3.2.2): only the path matters here.
  const rawPath = (q === -1 ? rawTarget : rawTarget.slice(0, q)).replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
  if (!rawPath.startsWith('/v1/')) return undefined;
  const path = decodePathComponent(rawPath.slice('/v1/'.length));
  const first = path.indexOf('/');
  const account = first === -1 ? path : path.slice(0, first);
  if (account.length === 0 || CONTROL.test(account)) throw badRequest('Invalid account in path');
  if (first === -1) return { account };
  const rest = path.slice(first + 1);
  const second = rest.indexOf('/');
  const container = second === -1 ? rest : rest.slice(0, second);
  const object = second === -1 ? '' : rest.slice(second + 1);
  if (container.length === 0) {
    if (object.length > 0) throw badRequest('Container name is empty');
    return { account };
  }
  checkContainerName(container);
  if (object.length === 0) return { account, container };
  checkObjectName(object);
  return { account, container, object };
}
