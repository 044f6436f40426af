/** The Swift API over real HTTP, as a BWS and Swift clients speak it. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, mkdtemp } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SwiftSession, TestDaemon } from './helpers/daemon.ts';
import { md5, sha256 } from './helpers/hashes.ts';

const TRANS_ID = /^tx[0-9a-f]{21}-[0-9a-f]{10}$/;
const MAX_BYTES = 4 * 1024 * 1024;

let daemon: TestDaemon;
let s: SwiftSession;
let sandbox: string;

/** Sends raw bytes and returns the status line and head (for requests http.request cannot make). */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // latin1: each character is one byte on the wire, as a header's bytes are.
    const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.from(text, 'latin1')));
    let data = '';
    socket.on('data', (d) => {
      data += d.toString('latin1');
      if (data.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(data);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
  });
}

before(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'edgecd-sandbox-'));
  daemon = await TestDaemon.start({ dataDir: join(sandbox, 'data'), config: { objects: { maxBytes: MAX_BYTES } } });
  s = await SwiftSession.open(daemon);
});

after(async () => {
  await daemon.cleanup();
});

describe('auth', () => {
  it('issues a token and a storage URL for the host the client addressed', async () => {
    const file = await daemon.connectionFile();
    const res = await daemon.request('GET', '/auth/v1.0', { Host: `station.example:${daemon.port}`, 'X-Auth-User': file.BlobAPIUserName, 'X-Auth-Key': file.BlobAPIKey });
    assert.equal(res.status, 200);
    assert.match(res.headers['x-auth-token'] as string, /^AUTH_tk[0-9a-f]{32}$/);
    assert.equal(res.headers['x-storage-url'], `http://station.example:${daemon.port}/v1/AUTH_${file.BlobAPIUserName}`);
    const expires = Number(res.headers['x-auth-token-expires']);
    assert.ok(expires > 86000 && expires <= 86400, `expires ${expires}`);
    assert.ok(res.rawNames.includes('X-Auth-Token') && res.rawNames.includes('X-Storage-Url'));
  });

  it('accepts the X-Storage-User/X-Storage-Pass, Auth-Key and account:user spellings', async () => {
    const { BlobAPIUserName: user, BlobAPIKey: key } = await daemon.connectionFile();
    const spellings: Record<string, string>[] = [
      { 'X-Storage-User': user, 'X-Storage-Pass': key },
      { 'X-Auth-User': user, 'Auth-Key': key },
      { 'X-Auth-User': `${user}:${user}`, 'X-Auth-Key': key },
    ];
    for (const headers of spellings) {
      const res = await daemon.request('GET', '/auth/v1.0', headers);
      assert.equal(res.status, 200, JSON.stringify(Object.keys(headers)));
      const check = await daemon.request('HEAD', `/v1/AUTH_${user}`, { 'X-Auth-Token': res.headers['x-auth-token'] as string });
      assert.equal(check.status, 204);
    }
  });

  it('refuses wrong, unknown and missing credentials with 401', async () => {
    const { BlobAPIUserName: user, BlobAPIKey: key } = await daemon.connectionFile();
    for (const headers of [{ 'X-Auth-User': user, 'X-Auth-Key': key + 'x' }, { 'X-Auth-User': 'nobody', 'X-Auth-Key': key }, { 'X-Auth-User': user }, {}]) {
      const res = await daemon.request('GET', '/auth/v1.0', headers as Record<string, string>);
      assert.equal(res.status, 401);
      assert.equal(res.headers['x-auth-token'], undefined);
      assert.match(res.headers['www-authenticate'] as string, /Swift/);
    }
  });

  it('requires a valid token for the right account', async () => {
    assert.equal((await daemon.request('HEAD', s.account)).status, 401);
    assert.equal((await daemon.request('GET', s.account, { 'X-Auth-Token': 'AUTH_tk' + '0'.repeat(32) })).status, 401);
    assert.equal((await daemon.request('HEAD', '/v1/AUTH_other', { 'X-Auth-Token': s.token })).status, 403);
    assert.equal((await daemon.request('PUT', '/v1/AUTH_other/c', { 'X-Auth-Token': s.token })).status, 403);
  });
});

describe('responses', () => {
  it('carry X-Trans-Id and X-Timestamp, errors included', async () => {
    for (const res of [
      await daemon.request('GET', '/healthcheck'),
      await daemon.request('GET', '/auth/v1.0'),
      await s.req('HEAD', '/no-such-container'),
      await s.req('PUT', '/c/%C0%AE'),
    ]) {
      assert.match(res.headers['x-trans-id'] as string, TRANS_ID);
      assert.match(res.headers['x-timestamp'] as string, /^\d{10}\.\d{5}$/);
    }
  });

  it('a request too malformed to route still gets a 400 with a transaction id', async () => {
    const head = await rawRequest(daemon.port, 'GET /healthcheck HTTP/1.1\r\nHost: bad host\r\n\r\n');
    assert.match(head, /^HTTP\/1.1 400 /);
    assert.match(head, /X-Trans-Id: tx[0-9a-f]{21}-[0-9a-f]{10}/);
  });

  it('healthcheck answers 200 OK', async () => {
    const res = await daemon.request('GET', '/healthcheck');
    assert.equal(res.status, 200);
    assert.equal(res.text, 'OK');
  });

  it('absolute-form request targets address the same resources', async () => {
    const res = await daemon.request('HEAD', `http://127.0.0.1:${daemon.port}${s.account}`, { 'X-Auth-Token': s.token });
    assert.equal(res.status, 204);
    const head = await rawRequest(daemon.port, `HEAD http://127.0.0.1:${daemon.port}${s.account} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: ${s.token}\r\n\r\n`);
    assert.match(head, /^HTTP\/1.1 204 /);
  });

  it('DELETE and COPY are refused (403) for every role; other methods get 405 with Allow', async () => {
    await s.req('PUT', '/methods');
    const admin = await daemon.auth('admin');
    for (const token of [s.token, s.readerToken, admin.token]) {
      assert.equal((await s.req('DELETE', '/methods', { 'X-Auth-Token': token })).status, 403);
      assert.equal((await s.req('DELETE', '', { 'X-Auth-Token': token })).status, 403);
      assert.equal((await s.req('COPY', '/methods/o', { 'X-Auth-Token': token })).status, 403);
    }
    const patch = await s.req('PATCH', '/methods/o');
    assert.equal(patch.status, 405);
    assert.equal(patch.headers.allow, 'PUT, POST, HEAD, GET');
    assert.equal((await s.req('HEAD', '/methods')).status, 204, 'nothing was deleted');
  });
});

describe('containers', () => {
  it('PUT creates (201) then accepts (202); HEAD shows counts and canonical metadata', async () => {
    const a = await s.req('PUT', '/rec-a', { 'X-Container-Meta-UserID': 'u-1', 'X-Container-Meta-Status': 'Transferring' });
    assert.equal(a.status, 201);
    assert.equal((await s.req('PUT', '/rec-a')).status, 202);
    const head = await s.req('HEAD', '/rec-a');
    assert.equal(head.status, 204);
    assert.equal(head.headers['x-container-object-count'], '0');
    assert.equal(head.headers['x-container-bytes-used'], '0');
    assert.ok(head.rawNames.includes('X-Container-Meta-Userid'), head.rawNames.join(','));
    assert.ok(head.rawNames.includes('X-Container-Meta-Status'));
    assert.equal(head.headers['x-container-meta-userid'], 'u-1');
  });

  it('merges metadata; an empty value or X-Remove deletes a key', async () => {
    await s.req('PUT', '/rec-merge', { 'X-Container-Meta-A': '1', 'X-Container-Meta-B': '2' });
    assert.equal((await s.req('POST', '/rec-merge', { 'X-Container-Meta-C': '3' })).status, 204);
    assert.equal((await s.req('PUT', '/rec-merge', { 'X-Container-Meta-D': '4' })).status, 202);
    await s.req('POST', '/rec-merge', { 'X-Container-Meta-A': '' });
    await s.req('POST', '/rec-merge', { 'X-Remove-Container-Meta-B': 'x' });
    const head = await s.req('HEAD', '/rec-merge');
    assert.equal(head.headers['x-container-meta-a'], undefined);
    assert.equal(head.headers['x-container-meta-b'], undefined);
    assert.equal(head.headers['x-container-meta-c'], '3');
    assert.equal(head.headers['x-container-meta-d'], '4');
  });

  it('accepts X-Object-Meta-* on containers, as BWS firmware sends', async () => {
    await s.req('PUT', '/rec-objmeta', { 'X-Object-Meta-Bwcserialnumber': 'B123' });
    await s.req('POST', '/rec-objmeta', { 'X-Object-Meta-Status': 'Complete' });
    const head = await s.req('HEAD', '/rec-objmeta');
    assert.equal(head.headers['x-container-meta-bwcserialnumber'], 'B123');
    assert.equal(head.headers['x-container-meta-status'], 'Complete');
  });

  it('POST to a missing container is 404 and creates nothing', async () => {
    assert.equal((await s.req('POST', '/missing', { 'X-Container-Meta-A': '1' })).status, 404);
    assert.equal((await s.req('HEAD', '/missing')).status, 404);
  });

  it('keeps URL-encoded and raw UTF-8 values byte for byte, and limits the decoded size', async () => {
    const name100 = 'ö'.repeat(50); // 100 bytes of UTF-8, 300 characters URL-encoded
    const encoded = encodeURIComponent(name100);
    assert.equal(encoded.length, 300);
    const rawUtf8 = Buffer.from('Jörgen Åström', 'utf8').toString('latin1');
    const put = await s.req('PUT', '/rec-utf8', { 'X-Container-Meta-Name': encoded, 'X-Container-Meta-Raw': rawUtf8 });
    assert.equal(put.status, 201, put.text);
    const head = await s.req('HEAD', '/rec-utf8');
    assert.equal(head.headers['x-container-meta-name'], encoded);
    assert.equal(Buffer.from(head.headers['x-container-meta-raw'] as string, 'latin1').toString('utf8'), 'Jörgen Åström');

    const tooLong = encodeURIComponent('ö'.repeat(129)); // 258 bytes decoded
    const bad = await s.req('POST', '/rec-utf8', { 'X-Container-Meta-Name': tooLong });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /too long/);
    assert.equal((await s.req('HEAD', '/rec-utf8')).headers['x-container-meta-name'], encoded, 'a 400 changes nothing');
  });

  it("enforces Swift's metadata count, name and overall limits with 400", async () => {
    await s.req('PUT', '/rec-limits');
    const many: Record<string, string> = {};
    for (let i = 0; i < 91; i++) many[`X-Container-Meta-K${i}`] = 'v';
    assert.equal((await s.req('POST', '/rec-limits', many)).status, 400);
    assert.equal((await s.req('POST', '/rec-limits', { [`X-Container-Meta-${'n'.repeat(129)}`]: 'v' })).status, 400);
    const big: Record<string, string> = {};
    for (let i = 0; i < 20; i++) big[`X-Container-Meta-Big${i}`] = 'x'.repeat(250);
    assert.equal((await s.req('POST', '/rec-limits', big)).status, 400);
    const head = await s.req('HEAD', '/rec-limits');
    assert.ok(!Object.keys(head.headers).some((h) => h.startsWith('x-container-meta-')), 'nothing stored');
  });

  it('lists containers with counts (json) and names (plain)', async () => {
    const res = await s.req('GET', '?format=json&prefix=rec-&limit=2');
    assert.equal(res.status, 200);
    const list = JSON.parse(res.text) as { name: string; count: number; bytes: number }[];
    assert.equal(list.length, 2);
    assert.deepEqual(
      list.map((c) => c.name),
      ['rec-a', 'rec-limits'],
    );
    const plain = await s.req('GET', '?prefix=rec-m');
    assert.equal(plain.text, 'rec-merge\n');
    assert.equal((await s.req('GET', '?prefix=zzz')).status, 204);
  });

  it('refuses bad container names with 400', async () => {
    for (const rel of ['/' + 'c'.repeat(257), '/bad%01name', '/%C0%AE%C0%AE', '/..', '/.', '/bad%ZZ']) {
      const res = await s.req('PUT', rel);
      assert.equal(res.status, 400, rel);
    }
    assert.equal((await s.req('PUT', '/' + 'c'.repeat(256))).status, 201);
  });
});

describe('objects', () => {
  it('metadata with non-ASCII bytes comes back byte for byte from GET as from HEAD', async () => {
    await s.req('PUT', '/bytes');
    const name = Buffer.from('Jörgen Åsa', 'utf8').toString('latin1'); // the raw UTF-8 bytes on the wire
    const put = await rawRequest(
      daemon.port,
      `PUT ${s.account}/bytes/o HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${s.token}\r\nX-Object-Meta-Name: ${name}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`,
    );
    assert.match(put, /^HTTP\/1\.1 201 /);
    for (const [method, token] of [
      ['HEAD', s.token],
      ['GET', s.readerToken],
    ] as const) {
      const res = await rawRequest(daemon.port, `${method} ${s.account}/bytes/o HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${token}\r\nConnection: close\r\n\r\n`);
      assert.ok(res.includes(`X-Object-Meta-Name: ${name}\r\n`), `${method}: ${JSON.stringify(/X-Object-Meta-Name: [^\r]*/.exec(res)?.[0])}`);
    }
  });

  before(async () => {
    await s.req('PUT', '/clips', { 'X-Container-Meta-Status': 'Transferring' });
  });

  it('PUT stores the body (201 + md5 Etag); GET and HEAD give it back with metadata', async () => {
    const body = randomBytes(100_000);
    const put = await s.req('PUT', '/clips/20240101T120000Z_42.mkv', { 'Content-Type': 'video/x-matroska', 'X-Object-Meta-StartTime': '1704110400' }, body);
    assert.equal(put.status, 201);
    assert.equal(put.headers.etag, md5(body));
    assert.equal(put.headers['x-edgecd-sha256'], sha256(body));
    const get = await s.req('GET', '/clips/20240101T120000Z_42.mkv');
    assert.equal(get.status, 200);
    assert.ok(get.body.equals(body));
    assert.equal(get.headers.etag, md5(body));
    assert.equal(get.headers['content-type'], 'video/x-matroska');
    assert.ok(get.rawNames.includes('X-Object-Meta-Starttime'));
    const head = await s.req('HEAD', '/clips/20240101T120000Z_42.mkv');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(body.length));
    assert.equal(head.headers['x-object-meta-starttime'], '1704110400');
    assert.ok(!Number.isNaN(Date.parse(head.headers['last-modified'] as string)));
    const container = await s.req('HEAD', '/clips');
    assert.equal(container.headers['x-container-object-count'], '1');
    assert.equal(container.headers['x-container-bytes-used'], String(body.length));
  });

  it('a matching request Etag is accepted; a wrong one is 422 and stores nothing', async () => {
    const body = Buffer.from('bookmark text');
    assert.equal((await s.req('PUT', '/clips/etag-ok', { Etag: md5(body) }, body)).status, 201);
    const before = await s.req('HEAD', '/clips');
    const bad = await s.req('PUT', '/clips/etag-bad', { Etag: md5('other') }, body);
    assert.equal(bad.status, 422);
    assert.equal((await s.req('HEAD', '/clips/etag-bad')).status, 404);
    const afterHead = await s.req('HEAD', '/clips');
    assert.equal(afterHead.headers['x-container-object-count'], before.headers['x-container-object-count']);
    assert.deepEqual(await readdir(join(daemon.dataDir, 'tmp')), []);
  });

  it('PUT into a missing container is 404', async () => {
    assert.equal((await s.req('PUT', '/nope/obj', {}, 'x')).status, 404);
  });

  it('chunked uploads are stored whole', async () => {
    const parts = Array.from({ length: 20 }, () => randomBytes(50_000));
    async function* chunks() {
      for (const p of parts) yield p;
    }
    const res = await s.req('PUT', '/clips/chunked.mkv', {}, chunks());
    assert.equal(res.status, 201);
    const all = Buffer.concat(parts);
    assert.equal(res.headers.etag, md5(all));
    assert.ok((await s.req('GET', '/clips/chunked.mkv')).body.equals(all));
  });

  it('without Content-Length or chunked encoding: 411', async () => {
    const head = await rawRequest(daemon.port, `PUT ${s.account}/clips/nolength HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${s.token}\r\n\r\n`);
    assert.match(head, /^HTTP\/1.1 411 /);
  });

  it('an object over objects.maxBytes is refused with 413 before its body is read', async () => {
    const head = await rawRequest(daemon.port, `PUT ${s.account}/clips/huge HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${s.token}\r\nContent-Length: ${MAX_BYTES + 1}\r\n\r\n`);
    assert.match(head, /^HTTP\/1.1 413 /);
    assert.match(head, /Connection: close/i);
    async function* tooMuch() {
      for (let i = 0; i <= MAX_BYTES / 65536; i++) yield Buffer.alloc(65536);
    }
    const chunked = await s.req('PUT', '/clips/huge', {}, tooMuch()).catch((err: Error) => ({ status: 0, err }));
    assert.equal(chunked.status, 413, 'the client sees the 413, not a reset');
    assert.equal((await s.req('HEAD', '/clips/huge')).status, 404);
  });

  it('POST replaces object metadata (202); 404 when the object is missing', async () => {
    await s.req('PUT', '/clips/meta', { 'X-Object-Meta-A': '1', 'X-Object-Meta-B': '2' }, 'x');
    assert.equal((await s.req('POST', '/clips/meta', { 'X-Object-Meta-C': '3' })).status, 202);
    const head = await s.req('HEAD', '/clips/meta');
    assert.equal(head.headers['x-object-meta-a'], undefined);
    assert.equal(head.headers['x-object-meta-b'], undefined);
    assert.equal(head.headers['x-object-meta-c'], '3');
    assert.equal(head.headers.etag, md5('x'));
    assert.equal((await s.req('POST', '/clips/absent', { 'X-Object-Meta-C': '3' })).status, 404);
  });

  it('serves single byte ranges (206/416) and whole bodies for multi-range requests', async () => {
    const body = Buffer.from('0123456789');
    await s.req('PUT', '/clips/range', {}, body);
    const first = await s.req('GET', '/clips/range', { Range: 'bytes=2-5' });
    assert.equal(first.status, 206);
    assert.equal(first.text, '2345');
    assert.equal(first.headers['content-range'], 'bytes 2-5/10');
    const suffix = await s.req('GET', '/clips/range', { Range: 'bytes=-3' });
    assert.equal(suffix.text, '789');
    const open = await s.req('GET', '/clips/range', { Range: 'bytes=7-' });
    assert.equal(open.text, '789');
    const past = await s.req('GET', '/clips/range', { Range: 'bytes=10-' });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], 'bytes */10');
    const multi = await s.req('GET', '/clips/range', { Range: 'bytes=0-1,3-4' });
    assert.equal(multi.status, 200);
    assert.equal(multi.text, '0123456789');
  });

  it('an overwrite keeps the count and updates the bytes', async () => {
    await s.req('PUT', '/rec-over');
    await s.req('PUT', '/rec-over/o', {}, 'abc');
    await s.req('PUT', '/rec-over/o', {}, 'abcdef');
    const head = await s.req('HEAD', '/rec-over');
    assert.equal(head.headers['x-container-object-count'], '1');
    assert.equal(head.headers['x-container-bytes-used'], '6');
    assert.equal((await s.req('GET', '/rec-over/o')).text, 'abcdef');
  });

  it('refuses large-object manifests instead of storing them as empty objects', async () => {
    const res = await s.req('PUT', '/clips/manifest', { 'X-Object-Manifest': 'clips_segments/x/' }, '');
    assert.equal(res.status, 400);
    assert.equal((await s.req('PUT', '/clips/slo?multipart-manifest=put', {}, '[]')).status, 400);
    assert.equal((await s.req('HEAD', '/clips/manifest')).status, 404);
  });

  it('a GET during overwrites always gets bytes that match its Etag', async () => {
    const versions = [randomBytes(200_000), randomBytes(200_000)]; // same size: only the hash tells them apart
    await s.req('PUT', '/clips/flip', {}, versions[0]);
    let writing = true;
    const writer = (async () => {
      for (let i = 1; i < 40; i++) await s.req('PUT', '/clips/flip', {}, versions[i % 2]);
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const get = await s.req('GET', '/clips/flip');
      assert.equal(get.status, 200);
      assert.equal(md5(get.body), get.headers.etag, 'body and Etag from different versions');
      reads += 1;
    }
    await writer;
    assert.ok(reads > 0);
  });

  it('If-None-Match: * refuses to replace an object (412)', async () => {
    await s.req('PUT', '/clips/once', { 'If-None-Match': '*' }, 'first');
    const again = await s.req('PUT', '/clips/once', { 'If-None-Match': '*' }, 'second');
    assert.equal(again.status, 412);
    assert.equal((await s.req('GET', '/clips/once')).text, 'first');
  });

  it('keeps a zero-byte object', async () => {
    const put = await s.req('PUT', '/clips/bookmark_20240101T120000Z_1', { 'Content-Length': '0' }, '');
    assert.equal(put.status, 201);
    const get = await s.req('GET', '/clips/bookmark_20240101T120000Z_1');
    assert.equal(get.status, 200);
    assert.equal(get.body.length, 0);
    assert.equal(get.headers.etag, md5(''));
  });

  it('lists objects with prefix, delimiter, marker, end_marker and limit', async () => {
    await s.req('PUT', '/tree');
    for (const name of ['a/1', 'a/2', 'b/1', 'c', 'd/x/y', 'ö/ü.mkv']) await s.req('PUT', `/tree/${encodeURIComponent(name).replace(/%2F/g, '/')}`, {}, name);
    const names = async (q: string) => {
      const res = await s.req('GET', `/tree?format=json${q}`);
      return (JSON.parse(res.text) as ({ name: string } | { subdir: string })[]).map((e) => ('subdir' in e ? `dir:${e.subdir}` : e.name));
    };
    assert.deepEqual(await names(''), ['a/1', 'a/2', 'b/1', 'c', 'd/x/y', 'ö/ü.mkv']);
    assert.deepEqual(await names('&delimiter=/'), ['dir:a/', 'dir:b/', 'c', 'dir:d/', 'dir:ö/']);
    assert.deepEqual(await names('&prefix=d/&delimiter=/'), ['dir:d/x/']);
    assert.deepEqual(await names('&marker=a/2'), ['b/1', 'c', 'd/x/y', 'ö/ü.mkv']);
    assert.deepEqual(await names('&end_marker=b'), ['a/1', 'a/2']);
    assert.deepEqual(await names('&limit=2&marker=a/1'), ['a/2', 'b/1']);
    assert.deepEqual(await names('&delimiter=/&marker=a/'), ['dir:b/', 'c', 'dir:d/', 'dir:ö/']);
    assert.deepEqual(await names('&delimiter=/&marker=a/1'), ['dir:a/', 'dir:b/', 'c', 'dir:d/', 'dir:ö/']);
    assert.deepEqual(await names('&delimiter=/&limit=2'), ['dir:a/', 'dir:b/']);
    const entry = JSON.parse((await s.req('GET', '/tree?format=json&prefix=c')).text)[0];
    assert.deepEqual(Object.keys(entry).sort(), ['bytes', 'content_type', 'hash', 'last_modified', 'name']);
    assert.equal(entry.hash, md5('c'));
    assert.match(entry.last_modified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    assert.equal((await s.req('GET', '/tree?limit=10001')).status, 412);
    assert.equal((await s.req('GET', '/tree?format=xml')).status, 400);
  });

  it('account totals follow every change', async () => {
    const head = await s.req('HEAD', '');
    const list = JSON.parse((await s.req('GET', '?format=json')).text) as { count: number; bytes: number }[];
    assert.equal(head.headers['x-account-container-count'], String(list.length));
    assert.equal(head.headers['x-account-object-count'], String(list.reduce((n, c) => n + c.count, 0)));
    assert.equal(head.headers['x-account-bytes-used'], String(list.reduce((n, c) => n + c.bytes, 0)));
  });
});

describe('names never leave the data directory', () => {
  it('refuses dot segments, encoded slashes to them, backslashes, overlong UTF-8 and control characters', async () => {
    await s.req('PUT', '/jail');
    const attempts = [
      '/jail/../../escape',
      '/jail/%2e%2e/%2e%2e/escape',
      '/jail/..%2f..%2fescape',
      '/jail/a/%2E%2E/%2E%2E/%2E%2E/escape',
      '/jail/..%5c..%5cescape',
      '/jail/%C0%AE%C0%AE/escape',
      '/jail/%E0%80%AE%E0%80%AE/escape',
      '/jail/x%00y',
      '/jail/x%0Ay',
      '/jail/.',
      '/%2e%2e/escape',
    ];
    for (const rel of attempts) {
      const res = await s.req('PUT', rel, {}, 'evil');
      assert.ok(res.status === 400 || res.status === 404, `${rel}: ${res.status}`);
      assert.notEqual(res.status, 201);
    }
    // The daemon's data dir is the only thing in the sandbox; nothing appeared beside it.
    assert.deepEqual(await readdir(sandbox), ['data']);
    assert.equal((await s.req('HEAD', '/jail')).headers['x-container-object-count'], '0');
  });

  it('stores names that look like paths as plain, encoded file names', async () => {
    const name = 'dir/..x/%2e/\\back/name with spaces.mkv';
    const put = await s.req('PUT', '/jail/' + encodeURIComponent(name).replace(/%2F/g, '/'), {}, 'ok');
    assert.equal(put.status, 201, put.text);
    const files = await readdir(join(daemon.dataDir, 'objects', 'bws', 'jail'));
    assert.ok(files.every((f) => !f.includes('/')));
    assert.ok(files.includes('dir%2F..x%2F%252e%2F%5Cback%2Fname%20with%20spaces.mkv'), files.join(','));
    assert.equal((await s.req('GET', '/jail/' + encodeURIComponent(name))).text, 'ok');
  });
});
