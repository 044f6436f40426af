/**
 * Real third-party Swift clients against the daemon: python-swiftclient's
 * `swift` CLI and rclone. CI installs both (.ci/run); a missing one fails.
 * They write as the body-worn system (an uploader) and read back as a
 * reader: an uploader may not read evidence.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { needs } from './helpers/peers.ts';
import { TEST_USERS, TestDaemon } from './helpers/daemon.ts';

const run = promisify(execFile);
let daemon: TestDaemon;
let work: string;
let authUrl: string;
let user: string;
let key: string;

before(async () => {
  daemon = await TestDaemon.start();
  work = await mkdtemp(join(tmpdir(), 'edgecd-interop-'));
  const file = await daemon.connectionFile();
  authUrl = file.AuthenticationTokenURI[0]!;
  user = file.BlobAPIUserName;
  key = file.BlobAPIKey;
});

after(async () => {
  await daemon.cleanup();
  await rm(work, { recursive: true, force: true });
});

describe('python-swiftclient', { skip: needs('swift') }, () => {
  const swift = (...args: string[]) => run('swift', ['-A', authUrl, '-U', user, '-K', key, ...args], { cwd: work });
  const clerk = (...args: string[]) => run('swift', ['-A', authUrl, '-U', TEST_USERS.reader.user, '-K', TEST_USERS.reader.key, ...args], { cwd: work });

  it('upload, list, stat, post and download round-trip byte for byte', async () => {
    await mkdir(join(work, 'swift-in'));
    const files = { 'clip1.mkv': randomBytes(3 * 1024 * 1024 + 7), 'notes.txt': Buffer.from('Åsa är här\n') };
    for (const [name, body] of Object.entries(files)) await writeFile(join(work, 'swift-in', name), body);

    await swift('upload', 'evidence', 'swift-in/clip1.mkv', 'swift-in/notes.txt');
    const list = await clerk('list', 'evidence');
    assert.deepEqual(list.stdout.trim().split('\n'), ['swift-in/clip1.mkv', 'swift-in/notes.txt']);
    await assert.rejects(swift('list', 'evidence'), 'the camera system may not list');
    const containers = await clerk('list');
    assert.match(containers.stdout, /^evidence$/m);

    await swift('post', '-m', 'Status:Complete', 'evidence');
    const stat = await swift('stat', 'evidence');
    assert.match(stat.stdout, /Objects: 2/);
    assert.match(stat.stdout, /Meta Status: Complete/);
    const objectStat = await swift('stat', 'evidence', 'swift-in/clip1.mkv');
    assert.match(objectStat.stdout, new RegExp(`Content Length: ${files['clip1.mkv'].length}`));
    const account = await swift('stat');
    assert.match(account.stdout, /Containers: 1/);

    await mkdir(join(work, 'swift-out'));
    await assert.rejects(swift('download', 'evidence', 'swift-in/notes.txt', '-o', join(work, 'denied.txt')), 'the camera system may not read evidence back');
    await clerk('download', 'evidence', '-D', join(work, 'swift-out'));
    for (const [name, body] of Object.entries(files)) {
      assert.ok((await readFile(join(work, 'swift-out', 'swift-in', name))).equals(body), name);
    }
  });
});

describe('rclone', { skip: needs('rclone') }, () => {
  // The remote "edge:" is defined by environment, so no rclone.conf is read or written.
  // "edge:" writes as the camera system, "clerk:" reads as a reader.
  const rclone = (...args: string[]) =>
    run('rclone', ['--config', '/dev/null', ...args], {
      env: {
        ...process.env,
        RCLONE_CONFIG_EDGE_TYPE: 'swift',
        RCLONE_CONFIG_EDGE_AUTH: authUrl,
        RCLONE_CONFIG_EDGE_USER: user,
        RCLONE_CONFIG_EDGE_KEY: key,
        RCLONE_CONFIG_EDGE_AUTH_VERSION: '1',
        RCLONE_CONFIG_CLERK_TYPE: 'swift',
        RCLONE_CONFIG_CLERK_AUTH: authUrl,
        RCLONE_CONFIG_CLERK_USER: TEST_USERS.reader.user,
        RCLONE_CONFIG_CLERK_KEY: TEST_USERS.reader.key,
        RCLONE_CONFIG_CLERK_AUTH_VERSION: '1',
      },
    });

  it('copy and check agree, and a copy back is byte-identical', async () => {
    const src = join(work, 'rclone-in');
    await mkdir(join(src, 'sub'), { recursive: true });
    const files: Record<string, Buffer> = {
      'a.mkv': randomBytes(2 * 1024 * 1024),
      'sub/b.json': Buffer.from('{"CoordinateEntries":[]}'),
      'empty.key': Buffer.alloc(0),
    };
    for (const [name, body] of Object.entries(files)) await writeFile(join(src, name), body);

    // An uploader cannot list what is there, so rclone must not look first.
    await rclone('copy', '--no-check-dest', src, 'edge:rclone-target');
    await rclone('check', src, 'clerk:rclone-target');
    const back = join(work, 'rclone-out');
    await rclone('copy', 'clerk:rclone-target', back);
    for (const [name, body] of Object.entries(files)) assert.ok((await readFile(join(back, name))).equals(body), name);

    // check must fail when the remote differs: it is not a rubber stamp.
    await writeFile(join(src, 'a.mkv'), randomBytes(10));
    await assert.rejects(rclone('check', src, 'clerk:rclone-target'));
  });
});
