/**
 * Where copies of a recording are, for a clerk: per replication target, whether
 * it confirmed the recording Complete and how strongly each object was
 * confirmed (verified, read back, acknowledged), held back or refused. Pull
 * and the console's download carry it in custody.json; the console shows it.
 */
import type { ConfirmationLevel } from '../config/config.ts';
import type { ReplicationLedger } from './ledger.ts';

export interface ReplicaRecord {
  target: string;
  /** When the target confirmed the recording Complete, with the weakest confirmation among its objects. */
  complete: { at: string; confirmation: ConfirmationLevel; heldBack: number; rejected: number } | null;
  objects: { name: string; state: string; confirmation?: ConfirmationLevel; rejectedInto?: string; withheld?: string[] }[];
}

export async function replicaRecords(ledger: ReplicationLedger, targets: readonly string[], account: string, container: string): Promise<ReplicaRecord[]> {
  const records: ReplicaRecord[] = [];
  for (const target of targets) {
    const complete = await ledger.isComplete(target, account, container);
    const objects: ReplicaRecord['objects'] = [];
    for (const [name, s] of await ledger.objectStates(target, account, container)) {
      objects.push({
        name,
        state: s.state,
        ...(s.level ? { confirmation: s.level } : {}),
        ...(s.rejectedInto ? { rejectedInto: s.rejectedInto } : {}),
        ...(s.withheld ? { withheld: s.withheld } : {}),
      });
    }
    records.push({
      target,
      complete: complete
        ? { at: new Date(complete.completedAt).toISOString(), confirmation: complete.level ?? 'verified', heldBack: complete.heldBack ?? 0, rejected: complete.rejected ?? 0 }
        : null,
      objects,
    });
  }
  return records;
}
