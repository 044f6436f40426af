/**
 * The web console in a real browser: Debian's Chromium, driven by
 * playwright-core, against a real daemon over HTTPS holding recordings the
 * BWS simulator uploaded. Screenshots of every page go to
 * test-output/console/ for a person to look at.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { chromium, request, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { VERSION } from '../src/lib/version.ts';
import { needs, skipOrFail } from './helpers/peers.ts';
import { ROOT, runCli, TEST_USERS, TestDaemon, simulateOn } from './helpers/daemon.ts';
import { sha256 } from './helpers/hashes.ts';

const CHROMIUM = '/usr/bin/chromium';
const CUSTODIAN = { user: 'custodian-1', key: 'custodian-key-for-tests-only' };
const CORPUS = [join(ROOT, '../shared/signed-video/corpus'), '/work/shared/signed-video/corpus'].find((d) => existsSync(d));
const SHOTS = join(ROOT, 'test-output/console');
const run = promisify(execFile);

describe('web console in Chromium', { skip: needs('chromium') }, () => {
  let daemon: TestDaemon;
  let browser: Browser;
  let recordings: string[];
  let base: string;

  before(async () => {
    daemon = await TestDaemon.start({
      https: true,
      // A target that is never reached: its backlog is what the station page must show.
      // A quota: the share used is the station's own, not a disk's that other tests write to.
      config: {
        siteName: 'Console test station',
        quota: { maxBytes: 1_000_000_000 },
        // Due within the preview's window; kept, since the unreachable central never holds them.
        retention: { keep: { default: 10 } },
        replication: { targets: [{ name: 'central', authUrl: 'http://127.0.0.1:9/auth/v1.0', user: 'edge', key: 'k', schedule: '0 3 1 1 *' }] },
      },
    });
    base = `https://127.0.0.1:${daemon.port}`;
    const sim = await runCli([
      'simulate',
      '--connection',
      join(daemon.dataDir, 'connection.json'),
      '--users',
      '2',
      '--devices',
      '2',
      '--recordings',
      '3',
      '--clips',
      '2',
      '--clip-bytes',
      '150000',
      '--extras',
    ]);
    assert.equal(sim.code, 0, sim.stderr);
    recordings = (JSON.parse(sim.stdout) as { recordings: string[] }).recordings;
    await rm(SHOTS, { recursive: true, force: true });
    await mkdir(SHOTS, { recursive: true });
    // Headless, and a fresh temporary profile (--user-data-dir) that playwright makes and removes itself.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    await daemon?.cleanup();
  });

  /** A Swift GET over the daemon's HTTPS as a test user: the API's view, to compare the console with. */
  async function swiftGet(role: 'reader' | 'admin', path: string): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const api = await request.newContext({ ignoreHTTPSErrors: true, baseURL: base });
    try {
      const login = await api.get('/auth/v1.0', { headers: { 'X-Auth-User': TEST_USERS[role].user, 'X-Auth-Key': TEST_USERS[role].key } });
      assert.equal(login.status(), 200);
      const url = path.startsWith('/v1/') || path.startsWith('/status') ? path : new URL(login.headers()['x-storage-url']!).pathname + path;
      const res = await api.get(url, { headers: { 'X-Auth-Token': login.headers()['x-auth-token']! } });
      return { status: res.status(), headers: res.headers(), body: await res.body() };
    } finally {
      await api.dispose();
    }
  }

  /** A fresh browser profile (no cookies) trusting the station's self-signed certificate. */
  const freshContext = () => browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1280, height: 900 } });

  async function logIn(context: BrowserContext, role: 'admin' | 'reader' | 'custodian'): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${base}/console/`);
    const who = role === 'custodian' ? CUSTODIAN : TEST_USERS[role];
    await page.getByLabel('User').fill(who.user);
    await page.getByLabel('Key').fill(who.key);
    await Promise.all([page.waitForURL((url) => url.pathname !== '/console/login', { timeout: 10_000 }), page.getByRole('button', { name: 'Log in' }).click()]);
    return page;
  }

  it('an admin logs in and sees the station as it is', async () => {
    const context = await freshContext();
    const page = await logIn(context, 'admin');
    assert.match(page.url(), /\/console\/station$/);
    await page.screenshot({ path: join(SHOTS, '1-station.png'), fullPage: true });

    const [cookie] = (await context.cookies()).filter((c) => c.name === 'edgecd_console');
    assert.ok(cookie, 'session cookie set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true);
    assert.equal(cookie.sameSite, 'Strict');

    // Figures from the running daemon, as /status reports them.
    const status = JSON.parse((await swiftGet('admin', '/status')).body.toString());
    const figure = (name: string) => page.locator(`[data-figure="${name}"]`).first().innerText();
    assert.equal(await figure('version'), `edgecd ${VERSION}`);
    assert.equal(await figure('used-percent'), `${status.storage.usedPercent} % of the quota`);
    assert.equal(await figure('uploads'), '0');
    assert.equal(await figure('refused-507'), '0');
    assert.match(await figure('clock'), /synchronised/);
    assert.match(await figure('certificate'), /expires in \d+ days/);
    // Three sealed recordings wait for the unreachable central.
    assert.match(await figure('backlog-central'), /^3 recordings, \d+ objects/);
    assert.equal(await page.locator('.chart polyline').count(), 5);
    assert.match(await page.locator('.chart figcaption').innerText(), /2xx: [1-9]\d*/);
    assert.equal(await page.locator('.gauge-mark').count(), 3);

    // connection.json, as a download.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download connection.json' }).click()]);
    const file = JSON.parse(await readFile((await download.path())!, 'utf8'));
    assert.deepEqual(file, await daemon.connectionFile());

    await page.getByRole('button', { name: 'Run a replication pass now' }).click();
    await page.waitForLoadState('load');
    assert.match(await page.getByRole('status').first().innerText(), /replication pass has started/);
    await page.screenshot({ path: join(SHOTS, '2-station-after-pass.png'), fullPage: true });

    // Admins see the record around the evidence, never its content.
    await page.getByRole('link', { name: 'Recordings' }).click();
    await page.locator('table.recordings a').first().click();
    assert.equal(await page.locator('video').count(), 0);
    assert.match(await page.locator('main').innerText(), /shown to reader accounts only/);
    const clip = await context.request.get(`${base}/console/recordings/${encodeURIComponent(recordings[0]!)}/object?name=x&download=1`);
    assert.equal(clip.status(), 403);
    await context.close();
  });

  it('a reader finds a simulated recording, sees its track and bookmarks, and downloads a clip that matches', async () => {
    const context = await freshContext();
    const page = await logIn(context, 'reader');
    assert.match(page.url(), /\/console\/recordings$/);
    assert.equal(await page.getByRole('link', { name: 'Station' }).count(), 0, 'no station link for a reader');
    assert.equal(await page.locator('table.recordings tbody tr').count(), 3);
    await page.screenshot({ path: join(SHOTS, '3-recordings.png'), fullPage: true });

    // Find the first recording by its user's name.
    const target = recordings[0]!;
    const user = await swiftGet('reader', `/Users/${target.split('_')[0]}`);
    const name = decodeURIComponent(user.headers['x-object-meta-name']!);
    await page.getByLabel('User name or UserID').fill(name);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForLoadState('load');
    const rows = page.locator('table.recordings tbody tr');
    const found = await rows.count();
    assert.ok(found >= 1 && found < 3, `search by "${name}" found ${found}`);
    for (let i = 0; i < found; i++) assert.match(await rows.nth(i).locator('td').nth(1).innerText(), new RegExp(name));
    await page.locator(`a[href="/console/recordings/${encodeURIComponent(target)}"]`).click();
    await page.waitForLoadState('load');
    await page.screenshot({ path: join(SHOTS, '4-recording.png'), fullPage: true });

    assert.match(await page.locator('[data-field="user"]').innerText(), new RegExp(name));
    // The GNSS track: five points, start and end marked with their times.
    const d = await page.locator('path.track-path').getAttribute('d');
    assert.equal(d?.match(/[ML]/g)?.length, 5, `track path ${d}`);
    assert.equal(await page.locator('circle.track-start').count(), 1);
    assert.match((await page.locator('text.track-label').first().textContent()) ?? '', /^Start \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
    // Bookmarks: listed with category and note, and flagged on the timeline.
    const bookmark = page.locator('.bookmark-item').first();
    assert.match(await bookmark.innerText(), /suspect left on foot/);
    assert.match(await bookmark.innerText(), /TriggerOn: Button/);
    assert.equal(await page.locator('.timeline g.bookmark').count(), 1);
    assert.equal(await page.locator('.timeline rect.clip').count(), 2);

    // A clip, downloaded through the browser, is the stored object to the byte.
    const manifest = new Map(
      await page
        .locator('table.manifest tbody tr')
        .evaluateAll((trs) => trs.map((tr) => [tr.querySelector('th')!.textContent!, tr.querySelector('code')!.textContent!] as [string, string])),
    );
    const link = page.locator('a[data-download="clip"]').first();
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const bytes = await readFile((await download.path())!);
    const clipName = download.suggestedFilename();
    assert.equal(bytes.length, 150000);
    assert.equal(sha256(bytes), manifest.get(clipName));
    const stored = await swiftGet('reader', `/${target}/${clipName}`);
    assert.equal(sha256(bytes), sha256(stored.body));

    // The whole recording: the folder edgecd pull writes, which sha256sum checks.
    const [archive] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /Download the recording/ }).click()]);
    const out = await mkdtemp(join(tmpdir(), 'edgecd-console-tar-'));
    try {
      await run('tar', ['-xf', (await archive.path())!, '-C', out]);
      const [folder] = await readdir(out);
      assert.equal(folder, target);
      const files = (await readdir(join(out, folder!))).sort();
      for (const f of ['custody.json', 'manifest.sha256', 'metadata.json', 'track.geojson', clipName]) assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
      const check = await run('sha256sum', ['-c', 'manifest.sha256'], { cwd: join(out, folder!) });
      assert.equal(check.stdout.trim().split('\n').length, manifest.size);
      const custody = JSON.parse(await readFile(join(out, folder!, 'custody.json'), 'utf8'));
      assert.match(custody.pulledBy, /^test-reader \(reader, web console/);
      assert.deepEqual(custody.failures, []);
      assert.ok(custody.auditExcerpt.some((l: { action: string }) => l.action === 'console.recording.download'));
    } finally {
      await rm(out, { recursive: true, force: true });
    }

    // Readers never reach the station or its actions.
    const station = await page.goto(`${base}/console/station`);
    assert.equal(station?.status(), 403);
    await page.screenshot({ path: join(SHOTS, '5-reader-station-refused.png'), fullPage: true });
    for (const path of ['/console/connection.json', '/console/station/live']) assert.equal((await context.request.get(base + path)).status(), 403, path);
    const csrf = await page.locator('input[name="csrf"]').first().inputValue();
    const pass = await context.request.post(`${base}/console/replication/run`, { form: { csrf }, headers: { Origin: base }, maxRedirects: 0 });
    assert.equal(pass.status(), 403);
    await context.close();
  });

  it('is usable from the keyboard and on a phone', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await logIn(context, 'reader');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate('document.activeElement?.id'), 'main');
    // Nothing wider than the screen but the tables' own scroll boxes.
    assert.ok(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways scrolling');
    await page.screenshot({ path: join(SHOTS, '6-phone-recordings.png'), fullPage: true });
    await page.locator('table.recordings a').first().click();
    await page.waitForLoadState('load');
    assert.ok(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways scrolling on a recording');
    await page.screenshot({ path: join(SHOTS, '7-phone-recording.png'), fullPage: true });
    // Every form field has a label.
    await page.goto(`${base}/console/recordings`);
    const unlabelled = await page.evaluate(`[...document.querySelectorAll('input:not([type=hidden]), select')].filter((e) => !e.labels?.length).map((e) => e.id || e.outerHTML)`);
    assert.deepEqual(unlabelled, []);
    await context.close();
  });

  it('refuses forged and foreign forms, uploaders, and sessions of disabled users', async () => {
    const api = await request.newContext({ ignoreHTTPSErrors: true, baseURL: base, maxRedirects: 0 });
    const form = (user: string, key: string) => ({ form: { user, key } });
    try {
      // Login from another site's page (login CSRF), or with no Origin at all from a script.
      assert.equal((await api.post('/console/login', { ...form(TEST_USERS.admin.user, TEST_USERS.admin.key), headers: { Origin: 'https://evil.example' } })).status(), 403);
      assert.equal(
        (await api.post('/console/login', { ...form(TEST_USERS.admin.user, TEST_USERS.admin.key), headers: { 'Sec-Fetch-Site': 'cross-site', Origin: base } })).status(),
        403,
      );
      assert.equal((await api.post('/console/login', form(TEST_USERS.admin.user, TEST_USERS.admin.key))).status(), 403);
      // The body-worn system's uploader account has no business here.
      const file = await daemon.connectionFile();
      const uploader = await api.post('/console/login', { ...form(file.BlobAPIUserName, file.BlobAPIKey), headers: { Origin: base } });
      assert.equal(uploader.status(), 403);
      assert.match(await uploader.text(), /cannot use the console/);
      assert.equal((await api.post('/console/login', { ...form(TEST_USERS.admin.user, 'wrong'), headers: { Origin: base } })).status(), 401);
      assert.equal((await api.get('/console/station')).status(), 303, 'no session: to the login page');

      const ok = await api.post('/console/login', { ...form(TEST_USERS.admin.user, TEST_USERS.admin.key), headers: { Origin: base } });
      assert.equal(ok.status(), 303);
      assert.match(ok.headers()['set-cookie']!, /^edgecd_console=[\w-]{43}; Path=\/console; HttpOnly; Secure; SameSite=Strict$/);
      const station = await api.get('/console/station');
      assert.equal(station.status(), 200);
      assert.match(station.headers()['content-security-policy']!, /script-src 'self'/);
      assert.equal(station.headers()['x-frame-options'], 'DENY');
      const csrf = /name="csrf" value="([^"]+)"/.exec(await station.text())![1]!;
      // A form without the session's token, or from elsewhere, changes nothing.
      const forged = (csrf[0] === 'A' ? 'B' : 'A') + csrf.slice(1); // one character off, never the token itself
      assert.equal((await api.post('/console/replication/run', { form: { csrf: forged }, headers: { Origin: base } })).status(), 403);
      assert.equal((await api.post('/console/replication/run', { form: { csrf }, headers: { Origin: 'https://evil.example' } })).status(), 403);
      assert.equal((await api.post('/console/replication/run', { form: { csrf }, headers: { Origin: base } })).status(), 303);

      // Disabling the user ends the session at once, as it voids the user's tokens.
      const disabled = await runCli(['user', 'disable', TEST_USERS.admin.user, '--data', daemon.dataDir]);
      assert.equal(disabled.code, 0, disabled.stderr);
      await new Promise((r) => setTimeout(r, 1100)); // credentials are re-read within a second
      assert.equal((await api.get('/console/station')).status(), 303);
      const enabled = await runCli(['user', 'enable', TEST_USERS.admin.user, '--data', daemon.dataDir]);
      assert.equal(enabled.code, 0, enabled.stderr);
    } finally {
      await api.dispose();
    }
  });

  it("shows each clip's signed-video verdict: a badge, the GOP strip, the signer in words, and the alarm on the station page", {
    skip: CORPUS ? false : skipOrFail('the signed-video corpus (../shared/signed-video/corpus) is not here'),
  }, async () => {
    // Axis's signed test clip, and the same clip with three bytes of a P-slice flipped.
    const files = ['signed_test_h264.mkv', 'signed_test_h264_tamper_pframe_bytes.mkv'].flatMap((f) => ['--clip-file', join(CORPUS!, f)]);
    const [recording] = (await simulateOn(daemon, { users: 1, devices: 1, recordings: 1, clips: 2 }, files)) as [string];
    // Checked in the background after the seal: wait for /status to count it.
    while ((JSON.parse((await swiftGet('admin', '/status')).body.toString()) as { video: { last24h: { alarms: string[] } } }).video.last24h.alarms.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const context = await freshContext();
    const page = await logIn(context, 'reader');
    await page.goto(`${base}/console/recordings/${encodeURIComponent(recording)}`);
    assert.equal(await page.locator('[data-field="video"] [data-video]').getAttribute('data-video'), 'tampered');
    const badges = await page.locator('.clip-item [data-video]').evaluateAll((els) => els.map((e) => e.getAttribute('data-video')));
    assert.deepEqual(badges.sort(), ['authentic', 'tampered']);
    const tampered = page.locator('.clip-video[data-verdict="tampered"]');
    assert.match(await tampered.innerText(), /The first frame that fails is frame 158/);
    assert.match(await tampered.innerText(), /nothing ties that key to a camera/);
    assert.equal(await tampered.locator('rect.gop-tampered').count(), 1, 'the failing GOP is drawn');
    assert.ok((await tampered.locator('rect.gop-ok').count()) >= 3);
    assert.equal(await page.locator('.clip-video[data-verdict="authentic"] rect.gop-tampered').count(), 0);
    await page.screenshot({ path: join(SHOTS, '8-recording-signed-video.png'), fullPage: true });
    await context.close();

    const admin = await logIn(await freshContext(), 'admin');
    await admin.goto(`${base}/console/station`);
    assert.match(await admin.locator('[data-figure="video-alarms"]').innerText(), /ALARM: 1 recordings are tampered or disputed/);
    assert.equal(await admin.locator(`#video-h ~ ul a[href$="${encodeURIComponent(recording)}"]`).count(), 1);
    await admin.screenshot({ path: join(SHOTS, '9-station-video-alarm.png'), fullPage: true });
    await admin.context().close();
  });

  it('a custodian places a hold from a recording page, previews retention, and releases the hold with a reason; an admin sees holds without the forms', async () => {
    const added = await runCli(['user', 'add', CUSTODIAN.user, '--role', 'custodian', '--key', CUSTODIAN.key, '--data', daemon.dataDir]);
    assert.equal(added.code, 0, added.stderr);
    const context = await freshContext();
    const page = await logIn(context, 'custodian');
    const target = recordings[1]!;
    await page.goto(`${base}/console/recordings/${encodeURIComponent(target)}`);
    await page.getByText('Place a legal hold on this recording').click();
    await page.getByLabel('Case number').fill('CASE-2026-118');
    await page.getByLabel('Reason').fill('Complaint filed: keep all footage');
    await Promise.all([page.waitForURL((url) => url.pathname.endsWith(encodeURIComponent(target))), page.getByRole('button', { name: 'Place the hold' }).click()]);
    const holds = page.locator('[data-field="holds"] li');
    assert.equal(await holds.count(), 1);
    assert.match(await holds.innerText(), /CASE-2026-118: Complaint filed: keep all footage \(placed by custodian-1/);
    const holdId = (await holds.getAttribute('data-hold'))!;
    assert.match(await page.locator('[data-field="retention"]').innerText(), /kept until .*: 10 days\).*held, so not deleted then/);
    await page.screenshot({ path: join(SHOTS, '8-recording-held.png'), fullPage: true });

    // The preview over 30 days: every recording is due, and each is kept: the held one for its hold, the others for the central.
    await page.goto(`${base}/console/lifecycle`);
    await page.getByRole('link', { name: /Retention preview/ }).click();
    await page.getByLabel('Due within').selectOption('30');
    await Promise.all([page.waitForURL(/days=30/), page.getByRole('button', { name: 'Show' }).click()]);
    const summary = /0 to delete, (\d+) kept although due, of (\d+) recordings/.exec(await page.locator('[data-field="plan-summary"]').innerText());
    assert.ok(summary && Number(summary[1]) >= recordings.length && summary[1] === summary[2], 'every recording is due and kept');
    const kept = page.locator('table.plan tbody tr');
    assert.equal(await kept.count(), Number(summary[1]));
    assert.match(await kept.filter({ hasText: target }).innerText(), new RegExp(`legal hold ${holdId} \\(case CASE-2026-118\\)`));
    assert.match(await kept.filter({ hasNotText: target }).first().innerText(), /not yet held by every replication target/);
    await page.screenshot({ path: join(SHOTS, '9-retention-preview.png'), fullPage: true });

    // An admin sees the hold, and no way to release it.
    const adminContext = await freshContext();
    const admin = await logIn(adminContext, 'admin');
    await admin.goto(`${base}/console/lifecycle`);
    assert.equal(await admin.locator(`tr[data-hold="${holdId}"]`).count(), 1);
    assert.equal(await admin.getByRole('button', { name: 'Release' }).count(), 0);
    const forged = await adminContext.request.post(`${base}/console/holds/${holdId}/release`, {
      form: { csrf: await admin.locator('input[name=csrf]').first().inputValue(), reason: 'admin tries' },
      headers: { Origin: base },
    });
    assert.equal(forged.status(), 403);
    await adminContext.close();

    // Releasing needs a reason; then the hold is listed as released, by whom and why.
    await page.goto(`${base}/console/lifecycle`);
    await page.getByLabel(`Why release ${holdId}?`).fill('Complaint withdrawn');
    await Promise.all([page.waitForURL(/done=hold-released/), page.getByRole('button', { name: 'Release' }).click()]);
    assert.match(await page.getByRole('status').innerText(), new RegExp(`Hold ${holdId} is released`));
    assert.match(await page.locator(`tr[data-hold="${holdId}"]`).innerText(), /custodian-1, .*: Complaint withdrawn/);
    await page.screenshot({ path: join(SHOTS, '10-hold-released.png'), fullPage: true });
    await context.close();

    const audit = (await readFile(join(daemon.dataDir, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { actor: string; action: string; result: string; target?: string; details?: { id?: string } });
    assert.ok(audit.some((l) => l.actor === CUSTODIAN.user && l.action === 'hold.place' && l.result === 'ok' && l.target?.startsWith('AUTH_') && l.target.endsWith(`/${target}`)));
    assert.ok(audit.some((l) => l.actor === CUSTODIAN.user && l.action === 'hold.release' && l.result === 'ok' && l.details?.id === holdId));
  });

  it('audits console logins, evidence views and downloads', async () => {
    const lines = (await readFile(join(daemon.dataDir, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { actor: string; action: string; result: string; target?: string });
    const did = (actor: string, action: string) => lines.some((l) => l.actor === actor && l.action === action);
    assert.ok(did('test-admin', 'console.sign-in'));
    assert.ok(did('test-reader', 'console.sign-in'));
    assert.ok(did('test-admin', 'connection-file.read'));
    assert.ok(did('test-admin', 'replication.run'));
    assert.ok(did('test-admin', 'console.recording.view'));
    assert.ok(did('test-reader', 'console.recording.view'));
    assert.ok(did('test-reader', 'console.object.download'));
    assert.ok(did('test-reader', 'console.recording.download'));
    assert.ok(lines.some((l) => l.action === 'console.sign-in' && l.result === 'refused: role'));
    assert.ok(lines.some((l) => l.actor === 'test-admin' && l.action === 'console.sign-in' && l.result === 'failed'));
  });
});
