import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { EdgeError, badRequest } from '../../lib/errors.ts';
import { CUSTODY_SHA256, custodyKeysOf } from '../../audit/custody-metadata.ts';
import type { ObjectEntry } from '../../store/object-store.ts';
import { guessContentType } from '../../swift/content-type.ts';
import { rangePicker } from '../../swift/range.ts';
import type { Env } from '../env.ts';
import { httpDate, readMeta, setMetaHeaders } from '../headers.ts';
import { outHeaders, reply, webBody } from '../reply.ts';
import type { Handlers, StorageDeps } from './handlers.ts';

function objectHeaders(c: Context<Env>, entry: ObjectEntry): void {
  const out = outHeaders(c);
  out['Content-Type'] = entry.contentType;
  out['Etag'] = entry.md5;
  out['Last-Modified'] = httpDate(entry.lastModified);
  out['X-Timestamp'] = entry.timestamp;
  out['Accept-Ranges'] = 'bytes';
  // The evidence hash, for tools that pull and verify (not part of Swift).
  out['X-Edgecd-Sha256'] = entry.sha256;
  if (entry.deleteAt !== undefined) out['X-Delete-At'] = String(entry.deleteAt);
  setMetaHeaders(c, entry.meta, 'object');
}

/**
 * X-Delete-At (or X-Delete-After, or X-Remove-Delete-At) as Swift takes it:
 * s since the epoch, in the future. Only a replicating station may set it:
 * it carries that station's retention, which retention here then weighs
 * (lifecycle/station-delete-at.ts). Undefined: the request names none.
 */
function requestedDeleteAt(c: Context<Env>, now: number): number | null | undefined {
  const at = c.req.header('x-delete-at');
  const after = c.req.header('x-delete-after');
  if (c.req.header('x-remove-delete-at') !== undefined) return null;
  if (at === undefined && after === undefined) return undefined;
  if (c.get('identity').role !== 'replicator') throw new EdgeError('Forbidden', 'X-Delete-At and X-Delete-After are taken only from a replicating station');
  const value = after !== undefined ? (/^\d{1,10}$/.test(after) ? Math.floor(now / 1000) + Number(after) : Number.NaN) : /^\d{1,10}$/.test(at!) ? Number(at) : Number.NaN;
  if (Number.isNaN(value)) throw badRequest(`${after !== undefined ? 'X-Delete-After' : 'X-Delete-At'} must be a whole number of seconds`);
  if (value * 1000 <= now) throw badRequest('X-Delete-At in past');
  return value;
}

/** Upload size from the headers: Content-Length, or undefined for chunked; 411 for neither. */
function uploadLength(c: Context<Env>, maxBytes: number): number | undefined {
  const length = c.req.header('content-length');
  if (length === undefined) {
    if (!/\bchunked\b/i.test(c.req.header('transfer-encoding') ?? '')) {
      throw new EdgeError('LengthRequired', 'Content-Length or Transfer-Encoding: chunked is required');
    }
    return undefined;
  }
  if (!/^\d+$/.test(length)) throw badRequest('Invalid Content-Length');
  const bytes = Number(length);
  if (bytes > maxBytes) throw new EdgeError('EntityTooLarge', `Object is larger than the maximum of ${maxBytes} bytes`);
  return bytes;
}

export function objectHandlers({ store, destination, maxObjectBytes }: StorageDeps): Handlers {
  return {
    async PUT(c, { account, container, object }) {
      if (c.req.header('x-copy-from') !== undefined) throw badRequest('Server-side copy is not supported');
      // A manifest would be stored as the empty object it is, and read back empty.
      if (c.req.header('x-object-manifest') !== undefined || c.req.query('multipart-manifest') !== undefined) {
        throw badRequest('Large-object manifests are not supported; upload objects whole (up to objects.maxBytes)');
      }
      const expectedBytes = uploadLength(c, maxObjectBytes);
      const incoming = c.env?.incoming;
      // biome-ignore lint/suspicious/noExplicitAny: the DOM ReadableStream type of Request.body and node:stream/web's differ only in name
      const body = incoming ?? (c.req.raw.body ? Readable.fromWeb(c.req.raw.body as any) : Readable.from([]));
      const etag = c.req
        .header('etag')
        ?.replace(/^"(.*)"$/, '$1')
        .toLowerCase();
      const role = c.get('identity').role;
      const meta = custodyKeysOf(role, readMeta(c, 'object').set);
      const deleteAt = requestedDeleteAt(c, Date.now());
      // A replicating station sends the SHA-256 it recorded: checked here too.
      const sha256 = meta[CUSTODY_SHA256]?.toLowerCase();
      if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256)) throw badRequest(`X-Object-Meta-Edgecd-Sha256 must be 64 hex digits`);
      const entry = await destination.putObject(
        {
          account,
          container,
          object,
          body,
          expectedBytes,
          etag,
          sha256,
          contentType: c.req.header('content-type') || guessContentType(object),
          meta,
          mustNotExist: c.req.header('if-none-match')?.trim() === '*',
          ...(deleteAt ? { deleteAt } : {}),
          auditLine: c.get('auditLine'),
        },
        role === 'replicator',
      );
      c.set('bytesIn', entry.bytes);
      const out = outHeaders(c);
      out['Etag'] = entry.md5;
      out['Last-Modified'] = httpDate(entry.lastModified);
      out['X-Edgecd-Sha256'] = entry.sha256;
      return reply(c, 201);
    },
    async POST(c, { account, container, object }) {
      const { role } = c.get('identity');
      // As in Swift, a POST's metadata replaces the object's, X-Delete-At included.
      const deleteAt = requestedDeleteAt(c, Date.now()) ?? null;
      await destination.postObject(account, container, object, custodyKeysOf(role, readMeta(c, 'object').set), c.req.header('content-type') || undefined, {
        deleteAt,
        replicator: role === 'replicator',
      });
      return reply(c, 202);
    },
    async HEAD(c, { account, container, object }) {
      const entry = await store.object(account, container, object);
      objectHeaders(c, entry);
      outHeaders(c)['Content-Length'] = String(entry.bytes);
      return reply(c, 200);
    },
    async GET(c, { account, container, object }) {
      const read = await store.readObject(account, container, object, rangePicker(c.req.header('range')));
      objectHeaders(c, read.entry);
      const out = outHeaders(c);
      const body = webBody(read.body);
      if (read.range) {
        const { start, end } = read.range;
        out['Content-Range'] = `bytes ${start}-${end}/${read.entry.bytes}`;
        out['Content-Length'] = String(end - start + 1);
        return reply(c, 206, body);
      }
      out['Content-Length'] = String(read.entry.bytes);
      return reply(c, 200, body);
    },
  };
}
