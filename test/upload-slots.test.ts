/** The upload slots: page-aligned where the memory can be had, plain shared memory where it cannot. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedSlots, SLOT_BYTES } from '../src/store/upload-slots.ts';

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
});
