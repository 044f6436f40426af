/** The daemon's structured logger: pino, JSON lines on stdout. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  // Asynchronous writes keep logging off the request path; flushed on exit.
  const destination = pino.destination({ dest: 1, sync: false });
  const log = pino({ level, base: { service: 'edgecd' } }, destination);
  process.once('exit', () => destination.flushSync());
  return log;
}
