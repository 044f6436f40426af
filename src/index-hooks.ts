/**
 * Everything written to the index alongside a change, in the same batch:
 * the replication queue, the recording catalogue and the video-check queue.
 * Every process that opens the store to change it passes this as
 * ObjectStore's derivedOps.
 */
import { videoCheckHook } from './authenticity/video-ledger.ts';
import { catalogueHook } from './bws/catalogue.ts';
import { replicationHook } from './replication/ledger.ts';
import type { BatchOp, IndexDb, Mutation } from './store/index-db.ts';

export async function derivedIndexOps(m: Mutation, index: IndexDb): Promise<BatchOp[]> {
  const [replication, catalogue, video] = await Promise.all([replicationHook(m, index), catalogueHook(m, index), videoCheckHook(m, index)]);
  return [...replication, ...catalogue, ...video];
}
