/**
 * The X-Delete-At steps shared by the Swift and edgecd centrals' tests: an
 * edge with a setDeleteAt target and retention in days, its recordings, what
 * their copies carry, and a custodian's hold.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseRecordingName } from '../../src/bws/names.ts';
import { runCli, TestDaemon } from './daemon.ts';
import { simulate } from './centrals.ts';
import type { Target } from './replication.ts';
import type { SwiftAccount } from './swift-account.ts';

export const DAY_S = 86_400;
export const CUSTODIAN = { user: 'expiry-custodian', key: 'custodian-key-for-expiry-tests' };

/** An edge replicating to `target` with X-Delete-At, retention `days` from the trigger, two sealed recordings (one at a time: in order). */
export async function edgeWithRecordings(target: Target, days: number): Promise<{ edge: TestDaemon; recordings: string[] }> {
  const edge = await TestDaemon.start({ config: edgeConfig(target, days) });
  const added = await runCli(['user', 'add', CUSTODIAN.user, '--role', 'custodian', '--key', CUSTODIAN.key, '--data', edge.dataDir]);
  assert.equal(added.code, 0, added.stderr);
  return { edge, recordings: await simulate(edge, 2, 20_000) };
}

export const edgeConfig = (target: Target, days: number) => ({
  siteName: 'Station 12',
  retention: { keep: { default: days } },
  replication: { targets: [{ ...target, setDeleteAt: true, schedule: '0 0 1 1 *' }] },
});

/** The X-Delete-At retention gives a recording: its trigger time plus `days`, in s. */
export const expectedDeleteAt = (recording: string, days: number) => parseRecordingName(recording)!.triggerOn! / 1000 + days * DAY_S;

/** Each copy of a recording on the central, with the X-Delete-At and metadata its HEAD shows. */
export async function copies(central: SwiftAccount, recording: string): Promise<Map<string, { deleteAt: number | null; meta: Record<string, string> }>> {
  const out = new Map<string, { deleteAt: number | null; meta: Record<string, string> }>();
  for (const o of await central.objects(recording)) {
    const head = await central.req('HEAD', `${recording}/${o.name}`);
    assert.equal(head.status, 200, `HEAD ${recording}/${o.name}`);
    const at = head.headers['x-delete-at'] as string | undefined;
    const meta = Object.fromEntries(Object.entries(head.headers).filter(([k]) => k.startsWith('x-object-meta-'))) as Record<string, string>;
    out.set(o.name, { deleteAt: at === undefined ? null : Number(at), meta });
  }
  assert.ok(out.size >= 2, `${recording}: its clips are on the central`);
  return out;
}

export const deleteAts = async (central: SwiftAccount, recording: string) => new Set([...(await copies(central, recording)).values()].map((c) => c.deleteAt));

/** A custodian's hold on one recording, placed through the running daemon. */
export async function holdRecording(edge: TestDaemon, recording: string): Promise<void> {
  const res = await runCli([
    'hold',
    'add',
    '--recording',
    recording,
    '--case',
    'C-77',
    '--reason',
    'appeal',
    '--as',
    CUSTODIAN.user,
    '--key',
    CUSTODIAN.key,
    '--data',
    edge.dataDir,
  ]);
  assert.equal(res.code, 0, res.stderr);
}

/** The audit lines of the station's X-Delete-At changes. */
export async function deleteAtAudit(edge: TestDaemon): Promise<{ target: string; details: { from: number | null; deleteAt: number | null } }[]> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile(join(edge.dataDir, 'audit.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((l) => l.action === 'replication.delete-at');
}
