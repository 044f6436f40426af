/** The daemon's structured logger: pino, JSON lines on stdout. */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { DestinationStream, Logger };

/** A logger writing to stdout, or to `to` (a daemon run inside another program, such as a test). */
export function createLogger(level: string, to?: DestinationStream): Logger {
  if (to) return pino({ level, base: { service: 'edgecd' } }, to);
  // Asynchronous writes keep logging off the request path; flushed on exit.
  const destination = pino.destination({ dest: 1, sync: false });
  const log = pino({ level, base: { service: 'edgecd' } }, destination);
  process.once('exit', () => destination.flushSync());
  return log;
}
