/** /status and /metrics: what an operator's monitoring reads. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, SwiftSession, TEST_USERS, TestDaemon } from './helpers/daemon.ts';
import { needs } from './helpers/peers.ts';

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

  it('every metric the shipped alert rules and fleet dashboard name is exported', async () => {
    const res = await daemon.request('GET', '/metrics', { 'X-Auth-Token': adminToken });
    const exported = new Set([...res.text.matchAll(/^# TYPE (\w+) /gm)].map((m) => m[1]!));
    const rules = await readFile(join(ROOT, 'docs/monitoring/edgecd.rules.yml'), 'utf8');
    const dashboard = JSON.parse(await readFile(join(ROOT, 'docs/monitoring/edgecd-fleet.dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const exprs = [rules, ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))].join('\n');
    const named = new Set([...exprs.matchAll(/\bedgecd_[a-z0-9_]+/g)].map((m) => m[0]));
    assert.ok(named.size >= 20, `${named.size} metrics named`);
    for (const name of named) assert.ok(exported.has(name), `${name} is named in docs/monitoring but not exported`);
    // What IT asked to be alerted on, each an alert of its own.
    for (const alert of [
      'DiskAlmostFull',
      'DiskFull',
      'DiskReadOnly',
      'ReplicationAlarm',
      'ReplicationBacklogOld',
      'AuditTrailFailing',
      'ClockUnsynchronised',
      'CertificateExpiring',
      'RefusingUploadsFull',
      'Busy',
      'CpuThrottled',
    ])
      assert.match(rules, new RegExp(`- alert: Edgecd${alert}\\n`), alert);
    assert.match(res.text, /^edgecd_audit_trail_writable 1$/m);
  });

  it("a scraper may sign in with HTTP Basic (an admin's name and key); a wrong key is a failed login", async () => {
    const basic = (user: string, key: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}` });
    const ok = await daemon.request('GET', '/metrics', basic(TEST_USERS.admin.user, TEST_USERS.admin.key));
    assert.equal(ok.status, 200);
    assert.match(ok.text, /^edgecd_ready 1$/m);
    assert.equal((await daemon.request('GET', '/status', basic(TEST_USERS.reader.user, TEST_USERS.reader.key))).status, 403, 'not for a reader');
    assert.equal((await daemon.request('GET', '/metrics', basic(TEST_USERS.admin.user, 'wrong'))).status, 401);
    const audit = await readFile(join(daemon.dataDir, 'audit.jsonl'), 'utf8');
    assert.match(audit, new RegExp(`"actor":"${TEST_USERS.admin.user}".*"action":"auth \\(basic\\)".*"result":"failed"`));
  });

  it('promtool accepts /metrics as Prometheus exposition text', { skip: needs('promtool') }, async () => {
    const res = await daemon.request('GET', '/metrics', { 'X-Auth-Token': adminToken });
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: res.text, encoding: 'utf8' });
    // promtool exits 3 for lint advice only (naming style); 1 is an unparsable exposition.
    assert.notEqual(lint.status, 1, lint.stdout + lint.stderr);
    assert.doesNotMatch(lint.stdout + lint.stderr, /error/i);
  });

  it('logs when storage crosses 80 % of the quota', async () => {
    while (!daemon.logLines.some((l) => l.includes('storage is 80 % full'))) await new Promise((r) => setTimeout(r, 100));
    assert.ok(daemon.logLines.some((l) => l.includes('storage is 80 % full')));
    assert.ok(!daemon.logLines.some((l) => l.includes('storage is 90 % full')));
  });
});

describe('alarms pushed to a webhook (health.alarmWebhook)', () => {
  it('POSTs each alarm as JSON, retries a refusal with backoff, keeps what is undelivered across a restart, and audits every attempt', async () => {
    const received: { body: { station: string; alarm: { kind: string; severity: string; message: string }; attempt: number }; answered: number }[] = [];
    let answer = 500;
    let notify: (() => void) | undefined;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ body: JSON.parse(body), answered: answer });
        res.writeHead(answer).end();
        notify?.();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const deliveries = (n: number) =>
      new Promise<void>((resolve) => {
        notify = () => received.length >= n && resolve();
        notify();
      });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alarms`;
    const config = { siteName: 'North Gate', quota: { maxBytes: 1_000_000 }, health: { checkSeconds: 1, alarmWebhook: { url, retrySeconds: 1 } } };
    let station = await TestDaemon.start({ config });
    try {
      const s = await SwiftSession.open(station);
      await s.req('PUT', '/c');
      await s.req('PUT', '/c/o', {}, randomBytes(850_000)); // past 80 % of the quota
      await deliveries(2); // refused, then retried after its backoff
      assert.deepEqual(
        received.map((r) => [r.body.alarm.kind, r.body.alarm.severity, r.body.attempt, r.answered]),
        [
          ['storage', 'warning', 1, 500],
          ['storage', 'warning', 2, 500],
        ],
      );
      assert.equal(received[0]!.body.station, 'North Gate');
      assert.match(received[0]!.body.alarm.message, /storage is 80 % full/);

      // Undelivered when the station stops: the next start sends it.
      await station.stop();
      answer = 204;
      const before = received.length;
      station = await TestDaemon.start({ dataDir: station.dataDir });
      await deliveries(before + 1);
      assert.equal(received.at(-1)!.answered, 204);
      assert.equal(received.at(-1)!.body.alarm.kind, 'storage');
      const audit = await readFile(join(station.dataDir, 'audit.jsonl'), 'utf8');
      assert.match(audit, /"action":"alarm.webhook","target":"storage","result":"failed"/);
      await station.stop(); // the audit line of the delivery is recorded, not awaited: a stop flushes it
      assert.match(await readFile(join(station.dataDir, 'audit.jsonl'), 'utf8'), /"action":"alarm.webhook","target":"storage","result":"sent"/);
    } finally {
      await station.cleanup();
      server.close();
    }
  });

  it('refuses to start with a webhook URL that is not http(s)', async () => {
    await assert.rejects(TestDaemon.start({ config: { health: { alarmWebhook: { url: 'file:///etc/passwd' } } } }), /health\.alarmWebhook\.url: an http or https URL/);
  });
});
