/**
 * The HTTP application: Swift auth, the storage API, the health check,
 * station status, and the web console (mounted from http/console/).
 * Routing and HTTP translation only; all decisions are the store's.
 */
import { RequestError, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { LiveCredentials } from '../auth/credentials.ts';
import { authorizeStationView, authorizeStorage } from '../auth/roles.ts';
import type { AuditLine } from '../audit/audit-format.ts';
import { byTarget } from '../audit/audit-reader.ts';
import type { LoginThrottle } from '../auth/login-throttle.ts';
import type { AuditSink } from '../audit/trail.ts';
import type { AuditCarrier } from '../audit/carried-lines.ts';
import { auditTrail } from './middleware/audit-trail.ts';
import { requestGuard, type RequestGuardOptions } from './middleware/request-guard.ts';
import type { ContentDestination } from '../bws/content-destination.ts';
import type { TokenRegistry } from '../auth/tokens.ts';
import { EdgeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { Bindings, Env } from './env.ts';
import { errorResponse } from './errors.ts';
import { outHeaders, reply } from './reply.ts';
import { AUDIT_HEAD_HEADER, type SignedHead } from '../audit/station-key.ts';
import { prometheusText } from '../health/prometheus.ts';
import type { ClockState } from '../ntp/clock-state.ts';
import type { NtpStats } from '../ntp/server.ts';
import type { RequestStats } from '../health/request-stats.ts';
import { stationHealth, type HealthSources } from '../health/station.ts';
import { admission, type AdmissionOptions } from './middleware/admission.ts';
import { basicOrToken, requireToken } from './middleware/auth.ts';
import { newTransId, requestLog } from './middleware/request-log.ts';
import { authHandler } from './routes/auth.ts';
import { ReplicationLedger } from '../replication/ledger.ts';
import { recordedChecks } from '../authenticity/video-custody.ts';
import { VideoLedger } from '../authenticity/video-ledger.ts';
import { replicaRecords } from '../replication/replicas.ts';
import type { ReplicationStatus } from '../replication/replicator.ts';
import { storageHandler } from './routes/storage.ts';
import { LoginGate } from './login-gate.ts';
import type { ConnectionGuard } from './connection-guard.ts';
import type { ConsoleAssets } from './console/assets.ts';
import type { ReplicationTargetRef } from './console/recording-data.ts';
import { type ConsoleDeps, consoleRoutes } from './console/routes.ts';
import type { SystemDocuments } from './routes/handlers.ts';

/** The console's assets are loaded once at start, by whoever builds the app. */
export { loadConsoleAssets } from './console/assets.ts';

/** What the web layer is given: a few services, each one job. */
export interface AppDeps {
  /** Objects, and the body-worn rules every change goes through. */
  storage: {
    store: ObjectStore;
    /** Every mutation goes through it (sealing, registry rules); reads go to the store. */
    destination: ContentDestination;
    maxObjectBytes: number;
    systemDocuments: SystemDocuments;
  };
  /** Who may log in, with which token, and hold connections. */
  access: {
    credentials: LiveCredentials;
    tokens: TokenRegistry;
    throttle: LoginThrottle;
    /** An uploader's or replicator's login makes its address trusted there. */
    connections: ConnectionGuard;
  };
  /** The audit trail: appending, reading, and its signed heads. */
  audit: {
    sink: AuditSink;
    /** Lets an upload's commit carry its audit line; without it the line is appended after the commit. */
    carrier?: AuditCarrier;
    /** The trail's lines that pass a filter, oldest first. */
    lines: (filter: (line: AuditLine) => boolean) => AsyncIterable<AuditLine>;
    /** The station's signing key and how far the trail is anchored. */
    anchors: HealthSources['audit'];
    /** The trail's durable head, signed now with the station key (undefined while the trail is empty). */
    signHead: () => SignedHead | undefined;
  };
  /** The station as /status and the console show it. */
  station: {
    siteName: string;
    startedAt: number;
    /** False while the daemon starts or stops, or the store refuses changes: /healthcheck then answers 503. */
    ready: () => boolean;
    requests: RequestStats;
    clock: () => ClockState;
    ntp: () => NtpStats | null;
    tls: HealthSources['tls'];
    /** What the station declares to the BWS, and where its categories come from. */
    bws: HealthSources['bws'];
    /** The connection file the station hands the Body Worn Manager (it holds the upload key). */
    connectionFile: () => Promise<string>;
    holdsBlockingEviction: HealthSources['holdsBlockingEviction'];
    unruledCategories: HealthSources['unruledCategories'];
    retentionLastRun: HealthSources['retentionLastRun'];
    retentionSummary: HealthSources['retentionSummary'];
  };
  replication: {
    status: () => Promise<ReplicationStatus | null>;
    /** The configured targets (the console shows each one's state). */
    targets: () => ReplicationTargetRef[];
    /** Starts a pass for every enabled target in the background; false when there is none. */
    runNow: () => boolean;
  };
  /** How the web layer guards itself: request limits and load shedding. */
  limits: { guard: RequestGuardOptions; admission: AdmissionOptions };
  consoleAssets: ConsoleAssets;
  lifecycle: ConsoleDeps['lifecycle'];
  log: Logger;
}

export function createApp(deps: AppDeps): { app: Hono<Env>; health: HealthSources } {
  const { storage, access, audit, station, replication } = deps;
  const app = new Hono<Env>();
  app.use(requestLog({ log: deps.log, stats: station.requests }));
  app.use(requestGuard(deps.limits.guard));
  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) => errorResponse(c, new EdgeError('NotFound', 'Not Found')));

  // Shed load before doing work for a request (auth runs scrypt; uploads fill disks).
  const admit = admission(deps.limits.admission);
  app.use('/auth/*', admit);
  app.use('/v1/*', admit);
  app.use('/console/login', admit);

  app.get('/healthcheck', (c) => {
    if (storage.store.broken) return reply(c, 503, 'storage failure: refusing changes until restart\n', 'text/plain');
    if (audit.sink.broken) return reply(c, 503, 'the audit trail cannot be written: refusing requests until it is repaired\n', 'text/plain');
    return station.ready() ? reply(c, 200, 'OK', 'text/plain') : reply(c, 503, 'starting or stopping\n', 'text/plain');
  });
  const logins = new LoginGate({ ...access, audit: audit.sink });
  const auth = authHandler({ tokens: access.tokens, audit: audit.sink, logins });
  app.get('/auth/v1.0', auth);
  app.get('/auth/v1.0/', auth);
  app.all('/auth/v1.0', () => {
    throw new EdgeError('MethodNotAllowed', 'Use GET to authenticate', { allow: 'GET' });
  });
  const signedIn = [auditTrail(audit.sink, audit.carrier), requireToken(access)] as const;
  app.all('/v1/*', ...signedIn, storageHandler(storage));

  const health: HealthSources = {
    store: storage.store,
    requests: station.requests,
    load: () => admit.stats(),
    connections: () => access.connections.stats(),
    audit: audit.anchors,
    startedAt: station.startedAt,
    ready: station.ready,
    clock: station.clock,
    ntp: station.ntp,
    replication: replication.status,
    tls: station.tls,
    bws: station.bws,
    holdsBlockingEviction: station.holdsBlockingEviction,
    unruledCategories: station.unruledCategories,
    retentionLastRun: station.retentionLastRun,
    retentionSummary: station.retentionSummary,
  };
  const adminOnly: MiddlewareHandler<Env> = async (c, next) => {
    authorizeStationView(c.get('identity').role);
    await next();
  };
  const monitoring = [auditTrail(audit.sink), basicOrToken(logins, requireToken(access)), adminOnly] as const;
  app.get('/status', ...monitoring, async (c) => reply(c, 200, JSON.stringify(await stationHealth(health), null, 2) + '\n', 'application/json'));
  app.get('/metrics', ...monitoring, async (c) => reply(c, 200, prometheusText(await stationHealth(health)), 'text/plain; version=0.0.4; charset=utf-8'));
  // For IT at a browser or script: the file to upload in the BWM. It carries a key, so only
  // an admin gets it, and each handing-out is in the audit trail.
  app.get('/connection.json', ...signedIn, adminOnly, async (c) => {
    const identity = c.get('identity');
    const text = await station.connectionFile();
    await audit.sink.append({
      actor: identity.user,
      role: identity.role,
      source: c.env?.incoming?.socket.remoteAddress ?? 'unknown',
      action: 'connection-file.read',
      target: 'connection.json',
      result: '200',
      txId: c.get('txId'),
    });
    outHeaders(c)['Content-Disposition'] = 'attachment; filename="connection.json"';
    return reply(c, 200, text, 'application/json');
  });
  /** Who asks about which recording, once they are known to be allowed to read it. */
  const recordingReader = (c: Context<Env>) => {
    const identity = c.get('identity');
    const account = c.req.param('account')!;
    const container = c.req.param('container')!;
    if (account !== `AUTH_${identity.account}`) throw new EdgeError('Forbidden', 'The token is not valid for this account');
    authorizeStorage(identity.role, { method: 'GET', level: 'container', container });
    return { identity, account, container };
  };
  // A recording's chain of custody for whoever may read it (a clerk's pull puts it in custody.json).
  app.get('/custody/:account/:container', ...signedIn, async (c) => {
    const { identity, account, container } = recordingReader(c);
    const prefix = `${account}/${container}`;
    // Recorded, and durable before reading: lines queued before it (this reader's GETs) are on disk too.
    await audit.sink.append({
      actor: identity.user,
      role: identity.role,
      source: c.env?.incoming?.socket.remoteAddress ?? 'unknown',
      action: 'custody.read',
      target: prefix,
      result: '200',
      txId: c.get('txId'),
    });
    // The head signed first, and only the lines it covers sent (the file may hold lines not yet synced): pull checks both.
    const head = audit.signHead();
    const lines: unknown[] = [];
    for await (const line of audit.lines(byTarget(prefix))) if (head && line.seq <= head.seq) lines.push(line);
    if (head) outHeaders(c)[AUDIT_HEAD_HEADER] = Buffer.from(JSON.stringify(head)).toString('base64url');
    return reply(c, 200, JSON.stringify(lines) + '\n', 'application/json');
  });
  // Where copies of a recording are (per target and object, with how each was confirmed): pull puts it in custody.json.
  app.get('/replicas/:account/:container', ...signedIn, async (c) => {
    const { identity, container } = recordingReader(c);
    await storage.store.container(identity.account, container);
    const records = await replicaRecords(
      ReplicationLedger.of(storage.store.index),
      replication.targets().map((t) => t.name),
      identity.account,
      container,
    );
    return reply(c, 200, JSON.stringify(records) + '\n', 'application/json');
  });
  // Each clip's signed-video verdict, as this station recorded it: pull puts it in custody.json.
  app.get('/video/:account/:container', ...signedIn, async (c) => {
    const { identity, container } = recordingReader(c);
    await storage.store.container(identity.account, container);
    const checks = await recordedChecks(VideoLedger.of(storage.store.index), identity.account, container, station.siteName);
    return reply(c, 200, JSON.stringify(checks) + '\n', 'application/json');
  });
  // The console's home is /console (Hono joins '/console' and '/' so); /console/ is the address people type.
  app.get('/console/', (c) => c.redirect('/console', 308));
  app.route(
    '/console',
    consoleRoutes({
      store: storage.store,
      credentials: access.credentials,
      logins,
      audit: audit.sink,
      auditLines: audit.lines,
      health: () => stationHealth(health),
      requests: station.requests,
      siteName: station.siteName,
      connectionFile: station.connectionFile,
      replicationTargets: replication.targets,
      runReplication: replication.runNow,
      signAuditHead: audit.signHead,
      lifecycle: deps.lifecycle,
      assets: deps.consoleAssets,
    }) as unknown as Hono<Env>,
  );
  return { app, health };
}

/**
 * Answers requests too malformed to reach the app (a Host or request target
 * that is not a URL): still a clear 400 with a transaction id and a log line.
 */
export function malformedRequestHandler(log: Logger) {
  return function malformedRequest(err: unknown): Response {
    const txId = newTransId();
    const now = Date.now();
    const status = err instanceof RequestError ? 400 : 500;
    log.warn({ tx: txId, status, err: (err as Error).message }, 'request refused before routing');
    const body = status === 400 ? 'Bad Request: malformed request target or Host header\n' : 'Internal Server Error\n';
    return new Response(body, {
      status,
      headers: { 'X-Trans-Id': txId, 'X-Openstack-Request-Id': txId, 'X-Timestamp': (now / 1000).toFixed(5), 'Content-Type': 'text/plain; charset=utf-8' },
    });
  };
}

/**
 * The fetch handler to serve: the app, except that HEAD answers get back the
 * header spelling Hono's HEAD handling loses (see reply.ts).
 */
export function swiftFetch(app: Hono<Env>) {
  return async function fetch(request: Request, bindings: HttpBindings | Http2Bindings): Promise<Response> {
    const env = bindings as Bindings;
    const response = await app.fetch(request, env);
    if (request.method !== 'HEAD' || !env.swiftHeaders) return response;
    return new Response(null, { status: response.status, headers: env.swiftHeaders });
  };
}
