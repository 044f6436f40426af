/** The daemon's structured logger: pino, JSON lines on stdout (readable lines at a terminal). */
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

/**
 * Log lines for a person at a terminal: time, level, message, then the
 * fields, through pino-pretty (loaded only here, so journald's JSON path
 * never loads it). Written synchronously: a terminal is not the hot path.
 */
export async function readableDestination(): Promise<DestinationStream> {
  const { default: pretty } = await import('pino-pretty');
  return pretty({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,service', singleLine: true, sync: true, destination: 1 });
}
