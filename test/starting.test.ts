/** While the daemon starts (journal replay, temp clean-up) it answers 503 + Retry-After, never a refused connection. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { it } from 'node:test';
import { CLI_ARGS, ROOT, TestDaemon } from './helpers/daemon.ts';

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

it('answers 503 + Retry-After until ready, then 200', { timeout: 300_000 }, async () => {
  const first = await TestDaemon.start();
  await first.stop();
  // Many unfinished uploads to clear makes the start slow enough to watch.
  for (let batch = 0; batch < 40; batch++) {
    await Promise.all(Array.from({ length: 1000 }, (_, i) => writeFile(join(first.dataDir, 'tmp', `cut-off-${batch}-${i}.part`), '')));
  }
  const port = await freePort();
  const child = spawn(process.execPath, [...CLI_ARGS, 'serve', '--data', first.dataDir, '--listen', `127.0.0.1:${port}`, '--ntp-listen', 'off', '--plain-http'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  // The daemon says when it is ready (or it exits): polling goes on until then, however slow the machine.
  let ready = false;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    if (line.includes('"msg":"ready"')) ready = true;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    const seen: number[] = [];
    let retryAfter: string | undefined;
    while (!gone) {
      const wasReady = ready;
      const res = await get(port, '/v1/AUTH_bws');
      const health = await get(port, '/healthcheck');
      if (res?.status === 503) retryAfter ??= res.retryAfter;
      if (res) seen.push(res.status);
      if (wasReady && health?.status === 200) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(!gone, 'the daemon exited while starting');
    assert.ok(seen.includes(503), `statuses while starting: ${[...new Set(seen)].join(',')}`);
    assert.ok(Number(retryAfter) >= 1);
    assert.equal((await get(port, '/healthcheck'))?.status, 200);
    assert.equal((await get(port, '/v1/AUTH_bws'))?.status, 401, 'then the API proper (no token: 401)');
  } finally {
    child.kill('SIGTERM');
    await exited;
    await first.cleanup();
  }
});
