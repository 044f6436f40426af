/**
 * Everything written to the index alongside a change, in the same batch:
 * the replication queue and the recording catalogue. Every process that
 * opens the store to change it passes this as ObjectStore's derivedOps.
 */
import { catalogueHook } from './bws/catalogue.ts';
import { replicationHook } from './replication/ledger.ts';
import type { BatchOp, IndexDb, Mutation } from './store/index-db.ts';

export async function derivedIndexOps(m: Mutation, index: IndexDb): Promise<BatchOp[]> {
  const [replication, catalogue] = await Promise.all([replicationHook(m, index), catalogueHook(m, index)]);
  return [...replication, ...catalogue];
}
