/**
 * md5 (Swift's Etag) and SHA-256 (the evidence hash) of an upload.
 *
 * Hashing both on the main thread caps an upload near 400 MB/s on a fast
 * core (md5 alone runs at ~800 MB/s), below what the disk takes. Large bodies
 * are therefore hashed on two worker threads, one per algorithm, in parallel
 * with each other, with the disk write and with the next chunk arriving. The
 * body is copied once, into one of two 256 KiB shared slots that both workers
 * read; one slot fills while the other is hashed.
 * Small bodies are hashed inline: a worker round trip would cost more.
 */
import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

export interface Digests {
  md5: string;
  sha256: string;
}

export interface BodyHasher {
  update(buffers: Buffer[]): Promise<void> | undefined;
  digest(): Promise<Digests>;
  /** Forgets the state (upload failed); safe to call more than once. */
  abort(): void;
}

/** Bodies at least this large (or of unknown length) are hashed off the main thread. */
export const OFFLOAD_BYTES = 1024 * 1024;

export function createHasher(expectedBytes: number | undefined): BodyHasher {
  return expectedBytes !== undefined && expectedBytes < OFFLOAD_BYTES ? new InlineHasher() : workerPool().hasher();
}

class InlineHasher implements BodyHasher {
  readonly #md5: Hash = createHash('md5');
  readonly #sha256: Hash = createHash('sha256');

  update(buffers: Buffer[]): undefined {
    for (const b of buffers) {
      this.#md5.update(b);
      this.#sha256.update(b);
    }
    return undefined;
  }

  async digest(): Promise<Digests> {
    return { md5: this.#md5.digest('hex'), sha256: this.#sha256.digest('hex') };
  }

  abort(): void {}
}

// Plain CommonJS evaluated in the worker, so it runs the same under tsx and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData: algorithm } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const states = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'update') {
    let hash = states.get(m.id);
    if (!hash) states.set(m.id, (hash = createHash(algorithm)));
    hash.update(new Uint8Array(m.data, 0, m.length));
    parentPort.postMessage({ key: m.key });
  } else if (m.op === 'digest') {
    const hash = states.get(m.id) ?? createHash(algorithm);
    states.delete(m.id);
    parentPort.postMessage({ key: m.key, hex: hash.digest('hex') });
  } else if (m.op === 'abort') {
    states.delete(m.id);
  }
});`;

type Reply = { key: number; hex?: string };
type Request =
  | { op: 'update'; id: number; key: number; data: SharedArrayBuffer; length: number }
  | { op: 'digest'; id: number; key: number }
  | { op: 'abort'; id: number };

class HashWorker {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: unknown) => void }>();

  constructor(algorithm: string) {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: algorithm });
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

  /** Set once the thread is gone; its hash states went with it. */
  dead = false;

  get busy(): boolean {
    return this.#waiting.size > 0;
  }

  ask(message: Request & { key: number }): Promise<Reply> {
    if (this.dead) return Promise.reject(new Error('hash worker is gone'));
    return new Promise((resolve, reject) => {
      if (this.#waiting.size === 0) this.#worker.ref();
      this.#waiting.set(message.key, { resolve, reject });
      this.#worker.postMessage(message);
    });
  }

  tell(message: Request): void {
    this.#worker.postMessage(message);
  }

  terminate(): void {
    this.#worker.removeAllListeners('exit');
    void this.#worker.terminate();
  }
}

const IDLE_MS = 60_000;
/** Two slots per upload: one is filled while the workers hash the other. */
const SLOT_BYTES = 256 * 1024;

type Workers = { md5: HashWorker; sha256: HashWorker };

/**
 * The two hash threads, started on first use and retired when no upload has
 * needed them for a while. An upload's hash state lives in the threads, so
 * each hasher is bound to the pair it started on: if that pair died, the
 * upload fails rather than record the hash of only part of its bytes.
 */
class WorkerPool {
  #workers: Workers | undefined;
  #nextId = 0;
  #nextKey = 0;
  /** Hashers between creation and digest/abort: the threads may not retire while any live. */
  #live = 0;
  #idleTimer: NodeJS.Timeout | undefined;

  hasher(): BodyHasher {
    this.#live += 1;
    return new OffloadedHasher(this, this.#nextId++);
  }

  release(): void {
    this.#live -= 1;
  }

  /** Posts `length` bytes of `data` to both workers; resolves when both have hashed them. */
  hash(bound: Workers, id: number, data: SharedArrayBuffer, length: number): Promise<unknown> {
    const w = this.#check(bound);
    return Promise.all([
      w.md5.ask({ op: 'update', id, data, length, key: this.#nextKey++ }),
      w.sha256.ask({ op: 'update', id, data, length, key: this.#nextKey++ }),
    ]);
  }

  async digest(bound: Workers, id: number): Promise<Digests> {
    const w = this.#check(bound);
    const [md5, sha256] = await Promise.all([
      w.md5.ask({ op: 'digest', id, key: this.#nextKey++ }),
      w.sha256.ask({ op: 'digest', id, key: this.#nextKey++ }),
    ]);
    return { md5: md5.hex!, sha256: sha256.hex! };
  }

  abort(bound: Workers, id: number): void {
    if (bound.md5.dead || bound.sha256.dead) return;
    bound.md5.tell({ op: 'abort', id });
    bound.sha256.tell({ op: 'abort', id });
  }

  #check(bound: Workers): Workers {
    if (bound.md5.dead || bound.sha256.dead) throw new Error('a hash worker died during the upload');
    return bound;
  }

  /** The current pair, started if needed. */
  use(): Workers {
    if (this.#workers && (this.#workers.md5.dead || this.#workers.sha256.dead)) {
      this.#workers.md5.terminate();
      this.#workers.sha256.terminate();
      this.#workers = undefined;
    }
    this.#workers ??= { md5: new HashWorker('md5'), sha256: new HashWorker('sha256') };
    // Threads cost memory: let them go when uploads stop for a while.
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.#retire(), IDLE_MS).unref();
    return this.#workers;
  }

  #retire(): void {
    const workers = this.#workers;
    if (!workers) return;
    if (this.#live > 0 || workers.md5.busy || workers.sha256.busy) {
      this.#idleTimer = setTimeout(() => this.#retire(), IDLE_MS).unref();
      return;
    }
    this.#workers = undefined;
    workers.md5.terminate();
    workers.sha256.terminate();
  }
}

/** Copies the body into two shared slots in turn and hands each full slot to the workers. */
class OffloadedHasher implements BodyHasher {
  readonly #pool: WorkerPool;
  readonly #id: number;
  readonly #workers: Workers;
  #done = false;
  readonly #slots = [new SharedArrayBuffer(SLOT_BYTES), new SharedArrayBuffer(SLOT_BYTES)];
  readonly #hashing: (Promise<unknown> | undefined)[] = [undefined, undefined];
  #current = 0;
  #filled = 0;

  constructor(pool: WorkerPool, id: number) {
    this.#pool = pool;
    this.#id = id;
    this.#workers = pool.use();
  }

  async update(buffers: Buffer[]): Promise<void> {
    for (const buffer of buffers) {
      if (this.#done) return;
      let offset = 0;
      while (offset < buffer.length) {
        await this.#hashing[this.#current]; // the slot is free once its last batch is hashed
        const n = Math.min(buffer.length - offset, SLOT_BYTES - this.#filled);
        new Uint8Array(this.#slots[this.#current]!, this.#filled, n).set(buffer.subarray(offset, offset + n));
        this.#filled += n;
        offset += n;
        if (this.#filled === SLOT_BYTES) this.#send();
      }
    }
  }

  #send(): void {
    this.#hashing[this.#current] = this.#pool.hash(this.#workers, this.#id, this.#slots[this.#current]!, this.#filled);
    this.#current ^= 1;
    this.#filled = 0;
  }

  async digest(): Promise<Digests> {
    try {
      if (this.#filled > 0) this.#send();
      await Promise.all(this.#hashing);
      return await this.#pool.digest(this.#workers, this.#id);
    } finally {
      this.#finish();
    }
  }

  abort(): void {
    if (this.#done) return;
    this.#pool.abort(this.#workers, this.#id);
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#pool.release();
  }
}

let pool: WorkerPool | undefined;
const workerPool = () => (pool ??= new WorkerPool());
