/**
 * The memory uploads are received into: fixed 512 KiB slots over
 * SharedArrayBuffers, reused from upload to upload.
 *
 * Each network chunk is copied into a slot as it arrives, and the slot is
 * then both written to disk and hashed on the hash thread (which reads the
 * shared memory in place). The chunk itself is garbage at once, so it dies
 * in the young generation; held until written, chunks lived long enough to
 * be promoted, and V8 only frees old ArrayBuffers once 64 MB of them have
 * piled up. Slots are kept for reuse, not reallocated: a freed slot is also
 * freed only by a full collection.
 */

/** The size of a slot: one disk write and one hashing batch. */
export const SLOT_BYTES = 512 * 1024;
/** Free slots kept after a busy spell (16 MiB: 8 uploads' worth); more are dropped. */
const KEEP_FREE = 32;
/** With no upload for this long, every free slot goes back to the system. */
const IDLE_MS = 60_000;

export interface SlotSource {
  take(): Buffer;
  give(slot: Buffer): void;
}

class SharedSlots implements SlotSource {
  #free: Buffer[] = [];
  #idleTimer: NodeJS.Timeout | undefined;

  take(): Buffer {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => (this.#free = []), IDLE_MS).unref();
    return this.#free.pop() ?? Buffer.from(new SharedArrayBuffer(SLOT_BYTES));
  }

  give(slot: Buffer): void {
    if (this.#free.length < KEEP_FREE) this.#free.push(slot);
  }
}

/** Shared slots, for bodies hashed on the hash thread. */
export const sharedSlots: SlotSource = new SharedSlots();

/** Slots of a body small enough to be hashed inline: plain memory, no larger than the body. */
export function smallBodySlots(bodyBytes: number): SlotSource {
  return { take: () => Buffer.allocUnsafe(Math.min(SLOT_BYTES, bodyBytes)), give: () => undefined };
}
