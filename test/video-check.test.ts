/**
 * Signed video at ingest, as a station meets it: a simulated body-worn system
 * uploads a signed MKV and an altered one (Axis's test clip, and the same clip
 * with three bytes of a P-slice flipped); after the seal the station checks
 * both in the background, and the verdicts reach the audit trail, /status,
 * /metrics, `edgecd recordings`, the console, and a clerk's pull (custody.json,
 * checked again at the clerk's end with --verify-video).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { skipOrFail } from './helpers/peers.ts';
import { ROOT, runCli, SwiftSession, TEST_USERS, TestDaemon } from './helpers/daemon.ts';
import { centralTarget, replicateNow, startEdge } from './helpers/replication.ts';

const CORPUS = [join(ROOT, '../shared/signed-video/corpus'), '/work/shared/signed-video/corpus'].find((d) => existsSync(d));
const SIGNED = 'signed_test_h264.mkv';
const ALTERED = 'signed_test_h264_tamper_pframe_bytes.mkv';
const skip = CORPUS ? false : skipOrFail('the signed-video corpus (../shared/signed-video/corpus) is not here');

interface VideoStatus {
  queued: number;
  last24h: { recordings: Record<string, number>; clips: number; alarms: string[] };
}

describe('signed video checked at ingest', { skip }, () => {
  let daemon: TestDaemon;
  let recording: string;
  let clips: string[];
  let work: string;
  let adminToken: string;

  const status = async () => {
    const res = await daemon.request('GET', '/status', { 'X-Auth-Token': adminToken });
    assert.equal(res.status, 200);
    return JSON.parse(res.text) as { video: VideoStatus };
  };

  before(async () => {
    daemon = await TestDaemon.start();
    work = await mkdtemp(join(tmpdir(), 'edgecd-video-'));
    adminToken = (await daemon.auth('admin')).token;
    const connection = join(daemon.dataDir, 'connection.json');
    const files = [SIGNED, ALTERED].flatMap((f) => ['--clip-file', join(CORPUS!, f)]);
    const res = await runCli(['simulate', '--connection', connection, '--users', '1', '--devices', '1', '--recordings', '1', '--clips', '2', ...files]);
    assert.equal(res.code, 0, res.stderr);
    recording = (JSON.parse(res.stdout) as { recordings: string[] }).recordings[0]!;
    const listed = await (await SwiftSession.open(daemon)).req('GET', `/${recording}?format=json`);
    clips = (JSON.parse(listed.text) as { name: string }[]).map((o) => o.name).filter((n) => n.endsWith('.mkv'));
    assert.equal(clips.length, 2);
    // The check runs after the seal's 201, in the background: wait until /status shows both clips checked.
    for (;;) {
      const { video } = await status();
      if (video.queued === 0 && video.last24h.clips >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  after(async () => {
    await daemon?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('the audit trail holds both verdicts, with the signing key', async () => {
    const res = await runCli(['audit', 'show', '--recording', recording, '--data', daemon.dataDir]);
    assert.equal(res.code, 0, res.stderr);
    const verified = res.stdout.split('\n').filter((l) => l.includes('video.verified'));
    assert.equal(verified.length, 2, res.stdout);
    assert.ok(
      verified.some((l) => /authentic/.test(l) && l.includes(clips[0]!)),
      res.stdout,
    );
    assert.ok(
      verified.some((l) => /tampered/.test(l) && l.includes(clips[1]!)),
      res.stdout,
    );
  });

  test('/status and /metrics count the tampered recording and raise the alarm', async () => {
    const { video } = await status();
    assert.equal(video.last24h.recordings.tampered, 1);
    assert.equal(video.last24h.alarms.length, 1);
    assert.ok(video.last24h.alarms[0]!.endsWith(`/${recording}`), video.last24h.alarms[0]);
    const metrics = await daemon.request('GET', '/metrics', { 'X-Auth-Token': adminToken });
    assert.match(metrics.text, /^edgecd_video_recordings_24h\{verdict="tampered"\} 1$/m);
    assert.match(metrics.text, /^edgecd_video_alarm 1$/m);
    assert.ok(daemon.logLines.some((l) => l.includes('video alarm')));
  });

  test('edgecd recordings shows each clip and the recording as tampered', async () => {
    const res = await runCli(['recordings', '--data', daemon.dataDir]);
    assert.equal(res.code, 0, res.stderr);
    const r = (
      JSON.parse(res.stdout) as { recordings: { name: string; video: { verdict: string; clips: Record<string, { verdict: string; firstInvalidFrame: number }> } }[] }
    ).recordings.find((x) => x.name === recording)!;
    assert.equal(r.video.verdict, 'tampered');
    assert.equal(r.video.clips[clips[0]!]!.verdict, 'authentic');
    assert.equal(r.video.clips[clips[1]!]!.verdict, 'tampered');
    assert.equal(r.video.clips[clips[1]!]!.firstInvalidFrame, 158, 'the reference library fails this clip at frame 158');
  });

  test('the console shows a badge per clip, the recording as tampered, and a GOP strip', async () => {
    const reader = await daemon.consoleSession(TEST_USERS.reader.user, TEST_USERS.reader.key);
    const page = await fetch(`${daemon.base}/console/recordings/${encodeURIComponent(recording)}`, { headers: reader });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<dd data-field="video"><span class="video-badge video-tampered" data-video="tampered">/);
    assert.equal(html.match(/data-video="authentic"/g)?.length, 1);
    assert.equal(html.match(/data-verdict="tampered"/g)?.length, 1);
    assert.ok((html.match(/data-gop-outcome="tampered"/g)?.length ?? 0) >= 1, 'the failing GOP is drawn red');
    assert.match(html, /nothing ties that key to a camera/);
  });

  test("pull carries the station's verdicts into custody.json, and --verify-video checks again at the clerk's end", async () => {
    const authUrl = (await daemon.connectionFile()).AuthenticationTokenURI[0]!;
    const to = join(work, 'pulled');
    const res = await runCli(['pull', '--from', authUrl, '--user', TEST_USERS.reader.user, '--key', TEST_USERS.reader.key, '--to', to, '--recording', recording, '--verify-video']);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /signed video tampered from frame 158/);
    const custody = JSON.parse(await readFile(join(to, recording, 'custody.json'), 'utf8')) as {
      objects: {
        name: string;
        video?: { atSource: { verdict: string; checkedBy: string; signer?: { publicKeyFingerprint: string } }; atPull: { verdict: string }; agree: boolean };
      }[];
    };
    const video = Object.fromEntries(custody.objects.filter((o) => o.video).map((o) => [o.name, o.video!]));
    assert.deepEqual(Object.keys(video).sort(), [...clips].sort());
    assert.equal(video[clips[0]!]!.atSource.verdict, 'authentic');
    assert.equal(video[clips[0]!]!.atPull.verdict, 'authentic');
    assert.equal(video[clips[1]!]!.atSource.verdict, 'tampered');
    assert.equal(video[clips[1]!]!.atPull.verdict, 'tampered');
    assert.ok(Object.values(video).every((v) => v.agree));
    assert.match(video[clips[0]!]!.atSource.signer!.publicKeyFingerprint, /^[0-9a-f]{64}$/);
  });

  test('a reindex keeps the verdicts: nothing is checked again', async () => {
    assert.equal(await daemon.stop(), 0);
    const res = await runCli(['reindex', '--data', daemon.dataDir]);
    assert.equal(res.code, 0, res.stderr);
    daemon = await TestDaemon.start({ dataDir: daemon.dataDir });
    adminToken = (await daemon.auth('admin')).token;
    const { video } = await status();
    assert.equal(video.queued, 0);
    assert.equal(video.last24h.recordings.tampered, 1);
    const audit = await runCli(['audit', 'show', '--recording', recording, '--data', daemon.dataDir]);
    assert.equal(audit.stdout.split('\n').filter((l) => l.includes('video.verified')).length, 2, audit.stdout);
  });
});

describe('a central edgecd checks what it receives, and compares with the edge', { skip }, () => {
  let central: TestDaemon;
  let edge: TestDaemon;
  let recording: string;

  const videoStatus = async (daemon: TestDaemon) => {
    const res = await daemon.request('GET', '/status', { 'X-Auth-Token': (await daemon.auth('admin')).token });
    return (JSON.parse(res.text) as { video: VideoStatus & { last24h: { disagreements: number } } }).video;
  };
  const checkedClips = async (daemon: TestDaemon, at: number) => {
    for (;;) {
      const video = await videoStatus(daemon);
      if (video.queued === 0 && video.last24h.clips >= at) return video;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const verdicts = async (daemon: TestDaemon, container: string) => {
    const reader = await daemon.auth('reader');
    const res = await daemon.request('GET', `/video/AUTH_${reader.account.split('AUTH_').pop()}/${encodeURIComponent(container)}`, { 'X-Auth-Token': reader.token });
    assert.equal(res.status, 200, res.text);
    return JSON.parse(res.text) as Record<string, { verdict: string; sender?: { verdict: string; agrees: boolean; station?: string } }>;
  };

  before(async () => {
    central = await TestDaemon.start();
    edge = await startEdge([await centralTarget(central)]);
    const files = [SIGNED, ALTERED].flatMap((f) => ['--clip-file', join(CORPUS!, f)]);
    const res = await runCli(['simulate', '--connection', join(edge.dataDir, 'connection.json'), '--users', '1', '--devices', '1', '--recordings', '1', '--clips', '2', ...files]);
    assert.equal(res.code, 0, res.stderr);
    recording = (JSON.parse(res.stdout) as { recordings: string[] }).recordings[0]!;
    // The pass waits for the edge's check, so the verdicts travel with the clips.
    const pass = await replicateNow(edge);
    assert.equal(pass.code, 0, pass.stderr);
    assert.equal(pass.reports[0]!.recordingsCompleted, 1);
  });
  after(async () => {
    await edge?.cleanup();
    await central?.cleanup();
  });

  test('the verdict the edge recorded arrives with each clip, and the central agrees', async () => {
    await checkedClips(central, 2);
    const checks = Object.values(await verdicts(central, recording));
    assert.deepEqual(checks.map((c) => c.verdict).sort(), ['authentic', 'tampered']);
    for (const c of checks) {
      assert.equal(c.sender?.verdict, c.verdict);
      assert.equal(c.sender?.agrees, true);
      assert.equal(c.sender?.station, 'Station 7');
    }
    assert.equal((await videoStatus(central)).last24h.disagreements, 0);
  });

  test('a clip whose sender recorded another verdict is an alarm', async () => {
    // A replicator (the only role that may set custody keys) sends the altered clip claiming it is authentic.
    const { token, account } = await central.auth('replicator');
    const [user, device] = recording.split('_');
    const rogue = `${user}_${device}_20260102T030405Z`;
    const made = await central.request('PUT', `${account}/${rogue}`, { 'X-Auth-Token': token });
    assert.equal(made.status, 201, made.text);
    const clip = `/${rogue}/20260102T030405Z_1.mkv`;
    const headers = { 'X-Auth-Token': token, 'X-Object-Meta-Edgecd-Video': 'authentic', 'X-Object-Meta-Edgecd-Station': 'rogue%20station' };
    assert.equal((await central.request('PUT', account + clip, headers, await readFile(join(CORPUS!, ALTERED)))).status, 201);
    const before = (await videoStatus(central)).last24h.clips;
    assert.equal((await central.request('POST', `${account}/${rogue}`, { 'X-Auth-Token': token, 'X-Container-Meta-Status': 'Complete' })).status, 204);
    const video = await checkedClips(central, before + 1);
    assert.equal(video.last24h.disagreements, 1);
    assert.ok(video.last24h.alarms.some((a) => a.endsWith(`/${rogue}`)));
    const check = (await verdicts(central, rogue))['20260102T030405Z_1.mkv']!;
    assert.deepEqual([check.verdict, check.sender?.verdict, check.sender?.agrees, check.sender?.station], ['tampered', 'authentic', false, 'rogue station']);
    assert.ok(central.logLines.some((l) => l.includes('video alarm')));
  });
});
