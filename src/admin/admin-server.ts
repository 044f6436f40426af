/**
 * The admin endpoint: HTTP on a Unix socket in the data directory (0600, so
 * only the daemon's user reaches it). LevelDB admits one process, so CLI
 * commands that need the index while the daemon runs ask it here.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import type { Logger } from '../log.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { stationStatus } from '../status.ts';
import { listRecordings, type RecordingFilter } from '../bws/recordings.ts';

export interface AdminServer {
  close(): Promise<void>;
}

export async function startAdminServer(options: { socketPath: string; store: ObjectStore; log: Logger }): Promise<AdminServer> {
  const app = new Hono();
  app.get('/status', async (c) => c.json(await stationStatus(options.store, 'daemon')));
  app.get('/recordings', async (c) => {
    const q = c.req.query();
    const filter = JSON.parse(q.filter ?? '{}') as RecordingFilter;
    return c.json(await listRecordings(options.store, q.account ?? '', filter));
  });
  const server = createServer(getRequestListener(app.fetch));
  // We hold the index lock, so a socket file left here belongs to a dead daemon.
  await rm(options.socketPath, { force: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.socketPath, () => resolve());
    });
    await chmod(options.socketPath, 0o600);
  } catch (err) {
    options.log.warn({ err, socket: options.socketPath }, 'admin socket unavailable; CLI commands need the daemon stopped');
    return { close: async () => undefined };
  }
  return {
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(options.socketPath, { force: true });
    },
  };
}
