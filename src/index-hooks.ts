/**
 * Everything written to the index alongside a change, in the same batch:
 * the replication queue, the recording catalogue, the video-check queue and
 * the X-Delete-At stations set.
 * Every process that opens the store to change it passes this as
 * ObjectStore's derivedOps.
 */
import { VIDEO_SUBLEVELS, videoCheckHook } from './authenticity/video-ledger.ts';
import { HOLD_SUBLEVELS } from './lifecycle/holds.ts';
import { stationDeleteAtHook } from './lifecycle/station-delete-at.ts';
import { LEDGER_SUBLEVELS } from './replication/replicator.ts';
import { catalogueHook } from './bws/catalogue.ts';
import { replicationHook } from './replication/ledger.ts';
import type { BatchOp, IndexDb, Mutation } from './store/index-db.ts';

export async function derivedIndexOps(m: Mutation, index: IndexDb): Promise<BatchOp[]> {
  const hooks = await Promise.all([replicationHook(m, index), catalogueHook(m, index), videoCheckHook(m, index), stationDeleteAtHook(m, index)]);
  return hooks.flat();
}

/** Sublevels a reindex copies from the old index: state that is not on the disk (replication, video verdicts, legal holds). */
export const CARRIED_OVER: readonly string[] = [...LEDGER_SUBLEVELS, ...VIDEO_SUBLEVELS, ...HOLD_SUBLEVELS];
