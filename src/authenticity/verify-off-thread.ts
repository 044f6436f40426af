/**
 * Clip verification in a worker thread (verify-worker.ts), one clip at a
 * time, with a control block shared with the worker: how long to pause per
 * unit of work (the tranquilizer), and stop.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../lib/worker-thread.ts';
import type { VideoVerdict } from '../media/verdict.ts';
import { CONTROL, type VerifyAnswer, type VerifyRequest } from './verify-protocol.ts';

export class OffThreadVerifier {
  readonly #control = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  #worker: Worker | undefined;
  #nextId = 0;
  readonly #waiting = new Map<number, { resolve: (v: VideoVerdict) => void; reject: (err: Error) => void }>();

  /** Pause `percent` % of the time just worked after each slice of work (0: full speed; 300: a quarter of the CPU). */
  setSleepPercent(percent: number): void {
    Atomics.store(this.#control, CONTROL.sleepPercent, Math.max(0, Math.round(percent)));
  }

  verify(path: string): Promise<VideoVerdict> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      const w = this.#running();
      w.ref();
      w.postMessage({ id, path } satisfies VerifyRequest);
    });
  }

  /** Stops the check under way (it rejects) and the worker. */
  async close(): Promise<void> {
    Atomics.store(this.#control, CONTROL.stop, 1);
    Atomics.notify(this.#control, CONTROL.sleepOn);
    await this.#worker?.terminate();
    this.#worker = undefined;
  }

  #running(): Worker {
    if (this.#worker) return this.#worker;
    const w = startWorker(import.meta.url, 'verify-worker', { workerData: { control: this.#control.buffer } });
    w.on('message', (answer: VerifyAnswer) => {
      const pending = this.#waiting.get(answer.id);
      this.#waiting.delete(answer.id);
      if (this.#waiting.size === 0) w.unref();
      if ('error' in answer) pending?.reject(new Error(answer.error));
      else pending?.resolve(answer.verdict);
    });
    const fail = (err: Error) => {
      if (this.#worker === w) this.#worker = undefined;
      for (const p of this.#waiting.values()) p.reject(new Error(`the video verifier stopped: ${err.message}`));
      this.#waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exit ${code}`)));
    w.unref();
    this.#worker = w;
    return w;
  }
}
