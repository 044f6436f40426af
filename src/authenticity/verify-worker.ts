/**
 * Worker thread: verifies clip files for verify-off-thread.ts, so the
 * hashing of a 512 MiB clip never holds the daemon's event loop.
 *
 * It yields to uploads by sleeping between slices of work, in proportion to
 * the work just done (a tranquilizer): the ratio is read from memory shared
 * with the daemon at every slice, so a burst of uploads slows the check at
 * once and an idle station runs it at full speed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { verifyVideoFile } from '../media/verify-file.ts';
import { CONTROL, type VerifyAnswer, type VerifyRequest } from './verify-protocol.ts';

const control = new Int32Array(workerData.control as SharedArrayBuffer);
/** The longest single pause: a stop request is seen within this. */
const MAX_PAUSE_MS = 500;

parentPort!.on('message', async ({ id, path }: VerifyRequest) => {
  let resumed = performance.now();
  const pace = () => {
    if (Atomics.load(control, CONTROL.stop)) throw new Error('video check stopped');
    const ratio = Atomics.load(control, CONTROL.sleepPercent) / 100;
    if (ratio > 0) Atomics.wait(control, CONTROL.sleepOn, 0, Math.min(MAX_PAUSE_MS, (performance.now() - resumed) * ratio));
    resumed = performance.now();
  };
  let answer: VerifyAnswer;
  try {
    answer = { id, verdict: await verifyVideoFile(path, { pace }) };
  } catch (err) {
    answer = { id, error: (err as Error).message };
  }
  parentPort!.postMessage(answer);
});
