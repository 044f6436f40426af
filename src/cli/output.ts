/**
 * How commands print for people: results on stdout, a transfer's progress on
 * stderr (so stdout stays a clean result to pipe). A command run inside
 * another program (a test) prints to the sinks `withOutput` gives it instead.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { DestinationStream } from '../lib/log.ts';

export interface CliOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

const redirected = new AsyncLocalStorage<CliOutput>();

/** Runs `work` with every command output inside it going to `output`. */
export function withOutput<T>(output: CliOutput, work: () => Promise<T>): Promise<T> {
  return redirected.run(output, work);
}

const stdout = (text: string) => (redirected.getStore() ? redirected.getStore()!.stdout(text) : process.stdout.write(text));
const stderr = (text: string) => (redirected.getStore() ? redirected.getStore()!.stderr(text) : process.stderr.write(text));

export const out = (text: string) => stdout(text.endsWith('\n') ? text : text + '\n');

/** A line on stderr: progress and reasons, never a result. */
export const say = (text: string) => stderr(text.endsWith('\n') ? text : text + '\n');

/** Where a command's own log lines go: stdout, or the redirected stdout. */
export const logDestination = (): DestinationStream | undefined => {
  const output = redirected.getStore();
  return output ? { write: (line: string) => output.stdout(line) } : undefined;
};

export const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Bytes, rate and ETA on stderr: redrawn on a terminal, a line every few seconds otherwise. */
export function transferBar(started: number): ((done: number, total: number, extra: string) => void) & { done(): void } {
  const tty = !redirected.getStore() && process.stderr.isTTY === true;
  let lastLine = 0;
  let drawn = false;
  const draw = (done: number, total: number, extra: string) => {
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 && total > done ? `${Math.ceil((total - done) / rate)} s left` : '';
    const share = total > 0 ? Math.min(1, done / total) : 1;
    const text = `${'#'.repeat(Math.round(share * 30)).padEnd(30, '.')} ${(share * 100).toFixed(0).padStart(3)}%  ${mb(done)}/${mb(total)}  ${mb(rate)}/s  ${eta}  ${extra}`;
    if (tty) {
      stderr(`\r${text}\x1b[K`);
      drawn = true;
    } else if (Date.now() - lastLine > 5000 || done >= total) {
      stderr(text + '\n');
      lastLine = Date.now();
    }
  };
  return Object.assign(draw, { done: () => drawn && stderr('\n') });
}
