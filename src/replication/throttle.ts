/**
 * Bandwidth cap for a replication target: one token bucket shared by all of
 * the target's transfers, so the cap holds for the uplink as a whole.
 */
import { Transform, type TransformCallback } from 'node:stream';

export class TokenBucket {
  readonly #rate: number;
  readonly #capacity: number;
  #tokens: number;
  #at = performance.now();
  /** Waiters are served in order, so no transfer starves. */
  #queue: Promise<void> = Promise.resolve();

  /** `rate` bytes per second; bursts up to a quarter second's worth. */
  constructor(rate: number) {
    this.#rate = rate;
    this.#capacity = Math.max(64 * 1024, rate / 4);
    this.#tokens = this.#capacity;
  }

  /** Resolves once `bytes` may be sent. */
  take(bytes: number): Promise<void> {
    const turn = this.#queue.then(() => this.#wait(bytes));
    this.#queue = turn;
    return turn;
  }

  async #wait(bytes: number): Promise<void> {
    let owed = bytes;
    while (owed > 0) {
      this.#refill();
      const now = Math.min(owed, this.#tokens);
      this.#tokens -= now;
      owed -= now;
      if (owed > 0) await sleep((Math.min(owed, this.#capacity) / this.#rate) * 1000);
    }
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
  }
}

/** Pieces a capped transfer is cut into, so bytes flow steadily even at a few KB/s. */
const PIECE = 16 * 1024;

/**
 * A pass-through stream that counts the bytes going out and, with a bucket,
 * lets them go only as fast as the bucket allows.
 */
export function metered(onBytes: (bytes: number) => void, bucket?: TokenBucket): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      if (!bucket) {
        onBytes(chunk.length);
        done(null, chunk);
        return;
      }
      void (async () => {
        for (let at = 0; at < chunk.length; at += PIECE) {
          const piece = chunk.subarray(at, at + PIECE);
          await bucket.take(piece.length);
          onBytes(piece.length);
          this.push(piece);
        }
      })().then(() => done(), done);
    },
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
