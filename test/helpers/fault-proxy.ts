/**
 * A programmable HTTP reverse proxy on 127.0.0.1 (ephemeral port) that sits in
 * front of a Swift-API server on loopback, so tests can make a "central" Swift
 * target misbehave: answer with a canned status, cut an upload mid-body, lie
 * about the Etag, or stall a request.
 *
 * Bodies are streamed both ways with backpressure, never buffered whole.
 * Every response carrying `X-Storage-Url` (Swift auth v1.0) gets that URL's
 * host:port rewritten to the proxy's, so clients keep going through the proxy.
 * If the upstream cannot be reached (or fails before answering), the proxy
 * answers 502; if it fails mid-response, the client connection is cut.
 */
import { Agent, STATUS_CODES, createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  /** Answer without forwarding; the request body is read and discarded first (so the client isn't reset). */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Forward the request; after `afterBytes` bytes of the REQUEST body have been forwarded, destroy both the client socket and the upstream request (the upstream sees an aborted upload; the client sees a reset/EPIPE/socket hang up). */
  | { kind: 'drop-mid-body'; afterBytes: number }
  /** Forward; in the response, replace the Etag header's value with a wrong md5-looking hex (same length, e.g. 'deadbeef…'), keeping everything else. */
  | { kind: 'wrong-etag' }
  /** Forward, but hold the request `ms` milliseconds before forwarding. */
  | { kind: 'delay'; ms: number };

export interface FaultRule {
  method?: string; // e.g. 'PUT'; undefined = any
  path?: RegExp; // tested against the decoded-or-raw request path (use the raw req.url); undefined = any
  times: number; // how many matching requests it applies to (Infinity allowed); decremented per match
  fault: Fault;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  status: number | 'dropped';
  fault?: Fault['kind'];
  bytesIn: number;
}

/** Hop-by-hop headers: meaningful for one connection only, never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/** Drops hop-by-hop headers (and those a Connection header names) from a rawHeaders list. */
function endToEnd(raw: readonly string[], extraDrop: readonly string[] = []): string[] {
  const drop = new Set([...HOP_BY_HOP, ...extraDrop]);
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') {
      for (const token of raw[i + 1]!.split(',')) if (token.trim()) drop.add(token.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!drop.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** Same length, same non-hex characters (quotes, W/), hex digits replaced by a fixed pattern differing from `value`. */
function wrongEtag(value: string): string {
  for (const pattern of ['deadbeef', 'feedface', '0badf00d']) {
    let i = 0;
    const wrong = value.replace(/[0-9a-f]/gi, () => pattern[i++ % pattern.length]!);
    if (wrong !== value) return wrong;
  }
  return `${value}0`; // no hex digits at all: can't keep the length and still differ
}

function rewriteStorageUrl(value: string, port: number): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*/i, `$1127.0.0.1:${port}`);
}

function ruleMatches(rule: FaultRule, req: IncomingMessage): boolean {
  if (!(rule.times > 0)) return false;
  if (rule.method !== undefined && rule.method.toUpperCase() !== req.method) return false;
  if (rule.path !== undefined) {
    rule.path.lastIndex = 0; // a /g or /y RegExp is stateful
    if (!rule.path.test(req.url ?? '')) return false;
  }
  return true;
}

export class FaultProxy {
  readonly port: number;
  /** Every request seen, in arrival order. `status` is set when the proxy sends the response head; it is 'dropped' until then, and when the proxy cut the client (drop-mid-body, upstream failure mid-response) or the client went away before an answer. */
  readonly requests: ProxiedRequest[] = [];
  readonly #upstreamPort: number;
  readonly #server: Server;
  readonly #rules: FaultRule[] = [];
  readonly #clientSockets = new Set<Socket>();
  readonly #upstreamRequests = new Set<ClientRequest>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** One connection per upstream request: no stale keep-alive sockets, and destroying a request really kills its upload. */
  readonly #agent = new Agent({ keepAlive: false });
  #closed = false;

  private constructor(server: Server, port: number, upstreamPort: number) {
    this.#server = server;
    this.port = port;
    this.#upstreamPort = upstreamPort;
  }

  static async start(upstreamPort: number): Promise<FaultProxy> {
    // No request timeout: tests may trickle bodies or delay for a long time.
    const server = createServer({ requestTimeout: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const proxy = new FaultProxy(server, (server.address() as AddressInfo).port, upstreamPort);
    server.on('error', () => {});
    server.on('connection', (socket: Socket) => {
      proxy.#clientSockets.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => proxy.#clientSockets.delete(socket));
    });
    server.on('clientError', (_err: Error, socket: Socket) => socket.destroy());
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      try {
        proxy.#handle(req, res);
      } catch {
        res.destroy();
      }
    });
    return proxy;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Rules are checked in insertion order; the first with times > 0 that matches applies. */
  add(rule: FaultRule): void {
    this.#rules.push(rule);
  }

  /** Drops all rules. */
  clear(): void {
    this.#rules.length = 0;
  }

  /** Closes the listener and destroys open client and upstream sockets. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const r of this.#upstreamRequests) r.destroy();
    for (const s of this.#clientSockets) s.destroy();
    this.#server.closeAllConnections();
    this.#agent.destroy();
    await closed;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const entry: ProxiedRequest = { method: req.method ?? '', path: req.url ?? '', status: 'dropped', bytesIn: 0 };
    this.requests.push(entry);
    req.on('error', () => {});
    res.on('error', () => {});

    let fault: Fault | undefined;
    const rule = this.#rules.find((r) => ruleMatches(r, req));
    if (rule) {
      rule.times -= 1;
      fault = rule.fault;
      entry.fault = fault.kind;
    }

    if (fault?.kind === 'status') {
      const { status, headers = {}, body = STATUS_CODES[status] ?? '' } = fault;
      req.on('data', (chunk: Buffer) => (entry.bytesIn += chunk.length));
      req.on('end', () => {
        if (res.destroyed || res.headersSent) return;
        const hasType = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
        entry.status = status;
        try {
          res.writeHead(status, hasType || !body ? headers : { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
          res.end(body);
        } catch {
          entry.status = 'dropped';
          res.destroy();
        }
      });
      req.resume();
      return;
    }

    if (fault?.kind === 'delay') {
      // The body isn't read meanwhile: the client is held by backpressure.
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        if (this.#closed || res.destroyed) return;
        try {
          this.#forward(req, res, entry, undefined);
        } catch {
          res.destroy();
        }
      }, fault.ms);
      this.#timers.add(timer);
      res.once('close', () => {
        clearTimeout(timer);
        this.#timers.delete(timer);
      });
      return;
    }

    this.#forward(req, res, entry, fault);
  }

  #forward(req: IncomingMessage, res: ServerResponse, entry: ProxiedRequest, fault: Fault | undefined): void {
    const headers = endToEnd(req.rawHeaders, ['host', 'expect']);
    headers.unshift('Host', `127.0.0.1:${this.#upstreamPort}`);
    const upReq = httpRequest({ host: '127.0.0.1', port: this.#upstreamPort, method: req.method, path: req.url, headers, agent: this.#agent });
    this.#upstreamRequests.add(upReq);

    // drop-mid-body: never let the upload complete. With a Content-Length body
    // shorter than (or equal to) afterBytes, its last byte is withheld; with a
    // chunked body that ends first, the drop happens at its end (the final
    // chunk is never sent).
    let limit: number | undefined;
    if (fault?.kind === 'drop-mid-body') {
      limit = Math.max(0, fault.afterBytes);
      const declared = Number(req.headers['content-length']);
      if (req.headers['content-length'] !== undefined && Number.isFinite(declared) && limit >= declared) limit = Math.max(0, declared - 1);
    }
    let dropping = false;

    const drop = (last: Buffer): void => {
      dropping = true;
      req.off('data', onData);
      req.pause();
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(fallback);
        this.#timers.delete(fallback);
        entry.status = 'dropped';
        upReq.destroy();
        req.socket.destroy();
      };
      // In case a write callback never comes (upstream gone before connecting).
      const fallback = setTimeout(finish, 2000);
      this.#timers.add(fallback);
      if (upReq.destroyed) {
        finish();
        return;
      }
      if (last.length > 0) {
        // The callback runs once the bytes are handed to the upstream socket.
        upReq.write(last, () => finish());
      } else {
        // Nothing to forward: still get the request head to the upstream, so
        // it sees a started-then-aborted request rather than a bare connection.
        upReq.flushHeaders();
        const afterConnect = (s: Socket): void => {
          if (s.connecting) s.once('connect', () => setImmediate(finish));
          else setImmediate(finish);
        };
        if (upReq.socket) afterConnect(upReq.socket);
        else upReq.once('socket', afterConnect);
      }
    };

    let forwarded = 0;
    const onData = (chunk: Buffer): void => {
      if (dropping) return;
      if (upReq.destroyed || upReq.writableEnded) return; // upstream gone: discard, keep draining the client
      if (limit !== undefined && forwarded + chunk.length >= limit) {
        const last = chunk.subarray(0, limit - forwarded);
        forwarded += last.length;
        entry.bytesIn = forwarded;
        drop(last);
        return;
      }
      forwarded += chunk.length;
      entry.bytesIn = forwarded;
      if (!upReq.write(chunk)) {
        req.pause();
        upReq.once('drain', () => {
          if (!dropping) req.resume();
        });
      }
    };
    req.on('data', onData);
    req.on('end', () => {
      if (dropping) return;
      if (limit !== undefined) return drop(Buffer.alloc(0));
      if (!upReq.destroyed) upReq.end();
    });

    upReq.on('error', (err: NodeJS.ErrnoException) => {
      if (dropping) return;
      if (!res.headersSent && !res.destroyed) {
        entry.status = 502;
        try {
          res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end(`fault-proxy: upstream error: ${err.code ?? err.message}\n`);
        } catch {
          res.destroy();
        }
      } else if (!res.writableFinished) {
        entry.status = 'dropped';
        res.destroy();
      }
    });
    upReq.on('close', () => {
      this.#upstreamRequests.delete(upReq);
      // Don't leave the client stuck on backpressure from a dead upstream.
      if (!dropping && !req.complete && req.isPaused()) req.resume();
    });
    // The client went away before the response was complete: abort upstream too.
    res.once('close', () => {
      if (!res.writableFinished) upReq.destroy();
    });

    upReq.on('response', (upRes: IncomingMessage) => {
      upRes.on('error', () => {});
      upRes.once('close', () => {
        if (!upRes.complete && !res.writableFinished && !dropping) {
          entry.status = 'dropped';
          res.destroy();
        }
      });
      if (res.headersSent || res.destroyed) {
        upRes.resume();
        return;
      }
      const out = endToEnd(upRes.rawHeaders);
      for (let i = 0; i < out.length; i += 2) {
        const name = out[i]!.toLowerCase();
        if (name === 'x-storage-url') out[i + 1] = rewriteStorageUrl(out[i + 1]!, this.port);
        else if (name === 'etag' && fault?.kind === 'wrong-etag') out[i + 1] = wrongEtag(out[i + 1]!);
      }
      const status = upRes.statusCode ?? 502;
      try {
        res.writeHead(status, upRes.statusMessage, out);
      } catch {
        entry.status = 'dropped';
        upRes.destroy();
        res.destroy();
        return;
      }
      if (!dropping) entry.status = status;
      upRes.pipe(res);
    });
  }
}
