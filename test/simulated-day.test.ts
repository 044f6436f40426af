/**
 * One simulated day at a field station: a BWS (the simulator, a separate
 * process) registers 20 users and 10 cameras and uploads 50 sealed recordings
 * with clips, GNSS tracks and categorised bookmarks; then the index answers
 * an evidence clerk's questions, with the daemon running and stopped.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SwiftSession, TestDaemon, runCli } from './helpers/daemon.ts';

interface Summary {
  name: string;
  triggerOn?: string;
  startTime?: string;
  stopTime?: string;
  userId: string;
  deviceSerial: string;
  status: string;
  clips: number;
  gnssTrack: boolean;
  bookmarks: { categoryId?: string; tags: Record<string, string>; text: string }[];
  manifest: Record<string, { sha256: string }>;
}

let daemon: TestDaemon;
let sim: { users: string[]; devices: string[]; recordings: string[]; statusCounts: Record<string, number> };
const yesterday = new Date(Math.floor(Date.now() / 86_400_000 - 1) * 86_400_000).toISOString().slice(0, 10);

async function recordings(...args: string[]): Promise<Summary[]> {
  const res = await runCli(['recordings', '--data', daemon.dataDir, ...args]);
  assert.equal(res.code, 0, res.stderr);
  const parsed = JSON.parse(res.stdout) as { count: number; recordings: Summary[] };
  assert.equal(parsed.count, parsed.recordings.length);
  return parsed.recordings;
}

before(async () => {
  daemon = await TestDaemon.start();
  const categories = join(daemon.dataDir, 'cats.json');
  await writeFile(
    categories,
    JSON.stringify([
      { Name: 'Traffic', Id: 'c1' },
      { Name: 'Assault', Id: 'c2' },
    ]),
  );
  assert.equal((await runCli(['categories', 'set', categories, '--data', daemon.dataDir])).code, 0);
  const res = await runCli([
    'simulate',
    '--connection',
    join(daemon.dataDir, 'connection.json'),
    '--users',
    '20',
    '--devices',
    '10',
    '--recordings',
    '50',
    '--clips',
    '2',
    '--clip-bytes',
    '20000',
    '--concurrency',
    '4',
    '--extras',
  ]);
  assert.equal(res.code, 0, res.stderr);
  sim = JSON.parse(res.stdout);
});
after(() => daemon.cleanup());

describe('a simulated day', () => {
  it('the BWS got only successes', () => {
    assert.equal(sim.recordings.length, 50);
    assert.deepEqual(
      Object.keys(sim.statusCounts).filter((s) => Number(s) >= 300),
      [],
    );
  });

  it('every recording is sealed, with clips, a track, a categorised bookmark and a manifest', async () => {
    const all = await recordings();
    assert.equal(all.length, 50);
    for (const r of all) {
      assert.equal(r.status, 'Complete');
      assert.ok(Date.parse(r.startTime!) < Date.parse(r.triggerOn!) && Date.parse(r.stopTime!) > Date.parse(r.triggerOn!), 'pre-buffer before, stop after the trigger');
      assert.equal(r.clips, 2);
      assert.ok(r.gnssTrack);
      assert.equal(r.bookmarks.length, 1);
      assert.equal(r.bookmarks[0]!.tags.TriggerOn, 'Button');
      assert.match(r.bookmarks[0]!.text, /suspect left on foot/);
      assert.equal(Object.keys(r.manifest).length, 4);
    }
  });

  it('answers per user (by UUID or UserID), per camera, per day, by category and for incomplete ones', async () => {
    const first = sim.users[0]!;
    const byUuid = await recordings('--user', first);
    assert.equal(byUuid.length, 3); // recordings 0, 20, 40
    assert.ok(byUuid.every((r) => r.userId === first));
    const badge = `U0001-${(sim as unknown as { systemId: string }).systemId.slice(0, 8)}`;
    assert.deepEqual(
      (await recordings('--user', badge)).map((r) => r.name),
      byUuid.map((r) => r.name),
    );
    assert.equal((await recordings('--device', sim.devices[0]!)).length, 5);
    assert.equal((await recordings('--since', yesterday, '--until', yesterday)).length, 50);
    assert.equal((await recordings('--since', '2000-01-01', '--until', '2000-01-02')).length, 0);
    assert.equal((await recordings('--category', 'c1')).length, 25);
    assert.equal((await recordings('--incomplete')).length, 0);

    const s = await SwiftSession.open(daemon);
    const open = `/${first}_${sim.devices[0]}_${yesterday.replace(/-/g, '')}T235900Z`;
    assert.equal((await s.req('PUT', open, { 'X-Container-Meta-Status': 'Transferring' })).status, 201);
    const incomplete = await recordings('--incomplete');
    assert.deepEqual(
      incomplete.map((r) => r.name),
      [open.slice(1)],
    );
  });

  it('answers the same from the index with the daemon stopped', async () => {
    const live = await recordings('--device', sim.devices[1]!);
    await daemon.stop();
    assert.deepEqual(await recordings('--device', sim.devices[1]!), live);
  });
});
