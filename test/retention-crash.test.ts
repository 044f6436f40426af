/**
 * The retention job's deletion, crash point by crash point. A kill -9 lands
 * between any two steps; each test builds the state that step leaves, with
 * real files and a real store, then "restarts" (reopens the store, a new
 * job) and checks that recovery completes the deletion: one tombstone, the
 * recording in the trash, the index agreeing, every step audited.
 *
 * 1. tombstone written, nothing else (the process died at the audit line);
 * 2. removal journaled, the directory not moved (the disk refused the move);
 * 3. directory moved into the trash, the index not yet told.
 * And 1 again with a hold placed before the restart: the hold wins.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { AuditLog } from '../src/audit/audit-log.ts';
import type { AuditEvent, AuditSink } from '../src/audit/trail.ts';
import { RecordingCatalogue } from '../src/bws/catalogue.ts';
import { parseConfig } from '../src/config/config.ts';
import { derivedIndexOps } from '../src/index-hooks.ts';
import { RetentionJob, trashStamp } from '../src/lifecycle/deletion.ts';
import { HoldBook } from '../src/lifecycle/holds.ts';
import { type RestoreSteps, restoreRecording } from '../src/lifecycle/restore.ts';
import { newestTombstones, readTombstones } from '../src/lifecycle/tombstones.ts';
import { appendLineDurably } from '../src/lib/durable.ts';
import { changeUser } from '../src/auth/users.ts';
import { CARRIED_OVER } from '../src/index-hooks.ts';
import { reindex } from '../src/store/reindex.ts';
import { ObjectStore } from '../src/store/object-store.ts';

const log = pino({ level: 'silent' });
const ACCOUNT = 'bws';
const NOW = Date.UTC(2026, 11, 4, 3, 30);
const rules = parseConfig({ retention: { keep: { default: 30 } } }).retention.keep;
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A station with two sealed recordings triggered in January: due under a 30-day rule. */
async function station(): Promise<{ root: string; recordings: string[] }> {
  const root = await mkdtemp(join(tmpdir(), 'edgecd-retention-crash-'));
  dirs.push(root);
  const store = await open(root);
  const recordings = [`${randomUUID()}_CAM1_20260110T080000Z`, `${randomUUID()}_CAM1_20260111T080000Z`];
  for (const name of recordings) {
    await store.putContainer(ACCOUNT, name, { set: { status: 'Transferring' }, remove: [] });
    for (const clip of ['20260110T080000Z_a.mkv', '20260110T080500Z_a.mkv'])
      await store.putObject({ account: ACCOUNT, container: name, object: clip, body: Readable.from([Buffer.from(`${name}/${clip}`)]), contentType: 'video/x-matroska', meta: {} });
    await store.postContainer(ACCOUNT, name, { set: { status: 'Complete' }, remove: [] });
  }
  await store.close();
  return { root, recordings };
}

const open = (root: string) => ObjectStore.open(root, { maxObjectBytes: 1 << 20, log, derivedOps: derivedIndexOps });

/** What the daemon's job is, over this store and audit trail, at NOW. */
function job(root: string, store: ObjectStore, audit: AuditSink): RetentionJob {
  return new RetentionJob({ store, audit, log, rules, graceDays: 7, tombstoneFile: join(root, 'tombstones.jsonl'), replicated: async () => true, now: () => NOW });
}

const openAudit = (root: string) => AuditLog.open(join(root, 'audit.jsonl'), join(root, 'audit.head'));

/** A trail whose disk fails at the first retention.delete line: the process dies right after the tombstone. */
function dyingAt(audit: AuditSink, action: string): AuditSink {
  return {
    append: (event: AuditEvent) => (event.action === action ? Promise.reject(new Error('killed')) : audit.append(event)),
    record: (event: AuditEvent) => audit.record(event),
  };
}

async function auditLines(root: string): Promise<{ action: string; target?: string; result: string; details?: Record<string, unknown> }[]> {
  return (await readFile(join(root, 'audit.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** After recovery: exactly one tombstone per recording, each in the trash, gone from the index and catalogue. */
async function assertDeleted(root: string, store: ObjectStore, recordings: string[]): Promise<void> {
  const tombstones = await readTombstones(join(root, 'tombstones.jsonl'));
  assert.deepEqual(tombstones.map((t) => t.recording).sort(), [...recordings].sort(), 'one tombstone each');
  for (const name of recordings) {
    await assert.rejects(store.container(ACCOUNT, name), /not found/i);
    assert.ok(existsSync(store.layout.trashedContainerDir(ACCOUNT, name, trashStamp(NOW))), `${name} is in the trash`);
    assert.ok(!existsSync(store.layout.containerDir(ACCOUNT, name)));
  }
  const catalogued = (await RecordingCatalogue.of(store.index).query(ACCOUNT, { limit: 10 })).entries.map((e) => e.container);
  assert.deepEqual(
    catalogued.filter((c) => recordings.includes(c)),
    [],
  );
  assert.equal((await store.account(ACCOUNT)).containerCount, 2 - recordings.length);
  const deletions = (await auditLines(root)).filter((l) => (l.action === 'retention.delete' || l.action === 'retention.delete.finished') && l.result === 'ok');
  assert.deepEqual(deletions.map((l) => l.target!.split('/')[1]).sort(), [...recordings].sort(), 'each deletion audited once');
}

describe('retention deletion survives a crash at every step', () => {
  it('between the tombstone and the removal: the restart finishes the deletion under the same tombstone', async () => {
    const { root, recordings } = await station();
    let store = await open(root);
    const audit = await openAudit(root);
    await assert.rejects(job(root, store, dyingAt(audit, 'retention.delete')).run(), /killed/);
    await store.close();
    await audit.close();
    assert.equal((await readTombstones(join(root, 'tombstones.jsonl'))).length, 1, 'the crash left one tombstone');

    store = await open(root);
    const again = await openAudit(root);
    const report = await job(root, store, again).run();
    assert.deepEqual([...report.deleted].sort(), [...recordings].sort());
    await assertDeleted(root, store, recordings);
    const finished = (await auditLines(root)).filter((l) => l.action === 'retention.delete.finished');
    assert.equal(finished.length, 1, 'the finished deletion says it finished one cut short');
    await store.close();
    await again.close();
  });

  it('between the tombstone and the removal, with a hold placed before the restart: the hold wins, and the tombstone says it was not carried out', async () => {
    const { root, recordings } = await station();
    let store = await open(root);
    const audit = await openAudit(root);
    await assert.rejects(job(root, store, dyingAt(audit, 'retention.delete')).run(), /killed/);
    const [cut] = await readTombstones(join(root, 'tombstones.jsonl'));
    await HoldBook.of(store.index).place({ account: ACCOUNT, caseNumber: 'C-5', reason: 'late request', scope: { recording: cut!.recording }, placedBy: 'custodian' }, NOW);
    await store.close();
    await audit.close();

    store = await open(root);
    const again = await openAudit(root);
    const report = await job(root, store, again).recover();
    assert.equal(report, undefined);
    await store.container(ACCOUNT, cut!.recording);
    const [tombstone] = await readTombstones(join(root, 'tombstones.jsonl'));
    assert.match(tombstone!.cancelled?.reason ?? '', /legal hold H-\d{8}-[0-9a-f]{6} \(case C-5\) placed before the deletion finished/);
    assert.ok((await auditLines(root)).some((l) => l.action === 'retention.delete' && l.result === 'cancelled'));
    // The other recording is deleted as ever; the held one stays.
    const run = await job(root, store, again).run();
    assert.deepEqual(
      run.deleted,
      recordings.filter((r) => r !== cut!.recording),
    );
    await store.container(ACCOUNT, cut!.recording);
    await store.close();
    await again.close();
  });

  it('a restore cut short after its hold and restoration line: retention leaves the recording alone, and restore run again finishes it', async () => {
    const { root, recordings } = await station();
    await writeFile(join(root, 'credentials.json'), JSON.stringify({ version: 1, users: [] }));
    await changeUser(join(root, 'credentials.json'), { op: 'add', user: 'clerk', role: 'custodian', key: 'custodian-key-for-crash-tests', account: ACCOUNT });
    let store = await open(root);
    let audit = await openAudit(root);
    await job(root, store, audit).run();
    await store.close();
    await audit.close();
    const [restoring] = recordings;
    let reindexes = 0;
    const steps: RestoreSteps = {
      dir: root,
      credentialsFile: join(root, 'credentials.json'),
      tombstoneFile: join(root, 'tombstones.jsonl'),
      now: () => NOW + 3_600_000,
      // The first rebuild is where the crash lands: the directory is back, the index does not know it.
      reindex: async () => {
        if (reindexes++ === 0) throw new Error('killed');
        await reindex(root, { log, verify: false, derivedOps: derivedIndexOps, carryOver: CARRIED_OVER });
      },
      withStore: async (work) => {
        const s = await open(root);
        const a = await openAudit(root);
        try {
          return await work(s, a);
        } finally {
          await s.close();
          await a.close();
        }
      },
    };
    const request = { recording: restoring!, as: 'clerk', key: 'custodian-key-for-crash-tests', caseNumber: 'C-8', reason: 'appeal' };
    await assert.rejects(restoreRecording(steps, request), /killed/);

    // The daemon starts (recovery), and a run comes: neither takes the half-restored recording.
    store = await open(root);
    audit = await openAudit(root);
    assert.equal(await job(root, store, audit).recover(), undefined);
    assert.deepEqual((await job(root, store, audit).run()).deleted, []);
    await store.close();
    await audit.close();

    const { hold } = await restoreRecording(steps, request);
    store = await open(root);
    const back = await store.container(ACCOUNT, restoring!);
    assert.equal(back.objectCount, 2);
    assert.deepEqual(
      (await HoldBook.of(store.index).holding(store, ACCOUNT, restoring!)).map((h) => h.id),
      [hold.id],
    );
    const tombstones = await readTombstones(join(root, 'tombstones.jsonl'));
    assert.equal(tombstones.filter((t) => t.restored).length, 1);
    await store.close();
    await assert.rejects(restoreRecording(steps, request), /restored already/);
  });

  it('a torn last line (the append a crash cut) is skipped, and the next append starts on a line of its own', async () => {
    const { root } = await station();
    const store = await open(root);
    const audit = await openAudit(root);
    await job(root, store, audit).run();
    const file = join(root, 'tombstones.jsonl');
    const whole = await readFile(file, 'utf8');
    await writeFile(file, `${whole}{"account":"bws","recording":"torn`);
    assert.equal((await readTombstones(file)).length, 2);
    assert.equal((await newestTombstones(file, 5)).length, 2);
    const { deleted } = await job(root, store, audit).run();
    assert.deepEqual(deleted, [], 'the run goes on past the torn line');
    await appendLineDurably(file, JSON.stringify({ ...(await readTombstones(file))[0]!, recording: 'later', trashStamp: 'x' }));
    assert.deepEqual((await readTombstones(file)).map((t) => t.recording).at(-1), 'later');
    await store.close();
    await audit.close();
  });

  it('a later line speaks of one tombstone only: two deletions of one name with no trash stamp', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgecd-tombstone-lines-'));
    dirs.push(dir);
    const file = join(dir, 'tombstones.jsonl');
    const tombstone = (deletedAt: string) => ({
      account: 'bws',
      recording: 'r',
      kind: 'recording',
      triggeredAt: '',
      keepUntil: '',
      rule: 'x',
      deletedAt,
      manifest: {},
      bytes: 0,
      holds: 'none',
      restorableUntil: null,
      trashStamp: null,
    });
    await appendLineDurably(file, JSON.stringify(tombstone('2026-01-01T00:00:00.000Z')));
    await appendLineDurably(file, JSON.stringify(tombstone('2026-02-01T00:00:00.000Z')));
    await appendLineDurably(file, JSON.stringify({ cancelledAt: 'c', account: 'bws', recording: 'r', trashStamp: null, deletedAt: '2026-02-01T00:00:00.000Z', reason: 'hold' }));
    const forwards = (await readTombstones(file)).map((t) => Boolean(t.cancelled));
    const backwards = (await newestTombstones(file, 5)).map((t) => Boolean(t.cancelled)).reverse();
    assert.deepEqual(forwards, [false, true]);
    assert.deepEqual(backwards, forwards);
  });

  for (const step of ['journaled, the directory not moved', 'moved into the trash, the index not told'] as const) {
    it(`inside the removal (${step}): the store's recovery finishes it at the restart`, async () => {
      const { root, recordings } = await station();
      let store = await open(root);
      const audit = await openAudit(root);
      // The disk refuses the move into the trash: the removal is journaled, then the store stops.
      await writeFile(store.layout.trashDir, 'not a directory');
      await assert.rejects(job(root, store, audit).run());
      assert.ok(store.broken, 'the store stopped taking changes');
      await store.close();
      await audit.close();
      await rm(store.layout.trashDir);
      const [first] = await readTombstones(join(root, 'tombstones.jsonl'));
      if (step === 'moved into the trash, the index not told') {
        const to = store.layout.trashedContainerDir(ACCOUNT, first!.recording, first!.trashStamp!);
        await mkdir(join(to, '..'), { recursive: true });
        await rename(store.layout.containerDir(ACCOUNT, first!.recording), to);
      }

      store = await open(root);
      await assertDeleted(root, store, [first!.recording]);
      const again = await openAudit(root);
      const report = await job(root, store, again).run();
      assert.deepEqual(
        report.deleted,
        recordings.filter((r) => r !== first!.recording),
        'the run goes on with the rest',
      );
      await assertDeleted(root, store, recordings);
      await store.close();
      await again.close();
    });
  }
});
