/** Crashes, restarts and index loss: what was acknowledged survives, nothing partial shows. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readAuditLines } from '../src/audit/audit-reader.ts';
import { SwiftSession, TestDaemon, runCli, type Reply } from './helpers/daemon.ts';
import { md5 } from './helpers/hashes.ts';

/** A request sent again while the daemon sheds it (503 + Retry-After, on a loaded machine), as a client would. */
async function served(s: SwiftSession, ...args: Parameters<SwiftSession['req']>): Promise<Reply> {
  for (;;) {
    const res = await s.req(...args);
    if (res.status !== 503) return res;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function snapshot(s: SwiftSession) {
  const account = await served(s, 'HEAD', '');
  const containers = JSON.parse((await served(s, 'GET', '?format=json')).text) as { name: string; count: number; bytes: number }[];
  const state: Record<string, unknown> = {
    account: ['x-account-container-count', 'x-account-object-count', 'x-account-bytes-used'].map((h) => account.headers[h]),
  };
  for (const c of containers) {
    const head = await served(s, 'HEAD', `/${encodeURIComponent(c.name)}`);
    const meta = Object.entries(head.headers).filter(([k]) => k.startsWith('x-container-meta-') || k.startsWith('x-container-object') || k === 'x-container-bytes-used');
    const objects = JSON.parse((await served(s, 'GET', `/${encodeURIComponent(c.name)}?format=json`)).text) as { name: string }[];
    const objectState = [];
    for (const o of objects) {
      const h = await served(s, 'HEAD', `/${encodeURIComponent(c.name)}/${encodeURIComponent(o.name)}`);
      objectState.push([
        o,
        Object.entries(h.headers)
          .filter(([k]) => k.startsWith('x-object-meta-') || ['etag', 'content-type', 'content-length', 'x-edgecd-sha256'].includes(k))
          .sort(),
      ]);
    }
    state[c.name] = { container: c, meta: meta.sort(), objects: objectState };
  }
  return state;
}

describe('crash safety', () => {
  it('kill -9 during an upload leaves nothing visible and no temp file after restart', async () => {
    const daemon = await TestDaemon.start({ process: true });
    try {
      const s = await SwiftSession.open(daemon);
      await s.req('PUT', '/rec');
      /** A body that never ends, counting the chunks the request has taken. */
      async function* slow(taken: { chunks: number }) {
        for (;;) {
          yield randomBytes(256 * 1024);
          taken.chunks += 1;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      const tmpFiles = async () => (await readdir(join(daemon.dataDir, 'tmp'))).length;
      let upload: Promise<Reply | Error>;
      for (let attempt = 1; ; attempt++) {
        const taken = { chunks: 0 };
        let settled = false;
        upload = s
          .req('PUT', '/rec/partial.mkv', { 'Content-Length': String(64 * 1024 * 1024) }, slow(taken))
          .catch((err: Error) => err)
          .finally(() => (settled = true));
        // Bytes sent may still sit in socket buffers: wait until the daemon has written some, whatever the machine's speed.
        while (!settled && (taken.chunks < 8 || (await tmpFiles()) === 0)) await new Promise((r) => setTimeout(r, 10));
        if (!settled) break;
        // Ended before the crash: on a loaded machine the daemon sheds uploads (503 + Retry-After, or a reset
        // that loses the 503 when it closes a connection with unread body bytes). Send again, as a camera does.
        const early = await upload;
        const why = early instanceof Error ? early.message : `${early.status} ${early.text}`;
        assert.ok(attempt < 20 && (early instanceof Error || early.status === 503), `the upload ended before the crash: ${why}`);
        await new Promise((r) => setTimeout(r, early instanceof Error ? 1000 : Number(early.headers['retry-after'] ?? 1) * 1000));
      }
      assert.equal(await tmpFiles(), 1, 'the upload is in a temp file');
      await daemon.kill9();
      assert.ok((await upload) instanceof Error);

      const again = await TestDaemon.start({ dataDir: daemon.dataDir });
      const s2 = await SwiftSession.open(again);
      assert.equal((await s2.req('HEAD', '/rec/partial.mkv')).status, 404);
      assert.equal((await s2.req('HEAD', '/rec')).headers['x-container-object-count'], '0');
      assert.deepEqual(await readdir(join(again.dataDir, 'tmp')), []);
      assert.deepEqual(await readdir(join(again.dataDir, 'objects', 'bws', 'rec')), ['.edgecd-log.jsonl']);
      await again.cleanup();
    } finally {
      await daemon.cleanup();
    }
  });

  it('kill -9 amid concurrent uploads: every 201 survives intact, nothing else is half there', async () => {
    const daemon = await TestDaemon.start({ process: true });
    try {
      const s = await SwiftSession.open(daemon);
      await s.req('PUT', '/storm');
      const bodies = new Map<string, Buffer>();
      const acknowledged = new Set<string>();
      let stop = false;
      const worker = async (w: number) => {
        for (let i = 0; !stop; i++) {
          const name = `w${w}-${i}`;
          const body = randomBytes(1 + Math.floor(Math.random() * 300_000));
          bodies.set(name, body);
          const res = await s.req('PUT', `/storm/${name}`, { 'X-Object-Meta-N': name }, body).catch(() => undefined);
          if (res?.status === 201) acknowledged.add(name);
          // No answer: the daemon is gone, or (before the kill, on a loaded machine) shed this upload with a reset. A camera goes on.
          if (!res && !stop) await new Promise((r) => setTimeout(r, 200));
        }
      };
      const workers = Array.from({ length: 8 }, (_, w) => worker(w));
      while (acknowledged.size < 40) await new Promise((r) => setTimeout(r, 5));
      await daemon.kill9();
      stop = true;
      await Promise.all(workers);

      const again = await TestDaemon.start({ dataDir: daemon.dataDir });
      try {
        const s2 = await SwiftSession.open(again);
        const listed = JSON.parse((await s2.req('GET', '/storm?format=json')).text) as { name: string; bytes: number; hash: string }[];
        const names = new Set(listed.map((o) => o.name));
        for (const name of acknowledged) assert.ok(names.has(name), `acknowledged ${name} is missing`);
        for (const o of listed) {
          const get = await s2.req('GET', `/storm/${o.name}`);
          const body = bodies.get(o.name)!;
          assert.ok(get.body.equals(body), `${o.name} is not what was sent`);
          assert.equal(get.headers.etag, md5(body));
          assert.equal(get.headers['x-object-meta-n'], o.name);
        }
        const head = await s2.req('HEAD', '/storm');
        assert.equal(head.headers['x-container-object-count'], String(listed.length));
        assert.equal(head.headers['x-container-bytes-used'], String(listed.reduce((n, o) => n + o.bytes, 0)));
        assert.deepEqual(await readdir(join(again.dataDir, 'tmp')), []);
        // Custody: every 201 has its line, whether the trail took it before the kill or the restart restored it.
        const lines = new Map<string, number>();
        for await (const l of readAuditLines(join(again.dataDir, 'audit.jsonl'), (l) => l.action === 'object.put' && l.result === '201')) {
          const name = l.target!.split('/').pop()!;
          lines.set(name, (lines.get(name) ?? 0) + 1);
        }
        for (const name of acknowledged) assert.equal(lines.get(name), 1, `acknowledged ${name}: ${lines.get(name) ?? 'no'} audit lines`);
      } finally {
        // Also when an assertion fails: a daemon left running keeps the test process alive.
        await again.cleanup();
      }
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('reindex', () => {
  it('rebuilds an identical index from the disk after the index is deleted', async () => {
    const daemon = await TestDaemon.start();
    const s = await SwiftSession.open(daemon);
    // Every change must land.
    const change = async (...args: Parameters<SwiftSession['req']>) => {
      const res = await served(s, ...args);
      assert.ok(res.status >= 200 && res.status < 300, `${args[0]} ${args[1]}: ${res.status} ${res.text}`);
    };
    await change('PUT', '/Users');
    await change('PUT', '/Users/u1', { 'X-Object-Meta-Name': 'Officer' }, '');
    await change('PUT', '/Devices');
    await change('PUT', '/Devices/B100', { 'X-Object-Meta-Model': 'W110' }, '');
    await change('PUT', '/u1_B100_20240101T120000Z', { 'X-Container-Meta-Userid': 'u1', 'X-Container-Meta-Name': encodeURIComponent('Åsa Öberg') });
    await change('PUT', '/u1_B100_20240101T120000Z/20240101T120000Z_7.mkv', { 'X-Object-Meta-Starttime': '1704110400', 'Content-Type': 'video/x-matroska' }, randomBytes(50_000));
    await change('PUT', '/u1_B100_20240101T120000Z/' + encodeURIComponent('long '.repeat(80) + 'name'), {}, 'long');
    await change('PUT', '/u1_B100_20240101T120000Z/over', {}, 'first version');
    await change('PUT', '/u1_B100_20240101T120000Z/over', {}, 'second');
    await change('POST', '/u1_B100_20240101T120000Z/over', { 'X-Object-Meta-Replaced': 'yes' });
    await change('POST', '/u1_B100_20240101T120000Z', { 'X-Container-Meta-Status': 'Complete' });
    await change('PUT', '/Users/3f2c', { 'X-Object-Meta-Name': 'x', 'X-Object-Meta-Active': 'True' }, '');
    await change('PUT', '/empty');
    const before = await snapshot(s);
    assert.equal(await daemon.stop(), 0);

    await rm(join(daemon.dataDir, 'index'), { recursive: true });
    const result = await runCli(['reindex', '--data', daemon.dataDir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /4 containers, 6 objects/);
    assert.doesNotMatch(result.stdout, /warnings/);

    const again = await TestDaemon.start({ dataDir: daemon.dataDir });
    const s2 = await SwiftSession.open(again);
    assert.deepEqual(await snapshot(s2), before);
    await again.cleanup();
  });

  it('refuses while the daemon holds the index', async () => {
    const daemon = await TestDaemon.start();
    try {
      const result = await runCli(['reindex', '--data', daemon.dataDir]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /in use by another process/);
      assert.equal((await daemon.request('GET', '/healthcheck')).status, 200);
    } finally {
      await daemon.cleanup();
    }
  });

  it('--verify reports a data file whose bytes changed on disk', async () => {
    const daemon = await TestDaemon.start();
    const s = await SwiftSession.open(daemon);
    await s.req('PUT', '/evidence');
    await s.req('PUT', '/evidence/clip.mkv', {}, 'original bytes');
    await daemon.stop();
    const file = join(daemon.dataDir, 'objects', 'bws', 'evidence', 'clip.mkv');
    const tampered = Buffer.from(await readFile(file));
    tampered[0] = 0x4f;
    await writeFile(file, tampered);
    const result = await runCli(['reindex', '--data', daemon.dataDir, '--verify']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /evidence\/clip\.mkv: content differs from what was stored/);
    await rm(daemon.dataDir, { recursive: true, force: true });
  });
});
