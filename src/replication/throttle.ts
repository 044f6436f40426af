/**
 * Bandwidth cap for a replication target: one token bucket shared by all of
 * the target's transfers, so the cap holds for the uplink as a whole.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** Time as the bucket sees it: a monotonic clock in milliseconds, and a way to wait on it. */
export interface BucketClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: BucketClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

export class TokenBucket {
  readonly #rate: number;
  readonly #capacity: number;
  readonly #clock: BucketClock;
  #tokens: number;
  #at: number;
  /** Waiters are served in order, so no transfer starves. */
  #queue: Promise<void> = Promise.resolve();

  /** `rate` bytes per second; bursts up to a quarter second's worth. */
  constructor(rate: number, clock: BucketClock = realClock) {
    this.#rate = rate;
    this.#capacity = Math.max(64 * 1024, rate / 4);
    this.#tokens = this.#capacity;
    this.#clock = clock;
    this.#at = clock.now();
  }

  /** Resolves once `bytes` may be sent. */
  take(bytes: number): Promise<void> {
    const turn = this.#queue.then(() => this.#wait(bytes));
    this.#queue = turn;
    return turn;
  }

  /** Takes the bytes at once, into debt if need be, and waits until the debt is paid. */
  async #wait(bytes: number): Promise<void> {
    this.#refill();
    this.#tokens -= bytes;
    if (this.#tokens < 0) await this.#clock.sleep((-this.#tokens / this.#rate) * 1000);
  }

  #refill(): void {
    const now = this.#clock.now();
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
