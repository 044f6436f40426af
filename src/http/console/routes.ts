/**
 * /console/: the web console, on the daemon's own listener. Translates
 * between HTTP and the console's data (recording-data.ts) and views; who may
 * see what is decided here, by the session's role:
 *
 * - admin: the station page and its actions, and the recordings list and
 *   pages (the record around the evidence, as IT needs it for replication).
 * - reader: recordings, with their content: video, notes, GNSS track, and
 *   downloads, as over the Swift API only a reader may read evidence.
 *
 * Every form POST must come from this origin (Origin, or Sec-Fetch-Site)
 * and carry the session's CSRF token; the session cookie is SameSite=Strict
 * besides. Logins, evidence views and downloads go to the audit trail.
 */
import { createHash } from 'node:crypto';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { html } from 'hono/html';
import type { LiveCredentials } from '../../auth/credentials.ts';
import type { AuditLine } from '../../audit/audit-format.ts';
import { byTarget } from '../../audit/audit-reader.ts';
import type { SignedHead } from '../../audit/station-key.ts';
import type { AuditEvent, AuditSink } from '../../audit/trail.ts';
import { EdgeError, statusOf } from '../../lib/errors.ts';
import { folderDocuments, FOLDER_DOCUMENTS, type FolderObject } from '../../evidence/folder.ts';
import { padding, tarEnd, tarHeader } from '../../evidence/tar.ts';
import type { RequestStats } from '../../health/request-stats.ts';
import type { StationHealth } from '../../health/station.ts';
import { recordedChecks } from '../../authenticity/video-custody.ts';
import type { KeepRules } from '../../lifecycle/retention.ts';
import { newestTombstones, tombstoneLines } from '../../lifecycle/tombstones.ts';
import { type HoldContext, runConsoleHoldRequest } from '../../lifecycle/hold-operations.ts';
import { HoldBook, type HoldScope } from '../../lifecycle/holds.ts';
import { planDays, type RetentionPlan } from '../../lifecycle/plan.ts';
import { lifecyclePage, PREVIEW_ROWS, retentionPage } from './views/lifecycle.ts';
import { VideoLedger } from '../../authenticity/video-ledger.ts';
import { ReplicationLedger } from '../../replication/ledger.ts';
import { replicaRecords } from '../../replication/replicas.ts';
import { diskName } from '../../lib/file-names.ts';
import type { ObjectEntry, ObjectStore } from '../../store/object-store.ts';
import { rangePicker } from '../../swift/range.ts';
import type { Env } from '../env.ts';
import type { LoginGate } from '../login-gate.ts';
import { outHeaders, reply, webBody } from '../reply.ts';
import type { ConsoleAssets } from './assets.ts';
import { allObjects, evidenceType, formDay, recordingView, searchRecordings, type ReplicationTargetRef } from './recording-data.ts';
import { ConsoleSessions, SESSION_COOKIE, type Session } from './session.ts';
import { page, type Viewer } from './views/layout.ts';
import { loginPage } from './views/login.ts';
import { recordingPage } from './views/recording.ts';
import { recordingsPage, type RecordingSearch } from './views/recordings.ts';
import { stationLive, stationPage, type StationView } from './views/station.ts';

export interface ConsoleDeps {
  store: ObjectStore;
  credentials: LiveCredentials;
  logins: LoginGate;
  audit: AuditSink;
  auditLines: (filter: (line: AuditLine) => boolean) => AsyncIterable<AuditLine>;
  health: () => Promise<StationHealth>;
  requests: RequestStats;
  siteName: string;
  connectionFile: () => Promise<string>;
  replicationTargets: () => ReplicationTargetRef[];
  /** Starts a pass for every enabled target in the background; false when there is none. */
  runReplication: () => boolean;
  /** The audit trail's head, signed now with the station key. */
  signAuditHead: () => SignedHead | undefined;
  lifecycle: {
    /** retention.keep: a recording's page says until when it is kept, and by which rule. */
    rules: KeepRules;
    /** DIR/tombstones.jsonl */
    tombstoneFile: string;
    /** Where custodians' holds are written and audited. */
    holds: HoldContext;
    /** The retention job's own plan for an account's next `days` days: the preview is what it will act on. */
    plan: (days: number, account: string) => Promise<RetentionPlan>;
  };
  assets: ConsoleAssets;
}

type ConsoleEnv = { Bindings: Env['Bindings']; Variables: Env['Variables'] & { session: Session; form: URLSearchParams } };
type C = Context<ConsoleEnv>;

const NOTICES: Record<string, string> = {
  'replication-started': 'A replication pass has started for every enabled target. The table shows its progress when it ends.',
};
const LIFECYCLE_NOTICES: Record<string, (hold: string) => string> = {
  'hold-placed': (hold) => `Hold ${hold} is placed: the recordings it covers are kept until it is released.`,
  'hold-released': (hold) => `Hold ${hold} is released. Retention and eviction may take what no other hold keeps.`,
};
const MAX_FORM_BYTES = 8 * 1024;

export function consoleRoutes(deps: ConsoleDeps): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  const sessions = new ConsoleSessions();
  const assets = { css: deps.assets.css.path, js: deps.assets.js.path };
  const source = (c: C) => c.env?.incoming?.socket.remoteAddress ?? 'unknown';
  const viewer = (c: C): Viewer => {
    const s = c.get('session');
    return { user: s.identity.user, role: s.identity.role, csrf: s.csrf };
  };
  const audit = (c: C, event: Omit<AuditEvent, 'actor' | 'role' | 'source' | 'txId'>) => {
    const s = c.get('session');
    return deps.audit.append({ actor: s.identity.user, role: s.identity.role, source: source(c), txId: c.get('txId'), ...event });
  };
  const htmlReply = async (c: C, status: number, body: unknown) => send(c, status, String(await body), 'text/html; charset=utf-8');

  app.onError((err, c) => {
    const status = statusOf(err);
    if (!(err instanceof EdgeError)) c.get('log').error({ err, tx: c.get('txId') }, 'console request failed');
    const headers = out(c);
    if (err instanceof EdgeError && err.details.retryAfter !== undefined) headers['Retry-After'] = String(err.details.retryAfter);
    if (err instanceof EdgeError && err.details.size !== undefined) headers['Content-Range'] = `bytes */${err.details.size}`;
    const message = err instanceof EdgeError ? err.message : `Internal error (transaction ${c.get('txId')})`;
    const session = c.get('session');
    return htmlReply(
      c,
      status,
      page(
        { title: 'Error', assets, ...(session ? { viewer: viewer(c) } : {}) },
        html`<h1>${status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Something went wrong'}</h1><p role="alert">${message}</p><p><a href="/console/">Back to the console</a></p>`,
      ),
    );
  });

  // Headers for every console answer: no framing, no sniffing, nothing but our own script and styles.
  app.use(async (c, next) => {
    const headers = out(c);
    headers['Content-Security-Policy'] =
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    headers['X-Content-Type-Options'] = 'nosniff';
    headers['X-Frame-Options'] = 'DENY';
    // same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on our own forms.
    headers['Referrer-Policy'] = 'same-origin';
    headers['Cache-Control'] = 'no-store';
    await next();
  });

  app.get('/assets/:file', (c) => {
    const asset = deps.assets.byPath.get(c.req.path);
    if (!asset) throw new EdgeError('NotFound', 'No such asset');
    const headers = out(c);
    headers['Cache-Control'] = 'public, max-age=31536000, immutable';
    return send(c, 200, new Blob([asset.body]).stream(), asset.type);
  });

  // Forms are only accepted from pages of this origin (login CSRF included).
  const sameOrigin: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    if (c.req.method === 'POST') {
      const site = c.req.header('sec-fetch-site');
      const origin = c.req.header('origin');
      const host = c.req.header('host');
      const fromHere = origin !== undefined ? safeHost(origin) === host : site === 'same-origin';
      if (!fromHere || (site !== undefined && site !== 'same-origin' && site !== 'none'))
        throw new EdgeError('Forbidden', 'This form must be sent from the console itself (cross-site request refused)');
    }
    await next();
  };
  app.use(sameOrigin);

  const session: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    const s = sessions.get(getCookie(c, SESSION_COOKIE));
    const now = s && (await deps.credentials.current()).active(s.identity.user);
    // The session dies with its user's key, role or account, as tokens do.
    if (!s || !now || now.role !== s.identity.role || now.account !== s.identity.account || now.credential !== s.identity.credential || s.createdAt < now.tokensNotBefore) {
      if (s) sessions.close(getCookie(c, SESSION_COOKIE));
      if (c.req.method === 'GET') return seeOther(c, '/console/login');
      throw new EdgeError('Unauthorized', 'Log in first');
    }
    c.set('session', s);
    if (c.req.method === 'POST') {
      const form = await readForm(c);
      if (!ConsoleSessions.csrfMatches(s, form.get('csrf') ?? undefined))
        throw new EdgeError('Forbidden', 'The form is stale or forged (CSRF token mismatch): reload the page and try again');
    }
    await next();
  };
  const adminOnly: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    if (c.get('session').identity.role !== 'admin') throw new EdgeError('Forbidden', 'The station page and its actions need an admin account');
    await next();
  };
  const contentReader: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    if (!readsEvidence(c.get('session').identity.role))
      throw new EdgeError('Forbidden', 'Evidence content (video, notes, tracks, downloads) needs a reader (or custodian) account');
    await next();
  };

  app.get('/', (c) => {
    const s = sessions.get(getCookie(c, SESSION_COOKIE));
    return seeOther(c, !s ? '/console/login' : s.identity.role === 'admin' ? '/console/station' : '/console/recordings');
  });

  app.get('/login', (c) => htmlReply(c, 200, loginPage(assets)));
  app.post('/login', async (c) => {
    const form = await readForm(c);
    const user = (form.get('user') ?? '').trim();
    const key = form.get('key') ?? '';
    if (!user || !key) return htmlReply(c, 400, loginPage(assets, 'Enter a user and key.', user));
    let identity;
    try {
      identity = await deps.logins.check({ user, key, source: source(c), txId: c.get('txId'), action: 'console.sign-in', log: c.get('log') });
    } catch (err) {
      if (!(err instanceof EdgeError) || (err.code !== 'Unauthorized' && err.code !== 'TooManyRequests')) throw err;
      if (err.details.retryAfter !== undefined) out(c)['Retry-After'] = String(err.details.retryAfter);
      return htmlReply(c, statusOf(err), loginPage(assets, err.code === 'Unauthorized' ? 'Wrong user or key.' : 'Too many failed logins: wait a while and try again.', user));
    }
    if (identity.role !== 'admin' && !readsEvidence(identity.role)) {
      await deps.audit.append({ actor: identity.user, role: identity.role, source: source(c), action: 'console.sign-in', result: 'refused: role', txId: c.get('txId') });
      return htmlReply(c, 403, loginPage(assets, `The ${identity.role} account cannot use the console: log in as an admin, a reader or a custodian.`, user));
    }
    const opened = sessions.open(identity);
    if (!opened) {
      await deps.audit.append({ actor: identity.user, role: identity.role, source: source(c), action: 'console.sign-in', result: 'refused: sessions full', txId: c.get('txId') });
      out(c)['Retry-After'] = '60';
      return htmlReply(c, 503, loginPage(assets, 'Too many console sessions are open on this station: try again later.', user));
    }
    await deps.audit.append({ actor: identity.user, role: identity.role, source: source(c), action: 'console.sign-in', result: 'ok', txId: c.get('txId') });
    out(c)['Set-Cookie'] = `${SESSION_COOKIE}=${opened.id}; Path=/console; HttpOnly; Secure; SameSite=Strict`;
    return seeOther(c, '/console');
  });

  app.post('/logout', session, async (c) => {
    sessions.close(getCookie(c, SESSION_COOKIE));
    await audit(c, { action: 'console.sign-out', result: 'ok' });
    out(c)['Set-Cookie'] = `${SESSION_COOKIE}=; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age=0`;
    return seeOther(c, '/console/login');
  });

  const stationView = async (): Promise<StationView> => ({
    health: await deps.health(),
    lastHour: deps.requests.lastHour(),
    refused503: deps.requests.totalWithStatus(503),
    refused507: deps.requests.totalWithStatus(507),
    siteName: deps.siteName,
  });
  app.get('/station', session, adminOnly, async (c) => htmlReply(c, 200, stationPage(assets, viewer(c), await stationView(), NOTICES[c.req.query('done') ?? ''])));
  app.get('/station/live', session, adminOnly, async (c) => htmlReply(c, 200, stationLive(await stationView())));

  // Holds, the retention preview and tombstones: admins see the state; custodians also place and release holds.
  const watchesLifecycle: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    const { role } = c.get('session').identity;
    if (role !== 'admin' && role !== 'custodian') throw new EdgeError('Forbidden', 'Holds, retention and deletions are shown to admins and custodians');
    await next();
  };
  const custodianOnly: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    if (c.get('session').identity.role !== 'custodian') throw new EdgeError('Forbidden', 'Legal holds are placed and released by a custodian account');
    await next();
  };
  app.get('/lifecycle', session, watchesLifecycle, async (c) => {
    const { account } = c.get('session').identity;
    const holds = await HoldBook.of(deps.store.index).list({ released: true, account });
    const deleted = await newestTombstones(deps.lifecycle.tombstoneFile, PREVIEW_ROWS, (t) => t.account === account);
    // The notice names a hold of this account's, or none: a crafted link shows no made-up text.
    const named = holds.find((h) => h.id === c.req.query('hold'));
    const notice = named && LIFECYCLE_NOTICES[c.req.query('done') ?? ''];
    return htmlReply(c, 200, lifecyclePage(assets, viewer(c), { holds, deleted, ...(notice ? { notice: notice(named.id) } : {}) }));
  });
  // Every tombstone, as the station keeps them (JSON lines, oldest first): the page shows the newest.
  app.get('/tombstones.jsonl', session, watchesLifecycle, async (c) => {
    const { account } = c.get('session').identity;
    out(c)['Content-Disposition'] = 'attachment; filename="tombstones.jsonl"';
    return send(c, 200, webBody(tombstoneLines(deps.lifecycle.tombstoneFile, account)), 'application/x-ndjson');
  });
  const daysAhead = (c: C) => {
    const days = planDays(c.req.query('days'));
    if (days === undefined) throw new EdgeError('BadRequest', 'days: a whole number of days, 0 to 36500');
    return days;
  };
  // The job spans every account; a page shows the session's.
  const accountPlan = (c: C, days: number) => deps.lifecycle.plan(days, c.get('session').identity.account);
  app.get('/retention', session, watchesLifecycle, async (c) => {
    const days = daysAhead(c);
    return htmlReply(c, 200, retentionPage(assets, viewer(c), await accountPlan(c, days), days));
  });
  app.get('/retention.json', session, watchesLifecycle, async (c) => {
    const days = daysAhead(c);
    out(c)['Content-Disposition'] = `attachment; filename="retention-plan-${days}d.json"`;
    return send(c, 200, JSON.stringify(await accountPlan(c, days), null, 2), 'application/json');
  });
  app.post('/holds', session, custodianOnly, async (c) => {
    const form = c.get('form');
    const field = (name: string) => form.get(name)?.trim() || undefined;
    const recording = field('recording');
    const day = (name: string, end: boolean) => {
      const value = field(name);
      if (value === undefined) return undefined;
      const at = formDay(value, end);
      if (at === undefined) throw new EdgeError('BadRequest', `${name}: a date, YYYY-MM-DD`);
      return at;
    };
    const scope: HoldScope = recording !== undefined ? { recording } : {};
    if (recording === undefined) {
      const [userId, device, category, since, until] = [field('userId'), field('device'), field('category'), day('from', false), day('to', true)];
      Object.assign(scope, {
        ...(userId !== undefined ? { userId } : {}),
        ...(device !== undefined ? { device } : {}),
        ...(category !== undefined ? { category } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
      });
    }
    const hold = await runConsoleHoldRequest(
      deps.lifecycle.holds,
      c.get('session').identity,
      { op: 'place', caseNumber: form.get('caseNumber') ?? '', reason: form.get('reason') ?? '', scope },
      source(c),
      c.get('txId'),
    );
    return seeOther(
      c,
      recording !== undefined ? `/console/recordings/${encodeURIComponent(recording)}` : `/console/lifecycle?done=hold-placed&hold=${encodeURIComponent(hold.id)}`,
    );
  });
  app.post('/holds/:id/release', session, custodianOnly, async (c) => {
    const hold = await runConsoleHoldRequest(
      deps.lifecycle.holds,
      c.get('session').identity,
      { op: 'release', id: c.req.param('id'), reason: c.get('form').get('reason') ?? '' },
      source(c),
      c.get('txId'),
    );
    return seeOther(c, `/console/lifecycle?done=hold-released&hold=${encodeURIComponent(hold.id)}`);
  });

  app.get('/connection.json', session, adminOnly, async (c) => {
    const text = await deps.connectionFile();
    await audit(c, { action: 'connection-file.read', target: 'connection.json', result: '200', details: { via: 'console' } });
    out(c)['Content-Disposition'] = 'attachment; filename="connection.json"';
    return send(c, 200, text, 'application/json');
  });

  app.post('/replication/run', session, adminOnly, async (c) => {
    const started = deps.runReplication();
    await audit(c, { action: 'replication.run', result: started ? 'started' : 'no target', details: { via: 'console' } });
    if (!started) throw new EdgeError('BadRequest', 'No replication target is enabled');
    return seeOther(c, '/console/station?done=replication-started');
  });

  app.get('/recordings', session, async (c) => {
    const q = (name: string) => (c.req.query(name) ?? '').slice(0, 200);
    const search: RecordingSearch = {
      user: q('user'),
      device: q('device'),
      from: q('from'),
      to: q('to'),
      category: q('category'),
      status: q('status'),
      replicated: q('replicated'),
    };
    const cursor = { ...(c.req.query('before') ? { before: q('before') } : {}), ...(c.req.query('after') ? { after: q('after') } : {}) };
    const { account } = c.get('session').identity;
    const view = await searchRecordings(deps.store, account, search, cursor, deps.replicationTargets());
    c.get('log').debug({ tx: c.get('txId'), scanned: view.scanned, rows: view.rows.length }, 'recording search');
    // Who looked for what is custody too, as API listings are: the criteria given, and how many recordings were shown.
    const criteria = Object.fromEntries(Object.entries({ ...search, ...cursor }).filter(([, v]) => v !== ''));
    await audit(c, { action: 'console.recording.search', target: `AUTH_${account}`, result: '200', details: { ...criteria, shown: view.rows.length } });
    return htmlReply(c, 200, recordingsPage(assets, viewer(c), view));
  });

  app.get('/recordings/:container', session, async (c) => {
    const { account, role } = c.get('session').identity;
    const container = c.req.param('container');
    const target = `AUTH_${account}/${container}`;
    await deps.store.container(account, container);
    await audit(c, { action: 'console.recording.view', target, result: '200' });
    const view = await recordingView(deps.store, account, container, {
      canReadContent: readsEvidence(role),
      retentionRules: deps.lifecycle.rules,
      targets: deps.replicationTargets(),
      custody: (prefix) => deps.auditLines(byTarget(prefix)),
    });
    return htmlReply(c, 200, recordingPage(assets, viewer(c), view));
  });

  // One object: inline for the player (audited once per session and object), or as a download (audited each time).
  app.get('/recordings/:container/object', session, contentReader, async (c) => {
    const s = c.get('session');
    const { account } = s.identity;
    const container = c.req.param('container');
    const name = c.req.query('name');
    if (!name) throw new EdgeError('BadRequest', 'Which object? (?name=)');
    const download = c.req.query('download') === '1';
    const read = await deps.store.readObject(account, container, name, rangePicker(c.req.header('range')));
    const target = `AUTH_${account}/${container}/${name}`;
    if (download || !s.viewed.has(target)) {
      s.viewed.add(target);
      try {
        await audit(c, {
          action: download ? 'console.object.download' : 'console.object.view',
          target,
          result: read.range ? '206' : '200',
          details: { sha256: read.entry.sha256 },
        });
      } catch (err) {
        read.body.destroy();
        throw err;
      }
    }
    const headers = out(c);
    const served = evidenceType(name);
    headers['Accept-Ranges'] = 'bytes';
    headers['Etag'] = `"${read.entry.md5}"`;
    headers['X-Edgecd-Sha256'] = read.entry.sha256;
    headers['Content-Disposition'] = `${download || !served.inline ? 'attachment' : 'inline'}; filename="${asciiName(name)}"; filename*=UTF-8''${encodeURIComponent(name)}`;
    // Evidence bytes are never a page of the console: opened directly, they run in a sandbox with no origin and no script.
    headers['Content-Security-Policy'] = "sandbox; default-src 'none'; media-src 'self'";
    const body = webBody(read.body);
    if (read.range) {
      headers['Content-Range'] = `bytes ${read.range.start}-${read.range.end}/${read.entry.bytes}`;
      headers['Content-Length'] = String(read.range.end - read.range.start + 1);
      return send(c, 206, body, served.type);
    }
    headers['Content-Length'] = String(read.entry.bytes);
    return send(c, 200, body, served.type);
  });

  // The whole recording as the folder edgecd pull writes, in one tar.
  app.get('/recordings/:container/download', session, contentReader, async (c) => {
    const s = c.get('session');
    const { account } = s.identity;
    const container = c.req.param('container');
    const entry = await deps.store.container(account, container);
    const objects = await allObjects(deps.store, account, container);
    const prefix = `AUTH_${account}/${container}`;
    // Recorded before the first byte leaves, and part of the custody excerpt it carries.
    await audit(c, { action: 'console.recording.download', target: prefix, result: '200', details: { objects: objects.length, bytes: objects.reduce((n, o) => n + o.bytes, 0) } });
    // The head signed first, and the excerpt cut at it (as /custody does for pull).
    const head = deps.signAuditHead();
    const excerpt: AuditLine[] = [];
    for await (const line of deps.auditLines(byTarget(prefix))) if (head && line.seq <= head.seq) excerpt.push(line);
    const tar = recordingTar(deps, c, account, container, entry.meta, objects, excerpt, head);
    const headers = out(c);
    headers['Content-Disposition'] = `attachment; filename="${asciiName(diskName(container))}.tar"`;
    return send(c, 200, webBody(tar), 'application/x-tar');
  });

  return app;
}

async function* recordingTar(
  deps: ConsoleDeps,
  c: C,
  account: string,
  container: string,
  containerMeta: Record<string, string>,
  objects: ObjectEntry[],
  excerpt: AuditLine[],
  head: SignedHead | undefined,
): AsyncGenerator<Buffer> {
  const folder = diskName(container);
  const s = c.get('session');
  const taken: FolderObject[] = [];
  const failures: { object: string; reason: string }[] = [];
  let trackText: string | undefined;
  for (const o of objects) {
    const file = diskName(o.name);
    if (FOLDER_DOCUMENTS.has(file)) {
      failures.push({ object: o.name, reason: `its name collides with the folder's own ${file}; not included` });
      continue;
    }
    const read = await deps.store.readObject(account, container, o.name, () => undefined);
    yield tarHeader({ path: `${folder}/${file}`, size: read.entry.bytes, mtime: read.entry.lastModified });
    const sha256 = createHash('sha256');
    const md5 = createHash('md5');
    const small: Buffer[] = [];
    for await (const chunk of read.body) {
      sha256.update(chunk as Buffer);
      md5.update(chunk as Buffer);
      if (o.name.endsWith('_gpstrail.json') && read.entry.bytes <= 4 * 1024 * 1024) small.push(chunk as Buffer);
      yield chunk as Buffer;
    }
    yield padding(read.entry.bytes);
    const got = { sha256: sha256.digest('hex'), md5: md5.digest('hex') };
    if (got.sha256 !== read.entry.sha256 || got.md5 !== read.entry.md5) {
      // The bytes went out already: the custody record must say they are not what arrived.
      failures.push({ object: o.name, reason: `SHA-256 ${got.sha256} does not match the SHA-256 recorded on arrival (${read.entry.sha256})` });
      c.get('log').error({ container, object: o.name, recorded: read.entry.sha256, read: got.sha256 }, 'stored object does not match its recorded hash');
    }
    if (small.length > 0) trackText = Buffer.concat(small).toString('utf8');
    taken.push({
      name: o.name,
      file,
      bytes: read.entry.bytes,
      md5: got.md5,
      sha256: got.sha256,
      sourceSha256: read.entry.sha256,
      contentType: read.entry.contentType,
      lastModified: new Date(read.entry.lastModified).toISOString(),
      meta: read.entry.meta,
    });
  }
  const docs = folderDocuments({
    container,
    containerMeta,
    objects: taken,
    failures,
    source: { station: deps.siteName, via: 'edgecd web console', account: `AUTH_${account}`, container },
    pulledBy: `${s.identity.user} (${s.identity.role}, web console from ${c.env?.incoming?.socket.remoteAddress ?? 'unknown'})`,
    auditExcerpt: excerpt,
    auditHead: head ? { head, checked: ['signed by this station as the folder was made'] } : null,
    replicas: await replicaRecords(
      ReplicationLedger.of(deps.store.index),
      deps.replicationTargets().map((t) => t.name),
      account,
      container,
    ),
    trackText,
    video: { atSource: await recordedChecks(VideoLedger.of(deps.store.index), account, container, deps.siteName) },
  });
  const now = Date.now();
  for (const [file, text] of Object.entries(docs.files)) {
    const body = Buffer.from(text, 'utf8');
    yield tarHeader({ path: `${folder}/${file}`, size: body.length, mtime: now });
    yield body;
    yield padding(body.length);
  }
  yield tarEnd();
}

/** Readers and custodians see evidence content; admins see the record around it. */
const readsEvidence = (role: string) => role === 'reader' || role === 'custodian';

// The console's context carries a session besides what every request has; the shared reply helpers take the common part.
const out = (c: C) => outHeaders(c as unknown as Context<Env>);
const send = (c: C, status: number, body: string | ReadableStream | null = null, type?: string) => reply(c as unknown as Context<Env>, status, body, type);

/** 303 See Other, with the headers collected so far (a cookie, the security headers). */
function seeOther(c: C, location: string): Response {
  out(c)['Location'] = location;
  return send(c, 303);
}

/** The form fields of a small urlencoded POST body (read once per request). */
async function readForm(c: C): Promise<URLSearchParams> {
  const cached = c.get('form');
  if (cached) return cached;
  const length = Number(c.req.header('content-length') ?? 'NaN');
  if (!Number.isFinite(length) || length > MAX_FORM_BYTES) throw new EdgeError('EntityTooLarge', 'The form is too large');
  if (!/^application\/x-www-form-urlencoded\b/i.test(c.req.header('content-type') ?? '')) throw new EdgeError('BadRequest', 'Expected a form (application/x-www-form-urlencoded)');
  const form = new URLSearchParams(await c.req.text());
  c.set('form', form);
  return form;
}

function safeHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

const asciiName = (name: string) => name.replace(/[^\x20-\x7e]|["\\]/g, '_');
