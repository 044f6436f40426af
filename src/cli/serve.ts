/**
 * `serve`: runs the daemon in this process until SIGTERM or SIGINT. The
 * daemon logs JSON through its pino logger; nothing here prints.
 */
import { resolve } from 'node:path';
import { startDaemon } from '../daemon.ts';
import { need, type Command } from './args.ts';

export const serveCommands: Record<string, Command> = {
  serve: {
    options: { data: { type: 'string' }, listen: { type: 'string' }, 'ntp-listen': { type: 'string' }, config: { type: 'string' }, 'plain-http': { type: 'boolean' } },
    async run(v) {
      const daemon = await startDaemon({
        dataDir: resolve(need(v, 'data')),
        listen: v.listen as string | undefined,
        ntpListen: v['ntp-listen'] as string | undefined,
        configFile: v.config as string | undefined,
        plaintext: v['plain-http'] === true,
      });
      await new Promise<void>((done) => {
        const stop = (signal: string) => {
          daemon.log.info({ signal }, 'signal received');
          void daemon.close().then(done);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      return 0;
    },
  },
};
