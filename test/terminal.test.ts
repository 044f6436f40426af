/**
 * What a person sees who starts edgecd at a terminal the way the README says
 * (`npm start`): a banner saying where to connect and what to do first, and
 * readable log lines; and that following the banner reaches the console.
 * Without a terminal (systemd, a pipe) the output stays JSON lines.
 */
import assert from 'node:assert/strict';
import { type ChildProcessByStdio, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { after, it } from 'node:test';
import { ROOT } from './helpers/root.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** `serve` as package.json's start script runs it, with the environment npm gives it or not. */
function serve(dataDir: string, npmStart: boolean): ChildProcessByStdio<null, Readable, Readable> {
  const env = { ...process.env };
  delete env.npm_lifecycle_event;
  if (npmStart) env.npm_lifecycle_event = 'start';
  return spawn(join(ROOT, 'node_modules/.bin/tsx'), ['src/cli.ts', 'serve', '--data', dataDir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off', '--plain-http'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Lines of stdout until `last` matches one; the child keeps running. */
async function linesUntil(child: ChildProcessByStdio<null, Readable, Readable>, last: RegExp): Promise<string[]> {
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`serve exited ${code} before ${last}: ${stderr}`))));
  const reader = createInterface({ input: child.stdout });
  const found = (async () => {
    for await (const line of reader) {
      lines.push(line);
      if (last.test(line)) return lines;
    }
    throw new Error(`stdout ended before ${last}: ${lines.join('\n')}`);
  })();
  return Promise.race([found, exited]);
}

async function stop(child: ChildProcessByStdio<null, Readable, Readable>): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

it('npm start prints a banner to follow to the console, and readable log lines; a pipe gets JSON', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'edgecd-terminal-'));
  dirs.push(dataDir);
  const daemon = serve(dataDir, true);
  try {
    // Stops at a JSON 'ready' too: then there is no banner, and the test fails at once rather than wait.
    const lines = await linesUntil(daemon, /log in with it|"msg":"ready"/);
    const text = lines.join('\n');
    assert.match(text, /INFO: ready/, 'log lines are for people');
    assert.ok(!lines.some((l) => l.startsWith('{')), `no JSON lines at a terminal:\n${text}`);
    assert.match(text, new RegExp(`connection file  ${join(dataDir, 'connection.json')}`));
    assert.match(text, /NTP {14}not served/);
    const consoleUrl = /web console {6}(http:\/\/127\.0\.0\.1:\d+\/console)$/m.exec(text)?.[1];
    assert.ok(consoleUrl, text);
    const command = /^ {2}(npx tsx src\/cli\.ts user add NAME --role admin --data \S+)$/m.exec(text)?.[1];
    assert.ok(command, text);

    // Follow it: the command it names, then the console with the key that command printed.
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
      execFile('sh', ['-c', command.replace('NAME', 'alice')], { cwd: ROOT }, (err, stdout) => (err ? reject(err) : resolve({ stdout }))),
    );
    const key = /key \(shown once, store it now\): (\S+)/.exec(stdout)?.[1];
    assert.ok(key, stdout);
    const origin = new URL(consoleUrl).origin;
    const login = await fetch(`${consoleUrl}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { Origin: origin, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user: 'alice', key }),
    });
    const cookie = login.headers.get('set-cookie')?.split(';')[0];
    assert.ok(cookie, `console login answered ${login.status}`);
    const station = await fetch(`${origin}${login.headers.get('location')}`, { headers: { Cookie: cookie } });
    assert.equal(station.status, 200);
    assert.match(await station.text(), /alice/);
  } finally {
    await stop(daemon);
  }

  const piped = serve(dataDir, false);
  try {
    const lines = await linesUntil(piped, /"msg":"ready"/);
    assert.ok(
      lines.every((l) => JSON.parse(l).service === 'edgecd'),
      'every line is a JSON log record, as journald gets them',
    );
  } finally {
    await stop(piped);
  }
});
