/** While the daemon starts (journal replay, temp clean-up) it answers 503 + Retry-After, never a refused connection. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { it } from 'node:test';
import { startDaemon } from '../src/daemon.ts';
import { TestDaemon } from './helpers/daemon.ts';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

const get = (port: number, path: string) =>
  new Promise<{ status: number; retryAfter?: string } | undefined>((resolve) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined });
    })
      .on('error', () => resolve(undefined))
      .end();
  });

it('answers 503 + Retry-After until ready, then 200', async () => {
  const first = await TestDaemon.start();
  await first.stop();
  const port = await freePort();
  // The start is held where a long journal replay or temp clean-up would be, for as long as the test looks.
  let listening!: () => void;
  const held = new Promise<void>((resolve) => (listening = resolve));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const logLines: string[] = [];
  const starting = startDaemon({
    dataDir: first.dataDir,
    listen: `127.0.0.1:${port}`,
    ntpListen: 'off',
    plaintext: true,
    logTo: { write: (line: string) => void logLines.push(line) },
    beforeStoreOpens: () => {
      listening();
      return gate;
    },
  });
  try {
    await held;
    for (const path of ['/v1/AUTH_bws', '/healthcheck', '/auth/v1.0']) {
      const res = await get(port, path);
      assert.equal(res?.status, 503, `${path} while starting`);
      assert.ok(Number(res.retryAfter) >= 1, `${path}: Retry-After ${res.retryAfter}`);
    }
    assert.ok(!logLines.some((l) => l.includes('"msg":"ready"')), 'not ready while held');
    release();
    const daemon = await starting;
    try {
      assert.ok(logLines.some((l) => l.includes('"msg":"ready"')));
      assert.equal((await get(port, '/healthcheck'))?.status, 200);
      assert.equal((await get(port, '/v1/AUTH_bws'))?.status, 401, 'then the API proper (no token: 401)');
    } finally {
      await daemon.close();
    }
  } finally {
    release();
    await first.cleanup();
  }
});
