/**
 * For the benchmark: a Hono server whose PUT handler stores the body with
 * edgecd's receiveToFile, reading it either from the raw Node request
 * (`incoming`, what edgecd does) or from Hono's Web stream (`web`); or
 * (`discard`) reads and drops it: the machine's loopback HTTP ceiling.
 * Prints its port on stdout, serves until killed.
 */
import { serve } from '@hono/node-server';
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { receiveToFile } from '../src/store/receive.ts';

const [mode, dir] = process.argv.slice(2) as ['incoming' | 'web' | 'discard', string];
const app = new Hono<{ Bindings: HttpBindings }>();
let n = 0;
app.put('/*', async (c) => {
  if (mode === 'discard') {
    for await (const _chunk of c.env.incoming);
    return c.text('', 201);
  }
  const body = mode === 'incoming' ? c.env.incoming : Readable.fromWeb(c.req.raw.body as import('node:stream/web').ReadableStream);
  const path = join(dir, `${mode}-${n++}`);
  const received = await receiveToFile(body, path, { maxBytes: Infinity });
  await rm(path);
  return c.text(received.md5, 201);
});
serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => process.stdout.write(`${info.port}\n`));
