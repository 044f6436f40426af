/**
 * `edgecd restore NAME`: a recording retention deleted comes back from the
 * trash within its grace period, under a legal hold (it is restored because
 * someone needs it: without a hold the next retention run would delete it
 * again). A custodian's act, audited; the tombstone stays, and a line records
 * the restoration beside it.
 *
 * With the daemon stopped: first the hold and the restoration line (so the
 * retention job, and its crash recovery, leave the recording alone from
 * then on), then the directory moves back into the objects tree and the
 * index is rebuilt from the disk (reindex), the one way the store learns of a
 * whole container it did not receive. A restore cut short at any step is
 * finished by running it again.
 */
import { access, mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditSink } from '../audit/trail.ts';
import { VideoLedger } from '../authenticity/video-ledger.ts';
import { Credentials } from '../auth/credentials.ts';
import { appendLineDurably, fsyncPath } from '../lib/durable.ts';
import { EdgeError } from '../lib/errors.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { StoreLayout } from '../store/layout.ts';
import { readTombstones, type Restoration, type Tombstone } from './tombstones.ts';
import { type Hold, HoldBook } from './holds.ts';

export interface RestoreRequest {
  recording: string;
  as: string;
  key: string;
  caseNumber: string;
  reason: string;
}

export interface RestoreSteps {
  dir: string;
  credentialsFile: string;
  tombstoneFile: string;
  /** Rebuilds the index from the disk (the daemon is stopped). */
  reindex: () => Promise<void>;
  /** Runs `work` with the store and the audit trail open. */
  withStore: <T>(work: (store: ObjectStore, audit: AuditSink) => Promise<T>) => Promise<T>;
  now?: () => number;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

export async function restoreRecording(steps: RestoreSteps, request: RestoreRequest): Promise<{ tombstone: Tombstone; hold: Hold }> {
  const now = (steps.now ?? Date.now)();
  const identity = await (await Credentials.load(steps.credentialsFile)).verify(request.as, request.key);
  if (!identity) throw new EdgeError('Unauthorized', `${request.as}: unknown user or wrong key`);
  if (identity.role !== 'custodian') throw new EdgeError('Forbidden', `${request.as} is a ${identity.role}: restoring needs a custodian`);
  const tombstone = (await readTombstones(steps.tombstoneFile)).filter((t) => t.recording === request.recording && t.account === identity.account && t.trashStamp).at(-1);
  if (!tombstone) throw new EdgeError('NotFound', `${request.recording}: retention deleted no such recording into the trash`);
  const layout = new StoreLayout(steps.dir);
  const trashed = layout.trashedContainerDir(tombstone.account, tombstone.recording, tombstone.trashStamp!);
  const home = layout.containerDir(tombstone.account, tombstone.recording);
  const [inTrash, atHome] = await Promise.all([exists(trashed), exists(home)]);
  if (inTrash && atHome) throw new EdgeError('Conflict', `${request.recording} exists on the station again: not restored over it`);
  if (!inTrash && !atHome) throw new EdgeError('NotFound', `${request.recording} is no longer in the trash: its grace period ended ${tombstone.restorableUntil}`);

  // Decided first, durably: the hold and the restoration line. From then on
  // neither the retention job nor its crash recovery takes the recording, and
  // a restore cut short is finished by running it again.
  let hold: Hold;
  if (tombstone.restored) {
    const known = await steps.withStore(async (store) =>
      store.container(tombstone.account, tombstone.recording).then(
        () => true,
        () => false,
      ),
    );
    if (known) throw new EdgeError('Conflict', `${request.recording} was restored already, at ${tombstone.restored.at}`);
    hold = await steps.withStore(async (store) => {
      const held = await HoldBook.of(store.index).list({ account: identity.account });
      const placed = held.filter((h) => h.scope.recording === tombstone.recording).at(-1);
      if (!placed) throw new EdgeError('Conflict', `${request.recording}: restored at ${tombstone.restored!.at}, but its hold is gone: place one before finishing`);
      return placed;
    });
  } else {
    if (tombstone.restorableUntil === null || Date.parse(tombstone.restorableUntil) < now)
      throw new EdgeError('Conflict', `${request.recording}: its grace period ended ${tombstone.restorableUntil}`);
    hold = await steps.withStore(async (store, audit) => {
      const placed = await HoldBook.of(store.index).place(
        { account: identity.account, caseNumber: request.caseNumber, reason: request.reason, scope: { recording: request.recording }, placedBy: identity.user },
        now,
      );
      const target = `AUTH_${tombstone.account}/${tombstone.recording}`;
      await audit.append({
        actor: identity.user,
        role: 'custodian',
        source: 'cli',
        action: 'retention.restore',
        target,
        result: 'ok',
        details: { deletedAt: tombstone.deletedAt, holdId: placed.id },
      });
      await audit.append({
        actor: identity.user,
        role: 'custodian',
        source: 'cli',
        action: 'hold.place',
        target,
        result: 'ok',
        details: { id: placed.id, caseNumber: placed.caseNumber, reason: placed.reason, scope: placed.scope },
      });
      const restoration: Restoration = {
        restoredAt: new Date(now).toISOString(),
        restoredBy: identity.user,
        account: tombstone.account,
        recording: tombstone.recording,
        trashStamp: tombstone.trashStamp!,
      };
      await appendLineDurably(steps.tombstoneFile, JSON.stringify(restoration));
      return placed;
    });
  }
  if (inTrash) {
    await mkdir(dirname(home), { recursive: true });
    await rename(trashed, home);
    await fsyncPath(dirname(home));
    await fsyncPath(dirname(trashed));
  }
  await steps.reindex();
  // Its verdicts left with it: the station checks its clips again.
  await steps.withStore(async (store) => VideoLedger.of(store.index).requeue(tombstone.account, tombstone.recording, now));
  return { tombstone, hold };
}
