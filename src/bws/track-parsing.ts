/**
 * Location files parsed off the event loop. A track is up to MAX_TRACK_BYTES
 * of JSON that an uploader chose; parsing it where requests are served would
 * stall every request (the cameras' uploads included) for as long as it
 * takes. One worker thread, started on first use, parses them in turn; it
 * does not keep the process alive, and a worker that dies is replaced on the
 * next request.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../lib/worker-thread.ts';
import { TrackError, type TrackPoint } from './gnss.ts';
import type { TrackAnswer, TrackRequest } from './track-worker.ts';

let worker: Worker | undefined;
let nextId = 0;
const waiting = new Map<number, { resolve: (points: TrackPoint[]) => void; reject: (err: Error) => void }>();

/** As parseTrack, in the worker thread: the points, or a TrackError saying why the file is not a track. */
export function parseTrackOffThread(text: string): Promise<TrackPoint[]> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    const w = running();
    w.ref(); // kept alive while it has work
    w.postMessage({ id, text } satisfies TrackRequest);
  });
}

function running(): Worker {
  if (worker) return worker;
  const w = startWorker(import.meta.url, 'track-worker');
  w.on('message', (answer: TrackAnswer) => {
    const pending = waiting.get(answer.id);
    waiting.delete(answer.id);
    if (waiting.size === 0) w.unref();
    if ('error' in answer) pending?.reject(new TrackError(answer.error, answer.entries));
    else pending?.resolve(answer.points);
  });
  const fail = (err: Error) => {
    if (worker === w) worker = undefined;
    for (const p of waiting.values()) p.reject(new Error(`the track parser stopped: ${err.message}`));
    waiting.clear();
  };
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`exit ${code}`)));
  w.unref();
  worker = w;
  return w;
}
