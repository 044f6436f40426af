/** The upload slots: page-aligned where the memory can be had, plain shared memory where it cannot. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { copyIntoSlot, SharedSlots, SLOT_BYTES } from '../src/store/upload-slots.ts';

describe('upload slots', () => {
  it('are carved from one aligned memory, distinct, and reused once given back', () => {
    const slots = new SharedSlots();
    const a = slots.take();
    const b = slots.take();
    assert.ok(slots.aligned(a) && slots.aligned(b));
    assert.equal(a.length, SLOT_BYTES);
    assert.ok(a.buffer instanceof SharedArrayBuffer, 'shared: the hash thread reads it in place');
    a.fill(1);
    b.fill(2);
    assert.equal(a[SLOT_BYTES - 1], 1, 'no overlap');
    slots.give(a);
    assert.equal(slots.take(), a);
  });

  it('fall back to plain shared memory, not aligned, when the aligned memory cannot be reserved', () => {
    let asked = 0;
    const slots = new SharedSlots(() => {
      asked += 1;
      throw new RangeError('WebAssembly.Memory(): could not allocate memory');
    });
    const a = slots.take();
    const b = slots.take();
    assert.equal(asked, 1, 'asked once, then no more');
    assert.ok(a.buffer instanceof SharedArrayBuffer && a.length === SLOT_BYTES);
    assert.ok(!slots.aligned(a) && !slots.aligned(b));
    b.fill(2);
    a.fill(1);
    assert.equal(b[0], 2);
  });

  it('take chunks at any alignment, byte for byte, up to the end of the slot', () => {
    const slot = new SharedSlots().take();
    const source = randomBytes(200 * 1024);
    // Every pairing of source and target alignment (mod 8), chunks of one
    // byte to more than a network read, and chunks that only partly fit.
    for (let from = 0; from < 8; from++) {
      for (let at = 0; at < 8; at++) {
        for (const length of [1, 7, 4096 + 3, 150 * 1024 + 5]) {
          slot.fill(0);
          const chunk = source.subarray(from, from + length);
          assert.equal(copyIntoSlot(slot, at, chunk, 0), length);
          assert.ok(slot.subarray(at, at + length).equals(chunk), `from ${from}, at ${at}, ${length} bytes`);
          assert.equal(slot[at + length], 0, 'nothing past the chunk');
          if (at > 0) assert.equal(slot[at - 1], 0, 'nothing before it');
        }
      }
    }
    const tail = SLOT_BYTES - 100_003;
    assert.equal(copyIntoSlot(slot, tail, source, 5), 100_003, 'only what fits');
    assert.ok(slot.subarray(tail).equals(source.subarray(5, 100_008)));
    assert.equal(copyIntoSlot(slot, 3, source, source.length - 10), 10, 'the rest of a chunk taken in part');
    assert.ok(slot.subarray(3, 13).equals(source.subarray(source.length - 10)));
  });
});
