/**
 * Responses with Swift's header spelling. Hono's `c.header` goes through a
 * WHATWG Headers object, which lower-cases every name; Swift clients and the
 * BWS see `X-Container-Meta-Userid` from a real Swift, so edgecd collects
 * headers in a plain record (passed through as-is by @hono/node-server) and
 * builds the Response here. Hono answers HEAD by re-wrapping the response,
 * which would lower-case the names again, so the record is also left on the
 * bindings for `swiftFetch` (app.ts) to restore.
 */
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { noteBodyBytes } from '../lib/young-gc.ts';
import type { Env } from './env.ts';

export type OutHeaders = Record<string, string>;

/** The response headers being collected for this request. */
export const outHeaders = (c: Context<Env>): OutHeaders => c.get('out');

/**
 * A response body from Node data: a file's read stream, a generator of lines
 * or tar blocks. Not Readable.toWeb, which copies every chunk into a new
 * buffer (`new Uint8Array(buffer)` in Node 20), nor ReadableStream.from, whose
 * cancel before the first read (a HEAD, a client gone before the answer)
 * leaves a read stream, and its file, open. Chunks are pulled one at a time,
 * as the response drains.
 */
export function webBody(source: Readable | AsyncIterable<Uint8Array | string>): ReadableStream {
  const chunks = source[Symbol.asyncIterator]();
  return new ReadableStream(
    {
      async pull(controller) {
        const { value, done } = await chunks.next();
        if (done) return controller.close();
        controller.enqueue(value);
        noteBodyBytes(value.length);
      },
      async cancel(reason) {
        if (source instanceof Readable) source.destroy();
        await chunks.return?.(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

export function reply(c: Context<Env>, status: number, body: string | ReadableStream | null = null, contentType?: string): Response {
  const headers = outHeaders(c);
  if (contentType !== undefined) headers['Content-Type'] = contentType;
  // A body left unread (a refused upload) is not read to the end only to be
  // discarded: the connection closes instead and the client opens a new one.
  // What arrives before it closes is still read, into buffers that count.
  const incoming = c.env?.incoming;
  if (incoming && !incoming.readableEnded && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
    headers['Connection'] = 'close';
    if (incoming.listenerCount('data') === 0) incoming.on('data', (chunk: Buffer) => noteBodyBytes(chunk.length));
  }
  if (typeof body === 'string') headers['Content-Length'] = String(Buffer.byteLength(body));
  else if (body === null && status !== 204 && status !== 304 && headers['Content-Length'] === undefined) headers['Content-Length'] = '0';
  if (c.req.method === 'HEAD') {
    if (body instanceof ReadableStream) void body.cancel();
    if (c.env) c.env.swiftHeaders = headers;
    return new Response(null, { status, headers });
  }
  return new Response(body, { status, headers });
}
