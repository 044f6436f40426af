/** /status and /metrics: what an operator's monitoring reads. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SwiftSession, TestDaemon } from './helpers/daemon.ts';

let daemon: TestDaemon;
let s: SwiftSession;
let adminToken: string;

before(async () => {
  daemon = await TestDaemon.start({ config: { quota: { maxBytes: 1_000_000 }, health: { checkSeconds: 1 } } });
  s = await SwiftSession.open(daemon);
  await s.req('PUT', '/c');
  await s.req('PUT', '/c/o', {}, randomBytes(850_000));
  await s.req('GET', '/c/missing');
  adminToken = (await daemon.auth('admin')).token;
});
after(() => daemon.cleanup());

describe('health', () => {
  it('/status needs an admin token and reports storage, load, requests, system and clock', async () => {
    assert.equal((await daemon.request('GET', '/status')).status, 401);
    assert.equal((await daemon.request('GET', '/status', { 'X-Auth-Token': s.token })).status, 403, 'not for the camera system');
    assert.equal((await daemon.request('GET', '/metrics', { 'X-Auth-Token': s.readerToken })).status, 403, 'not for a reader');
    const res = await daemon.request('GET', '/status', { 'X-Auth-Token': adminToken });
    const audit = await readFile(join(daemon.dataDir, 'audit.jsonl'), 'utf8');
    assert.match(audit, /"actor":"bws","role":"uploader".*"action":"denied GET \/status".*"result":"403"/, 'the refusal is audited');
    assert.equal(res.status, 200);
    const h = JSON.parse(res.text);
    assert.equal(h.ready, true);
    // The object's bytes, and two changes' bookkeeping (the container's and the object's log lines, 512 bytes each for audit and index).
    assert.ok(h.storage.usedBytes > 850_000 + 2 * 512 && h.storage.usedBytes < 850_000 + 4096, `${h.storage.usedBytes}`);
    assert.equal(h.storage.quotaBytes, 1_000_000);
    assert.equal(h.storage.usedPercent, Math.round(h.storage.usedBytes / 1000) / 10);
    assert.ok(h.storage.totalBytes > 0 && h.storage.freeBytes > 0);
    assert.equal(h.storage.readOnly, false);
    assert.equal(h.load.uploads, 0);
    assert.ok(h.requests.totals['PUT 201'] >= 2);
    assert.ok(h.requests.totals['GET 404'] >= 1);
    assert.equal(h.requests.uploadBytes, 850_000);
    assert.ok(h.requests.recentPerSecondByStatus['201'] > 0);
    assert.ok(h.system.memory.processRssBytes > 0);
    assert.equal(typeof h.clock.synchronised, 'boolean');
  });

  it('/metrics speaks Prometheus text with request counters and upload bytes', async () => {
    const res = await daemon.request('GET', '/metrics', { 'X-Auth-Token': adminToken });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
    assert.match(res.text, /^# TYPE edgecd_requests_total counter$/m);
    assert.match(res.text, /^edgecd_requests_total\{method="PUT",status="201"\} \d+$/m);
    assert.match(res.text, /^edgecd_upload_bytes_total 850000$/m);
    assert.match(res.text, /^edgecd_storage_used_ratio 0\.85\d*$/m);
    for (const line of res.text.trim().split('\n')) assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[\d.e+-]+)$/, line);
  });

  it('logs when storage crosses 80 % of the quota', async () => {
    while (!daemon.logLines.some((l) => l.includes('storage is 80 % full'))) await new Promise((r) => setTimeout(r, 100));
    assert.ok(daemon.logLines.some((l) => l.includes('storage is 80 % full')));
    assert.ok(!daemon.logLines.some((l) => l.includes('storage is 90 % full')));
  });
});
