/** Worker thread: parses location files for track-parsing.ts, off the daemon's event loop. */
import { parentPort } from 'node:worker_threads';
import { parseTrack, TrackError } from './gnss.ts';

export interface TrackRequest {
  id: number;
  text: string;
}

export type TrackAnswer = { id: number; points: ReturnType<typeof parseTrack> } | { id: number; error: string; entries: number };

parentPort!.on('message', ({ id, text }: TrackRequest) => {
  let answer: TrackAnswer;
  try {
    answer = { id, points: parseTrack(text) };
  } catch (err) {
    answer = { id, error: (err as Error).message, entries: err instanceof TrackError ? err.entries : 0 };
  }
  parentPort!.postMessage(answer);
});
