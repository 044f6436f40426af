/** Talks to a running daemon's admin socket; `undefined` when no daemon answers. */
import { request } from 'node:http';

export function adminGet<T>(socketPath: string, path: string): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`daemon answered ${res.statusCode}: ${text}`));
        else resolve(JSON.parse(text) as T);
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      else reject(err);
    });
    req.end();
  });
}

/**
 * POSTs to the admin socket and hands each JSON line of the answer to
 * `onLine`; `false` when no daemon answers.
 */
export function adminStream(socketPath: string, path: string, onLine: (line: unknown) => void): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'POST' }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`daemon answered ${res.statusCode}`));
        res.resume();
        return;
      }
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        for (let cut = buffered.indexOf('\n'); cut !== -1; cut = buffered.indexOf('\n')) {
          onLine(JSON.parse(buffered.slice(0, cut)));
          buffered = buffered.slice(cut + 1);
        }
      });
      res.on('end', () => resolve(true));
      res.on('error', reject);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(false);
      else reject(err);
    });
    req.end();
  });
}

/** POSTs JSON to the admin socket and returns the JSON answer; `undefined` when no daemon answers. */
export function adminPost<T>(socketPath: string, path: string, body: unknown): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T);
        } catch (err) {
          reject(new Error(`daemon answered ${res.statusCode}: ${(err as Error).message}`));
        }
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      else reject(err);
    });
    req.end(JSON.stringify(body));
  });
}
