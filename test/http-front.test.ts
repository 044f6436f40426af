/**
 * The front that accepts TCP for the HTTP server (http/server.ts createFront):
 * it reads a connection's first byte to tell TLS from plain HTTP, then hands
 * the socket over. Handed over, the socket must keep Node's backpressure: a
 * request whose body is not read yet (waiting for admission, for a lock, for
 * room) must not have that body taken into memory.
 */
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ConnectionGuard } from '../src/http/connection-guard.ts';
import { createFront } from '../src/http/server.ts';

describe('the HTTP front', () => {
  it('hands over a socket with its backpressure: a body nobody reads yet stays with the sender', async () => {
    let arrived!: (req: IncomingMessage) => void;
    const waiting = new Promise<IncomingMessage>((resolve) => (arrived = resolve));
    const http = createServer((req, res) => {
      arrived(req);
      req.once('end', () => res.end('ok'));
    });
    const front = createFront(http, [], new ConnectionGuard({ maxConnections: 8, maxPerAddress: 8, trustedAddresses: [] }), pino({ level: 'silent' }), 5_000);
    await new Promise<void>((resolve) => front.server.listen(0, '127.0.0.1', resolve));
    try {
      const body = Buffer.alloc(32 << 20, 7);
      const { port } = front.server.address() as AddressInfo;
      const answered = new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/', headers: { 'Content-Length': String(body.length) } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
        req.end(body);
      });
      const req = await waiting;
      // Until the server takes no more: a socket handed over flowing would take all 32 MiB.
      let buffered = -1;
      for (let still = 0; still < 5; ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        still = req.readableLength === buffered ? still + 1 : 0;
        buffered = req.readableLength;
      }
      assert.ok(buffered <= 1 << 20, `${buffered} bytes of an unread body held`);
      req.resume();
      assert.equal(await answered, 200);
    } finally {
      front.server.close();
    }
  });
});
