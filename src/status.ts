/** The station's status as `edgecd status` and the admin endpoint report it. */
import type { ObjectStore } from './store/object-store.ts';
import { VERSION } from './version.ts';

export interface StationStatus {
  version: string;
  accounts: Record<string, { containerCount: number; objectCount: number; bytesUsed: number }>;
  /** Commits journaled but not yet applied (non-zero only mid-request or after a crash). */
  pendingCommits: number;
  source: 'daemon' | 'index';
}

export async function stationStatus(store: ObjectStore, source: StationStatus['source']): Promise<StationStatus> {
  const accounts: StationStatus['accounts'] = {};
  for await (const [name, entry] of store.index.accounts.iterator()) accounts[name] = entry;
  let pendingCommits = 0;
  for await (const _key of store.index.journal.keys()) pendingCommits += 1;
  return { version: VERSION, accounts, pendingCommits, source };
}
