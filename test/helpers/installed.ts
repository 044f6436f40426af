/** An installed build (install.sh's or the Debian package's) run as its service user, and HTTPS to it trusting one certificate. */
import { type ChildProcess, spawn } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';

/** setpriv's arguments that run `cli` (an installed dist/cli.js) as uid:gid with the test's node. */
export const asServiceUser = (uid: number, gid: number, cli: string) => ['--reuid', String(uid), '--regid', String(gid), '--clear-groups', process.execPath, cli];

/** Starts `serve` as the service user; resolves once it logs 'ready'. Stop it with stopServing. */
export async function serveAsService(asService: string[], args: string[]): Promise<ChildProcess> {
  const child = spawn('setpriv', [...asService, 'serve', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if ((JSON.parse(line) as { msg?: string }).msg === 'ready') resolve();
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
  } catch (err) {
    await stopServing(child);
    throw err;
  }
  return child;
}

export async function stopServing(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** One HTTPS request trusting only `ca` (the certificate the connection file pins). */
export function httpsGet(url: string, ca: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    httpsRequest(url, { ca, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    })
      .on('error', reject)
      .end();
  });
}
