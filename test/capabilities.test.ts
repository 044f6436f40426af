/** Capability API and categories: served from configuration, read-only over HTTP, never withdrawn. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SwiftSession, TestDaemon, runCli } from './helpers/daemon.ts';
import { md5 } from './helpers/hashes.ts';
import { needs } from './helpers/peers.ts';

let daemon: TestDaemon;
let s: SwiftSession;

before(async () => {
  daemon = await TestDaemon.start();
  s = await SwiftSession.open(daemon);
});
after(() => daemon.cleanup());

describe('System/Capabilities.json', () => {
  it('is served with an md5 Etag of its exact bytes, in the spec groups', async () => {
    const res = await s.req('GET', '/System/Capabilities.json');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.headers.etag, md5(res.body));
    // A new station: ReadCategories waits for categories; StoreSignedVideo is declared (edgecd verifies signed video).
    assert.deepEqual(JSON.parse(res.text), {
      Read: { ReadCategories: false },
      Store: { StoreUserIDKey: true, StoreBookmarks: true, StoreSignedVideo: true, StoreGNSSTrackRecording: true, StoreRejectedContent: true },
      // Every one also under StoreAndRead, where Axis's reference server lists them.
      StoreAndRead: {
        ReadCategories: false,
        StoreReadSystemID: true,
        StoreUserIDKey: true,
        StoreBookmarks: true,
        StoreSignedVideo: true,
        StoreGNSSTrackRecording: true,
        StoreRejectedContent: true,
      },
    });
    const head = await s.req('HEAD', '/System/Capabilities.json');
    assert.equal(head.status, 200);
    assert.equal(head.headers.etag, res.headers.etag);
    assert.equal(head.headers['content-length'], String(res.body.length));
  });

  it('cannot be overwritten over the API (403, nothing changes)', async () => {
    const before = await s.req('GET', '/System/Capabilities.json');
    await s.req('PUT', '/System');
    const put = await s.req('PUT', '/System/Capabilities.json', {}, '{"Store":{}}');
    assert.equal(put.status, 403);
    assert.equal((await s.req('POST', '/System/Capabilities.json', { 'X-Object-Meta-X': '1' })).status, 403);
    assert.equal((await s.req('PUT', '/System/Categories.json', {}, '[]')).status, 403);
    const afterGet = await s.req('GET', '/System/Capabilities.json');
    assert.ok(afterGet.body.equals(before.body));
  });

  it('python-swiftclient downloads it and verifies the Etag', { skip: needs('swift') }, async () => {
    const file = await daemon.connectionFile();
    const out = await mkdtemp(join(tmpdir(), 'edgecd-caps-'));
    try {
      await promisify(execFile)('swift', [
        '-A',
        file.AuthenticationTokenURI[0]!,
        '-U',
        file.BlobAPIUserName,
        '-K',
        file.BlobAPIKey,
        'download',
        'System',
        'Capabilities.json',
        '-o',
        join(out, 'caps.json'),
      ]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('a declared capability cannot be withdrawn: the daemon refuses to start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgecd-caps-'));
    try {
      // Declared on purpose, and remembered.
      const first = await TestDaemon.start({ dataDir: dir, config: { capabilities: { StoreSignedVideo: true } } });
      const on = JSON.parse((await (await SwiftSession.open(first)).req('GET', '/System/Capabilities.json')).text);
      assert.equal(on.Store.StoreSignedVideo, true);
      await first.stop();
      for (const name of ['StoreSignedVideo', 'StoreBookmarks']) {
        await writeFile(join(dir, 'edgecd.json'), JSON.stringify({ capabilities: { [name]: false } }));
        const res = await runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off']);
        assert.equal(res.code, 1);
        assert.match(res.stderr, new RegExp(`capabilities\\.${name}: declared to the body-worn system since \\d{4}-`));
      }
      // Left to the default: still declared, and /status says since when.
      await writeFile(join(dir, 'edgecd.json'), JSON.stringify({ quota: { reservePercent: 0 } }));
      const again = await TestDaemon.start({ dataDir: dir });
      try {
        assert.equal(JSON.parse((await (await SwiftSession.open(again)).req('GET', '/System/Capabilities.json')).text).Store.StoreSignedVideo, true);
        const admin = await again.auth('admin');
        const status = JSON.parse((await again.request('GET', '/status', { 'X-Auth-Token': admin.token })).text) as {
          bws: { notes: string[]; capabilities: Record<string, string> };
        };
        assert.match(status.bws.capabilities.StoreSignedVideo!, /^\d{4}-/);
      } finally {
        await again.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('System/Categories.json', () => {
  it('is not published (404, ReadCategories undeclared) until categories are set; then it is, at once', async () => {
    const none = await s.req('GET', '/System/Categories.json');
    assert.equal(none.status, 404, 'a BWS then uses its built-in categories');
    const admin = await daemon.auth('admin');
    const status = async () =>
      JSON.parse((await daemon.request('GET', '/status', { 'X-Auth-Token': admin.token })).text) as {
        bws: { categories: { kind: string }; notes: string[]; capabilities: Record<string, string> };
      };
    assert.equal((await status()).bws.categories.kind, 'none');
    assert.match((await status()).bws.notes.join(' '), /ReadCategories is not declared yet/);

    const file = join(daemon.dataDir, 'new-categories.json');
    await writeFile(
      file,
      JSON.stringify([
        { Name: 'Traffic stop', Id: 'c1' },
        { Name: 'Åtal – väntar', Id: 'c2' },
      ]),
    );
    const set = await runCli(['categories', 'set', file, '--data', daemon.dataDir]);
    assert.equal(set.code, 0, set.stderr);
    const res = await s.req('GET', '/System/Categories.json');
    assert.deepEqual(JSON.parse(res.text), [
      { Name: 'Traffic stop', Id: 'c1' },
      { Name: 'Åtal – väntar', Id: 'c2' },
    ]);
    assert.equal(res.headers.etag, md5(res.body));
    const caps = JSON.parse((await s.req('GET', '/System/Capabilities.json')).text);
    assert.equal(caps.Read.ReadCategories, true);
    assert.equal((await status()).bws.categories.kind, 'station');
    assert.ok((await status()).bws.capabilities.ReadCategories, 'remembered as declared');
    const shown = await runCli(['categories', 'show', '--data', daemon.dataDir]);
    assert.deepEqual(JSON.parse(shown.stdout), JSON.parse(res.text));
  });

  it('refuses an invalid list, naming every problem, and keeps the old one', async () => {
    const before = await s.req('GET', '/System/Categories.json');
    const file = join(daemon.dataDir, 'bad-categories.json');
    await writeFile(
      file,
      JSON.stringify([
        { Name: 'A', Id: 'x' },
        { Name: '', Id: 'x' },
        { Id: 'y', Colour: 'red' },
      ]),
    );
    const res = await runCli(['categories', 'set', file, '--data', daemon.dataDir]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /\[1\]\.Id: "x" is used twice/);
    assert.match(res.stderr, /\[1\]\.Name: a string of 1–100 characters/);
    assert.match(res.stderr, /\[2\]: unknown attribute Colour/);
    assert.ok((await s.req('GET', '/System/Categories.json')).body.equals(before.body));
  });
});
