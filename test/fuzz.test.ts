/**
 * A bounded, deterministic fuzz of the HTTP front door over raw TCP sockets.
 *
 * Every case is generated from its own PRNG stream (SEED mixed with the case
 * number), so a failure names a case that can be regenerated alone, whatever
 * order the concurrent sockets ran in. The daemon must never answer 5xx (bar
 * 503 + Retry-After when it sheds load, and 507 for a full disk), never hang,
 * never write outside its data directory, and keep logging valid JSON.
 */
import assert from 'node:assert/strict';
import { appendFile, lstat, mkdir, mkdtemp, readdir, realpath, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_USERS, TestDaemon } from './helpers/daemon.ts';

const SEED = 0x5eedc0de;
const TOTAL = 3000;
const CONCURRENCY = 8;
const TIMEOUT_MS = 5000;
/** One case in AUTH_EVERY is an /auth/v1.0 request: each runs scrypt (~50 ms). */
const AUTH_EVERY = 40;

// ---- deterministic randomness -------------------------------------------------

class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** mulberry32 */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [item, w] of items) if ((r -= w) < 0) return item;
    return items[items.length - 1]![0];
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  word(n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
}

const RECORDING = 'u1_B0001_20220823T114809Z';

const caseRng = (id: number) => new Rng((SEED ^ Math.imul(id + 1, 0x9e3779b1)) >>> 0);

/** A Unicode string as the byte string (latin1) that puts its UTF-8 on the wire. */
const wire = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

// ---- cases ----------------------------------------------------------------------

interface Case {
  id: number;
  category: string;
  /** The request exactly as written to the socket. */
  bytes: Buffer;
  /** Send FIN after writing (a truncated body or unterminated chunking). */
  halfClose: boolean;
  /** The framing is broken on purpose: the daemon may close without an answer. */
  closeOk: boolean;
  /** Offsets at which the bytes are split into separate writes, a few ms apart. */
  splits: number[];
  /**
   * A body large enough that the daemon may answer before reading it and
   * close (reply.ts): the client's write then fails (EPIPE/ECONNRESET) and
   * may lose the answer.
   */
  resetOk: boolean;
}

interface Ctx {
  port: number;
  /** The body-worn system's (uploader: writes and HEADs, no reading back). */
  token: string;
  /** Reads (GET). */
  readerToken: string;
  /** /status and /metrics; nothing in storage. */
  adminToken: string;
  /** "AUTH_xxx" */
  account: string;
  user: string;
  key: string;
  containers: readonly string[];
  objects: readonly string[];
}

type Header = [string, string];

interface Draft {
  method: string;
  target: string;
  version: string;
  headers: Header[];
  body: Buffer;
  /** Replaces the body (and its framing headers) when set: bytes as sent after the head. */
  rawBody?: Buffer;
  halfClose: boolean;
  closeOk: boolean;
  category: string;
  /** Leave Content-Length alone (framing cases set their own). */
  noLength?: boolean;
}

const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'COPY', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT'] as const;
const ODD_METHODS = ['FOO', 'get', 'Get', 'PROPFIND', 'MKCOL', 'PURGE', 'SEARCH', 'QUERY', 'LINK', 'M-SEARCH', 'SOURCE', 'G\u0000T', 'GET\tX', '', 'PUT' + 'X'.repeat(3000)];

// Names that are also Object.prototype keys catch lookups in plain objects (`table[name]`).
const PROTO_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'x.constructor', 'x.__proto__', 'x.toString'];
const GOOD_SEGMENTS = [
  ...PROTO_NAMES,
  'Capabilities.json',
  'Categories.json',
  'u1_B0001_20220823T114809Z',
  'u_B_20220230T000000Z',
  'u1_B0001_99991231T235959Z',
  'u1_B0001_19990101T000000Z',
  'a',
  'obj',
  'existing',
  'clip.mkv',
  '20220823T114810Z_1234.mkv',
  'bookmark_20220823T114810Z_1',
  'a%20b',
  '%C3%85sa',
  'x.y',
  '.hidden',
  '...',
  'a..b',
  '~tilde',
  'name;param',
  'a+b',
  "it's",
  '%2541',
  'a=b&c',
  '%E2%80%AE',
  '%EF%BB%BF',
  '%F0%9F%99%82',
];
const BAD_SEGMENTS = [
  '.',
  '..',
  '%2e',
  '%2E',
  '%2e%2e',
  '%2E%2E',
  '.%2e',
  '%2e.',
  '%C0%AE',
  '%C0%AE%C0%AE',
  '%E0%80%AE',
  '%C1%9C',
  '%C0%AF',
  '%2F',
  '%2f',
  '%5C',
  '%5c',
  '..%5C..',
  '..%2F..',
  '%2e%2e%2f%2e%2e',
  '%00',
  'a%00b',
  '%0a',
  '%0d%0a',
  '%7f',
  '%C2%85',
  '%1b[31m',
  '%ZZ',
  '%',
  '%4',
  '%%',
  '%u002e',
  '%FF',
  '%FE%FF',
  '%ED%A0%80',
  '%F4%90%80%80',
  '%F8%88%80%80%80',
  '%C3',
  '%E2%82',
  '\\',
  '..\\..',
  'a\\b',
  '\\..\\',
  '',
  '%20',
  '%09',
];
const UNICODE_SEGMENTS = ['Åsa', 'ö', '日本語', '🙂', '\u202egnp.exe', '\ufeffbom', 'e\u0301', '\u00a0nbsp', 'Ω≈ç√', '\u0085nel', '\u2028ls'];
const CONTROL_SEGMENTS = ['\u0001', 'a\u007fb', 'tab\there', 'sp ace', 'lf\nx', 'cr\rx', 'nul\u0000', '"quote"', '<tag>', '{brace}', '|pipe|', '`tick`', '^caret'];

function segment(r: Rng): string {
  const kind = r.weighted([
    ['good', 5],
    ['bad', 4],
    ['unicode', 2],
    ['control', 1],
    ['long', 1],
  ] as const);
  switch (kind) {
    case 'good':
      return r.pick(GOOD_SEGMENTS);
    case 'bad':
      return r.pick(BAD_SEGMENTS);
    case 'unicode':
      return wire(r.pick(UNICODE_SEGMENTS));
    case 'control':
      return r.pick(CONTROL_SEGMENTS);
    case 'long':
      return r.pick([
        () => 'x'.repeat(r.range(250, 260)),
        () => 'y'.repeat(r.range(1020, 1030)),
        () => 'z'.repeat(r.range(1100, 5000)),
        () => '%41'.repeat(r.range(300, 400)), // long encoded, short decoded
        () => '%C3%A9'.repeat(r.range(120, 600)), // 2 bytes each decoded
        () => wire('日'.repeat(r.range(80, 400))),
        () => 'a/'.repeat(r.range(100, 600)),
        () => '../'.repeat(r.range(5, 50)),
      ])();
  }
}

function objectName(r: Rng, ctx: Ctx): string {
  if (r.chance(0.35)) return r.pick(ctx.objects);
  const parts: string[] = [];
  const n = r.weighted([
    [1, 5],
    [2, 3],
    [3, 2],
    [6, 1],
  ] as const);
  for (let i = 0; i < n; i++) parts.push(segment(r));
  return parts.join(r.chance(0.9) ? '/' : r.pick(['\\', '%2F', '%5C', '//']));
}

function containerName(r: Rng, ctx: Ctx): string {
  if (r.chance(0.7)) return r.pick(ctx.containers);
  return segment(r);
}

function accountName(r: Rng, ctx: Ctx): string {
  if (r.chance(0.88)) return ctx.account;
  return r.pick([
    'AUTH_other',
    '',
    '..',
    '%2e%2e',
    '.',
    ctx.account + '%00',
    ctx.account + '%2F..',
    ctx.account.toUpperCase(),
    ctx.account.toLowerCase(),
    ctx.account + '%2F',
    'AUTH_' + 'x'.repeat(2000),
    wire('AUTH_Å'),
    'AUTH_%ZZ',
    '%41UTH_' + ctx.account.slice(5),
    ctx.account.replace('_', '%5F'),
  ]);
}

function query(r: Rng): string {
  if (r.chance(0.55)) return '';
  const parts = [
    'format=json',
    'format=xml',
    'format=plain',
    'format=' + r.word(4),
    'limit=-1',
    'limit=0',
    'limit=10001',
    'limit=99999999999999999999',
    'limit=abc',
    'limit=1e3',
    'limit=',
    'marker=' + r.pick(['%ZZ', '%00', '%C0%AE', '..', '%FF', wire('Å'), 'x'.repeat(2000), '']),
    'end_marker=' + r.pick(['%', 'zzz', '%0a']),
    'prefix=' + r.pick(['a', '%00', '../', '%2F']),
    'delimiter=' + r.pick(['/', 'ab', '%00', '', '%F0%9F%99%82']),
    'path=x',
    'multipart-manifest=put',
    'multipart-manifest=get',
    'multipart-manifest=delete',
    'multipart-manifest',
    'temp_url_sig=x&temp_url_expires=1',
    'format=json&format=xml',
    '%',
    '=',
    '&&&',
    'a=%',
    'bulk-delete',
    'extract-archive=tar',
    'symlink=get',
  ];
  const n = r.range(1, 3);
  const chosen: string[] = [];
  for (let i = 0; i < n; i++) chosen.push(r.pick(parts));
  let q = '?' + chosen.join('&');
  if (r.chance(0.05)) q = r.pick(['??', '?#frag', '#frag', '?a=1#b', '?\\x']);
  return q;
}

function storagePath(r: Rng, ctx: Ctx, level?: 'account' | 'container' | 'object'): string {
  const lvl =
    level ??
    r.weighted([
      ['object', 6],
      ['container', 3],
      ['account', 1],
    ] as const);
  let path = `/v1/${accountName(r, ctx)}`;
  if (lvl !== 'account') path += '/' + containerName(r, ctx);
  if (lvl === 'object') path += '/' + objectName(r, ctx);
  if (r.chance(0.08)) path += '/';
  if (r.chance(0.06)) {
    const prefix = r.pick(['/V1/', '/v1.0/', '/v2/', '//v1/', '/./v1/', '/v1/../v1/', '/v1//', '/%76%31/', '/v1%2F', '/v1\\']);
    path = prefix + path.slice(4);
  }
  if (r.chance(0.08)) {
    // Splice a dot segment or separator trick somewhere after /v1/.
    const at = r.range(4, path.length);
    path = path.slice(0, at) + r.pick(['/./', '/../', '/%2e%2e/', '//', '%2F', '\\', '%5C..%5C', '/.', '/..']) + path.slice(at);
  }
  return path;
}

function body(r: Rng): Buffer {
  const size = r.weighted([
    [0, 2],
    [r.range(1, 64), 5],
    [r.range(65, 4096), 3],
    [r.range(60_000, 80_000), 1],
  ] as const);
  return r.bytes(size);
}

function chunked(r: Rng, data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const n = Math.min(data.length - at, r.range(1, 5000));
    parts.push(Buffer.from(n.toString(16) + (r.chance(0.1) ? ';ext=1' : '') + '\r\n', 'latin1'), data.subarray(at, at + n), Buffer.from('\r\n'));
    at += n;
  }
  parts.push(Buffer.from('0\r\n' + (r.chance(0.1) ? 'X-Trailer: t\r\n' : '') + '\r\n'));
  return Buffer.concat(parts);
}

/** The token a client of that role would send: mostly the right one, sometimes another role's. */
function tokenFor(r: Rng, ctx: Ctx, method: string): string {
  const right = method === 'GET' ? ctx.readerToken : ctx.token;
  return r.weighted([
    [right, 17],
    [ctx.token, 1],
    [ctx.readerToken, 1],
    [ctx.adminToken, 1],
  ] as const);
}

function baseDraft(r: Rng, ctx: Ctx, category: string, method: string, target: string): Draft {
  const headers: Header[] = [
    ['Host', `127.0.0.1:${ctx.port}`],
    ['X-Auth-Token', tokenFor(r, ctx, method)],
  ];
  if (r.chance(0.9)) headers.push(['Connection', 'close']);
  const withBody = method === 'PUT' || method === 'POST' || method === 'PATCH' || r.chance(0.05);
  return { method, target, version: 'HTTP/1.1', headers, body: withBody && method !== 'POST' ? body(r) : Buffer.alloc(0), halfClose: false, closeOk: false, category };
}

const setHeader = (d: Draft, name: string, value: string | undefined) => {
  d.headers = d.headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase());
  if (value !== undefined) d.headers.push([name, value]);
};

function pathCase(r: Rng, ctx: Ctx): Draft {
  const method = r.weighted([
    ['GET', 30],
    ['HEAD', 20],
    ['PUT', 25],
    ['POST', 10],
    ['DELETE', 4],
    ['COPY', 3],
    ['OPTIONS', 3],
    ['PATCH', 3],
    ['TRACE', 2],
  ] as const);
  const d = baseDraft(r, ctx, 'path', method, storagePath(r, ctx) + query(r));
  if (method === 'COPY') d.headers.push(['Destination', r.pick(['/fuzz/copy', '../../../etc/passwd', 'fuzz2/x'])]);
  if (method === 'PUT' && r.chance(0.3))
    d.headers.push(['Content-Type', r.pick(['application/octet-stream', 'video/x-matroska', '', wire('tëxt/plain'), 'a'.repeat(2000), '*/*; charset=%FF'])]);
  return d;
}

function methodCase(r: Rng, ctx: Ctx): Draft {
  const method = r.chance(0.6) ? r.pick(METHODS) : r.chance(0.5) ? r.pick(ODD_METHODS) : r.word(r.range(1, 12), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ-_');
  const target = r.chance(0.8) ? storagePath(r, ctx) + query(r) : r.pick(['/', '/healthcheck', '/status', '/metrics', '/auth/v1.0', '/v1', '/v1/', '*', `127.0.0.1:${ctx.port}`]);
  const d = baseDraft(r, ctx, 'method', method, target);
  if ((target === '/status' || target === '/metrics') && r.chance(0.7)) setHeader(d, 'X-Auth-Token', ctx.adminToken);
  // A method the parser does not know, or CONNECT (Node drops it without a
  // 'connect' listener), may end in a plain close.
  if (!(METHODS as readonly string[]).includes(method) || method === 'CONNECT') d.closeOk = true;
  return d;
}

function targetCase(r: Rng, ctx: Ctx): Draft {
  const p = storagePath(r, ctx, r.pick(['object', 'container'] as const)) + query(r);
  const target = r.pick([
    () => `http://evil${p}`,
    () => `http://127.0.0.1:${ctx.port}${p}`,
    () => `HTTP://EVIL${p}`,
    () => `https://evil:443${p}`,
    () => `http://user:pw@evil${p}`,
    () => `http://[::1]${p}`,
    () => `http://evil/../..${p}`,
    () => `http://evil\\..${p}`,
    () => `ftp://evil${p}`,
    () => `file:///etc/passwd`,
    () => `http://evil`,
    () => `http:${p}`,
    () => `//evil${p}`,
    () => '*',
    () => '*' + p,
    () => p.slice(1), // no leading slash
    () => '',
    () => '/v1/../auth/v1.0',
    () => '/healthcheck/../v1/' + ctx.account,
    () => '/%2e%2e/%2e%2e/etc/passwd',
    () => '/' + 'a'.repeat(20_000),
    () => p + '#fragment',
  ])();
  const d = baseDraft(r, ctx, 'target', r.pick(['GET', 'HEAD', 'PUT', 'POST', 'OPTIONS']), target);
  d.closeOk = target === '' || target.includes('\\') || target.length > 16_000;
  return d;
}

function framingCase(r: Rng, ctx: Ctx): Draft {
  const d = baseDraft(r, ctx, 'framing', r.pick(['PUT', 'PUT', 'POST', 'GET']), storagePath(r, ctx, 'object'));
  d.closeOk = true;
  const data = d.body.length > 0 ? d.body : r.bytes(r.range(1, 300));
  const variant = r.range(0, 21);
  d.category = `framing:${variant}`;
  switch (variant) {
    // Too big or too many, but well formed: a 431 (or any 4xx) is expected, not a silent close.
    case 0:
      d.headers.push(['X-Big', 'a'.repeat(100 * 1024)]);
      d.closeOk = false;
      break;
    case 1:
      for (let i = 0; i < 500; i++) d.headers.push([`X-Fuzz-${i}`, r.word(r.range(1, 8))]);
      d.closeOk = false;
      break;
    case 2:
      d.noLength = true;
      d.headers.push(['Content-Length', String(data.length)], ['Content-Length', String(data.length + r.range(1, 10))]);
      d.rawBody = data;
      break;
    case 3:
      d.noLength = true;
      d.headers.push(['Content-Length', String(data.length)], ['Transfer-Encoding', 'chunked']);
      d.rawBody = chunked(r, data);
      break;
    case 4:
      d.noLength = true;
      d.headers.push(['Content-Length', r.pick(['-1', '-0', 'abc', '1e3', '0x10', '+5', ' 5 ', '5, 5', '5,6', '99999999999999999999', '18446744073709551616', '', '٣'])]);
      d.rawBody = data;
      break;
    case 5: // shorter than the body: the rest is a second (garbage) request
      d.noLength = true;
      d.headers.push(['Content-Length', String(r.range(0, data.length - 1))]);
      d.rawBody = data;
      break;
    case 6: // longer than the body, then the socket closes: a truncated upload
      d.noLength = true;
      d.headers.push(['Content-Length', String(data.length + r.range(1, 100_000))]);
      d.rawBody = data;
      d.halfClose = true;
      break;
    case 7:
      d.noLength = true;
      d.headers.push(['Transfer-Encoding', 'chunked']);
      d.rawBody = Buffer.from(
        r.pick([
          'zz\r\nabc\r\n0\r\n\r\n',
          '5\r\nabc\r\n0\r\n\r\n',
          '3\r\nabcdef\r\n0\r\n\r\n',
          '-1\r\nx\r\n0\r\n\r\n',
          'ffffffffffffffffffff\r\nabc',
          '3 \r\nabc\r\n0\r\n\r\n',
          '3\nabc\n0\n\n',
          '3\r\nabc0\r\n\r\n',
          '0x3\r\nabc\r\n0\r\n\r\n',
          '3;' + 'e'.repeat(20_000) + '\r\nabc\r\n0\r\n\r\n',
          '3\r\nabc\r\n0\r\nBad Trailer\r\n\r\n',
        ]),
        'latin1',
      );
      d.halfClose = r.chance(0.5);
      break;
    case 8: // valid chunking but no last chunk: the client goes away
      d.noLength = true;
      d.headers.push(['Transfer-Encoding', 'chunked']);
      d.rawBody = chunked(r, data).subarray(0, -5);
      d.halfClose = true;
      break;
    case 9: // valid chunked upload (for coverage)
      d.noLength = true;
      d.closeOk = false;
      d.headers.push(['Transfer-Encoding', r.pick(['chunked', 'Chunked', 'CHUNKED'])]);
      d.rawBody = chunked(r, data);
      break;
    case 10:
      d.noLength = true;
      d.headers.push(['Transfer-Encoding', r.pick(['gzip', 'chunked, gzip', 'gzip, chunked', 'identity', 'chunked, chunked', 'xchunked', 'chunked\u000b'])]);
      d.rawBody = chunked(r, data);
      break;
    case 11:
      d.version = r.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/9.9', 'HTTP/1', 'http/1.1', 'HTTP/1.01', '']);
      d.closeOk = d.version !== 'HTTP/1.0';
      break;
    case 12:
      d.headers.push(
        r.pick<Header>([
          ['X-A ', 'b'],
          ['', 'v'],
          ['X-\u00e4', 'v'],
          ['X A', 'b'],
          ['X-Obs', 'a\r\n folded'],
          ['X-Nul', 'a\u0000b'],
          ['X-Cr', 'a\rb'],
          ['X-Lf', 'a\nb'],
          ['X-Del', 'a\u007fb'],
        ]),
      );
      break;
    case 13: {
      // Bare LF line endings throughout.
      d.rawBody = Buffer.alloc(0);
      d.noLength = true;
      d.method = 'GET';
      break;
    }
    case 14:
      d.headers.push(['Expect', r.pick(['100-continue', '100-Continue', 'garbage', '200-ok', ''])]);
      d.closeOk = false;
      break;
    case 15:
      d.headers.push(['Upgrade', r.pick(['websocket', 'h2c', 'TLS/1.0', 'x'.repeat(100)])]);
      setHeader(d, 'Connection', 'Upgrade');
      d.closeOk = false;
      break;
    case 16: // a second request pipelined behind the first on the same socket
      setHeader(d, 'Connection', undefined);
      d.rawBody = Buffer.concat([data, Buffer.from(`GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n`)]);
      d.noLength = true;
      d.headers.push(['Content-Length', String(data.length)]);
      d.closeOk = false;
      break;
    case 17:
      d.noLength = true;
      d.headers.push(['Content-Length', String(data.length)], ['Content-Length', String(data.length)]);
      d.rawBody = data;
      break;
    case 18: // headers never finished, then close
      d.headers.push(['X-Unfinished', 'yes\r\nX-More: 1']);
      d.noLength = true;
      d.rawBody = Buffer.alloc(0);
      d.halfClose = true;
      d.category = 'framing:18';
      break;
    case 19: // many tiny headers, past Node's default count limit (2000)
      for (let i = 0; i < 2100; i++) d.headers.push([`X${i}`, '']);
      d.closeOk = false;
      break;
    case 20:
      d.headers.push(['Content-Length', String(data.length)]);
      d.noLength = true;
      d.rawBody = data;
      d.headers.push(['Transfer-Encoding', 'identity']);
      break;
    case 21: // body on a GET / HEAD
      d.method = r.pick(['GET', 'HEAD', 'DELETE', 'OPTIONS']);
      d.noLength = true;
      d.headers.push(['Content-Length', String(data.length)]);
      d.rawBody = data;
      d.closeOk = false;
      break;
  }
  return d;
}

function tokenCase(r: Rng, ctx: Ctx): Draft {
  const d = baseDraft(r, ctx, 'token', r.pick(['GET', 'HEAD', 'PUT', 'POST']), storagePath(r, ctx) + query(r));
  const token = d.method === 'GET' ? ctx.readerToken : ctx.token;
  const flip = (s: string) => {
    const i = r.int(s.length);
    return s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1);
  };
  const variant = r.range(0, 17);
  d.category = `token:${variant}`;
  setHeader(d, 'X-Auth-Token', undefined);
  switch (variant) {
    case 0:
      break; // missing
    case 1:
      d.headers.push(['X-Auth-Token', '']);
      break;
    case 2:
      d.headers.push(['X-Auth-Token', r.word(r.range(1, 64))]);
      break;
    case 3: // shaped like one of ours, never issued (or long expired)
      d.headers.push(['X-Auth-Token', 'AUTH_tk' + r.word(32, '0123456789abcdef')]);
      break;
    case 4:
      d.headers.push(['X-Auth-Token', flip(token)]);
      break;
    case 5:
      d.headers.push(['X-Auth-Token', token + r.pick([' ', '\t', 'x', ',', ';'])]);
      break;
    case 6:
      d.headers.push(['X-Auth-Token', r.pick([token.toUpperCase(), token.toLowerCase(), token.slice(0, -1)])]);
      break;
    case 7:
      d.headers.push(['X-Auth-Token', token], ['X-Auth-Token', token]);
      break;
    case 8:
      d.headers.push(['X-Auth-Token', token], ['X-Auth-Token', 'AUTH_tkevil']);
      break;
    case 9:
      d.headers.push(['X-Storage-Token', token]);
      break;
    case 10:
      d.headers.push(['X-Storage-Token', 'AUTH_tkevil'], ['X-Auth-Token', token]);
      break;
    case 11: // CR/LF injection
      d.headers.push(['X-Auth-Token', r.pick([`${token}\r\nX-Injected: 1`, `junk\r\nX-Auth-Token: ${token}`, `${token}\rX`, `${token}\nX-Injected: 1`, `junk\n${token}`])]);
      d.closeOk = true;
      break;
    case 12: // obs-fold
      d.headers.push(['X-Auth-Token', `\r\n ${token}`]);
      d.closeOk = true;
      break;
    case 13:
      d.headers.push(['X-Auth-Token', token + '\u0000']);
      d.closeOk = true;
      break;
    case 14:
      d.headers.push(['X-Auth-Token', 'A'.repeat(r.range(8000, 15000))]);
      break;
    case 15:
      d.headers.push(['X-Auth-Token', wire('AUTH_tkÅ🙂') + String.fromCharCode(0xff)]);
      break;
    case 16:
      d.headers.push(['x-auth-token', token]); // lower-case name: must work
      break;
    case 17:
      d.headers.push(['X-Auth-Token ', token]); // space before the colon
      d.closeOk = true;
      break;
  }
  return d;
}

const META_KEYS = [
  '__proto__',
  'constructor',
  'Bwcserialnumber',
  'Userid',
  'Starttime',
  'Stoptime',
  'Containertype',
  'Trigger-On-Time',
  'Name',
  'Edgecd-Sha256',
  'a_b',
  'A.B',
  '1',
];

function metaCase(r: Rng, ctx: Ctx): Draft {
  const onContainer = r.chance(0.3);
  const method = r.pick(['PUT', 'POST']);
  const d = baseDraft(r, ctx, 'meta', method, storagePath(r, ctx, onContainer ? 'container' : 'object'));
  if (onContainer || method === 'POST') d.body = Buffer.alloc(0);
  const prefix = onContainer ? r.pick(['X-Container-Meta-', 'X-Object-Meta-']) : 'X-Object-Meta-';
  const variant = r.range(0, 12);
  d.category = `meta:${variant}`;
  const value = () =>
    r.pick([
      () => r.word(r.range(0, 20)),
      () =>
        r
          .bytes(r.range(1, 40))
          .toString('latin1')
          .replace(/[\r\n\u0000]/g, 'x'),
      () => '%FF%FE',
      () => '%ZZ',
      () => '%C3%85sa',
      () => wire('Jörgen 🙂'),
      () => 'v'.repeat(r.range(250, 260)),
      () => '%C3%A9'.repeat(r.range(127, 129)),
      () => r.word(r.range(0, 64), '0123456789abcdef'),
      () => '1661255290.5',
      () => 'mkv',
      () => '',
    ])();
  switch (variant) {
    case 0:
      d.headers.push([prefix + 'Huge', 'h'.repeat(r.range(4000, 15000))]);
      break;
    case 1:
      for (let i = 0; i < 200; i++) d.headers.push([`${prefix}K${i}`, r.word(5)]);
      break;
    case 2:
      for (let i = 0; i < 90; i++) d.headers.push([`${prefix}K${i}`, r.word(40)]);
      break;
    case 3:
      d.headers.push([
        prefix + r.pick(META_KEYS),
        r
          .bytes(r.range(1, 300))
          .toString('latin1')
          .replace(/[\r\n\u0000]/g, '_'),
      ]);
      break;
    case 4:
      d.headers.push([prefix + 'n'.repeat(r.range(120, 140)), 'v']);
      break;
    case 5:
      d.headers.push([prefix, 'empty name']);
      break;
    case 6:
      d.headers.push([prefix + r.pick(['ä', 'a b', 'a:b', '(x)', '@', '\u0001']), 'v']);
      d.closeOk = true;
      break;
    case 7:
      d.headers.push([onContainer ? 'X-Remove-Container-Meta-' + r.pick(META_KEYS) : 'X-Remove-Object-Meta-x', value()]);
      break;
    case 8:
      d.headers.push(['X-Object-Meta-Edgecd-Sha256', r.pick(['zz', 'A'.repeat(64), '0'.repeat(64), 'g'.repeat(64), '', '0'.repeat(63)])]);
      break;
    case 9:
      d.headers.push(['X-Object-Manifest', r.pick(['fuzz/seg', '', '../x'])]);
      break;
    case 10:
      d.headers.push(['X-Copy-From', r.pick(['/fuzz/existing', '../../etc/passwd', ''])]);
      break;
    case 11: // the container that may be sealed; any other container keeps its state
      d.target = `/v1/${ctx.account}/sealme` + (onContainer ? '' : '/' + r.pick(['a', 'b', '20220823T114810Z_1234.mkv']));
      d.headers.push([prefix + 'Status', r.pick(['Complete', 'Recording', '%43omplete', wire('Complete\u00a0')])]);
      break;
    default:
      for (let i = r.range(1, 8); i > 0; i--) d.headers.push([prefix + r.pick(META_KEYS), value()]);
  }
  return d;
}

function conditionalCase(r: Rng, ctx: Ctx): Draft {
  const read = r.chance(0.6);
  const d = baseDraft(r, ctx, 'conditional', read ? r.pick(['GET', 'HEAD']) : 'PUT', storagePath(r, ctx, 'object'));
  if (r.chance(0.6)) d.target = `/v1/${ctx.account}/${r.pick(ctx.containers.slice(0, 2))}/${r.pick(ctx.objects)}`;
  const variant = r.range(0, 4);
  d.category = `conditional:${variant}`;
  if (variant <= 1 && read) {
    const many = Array.from({ length: r.range(2, 400) }, () => `${r.int(100)}-${r.int(100)}`).join(',');
    d.headers.push([
      'Range',
      r.pick([
        'bytes=',
        'bytes=5-1',
        'bytes=-0',
        'bytes=0-0',
        'bytes=-1',
        'bytes=0-',
        'bytes=99999999999999999999-',
        'bytes=-99999999999999999999',
        'bytes=0-99999999999999999999',
        'bytes=1e3-',
        'items=0-1',
        'bytes = 0-1',
        'bytes=0x10-',
        'bytes=-',
        'bytes=--1',
        'bytes=1-2-3',
        `bytes=${many}`,
        'bytes=0-0,-1',
        ' bytes=0-1 ',
        wire('bytes=٣-٤'),
        '',
      ]),
    ]);
  } else if (variant === 2) {
    d.headers.push(['If-None-Match', r.pick(['*', ' * ', '"abc"', '*, "x"', '', 'W/"x"', '"' + 'e'.repeat(5000) + '"', '**', '"*"'])]);
  } else if (variant === 3) {
    d.headers.push([
      r.pick(['If-Match', 'If-Modified-Since', 'If-Unmodified-Since', 'If-Range']),
      r.pick(['*', 'garbage', 'Thu, 01 Jan 1970 00:00:00 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT', '"d41d8cd98f00b204e9800998ecf8427e"', '']),
    ]);
  } else {
    if (d.method !== 'PUT') d.method = 'PUT';
    if (d.body.length === 0) d.body = body(r);
    d.headers.push([
      'Etag',
      r.pick(['zzz', '"', '""', 'W/"abc"', '0'.repeat(32), 'd41d8cd98f00b204e9800998ecf8427e', '"D41D8CD98F00B204E9800998ECF8427E"', 'e'.repeat(5000), wire('ë'), '%00', ' ']),
    ]);
  }
  return d;
}

function hostCase(r: Rng, ctx: Ctx): Draft {
  const d = baseDraft(r, ctx, 'host', r.pick(['GET', 'HEAD', 'PUT']), r.chance(0.8) ? storagePath(r, ctx) : '/healthcheck');
  const variant = r.range(0, 3);
  d.category = `host:${variant}`;
  setHeader(d, 'Host', undefined);
  if (variant === 0) {
    if (r.chance(0.3)) d.version = 'HTTP/1.0';
  } else if (variant === 1) {
    d.headers.push(['Host', `127.0.0.1:${ctx.port}`], ['Host', r.pick(['evil', `127.0.0.1:${ctx.port}`, ''])]);
  } else {
    d.headers.push([
      'Host',
      r.pick([
        'evil host',
        'a/b',
        'a?b',
        'a#b',
        '[::1',
        '[::1]:99999',
        'user@host',
        'h%00',
        wire('ä'),
        String.fromCharCode(0xe4),
        '',
        ':80',
        'localhost:0',
        'h'.repeat(10_000),
        'h\tx',
        'EVIL.example:8080',
        '127.0.0.1:abc',
        '..',
        '[fe80::1%25eth0]',
        'x:1:2',
        '\\evil',
      ]),
    ]);
  }
  return d;
}

function authCase(r: Rng, ctx: Ctx): Draft {
  const d = baseDraft(
    r,
    ctx,
    'auth',
    'GET',
    r.weighted([
      ['/auth/v1.0', 12],
      ['/auth/v1.0/', 2],
      ['/auth/v1.0?x=1', 1],
      ['/auth/v1.0/..', 1],
      ['/auth/v1.0%2F', 1],
      ['/auth//v1.0', 1],
    ] as const),
  );
  setHeader(d, 'X-Auth-Token', undefined);
  const variant = r.range(0, 9);
  d.category = `auth:${variant}`;
  const user = () =>
    r.pick([
      ctx.user,
      TEST_USERS.reader.user,
      TEST_USERS.admin.user,
      ctx.user.toUpperCase(),
      'admin',
      '',
      wire('ü'),
      'u'.repeat(5000),
      ctx.user + ' ',
      '%00',
      "' OR 1=1 --",
      '../../etc/passwd',
    ]);
  const key = () => r.pick([ctx.key.slice(0, -1), ctx.key + 'x', '', 'k'.repeat(10_000), wire('ключ'), 'null', ctx.key.toUpperCase()]);
  switch (variant) {
    case 0:
      d.headers.push(['X-Auth-User', user()], ['X-Auth-Key', key()]);
      break;
    case 1:
      d.headers.push(['X-Storage-User', user()], ['X-Storage-Pass', key()]);
      break;
    case 2:
      d.headers.push(['X-Auth-User', ctx.user], ['Auth-Key', key()]);
      break;
    case 3:
      d.headers.push(['X-Auth-User', user()]);
      break;
    case 4:
      d.headers.push(['X-Auth-User', ctx.user], ['X-Auth-Key', ctx.key], ['X-Auth-Key', 'wrong']);
      break;
    case 5: // the right credentials with a bad Host
      d.headers.push(['X-Auth-User', ctx.user], ['X-Auth-Key', ctx.key]);
      setHeader(d, 'Host', r.pick(['evil host', 'a/b', 'h'.repeat(3000), wire('ä'), 'x"><script>']));
      break;
    case 6:
      d.method = r.pick(['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS']);
      d.headers.push(['X-Auth-User', ctx.user], ['X-Auth-Key', ctx.key]);
      break;
    case 7: {
      // right credentials, must work (unless failures have locked this address out: 429)
      const u = r.pick([{ user: ctx.user, key: ctx.key }, TEST_USERS.reader, TEST_USERS.admin, TEST_USERS.replicator]);
      d.headers.push(['X-Auth-User', u.user], ['X-Auth-Key', u.key]);
      break;
    }
    case 8:
      d.headers.push(['X-Auth-User', ctx.user + '\r\nX-Auth-Key: ' + ctx.key]);
      d.closeOk = true;
      break;
    case 9:
      d.headers.push(['X-Auth-User', ctx.user], ['X-Auth-Key', ctx.key], ['X-Auth-User', 'other']);
      break;
  }
  return d;
}

function serialize(d: Draft): Buffer {
  const headers = [...d.headers];
  const payload = d.rawBody ?? d.body;
  if (d.rawBody === undefined && !d.noLength && (d.body.length > 0 || d.method === 'PUT' || d.method === 'POST')) headers.push(['Content-Length', String(d.body.length)]);
  if (d.category === 'framing:13') {
    const head = `${d.method} ${d.target} ${d.version}\n` + headers.map(([n, v]) => `${n}: ${v}\n`).join('') + '\n';
    return Buffer.from(head, 'latin1');
  }
  if (d.category === 'framing:18') {
    // The head never ends: no blank line, then the client goes away.
    return Buffer.from(`${d.method} ${d.target} ${d.version}\r\n` + headers.map(([n, v]) => `${n}: ${v}\r\n`).join(''), 'latin1');
  }
  const line = d.version ? `${d.method} ${d.target} ${d.version}` : `${d.method} ${d.target}`;
  const head = line + '\r\n' + headers.map(([n, v]) => `${n}: ${v}\r\n`).join('') + '\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

function makeCase(id: number, ctx: Ctx): Case {
  const r = caseRng(id);
  let d: Draft;
  if (id % AUTH_EVERY === 7) d = authCase(r, ctx);
  else {
    const kind = r.weighted([
      ['path', 36],
      ['method', 9],
      ['target', 7],
      ['framing', 14],
      ['token', 9],
      ['meta', 11],
      ['conditional', 10],
      ['host', 4],
    ] as const);
    d = { path: pathCase, method: methodCase, target: targetCase, framing: framingCase, token: tokenCase, meta: metaCase, conditional: conditionalCase, host: hostCase }[kind](
      r,
      ctx,
    );
  }
  // Anything that breaks the request line or a header line may end in a plain close.
  const rawHead = `${d.method} ${d.target}` + d.headers.map(([n, v]) => n + v).join('');
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(rawHead) || /[ \t]/.test(d.target) || /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(d.method) || d.method === '') {
    d.closeOk = true;
  }
  const bytes = serialize(d);
  // Some requests trickle in, so the parser sees every kind of boundary.
  const splits = r.chance(0.1) ? Array.from({ length: r.range(1, 3) }, () => r.int(bytes.length)).sort((a, b) => a - b) : [];
  const resetOk = (d.rawBody ?? d.body).length > 16 * 1024;
  return { id, category: d.category, bytes, halfClose: d.halfClose, closeOk: d.closeOk, splits, resetOk };
}

// ---- the raw client -------------------------------------------------------------

interface Outcome {
  kind: 'response' | 'closed' | 'reset' | 'timeout' | 'garbage';
  status?: number;
  headers?: Map<string, string>;
  head?: string;
  error?: string;
  ms: number;
}

function exchange(port: number, c: Case): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect({ port, host: '127.0.0.1' });
    let buffer = Buffer.alloc(0);
    let done = false;
    const finish = (o: Omit<Outcome, 'ms'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...o, ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', head: buffer.subarray(0, 200).toString('latin1') }), TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) {
          if (buffer.length > 256 * 1024) finish({ kind: 'garbage', head: buffer.subarray(0, 200).toString('latin1') });
          return;
        }
        const head = buffer.subarray(0, end).toString('latin1');
        const m = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?\r\n/.exec(head + '\r\n');
        if (!m) return finish({ kind: 'garbage', head: head.slice(0, 200) });
        const status = Number(m[1]);
        // Interim answers (100 Continue): the final one follows.
        if (status >= 100 && status < 200 && status !== 101) {
          buffer = buffer.subarray(end + 4);
          continue;
        }
        const headers = new Map<string, string>();
        for (const line of head.split('\r\n').slice(1)) {
          const colon = line.indexOf(':');
          if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
        }
        return finish({ kind: 'response', status, headers, head: head.slice(0, 300) });
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ kind: 'reset', error: err.code ?? err.message }));
    socket.on('close', () => finish({ kind: 'closed', head: buffer.subarray(0, 200).toString('latin1') }));
    socket.on('connect', async () => {
      let at = 0;
      for (const split of c.splits) {
        socket.write(c.bytes.subarray(at, split));
        at = split;
        await new Promise((r) => setTimeout(r, 3));
        if (done) return;
      }
      socket.write(c.bytes.subarray(at));
      if (c.halfClose) socket.end();
    });
  });
}

/** The request for a report: escaped, long runs shortened. */
function describeBytes(bytes: Buffer): string {
  const text = JSON.stringify(bytes.toString('latin1'));
  return text.replace(/(.)\1{63,}/g, (run, ch: string) => `${ch.repeat(8)}…(${run.length}×)…`).slice(0, 1500);
}

// ---- the test -------------------------------------------------------------------

async function walk(dir: string, visit: (path: string, isDir: boolean) => Promise<void>): Promise<void> {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const st = await lstat(path);
    await visit(path, st.isDirectory());
    if (st.isDirectory()) await walk(path, visit);
  }
}

describe(`fuzz: raw HTTP requests (seed 0x${SEED.toString(16)}, ${TOTAL} cases)`, () => {
  let tmp: string;
  let box: string;
  let dataDir: string;
  let daemon: TestDaemon;
  let ctx: Ctx;
  let tmpBefore: string[];
  const stderr: string[] = [];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'edgecd-fuzz-'));
    box = join(tmp, 'box');
    dataDir = join(box, 'data');
    await mkdir(box);
    daemon = await TestDaemon.start({ dataDir, process: true });
    daemon.child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    tmpBefore = (await readdir(tmp)).sort();
    const [{ token, account }, reader, admin] = await Promise.all([daemon.auth(), daemon.auth('reader'), daemon.auth('admin')]);
    const file = await daemon.connectionFile();
    ctx = {
      port: daemon.port,
      token,
      readerToken: reader.token,
      adminToken: admin.token,
      account: account.replace(/^\/v1\//, ''),
      user: file.BlobAPIUserName,
      key: file.BlobAPIKey,
      containers: ['fuzz', 'fuzz2', 'Users', 'Devices', 'RejectedContent_UnknownTime_8d1c7a2e', 'sealme', '%C3%85sa%20%C3%B6l', RECORDING, 'System'],
      objects: ['existing', 'm1', 'dir/sub/file', '%C3%85sa', 'empty', '20220823T114810Z_1234.mkv', 'Capabilities.json', 'x.constructor', '__proto__'],
    };
    const h = { 'X-Auth-Token': token };
    for (const c of ctx.containers.filter((c) => c !== RECORDING && c !== 'System')) {
      const res = await daemon.request('PUT', `${account}/${c}`, h);
      assert.ok(res.status === 201 || res.status === 202, `PUT container ${c}: ${res.status} ${res.text}`);
    }
    for (const [path, content] of [
      ['fuzz/existing', 'hello, fuzz: 0123456789'],
      ['fuzz/empty', ''],
      ['Users/u1', '{}'],
      ['Devices/B0001', '{}'],
    ] as const) {
      const res = await daemon.request('PUT', `${account}/${path}`, h, content);
      assert.equal(res.status, 201, `${path}: ${res.text}`);
    }
    // A recording (its user and camera registered above) gets clips and sealing attempts too.
    const res = await daemon.request('PUT', `${account}/${RECORDING}`, { ...h, 'X-Container-Meta-Userid': 'u1', 'X-Container-Meta-Bwcserialnumber': 'B0001' });
    assert.ok(res.status === 201 || res.status === 202, `PUT recording: ${res.status} ${res.text}`);
  });

  after(async () => {
    if (daemon) await daemon.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const failures: string[] = [];
  const byClass = new Map<string, number>();
  const byStatus = new Map<number, number>();
  const byCategory = new Map<string, Map<string, number>>();
  let fuzzMs = 0;

  test('no 5xx (bar 503 + Retry-After and 507), no hang, no silent close of a well-framed request', async (t) => {
    const started = performance.now();
    // FUZZ_ONLY=12,345: replay those cases alone (same seed, same bytes but for port and token).
    const ids = process.env.FUZZ_ONLY ? process.env.FUZZ_ONLY.split(',').map(Number) : Array.from({ length: TOTAL }, (_, i) => i);
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const c = makeCase(ids[next++]!, ctx);
        const o = await exchange(ctx.port, c);
        const cls = o.kind === 'response' ? `${Math.floor(o.status! / 100)}xx` : o.kind;
        if (o.kind === 'response') byStatus.set(o.status!, (byStatus.get(o.status!) ?? 0) + 1);
        byClass.set(cls, (byClass.get(cls) ?? 0) + 1);
        const top = c.category.split(':')[0]!;
        const cat = byCategory.get(top) ?? new Map<string, number>();
        cat.set(cls, (cat.get(cls) ?? 0) + 1);
        byCategory.set(top, cat);
        // FUZZ_DUMP=<file>: one JSON line per case, to study the answers.
        if (process.env.FUZZ_DUMP) {
          await appendFile(
            process.env.FUZZ_DUMP,
            JSON.stringify({ id: c.id, category: c.category, kind: o.kind, status: o.status, ms: Math.round(o.ms), request: describeBytes(c.bytes).slice(0, 400) }) + '\n',
          );
        }
        let problem: string | undefined;
        if (o.kind === 'response') {
          const s = o.status!;
          if (s >= 500 && !(s === 503 && o.headers!.has('retry-after')) && s !== 507) problem = `answered ${s}`;
        } else if (o.kind === 'timeout') problem = `no answer within ${TIMEOUT_MS} ms`;
        else if (o.kind === 'garbage') problem = `unparseable answer ${JSON.stringify(o.head)}`;
        else if (!c.closeOk && !(o.kind === 'reset' && c.resetOk)) problem = `${o.kind} without an answer${o.error ? ` (${o.error})` : ''}`;
        if (problem)
          failures.push(
            `case #${c.id} [${c.category}] ${problem}${o.head ? ` | answer: ${JSON.stringify(o.head.slice(0, 160))}` : ''} | request: ${describeBytes(c.bytes).slice(0, 400)}`,
          );
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    fuzzMs = performance.now() - started;
    const classes = [...byClass]
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    t.diagnostic(`${ids.length} requests in ${(fuzzMs / 1000).toFixed(1)} s over ${CONCURRENCY} sockets; seed 0x${SEED.toString(16)}`);
    t.diagnostic(`by class: ${classes}`);
    t.diagnostic(
      `by status: ${[...byStatus]
        .sort((a, b) => a[0] - b[0])
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    for (const [cat, counts] of [...byCategory].sort())
      t.diagnostic(
        `  ${cat.padEnd(12)} ${[...counts]
          .sort()
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      );
    for (const f of failures.slice(0, 20)) t.diagnostic(`FAIL ${f}`);
    assert.equal(failures.length, 0, `${failures.length} failing cases; first:\n${failures.slice(0, 5).join('\n')}`);
  });

  test('the daemon is alive, healthy, and still stores and returns bytes', async (t) => {
    assert.equal(daemon.child.exitCode, null, 'daemon exited');
    assert.equal(daemon.child.signalCode, null, 'daemon killed');
    const health = await daemon.request('GET', '/healthcheck');
    assert.equal(health.status, 200, health.text);
    const payload = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff));
    const path = `/v1/${ctx.account}/fuzz/after-the-storm`;
    const put = await daemon.request('PUT', path, { 'X-Auth-Token': ctx.token }, payload);
    assert.equal(put.status, 201, put.text);
    const get = await daemon.request('GET', path, { 'X-Auth-Token': ctx.readerToken });
    assert.equal(get.status, 200, get.text);
    assert.ok(get.body.equals(payload), 'round-tripped bytes differ');
    t.diagnostic(`healthcheck 200; PUT+GET of ${payload.length} bytes round-trips`);
  });

  test('the log is JSON lines only, and no request was logged with a 5xx', async (t) => {
    // Stopping flushes pino's asynchronous writes: every line is in.
    const stopStarted = performance.now();
    assert.equal(await daemon.stop(), 0, 'clean exit on SIGTERM');
    t.diagnostic(`SIGTERM to exit: ${Math.round(performance.now() - stopStarted)} ms`);
    if (process.env.FUZZ_DUMP) await appendFile(process.env.FUZZ_DUMP + '.log', daemon.logLines.join('\n') + '\n');
    const bad: string[] = [];
    const fiveXX: string[] = [];
    let requests = 0;
    let errors = 0;
    let client499 = 0;
    for (const line of daemon.logLines) {
      let entry: { msg?: string; status?: number; level?: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        bad.push(line.slice(0, 200));
        continue;
      }
      if (typeof entry !== 'object' || entry === null) {
        bad.push(line.slice(0, 200));
        continue;
      }
      if (entry.msg === 'request') requests += 1;
      if ((entry.level ?? 0) >= 50) errors += 1;
      if (entry.status === 499) client499 += 1;
      if (typeof entry.status === 'number' && entry.status >= 500) fiveXX.push(line.slice(0, 300));
    }
    const unexpected = fiveXX.filter((l) => !/"status":(503|507)\b/.test(l));
    t.diagnostic(
      `${daemon.logLines.length} log lines, ${requests} request lines, ${fiveXX.length} with status >= 500 (${unexpected.length} other than 503/507), ${client499} with 499, ${errors} at level error+`,
    );
    for (const l of unexpected.slice(0, 10)) t.diagnostic(`5xx log: ${l}`);
    // Errors that escape the app (e.g. a header Node refuses to write) are printed by
    // @hono/node-server with console.error: on stderr, with a stack.
    const errText = stderr.join('');
    const traces = errText.split('\n').filter((l) => /^\S*(Error|error)\b|^\s+at /.test(l));
    t.diagnostic(`stderr: ${errText.length} bytes${traces.length ? `; first: ${JSON.stringify(errText.slice(0, 300))}` : ''}`);
    assert.deepEqual(bad, [], 'non-JSON lines on stdout');
    assert.deepEqual(traces.slice(0, 5), [], 'stack traces on stderr');
    assert.deepEqual(unexpected, [], 'requests logged with a 5xx');
  });

  test('nothing was written outside the data directory', async (t) => {
    assert.deepEqual((await readdir(tmp)).sort(), tmpBefore, `new entries in ${tmp}`);
    assert.deepEqual(tmpBefore, ['box']);
    assert.deepEqual(await readdir(box), ['data'], `${box} must hold only data/`);
    const objects = join(dataDir, 'objects');
    const realObjects = await realpath(objects);
    let files = 0;
    let dirs = 0;
    const problems: string[] = [];
    await walk(dataDir, async (path) => {
      const st = await lstat(path);
      if (st.isSymbolicLink()) problems.push(`symlink: ${path}`);
    });
    await walk(objects, async (path, isDir) => {
      const rel = relative(objects, path);
      const parts = rel.split(sep);
      const real = await realpath(path);
      if (!real.startsWith(realObjects + sep)) problems.push(`escapes objects/: ${path} -> ${real}`);
      if (parts.some((p) => p === '..' || p === '.' || p.includes('\\'))) problems.push(`odd name: ${rel}`);
      // objects/<account>/<container>/<file>: nothing deeper, and names never start with a dot but the store's own files.
      if (parts.length > 3) problems.push(`nested deeper than account/container/object: ${rel}`);
      if (isDir && parts.length === 3) problems.push(`directory where an object file belongs: ${rel}`);
      if (!isDir && parts.length < 3) problems.push(`file where a directory belongs: ${rel}`);
      if (parts[parts.length - 1]!.startsWith('.') && !/^\.edgecd-/.test(parts[parts.length - 1]!)) problems.push(`dot file: ${rel}`);
      if (isDir) dirs += 1;
      else files += 1;
    });
    t.diagnostic(`objects/: ${dirs} directories, ${files} files, all inside`);
    assert.deepEqual(problems, []);
  });
});
