/**
 * Audit lines carried by commits: an upload's line is durable with its
 * commit, and whatever stops the process before the trail holds it, the
 * next start appends it, once. Each stop is built exactly on disk (a real
 * store, a real trail) and the pieces reopened, as the daemon does.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { lineBody, type AuditEvent, type AuditLine } from '../src/audit/audit-format.ts';
import { AuditLog } from '../src/audit/audit-log.ts';
import { readAuditLines, verifyAuditLog } from '../src/audit/audit-reader.ts';
import { AuditCarrier } from '../src/audit/carried-lines.ts';
import type { ObjectRecord } from '../src/store/container-log.ts';
import type { CarriedAuditLine, Mutation } from '../src/store/index-db.ts';
import { ObjectStore } from '../src/store/object-store.ts';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const hash = (alg: string, b: string) => createHash(alg).update(b).digest('hex');
const uploadEvent = (name: string): AuditEvent => ({
  actor: 'bws',
  role: 'uploader',
  source: '10.0.0.7',
  action: 'object.put',
  target: `bws/rec/${name}`,
  result: '201',
  txId: `tx-${name}`,
});

class Station {
  readonly root: string;
  store!: ObjectStore;
  audit!: AuditLog;
  carrier!: AuditCarrier;
  readonly errors: unknown[] = [];

  private constructor(root: string) {
    this.root = root;
  }

  static async fresh(): Promise<Station> {
    const root = await mkdtemp(join(tmpdir(), 'edgecd-carried-'));
    dirs.push(root);
    const s = new Station(root);
    await s.open();
    await s.store.putContainer('bws', 'rec', { set: {}, remove: [] });
    return s;
  }

  get trail() {
    return { log: join(this.root, 'audit.jsonl'), head: join(this.root, 'audit.head') };
  }

  /** As the daemon starts: the store (and its journal), the trail, then the carried lines. */
  async open(): Promise<number> {
    this.store = await ObjectStore.open(this.root, { maxObjectBytes: 1 << 20, log });
    this.audit = await AuditLog.open(this.trail.log, this.trail.head, { onWarning: () => undefined });
    this.carrier = new AuditCarrier(this.audit, this.store.index, (err) => this.errors.push(err));
    return AuditCarrier.recover(this.audit, this.store.index);
  }

  async close(): Promise<void> {
    await this.audit.close();
    await this.carrier.idle();
    await this.store.close();
  }

  /** An upload committed with its line; returns the line, not yet delivered. */
  async upload(name: string): Promise<CarriedAuditLine> {
    let line: CarriedAuditLine | undefined;
    let committed = false;
    await this.store.putObject({
      account: 'bws',
      container: 'rec',
      object: name,
      body: Readable.from([Buffer.from(`clip ${name}`)]),
      contentType: 'video/mp4',
      meta: {},
      auditLine: { make: () => (line = this.carrier.carry(uploadEvent(name))), committed: () => (committed = true) },
    });
    assert.ok(line, 'the store made the line once the body checked out');
    assert.ok(committed, 'and told that the commit carrying it stands');
    return line;
  }

  async carried(): Promise<CarriedAuditLine[]> {
    return (await this.store.index.auditLines.iterator().all()).map(([, line]) => line);
  }

  async lines(): Promise<AuditLine[]> {
    const out: AuditLine[] = [];
    for await (const line of readAuditLines(this.trail.log, () => true)) out.push(line);
    return out;
  }

  async puts(name: string): Promise<AuditLine[]> {
    return (await this.lines()).filter((l) => l.action === 'object.put' && l.target === `bws/rec/${name}`);
  }
}

describe('audit lines carried by commits', () => {
  it('a committed upload holds its line in the index until the trail has it', async () => {
    const s = await Station.fresh();
    const line = await s.upload('a.mp4');
    assert.deepEqual(await s.carried(), [line], 'durable with the commit, before any trail write');
    assert.deepEqual(await s.puts('a.mp4'), []);
    s.carrier.deliver(line);
    await s.carrier.idle();
    assert.deepEqual(await s.carried(), []);
    const [put] = await s.puts('a.mp4');
    assert.equal(put?.txId, 'tx-a.mp4');
    assert.equal(put?.details, undefined, 'a line delivered live is the line as made');
    assert.deepEqual(s.errors, []);
    await s.close();
    assert.equal((await verifyAuditLog(s.trail.log, s.trail.head)).ok, true);
  });

  it('a stop before the trail took the line: the next start appends it once, marked as restored, saying when it was committed', async () => {
    const s = await Station.fresh();
    const line = await s.upload('b.mp4');
    await s.close(); // never delivered: as a kill -9 right after the 201
    assert.equal(await s.open(), 1);
    const [put, ...more] = await s.puts('b.mp4');
    assert.equal(more.length, 0);
    assert.equal(put?.txId, 'tx-b.mp4');
    assert.equal(put?.result, '201');
    const committed = JSON.parse(`{${line.body}}`).time as string;
    assert.equal(put?.details?.committed, committed, 'the time the upload was committed');
    assert.ok(put!.time >= committed, 'dated when it was appended');
    assert.match(String(put?.details?.restored), /appended at start from the index/);
    assert.deepEqual(await s.carried(), []);
    await s.close();
    assert.equal(await s.open(), 0, 'a second start appends nothing');
    assert.equal((await s.puts('b.mp4')).length, 1);
    await s.close();
    assert.equal((await verifyAuditLog(s.trail.log, s.trail.head)).ok, true);
  });

  it('a stop after the trail took the line but before the index let go of it: nothing is appended twice', async () => {
    const s = await Station.fresh();
    const line = await s.upload('c.mp4');
    s.carrier.deliver(line);
    await s.carrier.idle();
    // The index's removal is not synced: after a power cut it may be undone.
    await s.store.index.write([{ type: 'put', sublevel: s.store.index.auditLines, key: line.key, value: line }], true);
    await s.close();
    assert.equal(await s.open(), 0);
    assert.equal((await s.puts('c.mp4')).length, 1);
    assert.deepEqual(await s.carried(), []);
    await s.close();
  });

  it('a line restored once is not restored again if the index kept it', async () => {
    const s = await Station.fresh();
    const line = await s.upload('d.mp4');
    await s.close();
    assert.equal(await s.open(), 1);
    // As a stop between the restore's append and its synced removal leaves it: the restored text fixed in the index.
    const text = (await readFile(s.trail.log, 'utf8')).split('\n').find((t) => t.includes('"restored"') && t.includes('d.mp4'))!;
    const restored = lineBody(JSON.parse(text), text);
    await s.store.index.write([{ type: 'put', sublevel: s.store.index.auditLines, key: line.key, value: { ...line, restored } }], true);
    await s.close();
    assert.equal(await s.open(), 0);
    assert.equal((await s.puts('d.mp4')).length, 1);
    await s.close();
  });

  it('a stop before the commit applied: the journal completes the upload and its line', async () => {
    const s = await Station.fresh();
    const line = s.carrier.carry(uploadEvent('e.mp4'));
    // Step 1 alone: the bytes whole in tmp/, the mutation journaled with its line; nothing else yet.
    const body = 'clip e.mp4';
    const tmp = s.store.layout.tmpFile('crash-e');
    await writeFile(tmp, body);
    const record: ObjectRecord = {
      op: 'object',
      name: 'e.mp4',
      file: 'e.mp4',
      bytes: body.length,
      md5: hash('md5', body),
      sha256: hash('sha256', body),
      contentType: 'video/mp4',
      lastModified: 1,
      timestamp: '1.00000',
      meta: {},
    };
    const m: Mutation = { txId: 'crash-e', account: 'bws', container: 'rec', record, tmpFile: relative(s.root, tmp), auditLine: line };
    await s.store.index.write([{ type: 'put', sublevel: s.store.index.journal, key: m.txId, value: m }], true);
    await s.close();
    assert.equal(await s.open(), 1);
    assert.equal((await s.store.object('bws', 'rec', 'e.mp4')).sha256, record.sha256, 'the upload completed');
    assert.equal((await s.puts('e.mp4')).length, 1);
    await s.close();
  });

  it('an upload refused carries no line, and one refused at its lock is not told its line was committed', async () => {
    const s = await Station.fresh();
    await s.upload('f.mp4');
    const made: string[] = [];
    const committed: string[] = [];
    const put = (object: string, o: { mustNotExist?: boolean; etag?: string }) =>
      s.store.putObject({
        account: 'bws',
        container: 'rec',
        object,
        body: Readable.from([Buffer.from(`${object} again`)]),
        contentType: 'video/mp4',
        meta: {},
        ...o,
        auditLine: {
          make: () => {
            made.push(object);
            return s.carrier.carry(uploadEvent(object));
          },
          committed: () => committed.push(object),
        },
      });
    await assert.rejects(put('f.mp4', { mustNotExist: true }), /already exists/);
    await assert.rejects(put('f.mp4', { etag: hash('md5', 'something else') }), /does not match/);
    assert.deepEqual(made, []);
    // Two at once with If-None-Match: both bodies check out, one commits, the other is refused under the lock.
    const results = await Promise.allSettled([put('g.mp4', { mustNotExist: true }), put('g.mp4', { mustNotExist: true })]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    assert.deepEqual(made, ['g.mp4', 'g.mp4'], 'both lines were made');
    assert.deepEqual(committed, ['g.mp4'], 'only the committed one is the index’s to keep');
    assert.equal((await s.carried()).length, 2, 'the lines of f.mp4 and of the one g.mp4 committed');
    await s.close();
  });

  it('what the index holds is checked: a carried line that is not an event is restored as text, saying so', async () => {
    const s = await Station.fresh();
    const forged: CarriedAuditLine = { key: '0-forged', body: '"actor":{"not":"a name"}', floor: 0 };
    await s.store.index.write([{ type: 'put', sublevel: s.store.index.auditLines, key: forged.key, value: forged }], true);
    await s.close();
    assert.equal(await s.open(), 1);
    const [unreadable] = (await s.lines()).filter((l) => l.action === 'audit.unreadable');
    assert.equal(unreadable?.details?.text, forged.body);
    await s.close();
    assert.equal((await verifyAuditLog(s.trail.log, s.trail.head)).ok, true);
  });
});
