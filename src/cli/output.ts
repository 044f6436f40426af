/**
 * How commands print for people: results on stdout, a transfer's progress on
 * stderr (so stdout stays a clean result to pipe).
 */

export const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : text + '\n');

export const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Bytes, rate and ETA on stderr: redrawn on a terminal, a line every few seconds otherwise. */
export function transferBar(started: number): ((done: number, total: number, extra: string) => void) & { done(): void } {
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  let drawn = false;
  const draw = (done: number, total: number, extra: string) => {
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 && total > done ? `${Math.ceil((total - done) / rate)} s left` : '';
    const share = total > 0 ? Math.min(1, done / total) : 1;
    const text = `${'#'.repeat(Math.round(share * 30)).padEnd(30, '.')} ${(share * 100).toFixed(0).padStart(3)}%  ${mb(done)}/${mb(total)}  ${mb(rate)}/s  ${eta}  ${extra}`;
    if (tty) {
      process.stderr.write(`\r${text}\x1b[K`);
      drawn = true;
    } else if (Date.now() - lastLine > 5000 || done >= total) {
      process.stderr.write(text + '\n');
      lastLine = Date.now();
    }
  };
  return Object.assign(draw, { done: () => drawn && process.stderr.write('\n') });
}
