/**
 * The audit trail anchored outside the station: signed heads sent to the
 * central with replication, kept there unchangeable, and the station's trail
 * checked against them (`audit verify --against`). A station's own `audit
 * verify` cannot see a rewrite whose author recomputed the chain and head;
 * the check against the central must.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadStationKey, signHead } from '../src/audit/station-key.ts';
import { runCli, TEST_USERS, TestDaemon } from './helpers/daemon.ts';
import { centralReader, centralTarget, replicateNow, simulateDay, startEdge, type Target } from './helpers/replication.ts';
import { sha256 } from './helpers/hashes.ts';

describe('audit anchors', () => {
  let central: TestDaemon;
  let edge: TestDaemon;
  let target: Target;
  let keyId: string;
  let stationKey: string;
  const against = () => ['--against', target.authUrl, '--user', TEST_USERS.reader.user, '--key', TEST_USERS.reader.key];

  before(async () => {
    central = await TestDaemon.start();
    target = await centralTarget(central);
    edge = await startEdge([target]);
    await simulateDay(edge, ['--recordings', '1', '--clips', '1', '--clip-bytes', '2000']);
  });
  after(async () => {
    await edge?.cleanup();
    await central?.cleanup();
  });

  test('a pass sends the signed head; the central keeps it, checked, and never lets it be replaced', async () => {
    const { code, reports } = await replicateNow(edge);
    assert.equal(code, 0);
    assert.ok(((reports[0] as { anchors?: { sent: number } }).anchors?.sent ?? 0) >= 1, JSON.stringify(reports[0]));

    const admin = await edge.auth('admin');
    const { audit } = JSON.parse((await edge.request('GET', '/status', { 'X-Auth-Token': admin.token })).text) as {
      audit: { stationKey: string; keyId: string; lastAnchor: { seq: number }; anchoredAt: Record<string, number> };
    };
    ({ keyId, stationKey } = audit);
    assert.match(keyId, /^[0-9a-f]{16}$/);
    assert.equal(audit.anchoredAt.central, audit.lastAnchor.seq, 'the central holds the newest anchor');

    const reader = await centralReader(target);
    const container = `edgecd-audit-${keyId}`;
    const held = await reader.objects(container);
    assert.ok(
      held.some((o) => o.name === `${String(audit.lastAnchor.seq).padStart(12, '0')}.json`),
      JSON.stringify(held),
    );
    // Every replicated object names the station's key with its custody metadata.
    const recording = (await reader.containers()).find((c) => /_\d{8}T\d{6}Z$/.test(c.name))!.name;
    const clip = (await reader.objects(recording))[0]!.name;
    assert.equal((await reader.req('HEAD', `${recording}/${clip}`)).headers['x-object-meta-edgecd-station-key'], stationKey);

    // Only a replicating station writes anchors; only good ones; never over another (another station's key, here).
    const scratch = await mkdtemp(join(tmpdir(), 'edgecd-key-'));
    const key = await loadStationKey(join(scratch, 'station-key.pem'));
    await rm(scratch, { recursive: true, force: true });
    const replicator = await central.auth('replicator');
    assert.equal((await central.request('PUT', `${replicator.account}/edgecd-audit-${key.keyId}`, { 'X-Auth-Token': replicator.token })).status, 201);
    const put = async (name: string, body: string, token = replicator.token) =>
      (await central.request('PUT', `${replicator.account}/edgecd-audit-${key.keyId}/${name}`, { 'X-Auth-Token': token }, body)).status;
    const good = signHead(key, { station: 'Station 7', seq: 999_999, hash: sha256('x'), time: new Date().toISOString() });
    assert.equal(await put('000000999999.json', JSON.stringify(good), (await central.auth()).token), 403, 'not the uploader');
    assert.equal(await put('000000999999.json', JSON.stringify({ ...good, hash: sha256('y') })), 422, 'the signature must hold');
    assert.equal(await put('000000999998.json', JSON.stringify(good)), 400, 'named by its seq');
    assert.equal(
      (await central.request('PUT', `${replicator.account}/${container}/000000999999.json`, { 'X-Auth-Token': replicator.token }, JSON.stringify(good))).status,
      422,
      "not in another station's container",
    );
    assert.equal(await put('000000999999.json', JSON.stringify(good)), 201);
    assert.equal(await put('000000999999.json', JSON.stringify(good)), 201, 'the same anchor again is a retry');
    const other = signHead(key, { station: 'Station 7', seq: 999_999, hash: sha256('z'), time: new Date().toISOString() });
    assert.equal(await put('000000999999.json', JSON.stringify(other)), 409, 'an anchor is never replaced');
  });

  test("a clerk's pull carries the central's signed head over its audit lines, checked, and the receiving station's key", async () => {
    const reader = await centralReader(target);
    const recording = (await reader.containers()).find((c) => /_\d{8}T\d{6}Z$/.test(c.name))!.name;
    const to = await mkdtemp(join(tmpdir(), 'edgecd-pull-'));
    try {
      const res = await runCli(['pull', '--from', target.authUrl, '--user', TEST_USERS.reader.user, '--key', TEST_USERS.reader.key, '--recording', recording, '--to', to]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      const custody = JSON.parse(await readFile(join(to, recording, 'custody.json'), 'utf8')) as {
        auditHead: { head: { seq: number; publicKey: string }; checked: string[] };
        auditExcerpt: { seq: number; action: string }[];
        objects: { receivedByKey: string | null }[];
      };
      assert.match(custody.auditHead.checked.join('; '), /Ed25519 signature .*; covers all \d+ lines/);
      assert.ok(custody.auditExcerpt.some((l) => l.action === 'custody.read'));
      assert.ok(custody.auditExcerpt.every((l) => l.seq <= custody.auditHead.head.seq));
      assert.ok(custody.objects.length > 0 && custody.objects.every((o) => o.receivedByKey === stationKey));
    } finally {
      await rm(to, { recursive: true, force: true });
    }
  });

  test('the trail as it is matches the central; rewritten, truncated or back-dated, it does not, though the local check passes', async () => {
    await edge.stop();
    const log = join(edge.dataDir, 'audit.jsonl');
    const head = join(edge.dataDir, 'audit.head');
    const saved = await mkdtemp(join(tmpdir(), 'edgecd-audit-saved-'));
    await copyFile(log, join(saved, 'audit.jsonl'));
    await copyFile(head, join(saved, 'audit.head'));
    try {
      const verify = async () => runCli(['audit', 'verify', '--data', edge.dataDir, ...against()]);
      const lines = (await readFile(log, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown> & { seq: number; time: string; prev: string });
      const anchored = Number((await readFile(join(edge.dataDir, 'audit-anchors-sent.json'), 'utf8')).match(/"central":(\d+)/)![1]);
      assert.ok(anchored > 3 && anchored <= lines.length);

      /** What an intruder with the disk does: write the lines, recompute every prev and the head. */
      const rechain = async (next: (Record<string, unknown> & { seq: number; prev: string })[]) => {
        let prev = '0'.repeat(64);
        const texts = next.map((line, i) => {
          const { seq: _seq, prev: _prev, ...rest } = line;
          const text = JSON.stringify({ seq: i + 1, ...rest, prev });
          prev = sha256(text);
          return text;
        });
        await writeFile(log, texts.map((t) => t + '\n').join(''));
        await writeFile(head, JSON.stringify({ seq: texts.length, hash: prev }) + '\n');
        assert.equal((await runCli(['audit', 'verify', '--data', edge.dataDir])).code, 0, 'the station alone cannot tell');
      };
      const restore = async () => {
        await copyFile(join(saved, 'audit.jsonl'), log);
        await copyFile(join(saved, 'audit.head'), head);
      };

      // Untouched: everything up to the newest anchor matches; what came after (the stop) is not anchored yet.
      const clean = await verify();
      assert.equal(clean.code, 0, clean.stdout + clean.stderr);
      assert.match(clean.stdout, new RegExp(`matches them through line ${anchored} `));

      // Rewritten: one early line changed, the chain recomputed.
      await rechain(lines.map((l) => (l.seq === 2 ? { ...l, result: 'forged' } : l)));
      const rewritten = await verify();
      assert.equal(rewritten.code, 1);
      assert.match(rewritten.stdout, new RegExp(`PROBLEM rewritten: line ${anchored} is not the line anchored`));
      assert.match(rewritten.stdout, /from the first line on/);
      await restore();

      // Truncated: cut back to before the anchored line.
      await rechain(lines.slice(0, anchored - 2));
      const truncated = await verify();
      assert.equal(truncated.code, 1);
      assert.match(truncated.stdout, new RegExp(`PROBLEM truncated: an anchor signed .* names line \\d+, but the trail ends at line ${anchored - 2}`));
      await restore();

      // Forged after the head: a line appended with a date before the anchor that should cover it.
      const last = lines.at(-1)!;
      const forged = {
        ...last,
        seq: last.seq + 1,
        time: new Date(Date.parse(lines[anchored - 1]!.time) - 86_400_000).toISOString(),
        actor: 'clerk',
        action: 'object.get',
        target: 'AUTH_bws/x',
        result: '200',
      };
      await rechain([...lines, forged]);
      const backdated = await verify();
      assert.equal(backdated.code, 1);
      assert.match(backdated.stdout, new RegExp(`PROBLEM forged after the head: line ${lines.length + 1} is dated`));
      await restore();
    } finally {
      await rm(saved, { recursive: true, force: true });
    }
  });
});
