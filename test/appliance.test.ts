/**
 * The production shape of the daemon: the systemd unit passes systemd's own
 * checks with a good exposure score, and the compiled build (plain node, no
 * tsx) serves.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from './helpers/daemon.ts';

const run = promisify(execFile);
const UNIT = join(ROOT, 'systemd/edgecd.service');
const analyze = existsSync('/usr/bin/systemd-analyze') ? false : 'systemd-analyze is not installed';

describe('systemd/edgecd.service', { skip: analyze }, () => {
  test('systemd-analyze verify finds nothing to complain about', async () => {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', UNIT]);
    assert.equal((stdout + stderr).trim(), '');
  });

  test('systemd-analyze security rates its exposure 2.0 or better (lower is safer)', async (t) => {
    const { stdout } = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT]);
    const score = Number(/Overall exposure level for edgecd\.service: ([\d.]+)/.exec(stdout)?.[1]);
    t.diagnostic(`exposure ${score}`);
    assert.ok(score <= 2.0, `exposure ${score}`);
  });
});

describe('the compiled build', () => {
  test('serves with plain node (no tsx), as the unit runs it', async () => {
    await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT });
    const dir = await mkdtemp(join(tmpdir(), 'edgecd-build-'));
    const child = spawn(process.execPath, [join(ROOT, 'dist/cli.js'), 'serve', '--data', dir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off', '--plain-http'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const entry = JSON.parse(line) as { msg?: string; listen?: string };
          if (entry.msg === 'ready') resolve(Number(entry.listen!.split(':').pop()));
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      const status = await new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/healthcheck' }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        }).on('error', reject).end();
      });
      assert.equal(status, 200);
      assert.ok(existsSync(join(dir, 'connection.json')));
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
