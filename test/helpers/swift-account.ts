/**
 * Plain HTTP to any Swift account (edgecd or OpenStack Swift), for tests that
 * check what a replication target really holds. Deliberately independent of
 * edgecd's own Swift client.
 */
import { createHash } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';

export interface SwiftReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function send(url: URL, method: string, headers: Record<string, string>): Promise<SwiftReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export class SwiftAccount {
  readonly storageUrl: string;
  readonly token: string;

  private constructor(storageUrl: string, token: string) {
    this.storageUrl = storageUrl.replace(/\/$/, '');
    this.token = token;
  }

  static of(storageUrl: string, token: string): SwiftAccount {
    return new SwiftAccount(storageUrl, token);
  }

  static async login(authUrl: string, user: string, key: string): Promise<SwiftAccount> {
    const res = await send(new URL(authUrl), 'GET', { 'X-Auth-User': user, 'X-Auth-Key': key });
    if (res.status < 200 || res.status > 299) throw new Error(`auth at ${authUrl} failed: ${res.status}`);
    return new SwiftAccount(res.headers['x-storage-url'] as string, res.headers['x-auth-token'] as string);
  }

  /** `path` is container[/object], unencoded. */
  req(method: string, path = '', headers: Record<string, string> = {}): Promise<SwiftReply> {
    const [container, ...object] = path.split('/');
    const rel = path === '' ? '' : `/${encodeURIComponent(container!)}${object.length ? '/' + object.map(encodeURIComponent).join('/') : ''}`;
    return send(new URL(this.storageUrl + rel), method, { 'X-Auth-Token': this.token, ...headers });
  }

  async containers(): Promise<{ name: string }[]> {
    const res = await this.req('GET', '', { Accept: 'application/json' });
    return res.status === 204 ? [] : JSON.parse(res.body.toString('utf8'));
  }

  async objects(container: string): Promise<{ name: string; hash: string; bytes: number }[]> {
    const res = await send(new URL(`${this.storageUrl}/${encodeURIComponent(container)}?format=json`), 'GET', { 'X-Auth-Token': this.token });
    if (res.status === 204) return [];
    if (res.status !== 200) throw new Error(`listing ${container}: ${res.status}`);
    return JSON.parse(res.body.toString('utf8'));
  }
}

/** x-*-meta-* headers, lower-case names, raw values. */
export function metaOf(headers: IncomingHttpHeaders, kind: 'container' | 'object'): Record<string, string> {
  const prefix = `x-${kind}-meta-`;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (name.startsWith(prefix)) out[name.slice(prefix.length)] = String(value);
  return out;
}

export const sha256 = (body: Buffer) => createHash('sha256').update(body).digest('hex');
export const md5 = (body: Buffer) => createHash('md5').update(body).digest('hex');
