/**
 * The memory uploads are received into: fixed 512 KiB slots of shared
 * memory, reused from upload to upload.
 *
 * Each network chunk is copied into a slot as it arrives, and the slot is
 * then both written to disk and hashed on the hash thread (which reads the
 * shared memory in place). The chunk itself is garbage at once, so it dies
 * in the young generation; held until written, chunks lived long enough to
 * be promoted, and V8 only frees old ArrayBuffers once 64 MB of them have
 * piled up.
 *
 * The slots are carved from one shared WebAssembly memory, because its start
 * is page-aligned: a slot may then be written with O_DIRECT, bypassing the
 * page cache (receive.ts), which no other allocation Node offers guarantees.
 * A WebAssembly memory reserves about 10 GiB of address space whatever its
 * size, so there is one, grown a slot at a time up to MAX_ALIGNED_SLOTS; it
 * cannot shrink, so it is let go whole once no upload has wanted a slot for
 * IDLE_MS. Past its maximum, slots are plain SharedArrayBuffers, written
 * through the page cache.
 */

/** The size of a slot: one disk write and one hashing batch. */
export const SLOT_BYTES = 512 * 1024;
/** Slots carved from the aligned memory at most (64 MiB: 16 large uploads' worth). */
const MAX_ALIGNED_SLOTS = 128;
/** Free plain slots kept after a busy spell (16 MiB: 8 uploads' worth); more are dropped. */
const KEEP_PLAIN = 32;
/** With no slot taken for this long, the memory goes back to the system (once every slot is back). */
const IDLE_MS = 60_000;
const WASM_PAGE = 64 * 1024;

/** The part of WebAssembly.Memory used here (TypeScript's libs declare it only with the DOM). */
interface SharedMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => SharedMemory } | undefined;

/** The one aligned memory: its maximum is reserved at once, and it grows a slot at a time. */
function alignedMemory(): SharedMemory {
  if (typeof WebAssembly !== 'object') throw new Error('no WebAssembly (--jitless)');
  return new WebAssembly.Memory({ initial: 0, maximum: (MAX_ALIGNED_SLOTS * SLOT_BYTES) / WASM_PAGE, shared: true });
}

export class SharedSlots {
  readonly #newMemory: () => SharedMemory;
  #memory: SharedMemory | undefined;
  #carved = 0;
  #free: Buffer[] = [];
  #out = 0;
  #aligned = new WeakSet<Buffer>();
  /** Cleared for good once the aligned memory could not be had or grown. */
  #canAlign = true;
  #idleTimer: NodeJS.Timeout | undefined;

  /** `newMemory`: where the aligned memory comes from (a test makes it fail, as a tight ulimit -v does). */
  constructor(newMemory: () => SharedMemory = alignedMemory) {
    this.#newMemory = newMemory;
  }

  take(): Buffer {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.#letGo(), IDLE_MS).unref();
    const slot = this.#free.pop() ?? this.#carve();
    this.#out += 1;
    return slot;
  }

  give(slot: Buffer): void {
    this.#out -= 1;
    // Aligned slots are the memory's and stay; plain ones are kept only up to
    // KEEP_PLAIN (a dropped one is freed by the next full collection).
    if (this.#aligned.has(slot) || this.#free.length < KEEP_PLAIN) this.#free.push(slot);
  }

  /** Whether the slot's memory starts on a page boundary (it may be written with O_DIRECT). */
  aligned(slot: Buffer): boolean {
    return this.#aligned.has(slot);
  }

  #carve(): Buffer {
    if (this.#carved === MAX_ALIGNED_SLOTS || !this.#canAlign) return Buffer.from(new SharedArrayBuffer(SLOT_BYTES));
    try {
      this.#memory ??= this.#newMemory();
      this.#memory.grow(SLOT_BYTES / WASM_PAGE);
    } catch {
      // No address space for the reservation (ulimit -v), or no WebAssembly
      // (--jitless): plain slots, written through the page cache.
      this.#canAlign = false;
      return Buffer.from(new SharedArrayBuffer(SLOT_BYTES));
    }
    const slot = Buffer.from(this.#memory.buffer, this.#carved * SLOT_BYTES, SLOT_BYTES);
    this.#carved += 1;
    this.#aligned.add(slot);
    return slot;
  }

  #letGo(): void {
    if (this.#out > 0) {
      this.#idleTimer = setTimeout(() => this.#letGo(), IDLE_MS).unref();
      return;
    }
    this.#free = [];
    this.#memory = undefined;
    this.#carved = 0;
    this.#aligned = new WeakSet();
  }
}

/**
 * Copies as much of `chunk` from `from` as fits into `slot` at `at`; returns
 * the count. Not `chunk.copy`: V8 copies into shared memory with relaxed
 * atomics, word by word where source and target share their alignment (mod
 * 8) and byte by byte where they do not, which is most of a body's chunks
 * (they sit wherever the request's headers ended): 3.6 GB/s. `fill` with a
 * value as long as the range is one memcpy in Node's C++: 43–48 GB/s at any
 * alignment (micro-bench, 64 KiB chunks).
 */
export function copyIntoSlot(slot: Buffer, at: number, chunk: Buffer, from: number): number {
  const n = Math.min(slot.length - at, chunk.length - from);
  slot.fill(from === 0 && n === chunk.length ? chunk : chunk.subarray(from, from + n), at, at + n);
  return n;
}

/** Shared slots, for bodies hashed on the hash thread. */
export const sharedSlots = new SharedSlots();
