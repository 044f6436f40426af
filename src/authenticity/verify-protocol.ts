/** What the daemon and the verifying worker thread say to each other (verify-off-thread.ts, verify-worker.ts). */
import type { VideoVerdict } from '../media/verdict.ts';

export interface VerifyRequest {
  id: number;
  path: string;
}

export type VerifyAnswer = { id: number; verdict: VideoVerdict } | { id: number; error: string };

/** Slots of the control block both share: how long to pause per unit of work (%), stop, and a slot to sleep on. */
export const CONTROL = { sleepPercent: 0, stop: 1, sleepOn: 2 } as const;
