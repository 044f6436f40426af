/**
 * A small Swift client (replication targets, pulling evidence): auth v1.0,
 * then requests against the storage URL it returns. Works with edgecd, with
 * any Swift cluster (OpenStack Swift, Ceph RGW) and with servers of the Body
 * Worn API. Bodies stream; nothing here buffers an object. It reports what
 * the server answered and leaves the meaning of each status to the caller.
 *
 * A connection file may list several auth URIs, each with its own pinned
 * certificate: they are tried in order, as a BWS does, moving on when one
 * cannot be reached or answers 5xx; `failover()` moves on mid-session.
 */
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface SwiftEndpoint {
  authUrl: string;
  /** PEM text: the only CA trusted (pins the target's certificate). */
  ca?: string;
}

export interface SwiftTargetOptions {
  /** One auth URL, or several tried in order (`endpoints`). */
  authUrl?: string;
  ca?: string;
  endpoints?: SwiftEndpoint[];
  user: string;
  key: string;
  /** Connections kept to the target (per endpoint). */
  sockets: number;
  /** A socket silent this long fails the request. */
  idleTimeoutMs?: number;
}

export interface SwiftResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The first few KiB of the body (for errors and listings). */
  text: string;
  /** The body's first 64 KiB as received (small documents, whose bytes are hashed). */
  bytes: Buffer;
}

/** A request that never got a complete answer (refused, reset, timed out). */
export class TransportError extends Error {
  override name = 'TransportError';
}

/** The target's certificate is not the one pinned (or not valid): retrying will not change it. */
export class CertificateError extends TransportError {
  override name = 'CertificateError';
}

const CERTIFICATE_ERRORS =
  /^(ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_SIGNATURE_FAILURE|CERT_UNTRUSTED|CERT_REJECTED)$/;

const MAX_TEXT = 16 * 1024;
const MAX_BYTES = 64 * 1024;

/** Percent-encodes a Swift path: each '/'-separated part of the object name on its own. */
export function swiftPath(container: string, object?: string): string {
  const c = encodeURIComponent(container);
  return object === undefined ? c : `${c}/${object.split('/').map(encodeURIComponent).join('/')}`;
}

export async function readCaFile(path: string): Promise<string | undefined> {
  return path === '' ? undefined : readFile(path, 'utf8');
}

export class SwiftClient {
  readonly #options: SwiftTargetOptions;
  readonly #endpoints: (SwiftEndpoint & { agent: HttpAgent })[];
  /** The endpoint in use: the first that answered. */
  #current = 0;
  #session: { storageUrl: URL; token: string } | undefined;

  constructor(options: SwiftTargetOptions) {
    this.#options = options;
    const endpoints = options.endpoints ?? [{ authUrl: options.authUrl!, ...(options.ca ? { ca: options.ca } : {}) }];
    if (endpoints.length === 0) throw new Error('a Swift client needs an auth URL');
    this.#endpoints = endpoints.map((e) => {
      const agentOptions = { keepAlive: true, maxSockets: options.sockets, ...(e.ca ? { ca: e.ca } : {}) };
      return { ...e, agent: e.authUrl.startsWith('https:') ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions) };
    });
  }

  /** The storage URL of the last authentication (for messages). */
  get storageUrl(): string | undefined {
    return this.#session?.storageUrl.href;
  }

  /** The auth URL in use. */
  get authUrl(): string {
    return this.#endpoints[this.#current]!.authUrl;
  }

  get #agent(): HttpAgent {
    return this.#endpoints[this.#current]!.agent;
  }

  /**
   * Authenticates (again), from the endpoint in use on through the others,
   * as a BWS does: an endpoint that cannot be reached or answers 5xx gives
   * way to the next; refused credentials are a verdict and end the search.
   */
  async authenticate(): Promise<void> {
    this.#session = undefined;
    let last: Error | undefined;
    for (let tried = 0; tried < this.#endpoints.length; tried++) {
      try {
        this.#session = await this.#authenticateAt(this.#endpoints[this.#current]!);
        return;
      } catch (err) {
        if (!(err instanceof TransportError) || this.#endpoints.length === 1) throw err;
        last = err;
        this.#current = (this.#current + 1) % this.#endpoints.length;
      }
    }
    throw last!;
  }

  async #authenticateAt(endpoint: SwiftEndpoint): Promise<{ storageUrl: URL; token: string }> {
    const res = await this.#send('GET', new URL(endpoint.authUrl), { 'X-Auth-User': this.#options.user, 'X-Auth-Key': this.#options.key });
    const url = header(res.headers, 'x-storage-url');
    const token = header(res.headers, 'x-auth-token');
    if (res.status === 401 || res.status === 403) throw new AuthError(res);
    if (res.status < 200 || res.status > 299 || !url || !token) {
      // Busy, broken or not a Swift auth endpoint: not a verdict on the credentials.
      throw new TransportError(`${endpoint.authUrl}: authentication answered ${res.status}${url && token ? '' : ' without a storage URL and token'}`);
    }
    return { storageUrl: new URL(url.endsWith('/') ? url : url + '/'), token };
  }

  /**
   * Moves on to the next auth URL (the one in use failed mid-session); the
   * next request authenticates there. False when there is no other.
   */
  failover(): boolean {
    if (this.#endpoints.length < 2) return false;
    this.#current = (this.#current + 1) % this.#endpoints.length;
    this.#session = undefined;
    return true;
  }

  /**
   * One request to `path` under the storage URL (authenticating first if
   * needed). The body is opened only once the request is about to go, so a
   * failed authentication leaves no file open.
   */
  async request(method: string, path: string, headers: OutgoingHttpHeaders = {}, body?: () => Promise<Readable>): Promise<SwiftResponse> {
    if (!this.#session) await this.authenticate();
    const { storageUrl, token } = this.#session!;
    return this.#send(method, new URL(path, storageUrl), { ...headers, 'X-Auth-Token': token }, body && (await body()));
  }

  /** A GET whose body the caller reads (and must consume or destroy): a download. */
  async download(path: string, headers: OutgoingHttpHeaders = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: IncomingMessage }> {
    if (!this.#session) await this.authenticate();
    const { storageUrl, token } = this.#session!;
    const url = new URL(path, storageUrl);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'GET', headers: { ...headers, 'X-Auth-Token': token }, agent: this.#agent, timeout: this.#options.idleTimeoutMs ?? 60_000 }, (res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      req.on('timeout', () => req.destroy(new TransportError(`GET ${url.pathname}: no bytes for too long`)));
      req.on('error', (err) =>
        reject(err instanceof TransportError ? err : new TransportError(`GET ${url.pathname}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err })),
      );
      req.end();
    });
  }

  /** A JSON listing (container or account), up to 16 MiB. */
  async list<T>(path: string): Promise<{ status: number; items: T[] }> {
    const { status, body, headers } = await this.download(path, { Accept: 'application/json' });
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of body) {
      bytes += (chunk as Buffer).length;
      if (bytes > 16 * 1024 * 1024) {
        body.destroy();
        throw new Error(`listing ${path} is larger than 16 MiB`);
      }
      chunks.push(chunk as Buffer);
    }
    if (status === 204 || status === 404) return { status, items: [] };
    if (status !== 200) return { status, items: [] };
    if (!String(headers['content-type'] ?? '').includes('json')) throw new Error(`listing ${path}: not JSON (${headers['content-type']})`);
    return { status, items: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T[] };
  }

  /** Forgets the token, so the next request authenticates afresh. */
  forgetToken(): void {
    this.#session = undefined;
  }

  close(): void {
    for (const e of this.#endpoints) e.agent.destroy();
  }

  #send(method: string, url: URL, headers: OutgoingHttpHeaders, body?: Readable): Promise<SwiftResponse> {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers, agent: this.#agent, timeout: this.#options.idleTimeoutMs ?? 60_000 }, (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept < MAX_BYTES) chunks.push(chunk);
          kept += chunk.length;
        });
        res.on('end', () => {
          const bytes = Buffer.concat(chunks).subarray(0, MAX_BYTES);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: bytes.subarray(0, MAX_TEXT).toString('utf8'), bytes });
        });
        res.on('error', (err) => reject(new TransportError(`${method} ${url.pathname}: ${err.message}`, { cause: err })));
      });
      req.on('timeout', () => req.destroy(new Error('no bytes either way for too long')));
      req.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        const message = `${method} ${url.pathname}: ${code || err.message}`;
        reject(CERTIFICATE_ERRORS.test(code) ? new CertificateError(`${message} (${err.message})`, { cause: err }) : new TransportError(message, { cause: err }));
      });
      if (!body) {
        req.end();
        return;
      }
      // A body the target stops reading (it answered early, or the link broke)
      // must not leave the file open: the pipeline destroys both ends.
      pipeline(body, req).catch((err: Error) => {
        req.destroy(err);
      });
    });
  }
}

export class AuthError extends Error {
  override name = 'AuthError';
  readonly response: SwiftResponse;
  constructor(response: SwiftResponse) {
    super(`authentication refused: ${response.status} ${response.text.trim().slice(0, 200)}`);
    this.response = response;
  }
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** An Etag as md5 hex (Swift may quote it). */
export function etagOf(headers: IncomingHttpHeaders): string | undefined {
  return header(headers, 'etag')
    ?.replace(/^"(.*)"$/, '$1')
    .toLowerCase();
}

/** Retry-After in milliseconds (seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterMs(headers: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const value = header(headers, 'retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
