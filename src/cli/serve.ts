/**
 * `serve`: runs the daemon in this process until SIGTERM or SIGINT. Under
 * systemd (or any pipe) the daemon logs JSON lines and nothing else is
 * printed. At a terminal, and under `npm start`, it logs readable lines and
 * first prints where to connect and what to do first.
 */
import { relative, resolve } from 'node:path';
import { paths, reachableHosts } from '../admin/data-dir.ts';
import { startDaemon, type Daemon } from '../daemon.ts';
import { readableDestination } from '../lib/log.ts';
import { VERSION } from '../lib/version.ts';
import { need, type Command } from './args.ts';
import { out } from './output.ts';

export const serveCommands: Record<string, Command> = {
  serve: {
    options: { data: { type: 'string' }, listen: { type: 'string' }, 'ntp-listen': { type: 'string' }, config: { type: 'string' }, 'plain-http': { type: 'boolean' } },
    async run(v) {
      const forPeople = process.stdout.isTTY === true || process.env.npm_lifecycle_event === 'start';
      const dataDir = resolve(need(v, 'data'));
      const daemon = await startDaemon({
        dataDir,
        listen: v.listen as string | undefined,
        ntpListen: v['ntp-listen'] as string | undefined,
        configFile: v.config as string | undefined,
        plaintext: v['plain-http'] === true,
        ...(forPeople ? { logTo: await readableDestination() } : {}),
      });
      if (forPeople) out(startBanner(daemon, dataDir));
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

/** Where to connect and the first thing to do, for whoever just started edgecd at a terminal. */
export function startBanner(daemon: Daemon, dataDir: string): string {
  // The first address the connection file offers the cameras: on a wildcard listener, not the wildcard.
  const host = reachableHosts(daemon.address)[0]!;
  const base = `${daemon.https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${daemon.address.port}`;
  // From a checkout (npm start) there is no `edgecd` on the PATH yet.
  const fromSource = process.argv[1]?.endsWith('.ts') === true;
  const edgecd = fromSource ? 'npx tsx src/cli.ts' : 'edgecd';
  const data = fromSource && !relative(process.cwd(), dataDir).startsWith('..') ? `./${relative(process.cwd(), dataDir)}` : dataDir;
  return [
    '',
    `edgecd ${VERSION} is serving${daemon.https ? '' : ' plain HTTP (development only)'}`,
    `  Swift API        ${base}/auth/v1.0`,
    `  web console      ${base}/console`,
    `  connection file  ${paths(dataDir).connection}   (upload it in the Body Worn Manager)`,
    `  NTP              ${daemon.ntp ? `served on ${daemon.ntp}` : 'not served'}`,
    '',
    'First, make yourself an account for the console (its key is shown once):',
    `  ${edgecd} user add NAME --role admin --data ${data}`,
    `Then open ${base}/console and log in with it. '${edgecd} help' lists every command.`,
    '',
  ].join('\n');
}
