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
import { requireToken } from './middleware/auth.ts';
import { newTransId, requestLog } from './middleware/request-log.ts';
import { authHandler } from './routes/auth.ts';
import { ReplicationLedger } from '../replication/ledger.ts';
import { replicaRecords } from '../replication/replicas.ts';
import type { ReplicationStatus } from '../replication/replicator.ts';
import { storageHandler } from './routes/storage.ts';
import { LoginGate } from './login-gate.ts';
import type { ConnectionGuard } from './connection-guard.ts';
import type { ConsoleAssets } from './console/assets.ts';
import type { ReplicationTargetRef } from './console/recording-data.ts';
import { consoleRoutes } from './console/routes.ts';
import type { SystemDocuments } from './routes/handlers.ts';

/** The console's assets are loaded once at start, by whoever builds the app. */
export { loadConsoleAssets } from './console/assets.ts';

export interface AppDeps {
  admission: AdmissionOptions;
  clock: () => ClockState;
  ntp: () => NtpStats | null;
  replication: () => Promise<ReplicationStatus | null>;
  requests: RequestStats;
  startedAt: number;
  store: ObjectStore;
  destination: ContentDestination;
  credentials: LiveCredentials;
  tokens: TokenRegistry;
  log: Logger;
  maxObjectBytes: number;
  throttle: LoginThrottle;
  /** Who may hold connections: an uploader's or replicator's login makes its address trusted there. */
  connections: ConnectionGuard;
  /** The station's signing key and how far its audit trail is anchored. */
  auditAnchors: HealthSources['audit'];
  /** The audit trail's durable head, signed now with the station key (undefined while the trail is empty). */
  signAuditHead: () => SignedHead | undefined;
  tls: HealthSources['tls'];
  /** What the station declares to the BWS, and where its categories come from. */
  bws: HealthSources['bws'];
  audit: AuditSink;
  /** The audit trail's lines that pass a filter, oldest first. */
  auditLines: (filter: (line: AuditLine) => boolean) => AsyncIterable<AuditLine>;
  guard: RequestGuardOptions;
  systemDocuments: SystemDocuments;
  /** The connection file the station hands the Body Worn Manager (it holds the upload key). */
  connectionFile: () => Promise<string>;
  /** False while the daemon starts or stops, or the store refuses changes: /healthcheck then answers 503. */
  ready: () => boolean;
  siteName: string;
  /** The configured replication targets (the console shows each one's state). */
  replicationTargets: () => ReplicationTargetRef[];
  /** Starts a replication pass for every enabled target in the background; false when there is none. */
  runReplication: () => boolean;
  consoleAssets: ConsoleAssets;
}

export function createApp(deps: AppDeps): { app: Hono<Env>; health: HealthSources } {
  const app = new Hono<Env>();
  app.use(requestLog({ log: deps.log, stats: deps.requests }));
  app.use(requestGuard(deps.guard));
  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) => errorResponse(c, new EdgeError('NotFound', 'Not Found')));

  // Shed load before doing work for a request (auth runs scrypt; uploads fill disks).
  const admit = admission(deps.admission);
  app.use('/auth/*', admit);
  app.use('/v1/*', admit);
  app.use('/console/login', admit);

  app.get('/healthcheck', (c) => {
    if (deps.store.broken) return reply(c, 503, 'storage failure: refusing changes until restart\n', 'text/plain');
    if (deps.audit.broken) return reply(c, 503, 'the audit trail cannot be written: refusing requests until it is repaired\n', 'text/plain');
    return deps.ready() ? reply(c, 200, 'OK', 'text/plain') : reply(c, 503, 'starting or stopping\n', 'text/plain');
  });
  const logins = new LoginGate(deps);
  const auth = authHandler({ ...deps, logins });
  app.get('/auth/v1.0', auth);
  app.get('/auth/v1.0/', auth);
  app.all('/auth/v1.0', () => {
    throw new EdgeError('MethodNotAllowed', 'Use GET to authenticate', { allow: 'GET' });
  });
  app.all('/v1/*', auditTrail(deps.audit), requireToken(deps), storageHandler(deps));

  const health: HealthSources = {
    store: deps.store,
    requests: deps.requests,
    load: () => admit.stats(),
    connections: () => deps.connections.stats(),
    audit: deps.auditAnchors,
    startedAt: deps.startedAt,
    ready: deps.ready,
    clock: deps.clock,
    ntp: deps.ntp,
    replication: deps.replication,
    tls: deps.tls,
    bws: deps.bws,
  };
  const adminOnly: MiddlewareHandler<Env> = async (c, next) => {
    authorizeStationView(c.get('identity').role);
    await next();
  };
  app.get('/status', auditTrail(deps.audit), requireToken(deps), adminOnly, async (c) =>
    reply(c, 200, JSON.stringify(await stationHealth(health), null, 2) + '\n', 'application/json'),
  );
  app.get('/metrics', auditTrail(deps.audit), requireToken(deps), adminOnly, async (c) =>
    reply(c, 200, prometheusText(await stationHealth(health)), 'text/plain; version=0.0.4; charset=utf-8'),
  );
  // For IT at a browser or script: the file to upload in the BWM. It carries a key, so only
  // an admin gets it, and each handing-out is in the audit trail.
  app.get('/connection.json', auditTrail(deps.audit), requireToken(deps), adminOnly, async (c) => {
    const identity = c.get('identity');
    const text = await deps.connectionFile();
    await deps.audit.append({
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
  app.get('/custody/:account/:container', auditTrail(deps.audit), requireToken(deps), async (c) => {
    const { identity, account, container } = recordingReader(c);
    const prefix = `${account}/${container}`;
    // Recorded, and durable before reading: lines queued before it (this reader's GETs) are on disk too.
    await deps.audit.append({
      actor: identity.user,
      role: identity.role,
      source: c.env?.incoming?.socket.remoteAddress ?? 'unknown',
      action: 'custody.read',
      target: prefix,
      result: '200',
      txId: c.get('txId'),
    });
    // The head signed first, and only the lines it covers sent (the file may hold lines not yet synced): pull checks both.
    const head = deps.signAuditHead();
    const lines: unknown[] = [];
    for await (const line of deps.auditLines(byTarget(prefix))) if (head && line.seq <= head.seq) lines.push(line);
    if (head) outHeaders(c)[AUDIT_HEAD_HEADER] = Buffer.from(JSON.stringify(head)).toString('base64url');
    return reply(c, 200, JSON.stringify(lines) + '\n', 'application/json');
  });
  // Where copies of a recording are (per target and object, with how each was confirmed): pull puts it in custody.json.
  app.get('/replicas/:account/:container', auditTrail(deps.audit), requireToken(deps), async (c) => {
    const { identity, container } = recordingReader(c);
    await deps.store.container(identity.account, container);
    const records = await replicaRecords(
      ReplicationLedger.of(deps.store.index),
      deps.replicationTargets().map((t) => t.name),
      identity.account,
      container,
    );
    return reply(c, 200, JSON.stringify(records) + '\n', 'application/json');
  });
  // The console's home is /console (Hono joins '/console' and '/' so); /console/ is the address people type.
  app.get('/console/', (c) => c.redirect('/console', 308));
  app.route(
    '/console',
    consoleRoutes({
      store: deps.store,
      credentials: deps.credentials,
      logins,
      audit: deps.audit,
      auditLines: deps.auditLines,
      health: () => stationHealth(health),
      requests: deps.requests,
      siteName: deps.siteName,
      connectionFile: deps.connectionFile,
      replicationTargets: deps.replicationTargets,
      runReplication: deps.runReplication,
      signAuditHead: deps.signAuditHead,
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
