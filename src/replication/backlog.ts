/**
 * What a target's queue holds: the jobs a pass with given options would run,
 * and the rest (refused, or waiting out a backoff), with their sizes as the
 * store holds them now. Status shows it; a pass shows its progress against it.
 */
import type { ObjectStore } from '../store/object-store.ts';
import type { ReplicationLedger } from './ledger.ts';

export interface Backlog {
  jobs: number;
  recordings: number;
  rejected: number;
  /** Containers with names the station does not recognise, sent as they are. */
  unrecognised: number;
  objects: number;
  bytes: number;
  /** Jobs the target refused, waiting for an operator. */
  failed: number;
  /** Jobs waiting out a backoff. */
  waiting: number;
  oldestEnqueuedAt?: number;
  lastError?: string;
}

/** What the target's queue holds (the jobs a pass with these options would run, and the rest). */
export async function queueBacklog(
  store: ObjectStore,
  ledger: ReplicationLedger,
  target: string,
  options: { now: number; ignoreBackoff: boolean; retryFailed: boolean },
): Promise<Backlog> {
  const backlog: Backlog = { jobs: 0, recordings: 0, rejected: 0, unrecognised: 0, objects: 0, bytes: 0, failed: 0, waiting: 0 };
  for await (const g of ledger.jobs(target, { now: options.now, ignoreBackoff: true, retryFailed: true })) {
    if (g.failed && !options.retryFailed) {
      backlog.failed += 1;
      backlog.lastError ??= g.lastError;
      continue;
    }
    if (!options.ignoreBackoff && g.notBefore > options.now) {
      backlog.waiting += 1;
      backlog.lastError ??= g.lastError;
      continue;
    }
    backlog.jobs += 1;
    backlog.oldestEnqueuedAt = Math.min(backlog.oldestEnqueuedAt ?? Infinity, g.enqueuedAt);
    if (g.kind === 'object') {
      backlog.objects += 1;
      backlog.bytes += (await store.object(g.account, g.container, g.object!).catch(() => undefined))?.bytes ?? 0;
    } else {
      backlog[({ recording: 'recordings', rejected: 'rejected', opaque: 'unrecognised' } as const)[g.kind]] += 1;
      backlog.bytes += (await store.container(g.account, g.container).catch(() => undefined))?.bytesUsed ?? 0;
    }
  }
  return backlog;
}
