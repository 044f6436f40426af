/**
 * The replication bandwidth cap on a virtual clock: the token bucket and the
 * metered streams that share it, with time injected, so an hour of capped
 * transfer takes no real time and the figures are exact.
 */
import { strict as assert } from 'node:assert';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { metered, TokenBucket, type BucketClock } from '../src/replication/throttle.ts';

/** Time that moves only when someone sleeps on it. */
function virtualClock(): BucketClock & { slept: number } {
  const clock = {
    at: 0,
    slept: 0,
    now: () => clock.at,
    sleep: async (ms: number) => {
      clock.at += ms;
      clock.slept += 1;
    },
  };
  return clock;
}

/** Sends `bytes` through a metered stream on `bucket`, in 64 KiB chunks. */
async function send(bucket: TokenBucket, bytes: number, counted: { bytes: number }): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024);
  async function* body() {
    for (let left = bytes; left > 0; left -= chunk.length) yield chunk.subarray(0, Math.min(left, chunk.length));
  }
  await pipeline(
    Readable.from(body()),
    metered((n) => (counted.bytes += n), bucket),
    new Writable({ write: (_c, _e, done) => done() }),
  );
}

describe('replication bandwidth cap', () => {
  it('three transfers sharing a target keep within 10 % of bandwidthBytesPerSec over 20 s of transfer', async () => {
    const clock = virtualClock();
    const cap = 400_000;
    const bucket = new TokenBucket(cap, clock);
    const counted = { bytes: 0 };
    // 8 MB of clips over three transfers: 20 s at the cap.
    await Promise.all([send(bucket, 3_000_000, counted), send(bucket, 3_000_000, counted), send(bucket, 2_000_000, counted)]);
    assert.equal(counted.bytes, 8_000_000);
    const rate = counted.bytes / (clock.now() / 1000);
    assert.ok(Math.abs(rate - cap) / cap <= 0.1, `sent at ${Math.round(rate)} B/s against a cap of ${cap}`);
    // Only the first quarter second's burst goes uncapped.
    assert.ok(clock.now() >= ((8_000_000 - cap / 4) / cap) * 1000 - 1, `${clock.now()} ms`);
  });

  it('a cap of a few KB/s still moves bytes steadily, in small pieces', async () => {
    const clock = virtualClock();
    const bucket = new TokenBucket(2_000, clock);
    const counted = { bytes: 0 };
    await send(bucket, 200_000, counted);
    assert.equal(counted.bytes, 200_000);
    assert.ok(clock.now() >= ((200_000 - 64 * 1024) / 2_000) * 1000 - 1, 'capped past the first burst');
    assert.ok(clock.slept >= 200_000 / (16 * 1024) - 4, `${clock.slept} waits: the transfer is cut into pieces`);
  });
});
