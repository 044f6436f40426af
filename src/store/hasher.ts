/**
 * md5 (Swift's Etag) and SHA-256 (the evidence hash) of an upload.
 *
 * Hashing both on the main thread caps an upload near 400 MB/s (md5 alone
 * runs at ~800 MB/s on these cores), and the main thread is also the one
 * receiving. Large bodies are therefore hashed on a worker thread, in
 * parallel with the disk write and with the next slot filling. The worker
 * reads the upload's slots (upload-slots.ts) in place: nothing is copied to
 * it. (Two workers, one per algorithm, measured no faster on two cores and
 * cost a second thread's memory.) Small bodies are hashed inline: a worker
 * round trip would cost more than it saves.
 */
import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Digests } from '../lib/digests.ts';

export type { Digests };

export interface BodyHasher {
  /**
   * Hashes the next bytes of the body, in order. Offloaded, `bytes` must be a
   * view of a SharedArrayBuffer, left unchanged until the promise settles.
   */
  update(bytes: Uint8Array): Promise<void> | undefined;
  digest(): Promise<Digests>;
  /** Forgets the state (upload failed); safe to call more than once. */
  abort(): void;
}

/** Bodies at least this large (or of unknown length) are hashed off the main thread. */
export const OFFLOAD_BYTES = 1024 * 1024;

/** Whether a body of this declared size (undefined: unknown) is hashed on the hash thread. */
export function offloadsHashing(expectedBytes: number | undefined): boolean {
  return expectedBytes === undefined || expectedBytes >= OFFLOAD_BYTES;
}

/** A hasher on the hash thread (`offloaded`: it then reads shared memory only) or inline. */
export function createHasher(offloaded: boolean): BodyHasher {
  return offloaded ? pool.hasher() : new InlineHasher();
}

class InlineHasher implements BodyHasher {
  readonly #md5: Hash = createHash('md5');
  readonly #sha256: Hash = createHash('sha256');

  update(bytes: Uint8Array): undefined {
    this.#md5.update(bytes);
    this.#sha256.update(bytes);
    return undefined;
  }

  async digest(): Promise<Digests> {
    return { md5: this.#md5.digest('hex'), sha256: this.#sha256.digest('hex') };
  }

  abort(): void {}
}

// Plain CommonJS evaluated in the worker, so it runs the same under tsx and from dist/.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const states = new Map();
const state = (id) => {
  let s = states.get(id);
  if (!s) states.set(id, (s = { md5: createHash('md5'), sha256: createHash('sha256') }));
  return s;
};
parentPort.on('message', (m) => {
  if (m.op === 'update') {
    const data = new Uint8Array(m.data, m.offset, m.length);
    const s = state(m.id);
    s.md5.update(data);
    s.sha256.update(data);
    parentPort.postMessage({ key: m.key });
  } else if (m.op === 'digest') {
    const s = state(m.id);
    states.delete(m.id);
    parentPort.postMessage({ key: m.key, digests: { md5: s.md5.digest('hex'), sha256: s.sha256.digest('hex') } });
  } else if (m.op === 'abort') {
    states.delete(m.id);
  }
});`;

type Reply = { key: number; digests?: Digests };
/** Messages that get an answer (matched by a key added on sending). */
type Ask = { op: 'update'; id: number; data: SharedArrayBuffer; offset: number; length: number } | { op: 'digest'; id: number };
type Tell = { op: 'abort'; id: number };

class HashWorker {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: unknown) => void }>();
  #nextKey = 0;
  /** Set once the thread is gone; its hash states went with it. */
  dead = false;

  constructor() {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true });
    this.#worker.on('message', (r: Reply) => {
      this.#waiting.get(r.key)?.resolve(r);
      this.#waiting.delete(r.key);
      if (this.#waiting.size === 0) this.#worker.unref();
    });
    const fail = (err: unknown) => {
      this.dead = true;
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`hash worker exited (${code})`)));
    // Keeps the process alive only while it owes an answer (unref after the
    // listeners: adding one re-refs).
    this.#worker.unref();
  }

  get busy(): boolean {
    return this.#waiting.size > 0;
  }

  ask(message: Ask): Promise<Reply> {
    if (this.dead) return Promise.reject(new Error('the hash worker died during the upload'));
    return new Promise((resolve, reject) => {
      const key = this.#nextKey++;
      if (this.#waiting.size === 0) this.#worker.ref();
      this.#waiting.set(key, { resolve, reject });
      this.#worker.postMessage({ ...message, key });
    });
  }

  tell(message: Tell): void {
    if (!this.dead) this.#worker.postMessage(message);
  }

  terminate(): void {
    this.#worker.removeAllListeners('exit');
    void this.#worker.terminate();
  }
}

const IDLE_MS = 60_000;

/**
 * The hash thread, started on first use and retired when no upload has
 * needed it for a while. An upload's hash state lives in the thread, so each
 * hasher is bound to the thread it started on: if that thread died, the
 * upload fails rather than record the hash of only part of its bytes.
 */
class WorkerPool {
  #worker: HashWorker | undefined;
  #nextId = 0;
  /** Hashers between creation and digest/abort: the thread may not retire while any live. */
  #live = 0;
  #idleTimer: NodeJS.Timeout | undefined;

  hasher(): BodyHasher {
    this.#live += 1;
    return new OffloadedHasher(this.#use(), this.#nextId++, () => (this.#live -= 1));
  }

  #use(): HashWorker {
    if (this.#worker?.dead) this.#worker = undefined;
    this.#worker ??= new HashWorker();
    // A thread costs memory: let it go when uploads stop for a while.
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.#retire(), IDLE_MS).unref();
    return this.#worker;
  }

  #retire(): void {
    const worker = this.#worker;
    if (!worker) return;
    if (this.#live > 0 || worker.busy) {
      this.#idleTimer = setTimeout(() => this.#retire(), IDLE_MS).unref();
      return;
    }
    this.#worker = undefined;
    worker.terminate();
  }
}

class OffloadedHasher implements BodyHasher {
  readonly #worker: HashWorker;
  readonly #id: number;
  readonly #release: () => void;
  #done = false;

  constructor(worker: HashWorker, id: number, release: () => void) {
    this.#worker = worker;
    this.#id = id;
    this.#release = release;
  }

  // The worker takes messages in order, so updates are sent at once, not one
  // after the other's answer: the thread never waits for the main thread.
  async update(bytes: Uint8Array): Promise<void> {
    if (this.#done) return; // aborted: nothing more goes to the worker
    if (!(bytes.buffer instanceof SharedArrayBuffer)) throw new TypeError('offloaded hashing reads shared memory only');
    await this.#worker.ask({ op: 'update', id: this.#id, data: bytes.buffer, offset: bytes.byteOffset, length: bytes.length });
  }

  async digest(): Promise<Digests> {
    try {
      return (await this.#worker.ask({ op: 'digest', id: this.#id })).digests!;
    } finally {
      this.#finish();
    }
  }

  abort(): void {
    if (this.#done) return;
    this.#worker.tell({ op: 'abort', id: this.#id });
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#release();
  }
}

const pool = new WorkerPool();
