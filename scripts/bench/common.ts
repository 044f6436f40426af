/** What every part of the benchmark shares: where it runs, its scale, and its processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const SCALE = Number(process.env.BENCH_SCALE ?? 1);
export const MiB = 1024 * 1024;

export const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

export interface Server {
  child: ChildProcess;
  port: number;
}

/** Starts node with `args` in the repository (with `env` added); `ready` picks the port from a line of its stdout. */
export async function startProcess(args: string[], ready: (line: string) => number | undefined, env: Record<string, string> = {}): Promise<Server> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    let found = false;
    lines.on('line', (line) => {
      const port = found ? undefined : ready(line);
      if (port !== undefined) {
        found = true;
        resolve(port);
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
  return { child, port };
}

/** A process's resident memory now, and its peak (VmHWM) since it started or since clear_refs. */
export async function rssOf(pid: number): Promise<{ rssMB: number; peakMB: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
  return { rssMB: round(kb('VmRSS') / 1024), peakMB: round(kb('VmHWM') / 1024) };
}

/** Calls per second: `total` calls, `concurrency` in flight, each must answer `expect`. */
export async function rate(concurrency: number, total: number, one: (i: number) => Promise<number>, expect: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const status = await one(next++);
        if (status !== expect) throw new Error(`status ${status}, expected ${expect}`);
      }
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

/**
 * The disk's own rate of durable small writes: create, write 1 KiB, fdatasync,
 * close; 32 at a time, into a new directory under `dir`. The files stay until
 * the bench removes `dir` at its end: ext4 without a journal (this bench
 * machine's disk) skips inodes freed in the last 30–60 s when it allocates
 * new ones, and deleting them here would slow the server measured next (its
 * thread pool's CPU per 1 KiB PUT went up almost fourfold, in the kernel's
 * recently_deleted).
 */
export async function fsyncedFilesPerSecond(dir: string, total: number): Promise<number> {
  const into = await mkdtemp(join(dir, 'fsynced-'));
  const body = Buffer.alloc(1024, 7);
  return rate(
    32,
    total,
    async (i) => {
      const file = await open(join(into, `small-${i}`), 'w');
      await file.write(body);
      await file.datasync();
      await file.close();
      return 0;
    },
    0,
  );
}
