/**
 * The admin endpoint: HTTP on a Unix socket in the data directory (0600, so
 * only the daemon's user reaches it). LevelDB admits one process, so CLI
 * commands that need the index while the daemon runs ask it here.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { statusOf } from '../lib/errors.ts';
import { listUsers, type UserChange } from '../auth/users.ts';
import { paths } from './data-dir.ts';
import { applyUserChange, renewCertificates, type OperationContext } from './operations.ts';
import type { Logger } from '../lib/log.ts';
import type { Replicator } from '../replication/replicator.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { storeStatus } from '../health/station.ts';
import { listRecordings, type RecordingFilter } from '../bws/recordings.ts';
import { withVideoVerdicts } from '../authenticity/video-custody.ts';
import { type HoldContext, type HoldRequest, runHoldRequest } from '../lifecycle/hold-operations.ts';
import { HoldBook } from '../lifecycle/holds.ts';
import { planDays } from '../lifecycle/plan.ts';
import type { RetentionJob } from '../lifecycle/deletion.ts';
import { VideoLedger } from '../authenticity/video-ledger.ts';

export interface AdminServer {
  close(): Promise<void>;
}

export interface AdminServerOptions {
  socketPath: string;
  store: ObjectStore;
  replicator: Replicator;
  retention: RetentionJob;
  /** Where custodians' holds are written and audited (the console's too). */
  holds: HoldContext;
  operations: OperationContext;
  log: Logger;
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const app = new Hono();
  app.get('/status', async (c) => c.json(await storeStatus(options.store, 'daemon')));
  app.get('/recordings', async (c) => {
    const q = c.req.query();
    const filter = JSON.parse(q.filter ?? '{}') as RecordingFilter;
    const account = q.account ?? '';
    return c.json(await withVideoVerdicts(VideoLedger.of(options.store.index), account, await listRecordings(options.store, account, filter)));
  });
  app.get('/replication', async (c) => c.json(await options.replicator.status()));
  // Changes made for a local operator: the socket is 0600, so the caller is the daemon's user.
  const operation = (run: (body: { actor?: string; change?: UserChange; request?: unknown }) => Promise<unknown>) => async (c: Context) => {
    try {
      return c.json(await run(await c.req.json()));
    } catch (err) {
      const status = statusOf(err);
      if (status >= 500) options.log.error({ err }, 'admin operation failed');
      return c.json({ error: (err as Error).message }, status as ContentfulStatusCode);
    }
  };
  app.get('/retention/plan', async (c) => {
    const days = planDays(c.req.query('days'));
    if (days === undefined) return c.json({ error: 'days: a whole number of days, 0 to 36500' }, 400);
    return c.json(await options.retention.plan(days));
  });
  app.post(
    '/retention/run',
    operation(() => options.retention.run()),
  );
  app.get('/retention/summary', async (c) => c.json(await options.retention.weeklySummary()));
  app.get('/holds', async (c) => c.json(await HoldBook.of(options.store.index).list({ released: c.req.query('released') === '1' })));
  app.post(
    '/holds',
    operation((body) => runHoldRequest(options.holds, (body as { request: HoldRequest }).request, 'admin-socket')),
  );
  app.get('/users', async (c) => c.json(await listUsers(paths(options.operations.dir).credentials)));
  app.post(
    '/users',
    operation((body) => applyUserChange(options.operations, body.change!, body.actor ?? 'cli', 'admin-socket')),
  );
  app.post(
    '/cert/renew',
    operation((body) => renewCertificates(options.operations, body.actor ?? 'cli', 'admin-socket')),
  );
  // One pass now; progress and the final report stream back as JSON lines.
  app.post('/replicate', (c) => {
    const target = c.req.query('target');
    const retryFailed = c.req.query('retryFailed') === '1';
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        // The CLI may go away (Ctrl-C): the pass goes on, unheard.
        let listening = true;
        const send = (line: object) => {
          if (!listening) return;
          try {
            controller.enqueue(encoder.encode(JSON.stringify(line) + '\n'));
          } catch {
            listening = false;
          }
        };
        let last = 0;
        try {
          const reports = await options.replicator.runNow({
            ...(target ? { target } : {}),
            retryFailed,
            onProgress: (progress) => {
              const now = Date.now();
              if (now - last < 200 && progress.jobsDone < progress.jobsTotal) return;
              last = now;
              send({ progress });
            },
          });
          send({ reports });
        } catch (err) {
          send({ error: (err as Error).message });
        }
        if (listening) {
          try {
            controller.close();
          } catch {
            // cancelled meanwhile
          }
        }
      },
      cancel() {
        // Nothing to stop: the pass finishes and records its outcome as usual.
      },
    });
    return c.body(body, 200, { 'Content-Type': 'application/x-ndjson' });
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
