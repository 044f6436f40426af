/**
 * The Node servers under the app: limits on what a request may send and how
 * slowly, and TLS with a certificate per address.
 *
 * One TCP listener, behind a guard on how many connections it holds; each
 * connection's first byte tells a TLS handshake (0x16) from plain HTTP. TLS
 * connections get the certificate of the address they arrived on (or of
 * their SNI name), so each URI in the connection file matches the
 * certificate pinned next to it. Plain connections reach the
 * same app, which serves them only /healthcheck (monitors, the contract of
 * `serve`) unless plain HTTP is configured.
 */
import { createServer as createHttp, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createNet, isIP, type Server as NetServer, type Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from '../lib/log.ts';
import type { ConnectionGuard, Refusal } from './connection-guard.ts';
import type { Endpoint } from '../tls/endpoints.ts';

export interface HttpLimits {
  /** All request headers must arrive within this (slowloris). */
  headersTimeoutMs: number;
  /** A socket with no bytes either way for this long is closed. */
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxRequestsPerSocket: number;
  /** Request line plus headers, bytes (431 beyond). */
  maxHeaderBytes: number;
}

const CLIENT_ERROR_STATUS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
  HPE_REQUEST_TIMEOUT: [408, 'Request Timeout'],
};

/** An HTTP server with the limits set, and every refused connection logged. */
export function createHttpServer(listener: RequestListener<typeof IncomingMessage, typeof ServerResponse>, limits: HttpLimits, log: Logger): Server {
  const server = createHttp(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      requestTimeout: 0,
      headersTimeout: limits.headersTimeoutMs,
      // How often Node looks for requests past headersTimeout (its default, 30 s, would let a slowloris linger).
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs / 2),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
    },
    listener,
  );
  // Large uploads over a thin link take long: no overall request deadline, but
  // an idle socket is dropped, and headers must arrive promptly.
  server.setTimeout(limits.idleTimeoutMs);
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  // Counted by the app instead (431 with a reason): Node would silently drop the excess.
  server.maxHeadersCount = 0;
  lingerAfterEarlyAnswers(server);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const [status, text] = CLIENT_ERROR_STATUS[err.code ?? ''] ?? [400, 'Bad Request'];
    log.warn({ status, code: err.code, remote: socket.remoteAddress }, 'malformed or slow request refused');
    if (socket.writable && !(socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\n\r\n${text}\n`);
    } else {
      socket.destroy();
    }
  });
  return server;
}

/** How long, and for how many bytes, a connection answered early keeps reading before it goes. */
const LINGER_MS = 2000;
const LINGER_BYTES = 8 * 1024 * 1024;

/**
 * An answer sent before the request's body was read (a refused upload: 507,
 * 413, 401) closes the connection. Closing while the body still arrives makes
 * the kernel reset the connection, and a reset can wipe the answer from the
 * client's buffer before it reads it: a BWS would see a broken pipe instead of
 * 507, and retry rather than stop. So such a connection lingers, as web
 * servers' "lingering close" does: this side is closed (the client reads the
 * answer, then end of stream), and what the client still sends is read and
 * dropped, for LINGER_MS or LINGER_BYTES at most, before the socket goes.
 */
function lingerAfterEarlyAnswers(server: Server): void {
  const current = new WeakMap<Socket, IncomingMessage>();
  server.on('request', (req: IncomingMessage) => current.set(req.socket, req));
  server.on('connection', (socket: Socket & { destroySoon?: () => void }) => {
    const destroySoon = socket.destroySoon?.bind(socket);
    if (!destroySoon) return;
    socket.destroySoon = () => {
      const req = current.get(socket);
      if (!req || req.complete || socket.destroyed) return destroySoon();
      socket.end();
      let bytes = 0;
      const done = () => {
        clearTimeout(timer);
        socket.destroy();
      };
      const timer = setTimeout(done, LINGER_MS);
      timer.unref();
      req.on('data', (chunk: Buffer) => {
        if ((bytes += chunk.length) > LINGER_BYTES) done();
      });
      req.once('end', done);
      req.once('error', done);
      socket.once('close', () => clearTimeout(timer));
      req.resume();
    };
  });
}

/** Where connections come from: the listener, its guard, and the per-address certificates. */
export interface Front {
  server: NetServer;
  guard: ConnectionGuard;
  /** Swaps the certificates (after edgecd cert renew) for new connections. */
  setEndpoints(endpoints: Endpoint[]): void;
}

const plainAddress = (address: string | undefined) => (address ?? '').replace(/^::ffff:/, '');

/** Host names lower case, IPv6 addresses in the compressed form sockets report. */
function canonicalName(name: string): string {
  return isIP(name) === 6 ? new URL(`http://[${name}]/`).hostname.slice(1, -1) : name.toLowerCase();
}

/**
 * Accepts TCP on behalf of `http`: every connection is admitted by the guard
 * first, must send its first byte within `firstByteTimeoutMs` (and, for TLS,
 * finish its handshake within it too), and is then handed over as plain HTTP
 * or, when certificates are set and the first byte starts a TLS handshake,
 * wrapped with the right certificate.
 */
export function createFront(http: Server, endpoints: Endpoint[], guard: ConnectionGuard, log: Logger, firstByteTimeoutMs: number): Front {
  let contexts = new Map<string, SecureContext>();
  let fallback: SecureContext | undefined;
  const setEndpoints = (list: Endpoint[]) => {
    const next = new Map<string, SecureContext>();
    for (const e of list) next.set(canonicalName(e.name), createSecureContext({ cert: e.certPem, key: e.keyPem, minVersion: 'TLSv1.2' }));
    contexts = next;
    fallback = list.length > 0 ? next.get(canonicalName(list[0]!.name)) : undefined;
  };
  setEndpoints(endpoints);
  const refusals = new RefusalLog(log);
  // Node's HTTP server tracks its connections (for headersTimeout and
  // closeIdleConnections) from its 'listening' event on; it never listens
  // itself here, so it is told when the front does.
  const server = createNet({ pauseOnConnect: true }, (socket) => {
    const refused = guard.admit(socket);
    if (refused) {
      refusals.note(refused, socket.remoteAddress);
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    const silent = () => socket.destroy();
    socket.setTimeout(firstByteTimeoutMs, silent);
    // The first byte is read and put back, never a 'data' event and a
    // resume: a socket handed over flowing lost the HTTP server's
    // backpressure, and a request not yet read (one waiting for admission)
    // took its whole body into memory.
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) return void socket.destroy(); // closed before its first byte
      guard.spoke(socket);
      socket.unshift(first);
      if (first[0] !== 0x16 || !fallback) {
        socket.setTimeout(0);
        socket.off('timeout', silent);
        http.emit('connection', socket);
        return;
      }
      const tls = new TLSSocket(socket, {
        isServer: true,
        secureContext: contexts.get(plainAddress(socket.localAddress)) ?? fallback,
        SNICallback: (name, done) => done(null, contexts.get(canonicalName(name)) ?? contexts.get(plainAddress(socket.localAddress)) ?? fallback),
      });
      tls.on('error', (err: NodeJS.ErrnoException) => {
        log.debug({ remote: socket.remoteAddress, code: err.code, err: err.message }, 'TLS connection failed');
        tls.destroy();
      });
      tls.once('secure', () => {
        socket.setTimeout(0);
        socket.off('timeout', silent);
        http.emit('connection', tls);
      });
    });
  });
  server.once('listening', () => http.emit('listening'));
  return { server, guard, setEndpoints };
}

/** Refused connections, logged at most once every ten seconds with how many there were. */
class RefusalLog {
  readonly #log: Logger;
  #since = 0;
  #count = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  note(why: Refusal, remote: string | undefined): void {
    this.#count += 1;
    const now = Date.now();
    if (now - this.#since < 10_000) return;
    this.#log.warn(
      { refused: this.#count, reason: why, remote },
      why === 'full' ? 'connections refused: the station holds as many as it may' : 'connections refused: too many from one address',
    );
    this.#since = now;
    this.#count = 0;
  }
}
