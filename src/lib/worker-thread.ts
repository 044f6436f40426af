/** Starting a worker thread from a module beside the caller, compiled (dist/) or from TypeScript sources (tsx). */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * `name` is the worker module's file name without extension, beside `callerUrl`
 * (the caller's import.meta.url). From TypeScript sources the worker registers
 * tsx first, as the caller's process did.
 */
export function startWorker(callerUrl: string, name: string, options: WorkerOptions = {}): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), options);
  const source = new URL(`./${name}.ts`, callerUrl).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(source)}); })`, { ...options, eval: true });
}
