/** The audit log: group-committed appends, the hash chain, the head, and what verify catches. */
import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent, AuditLine } from '../src/audit/audit-format.ts';
import { AuditLog } from '../src/audit/audit-log.ts';
import { byTarget, readAuditLines, verifyAuditLog } from '../src/audit/audit-reader.ts';
import { sha256 } from './helpers/hashes.ts';

const ZERO = '0'.repeat(64);
const TARGETS = ['AUTH_bws/rec1', 'AUTH_bws/rec1/a.mp4', 'AUTH_bws/rec10/a.mp4', 'AUTH_bws/rec2/a.mp4', undefined];

/** The lines of a log file as text, without the final empty string. */
async function textLines(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  assert.ok(text.endsWith('\n'), 'the log ends with a newline');
  return text.slice(0, -1).split('\n');
}

const event = (i: number): AuditEvent => ({
  actor: 'bws',
  role: 'uploader',
  source: '10.0.0.7',
  action: 'object.put',
  target: TARGETS[i % TARGETS.length],
  result: 'ok',
  txId: `tx${i}`,
  details: { i },
});

describe('audit log', () => {
  let dir: string;
  let log: string;
  let head: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgecd-audit-'));
    log = join(dir, 'audit.jsonl');
    head = join(dir, 'audit.head');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A copy of the current log and head to damage without touching the original. */
  async function copy(name: string): Promise<{ log: string; head: string }> {
    const c = { log: join(dir, `${name}.jsonl`), head: join(dir, `${name}.head`) };
    await copyFile(log, c.log);
    await copyFile(head, c.head);
    return c;
  }

  it('1000 concurrent appends: in call order, chained, sharing fdatasyncs', async () => {
    const audit = await AuditLog.open(log, head);
    await Promise.all(Array.from({ length: 1000 }, (_, i) => audit.append(event(i))));
    const syncs = audit.syncs;
    await audit.close();

    const lines = await textLines(log);
    assert.equal(lines.length, 1000);
    let prev = ZERO;
    lines.forEach((text, i) => {
      const line = JSON.parse(text) as AuditLine;
      assert.equal(line.seq, i + 1);
      assert.deepEqual(line.details, { i }, 'written in the order append() was called');
      assert.equal(line.prev, prev);
      prev = sha256(text);
    });
    assert.deepEqual(Object.keys(JSON.parse(lines[0]!)), ['seq', 'time', 'actor', 'role', 'source', 'action', 'target', 'result', 'txId', 'details', 'prev']);
    assert.deepEqual(Object.keys(JSON.parse(lines[4]!)), ['seq', 'time', 'actor', 'role', 'source', 'action', 'result', 'txId', 'details', 'prev'], 'undefined keys are omitted');
    assert.ok(syncs < 1000, `group commit: ${syncs} fdatasyncs for 1000 appends`);
    assert.deepEqual(JSON.parse(await readFile(head, 'utf8')), { seq: 1000, hash: prev });
    assert.equal((await stat(log)).mode & 0o777, 0o600);
    assert.equal((await stat(head)).mode & 0o777, 0o600);
    assert.deepEqual(await verifyAuditLog(log, head), { ok: true, lines: 1000, head: { seq: 1000, hash: prev } });
  });

  it('reopening continues the chain', async () => {
    const last = (await textLines(log)).at(-1)!;
    const audit = await AuditLog.open(log, head);
    await audit.append({ actor: 'system', action: 'config', result: 'ok' });
    await audit.close();
    const line = JSON.parse((await textLines(log)).at(-1)!) as AuditLine;
    assert.equal(line.seq, 1001);
    assert.equal(line.prev, sha256(last));
    const report = await verifyAuditLog(log, head);
    assert.equal(report.ok, true);
    assert.equal(report.lines, 1001);
    assert.equal(report.head?.seq, 1001);
  });

  describe('verify catches', () => {
    it('an edited byte: blames the edited line (its successor’s prev no longer matches it)', async () => {
      const c = await copy('edited');
      const lines = await textLines(c.log);
      assert.match(lines[499]!, /"result":"ok"/);
      lines[499] = lines[499]!.replace('"result":"ok"', '"result":"OK"');
      await writeFile(c.log, lines.join('\n') + '\n');
      const report = await verifyAuditLog(c.log, c.head);
      assert.equal(report.ok, false);
      assert.equal(report.firstBad?.line, 500, report.firstBad?.reason);
      assert.match(report.firstBad!.reason, /prev of line 501/);
    });

    it('a deleted middle line: where seq continuity breaks', async () => {
      const c = await copy('deleted');
      const lines = await textLines(c.log);
      lines.splice(499, 1);
      await writeFile(c.log, lines.join('\n') + '\n');
      const report = await verifyAuditLog(c.log, c.head);
      assert.equal(report.ok, false);
      assert.equal(report.firstBad?.line, 500);
      assert.match(report.firstBad!.reason, /seq 501 where 500 was expected/);
    });

    it('the last 10 lines cut off: the head says more', async () => {
      const c = await copy('truncated');
      const lines = await textLines(c.log);
      await writeFile(c.log, lines.slice(0, -10).join('\n') + '\n');
      const report = await verifyAuditLog(c.log, c.head);
      assert.equal(report.ok, false);
      assert.equal(report.lines, 991);
      assert.equal(report.firstBad?.line, 992);
      assert.match(report.firstBad!.reason, /truncated/);
      assert.equal(report.head?.seq, 1001);

      // open() refuses to continue it: a new head would erase the evidence.
      const before = await readFile(c.log);
      await assert.rejects(AuditLog.open(c.log, c.head), (err: NodeJS.ErrnoException) => err.code === 'EAUDITHEAD' && /truncated/.test(err.message));
      assert.deepEqual(await readFile(c.log), before);
      assert.equal(JSON.parse(await readFile(c.head, 'utf8')).seq, 1001);
    });

    it('an altered last line: the head recorded another hash', async () => {
      const c = await copy('last-altered');
      const lines = await textLines(c.log);
      lines[1000] = lines[1000]!.replace('"result":"ok"', '"result":"no"');
      await writeFile(c.log, lines.join('\n') + '\n');
      const report = await verifyAuditLog(c.log, c.head);
      assert.equal(report.firstBad?.line, 1001);
      await assert.rejects(AuditLog.open(c.log, c.head), /altered/);
    });

    it('a missing head next to a log with lines', async () => {
      const c = await copy('headless');
      await unlink(c.head);
      const report = await verifyAuditLog(c.log, c.head);
      assert.equal(report.ok, false);
      assert.equal(report.firstBad?.line, 0);
      assert.match(report.firstBad!.reason, /missing/);
      await assert.rejects(AuditLog.open(c.log, c.head), /missing/);
    });

    it('a missing log next to a head; a wrong path (neither file) throws', async () => {
      const c = await copy('logless');
      await unlink(c.log);
      const report = await verifyAuditLog(c.log, c.head);
      assert.deepEqual([report.ok, report.lines, report.firstBad?.line], [false, 0, 1]);
      await assert.rejects(verifyAuditLog(join(dir, 'nope.jsonl'), join(dir, 'nope.head')), { code: 'ENOENT' });
    });

    it('but not a forged line appended with a correct prev: it is indistinguishable from crash lag', async () => {
      // The head bounds silent forgery to appends after the last head write.
      const c = await copy('forged');
      const last = (await textLines(c.log)).at(-1)!;
      const forged = JSON.stringify({ seq: 1002, time: new Date().toISOString(), actor: 'bws', action: 'object.get', result: '200', prev: sha256(last) });
      await appendFile(c.log, forged + '\n');
      const report = await verifyAuditLog(c.log, c.head);
      assert.equal(report.ok, true);
      assert.equal(report.lines, 1002);
      assert.equal(report.head?.seq, 1001, 'the report shows the head lags the log');
    });
  });

  it('a head left behind by a crash between log sync and head write is OK, and open() catches it up', async () => {
    const c = await copy('lagging');
    const oldHead = await readFile(c.head);
    const audit = await AuditLog.open(c.log, c.head);
    await Promise.all([1, 2, 3].map((i) => audit.append(event(i))));
    await audit.close();
    await writeFile(c.head, oldHead); // as if the process died before the head write

    const report = await verifyAuditLog(c.log, c.head);
    assert.equal(report.ok, true);
    assert.equal(report.lines, 1004);
    assert.equal(report.head?.seq, 1001);

    const warnings: string[] = [];
    const again = await AuditLog.open(c.log, c.head, { onWarning: (m) => warnings.push(m) });
    await again.close();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /3 line\(s\) behind/);
    assert.equal((await verifyAuditLog(c.log, c.head)).head?.seq, 1004);
  });

  it('a torn last line is cut on open, with a warning', async () => {
    const size = (await stat(log)).size;
    const next = JSON.stringify({ seq: 1002, time: new Date().toISOString(), actor: 'bws', action: 'object.put', result: '201', prev: ZERO });
    await appendFile(log, next.slice(0, next.length >> 1)); // crash mid-write: no newline
    assert.deepEqual(await verifyAuditLog(log, head).then((r) => [r.ok, r.lines]), [true, 1001], 'an incomplete last line is not a line yet');

    const warnings: string[] = [];
    const audit = await AuditLog.open(log, head, { onWarning: (m) => warnings.push(m) });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /cut \d+ bytes after seq 1001/);
    assert.equal((await stat(log)).size, size, 'cut back to the last complete line');
    await audit.append({ actor: 'cli:root', source: 'cli', action: 'user.add', target: 'reader1', result: 'ok' });
    await audit.close();

    const line = JSON.parse((await textLines(log)).at(-1)!) as AuditLine;
    assert.equal(line.seq, 1002);
    const report = await verifyAuditLog(log, head);
    assert.equal(report.ok, true);
    assert.equal(report.lines, 1002);
  });

  it('readAuditLines streams a recording’s chain of custody in order', async () => {
    const expected = (await textLines(log)).map((t) => JSON.parse(t) as AuditLine).filter((l) => l.target === 'AUTH_bws/rec1' || l.target?.startsWith('AUTH_bws/rec1/'));
    assert.equal(expected.length, 400);
    const got: AuditLine[] = [];
    for await (const line of readAuditLines(log, byTarget('AUTH_bws/rec1'))) got.push(line);
    assert.deepEqual(got, expected);
    assert.ok(got.every((l, i) => i === 0 || l.seq > got[i - 1]!.seq));
    assert.ok(!got.some((l) => l.target?.startsWith('AUTH_bws/rec10')), 'a sibling with a longer name is not custody');
  });

  it('lines longer than a read chunk: the tail is found across chunk boundaries', async () => {
    const c = { log: join(dir, 'big.jsonl'), head: join(dir, 'big.head') };
    let audit = await AuditLog.open(c.log, c.head);
    for (let i = 0; i < 5; i++) await audit.append({ actor: 'system', action: 'eviction', result: 'ok', details: { pad: 'x'.repeat(150_000 + i) } });
    await audit.close();
    audit = await AuditLog.open(c.log, c.head);
    await audit.append({ actor: 'system', action: 'eviction', result: 'ok' });
    await audit.close();
    const report = await verifyAuditLog(c.log, c.head);
    assert.deepEqual([report.ok, report.lines, report.head?.seq], [true, 6, 6]);
  });

  it('bad events: append rejects, record reports to onError; the chain is unaffected', async () => {
    const c = { log: join(dir, 'bad.jsonl'), head: join(dir, 'bad.head') };
    const errors: unknown[] = [];
    const audit = await AuditLog.open(c.log, c.head, { onError: (e) => errors.push(e) });
    await assert.rejects(audit.append({ actor: '', action: 'x', result: 'ok' }), /actor/);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    audit.record({ actor: 'a', action: 'x', result: 'ok', details: circular });
    audit.record({ actor: 'a', action: 'x', result: 'ok' });
    await audit.close();
    assert.equal(errors.length, 1);
    await assert.rejects(audit.append({ actor: 'a', action: 'x', result: 'ok' }), /closed/);
    const report = await verifyAuditLog(c.log, c.head);
    assert.deepEqual([report.ok, report.lines], [true, 1]);
  });

  it('another writer appending underneath stops this one instead of forking the chain', async () => {
    const c = { log: join(dir, 'two.jsonl'), head: join(dir, 'two.head') };
    const errors: unknown[] = [];
    const audit = await AuditLog.open(c.log, c.head, { onError: (e) => errors.push(e) });
    await audit.append({ actor: 'a', action: 'x', result: 'ok' });
    await appendFile(c.log, '{"seq":2}\n');
    await assert.rejects(audit.append({ actor: 'a', action: 'x', result: 'ok' }), /changed under this writer/);
    await assert.rejects(audit.append({ actor: 'a', action: 'x', result: 'ok' }), /changed under this writer/);
    for (let i = 0; i < 100; i++) audit.record({ actor: 'a', action: 'x', result: 'ok' });
    await audit.close();
    assert.equal(errors.length, 1, 'a broken log is reported once, not per record()');
  });

  it('throughput: 32 concurrent callers awaiting each append (measured, not asserted)', async (t) => {
    const c = { log: join(dir, 'bench.jsonl'), head: join(dir, 'bench.head') };
    const audit = await AuditLog.open(c.log, c.head);
    const perCaller = 300;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async (_, caller) => {
        for (let i = 0; i < perCaller; i++) await audit.append({ ...event(i), actor: `user${caller}` });
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const total = 32 * perCaller;
    const syncs = audit.syncs;
    await audit.close();
    t.diagnostic(
      `${Math.round(total / seconds)} awaited appends/s with 32 callers (${total} in ${seconds.toFixed(2)} s, ${syncs} fdatasyncs, ${(total / syncs).toFixed(1)} lines per group)`,
    );
    assert.equal((await verifyAuditLog(c.log, c.head)).lines, total);
  });
});
