/**
 * fsync helpers. Directory fsyncs are coalesced: callers that ask while one is
 * running share the next one, so N concurrent renames into one directory cost
 * two fsyncs, not N (group commit at the file-system level).
 */
import { open, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

interface DirState {
  running: Promise<void> | undefined;
  next: Promise<void> | undefined;
}

export class DirSyncer {
  readonly #dirs = new Map<string, DirState>();

  /** Resolves once an fsync of `dir` that started after this call has finished. */
  sync(dir: string): Promise<void> {
    let state = this.#dirs.get(dir);
    if (!state) {
      state = { running: undefined, next: undefined };
      this.#dirs.set(dir, state);
    }
    if (!state.running) {
      state.running = this.#run(dir, state);
      return state.running;
    }
    // One is in flight and may have started before our rename: join the next.
    state.next ??= state.running
      .catch(() => undefined)
      .then(() => {
        state.next = undefined;
        state.running = this.#run(dir, state);
        return state.running;
      });
    return state.next;
  }

  async #run(dir: string, state: DirState): Promise<void> {
    try {
      await fsyncPath(dir);
    } finally {
      state.running = undefined;
      if (!state.next) this.#dirs.delete(dir);
    }
  }
}

export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a small file atomically and durably: temp file, fsync, rename, fsync dir. */
export async function writeFileDurable(path: string, data: string, mode = 0o644): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const handle = await open(tmp, 'w', mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  await fsyncPath(dirname(path));
}

/**
 * Appends a line to a record file (JSON lines) and syncs it: durable before
 * the caller goes on. After a line a crash tore, it starts on a line of its own.
 */
export async function appendLineDurably(file: string, line: string): Promise<void> {
  const handle = await open(file, 'a+', 0o640);
  try {
    const { size } = await handle.stat();
    const last = Buffer.alloc(1);
    if (size > 0) await handle.read(last, 0, 1, size - 1);
    await handle.writeFile((size > 0 && last[0] !== 0x0a ? '\n' : '') + line + '\n');
    await handle.sync();
  } finally {
    await handle.close();
  }
}
