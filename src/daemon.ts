/**
 * The daemon: opens the store, serves HTTP, keeps connection.json current,
 * and shuts down cleanly (in-flight requests finish, LevelDB closes).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stat } from 'node:fs/promises';
import { getRequestListener } from '@hono/node-server';
import { startAdminServer, type AdminServer } from './admin/admin-server.ts';
import { Credentials } from './auth/credentials.ts';
import { capabilitiesDocument, recordDeclaredCapabilities } from './bws/capabilities.ts';
import { categoriesDocument } from './bws/categories.ts';
import { ContentDestination } from './bws/content-destination.ts';
import { TokenRegistry } from './auth/tokens.ts';
import { loadConfig, parseHostPort, type Config, type HostPort } from './config/config.ts';
import { initDataDir, paths, writeConnectionFile } from './data-dir.ts';
import { createApp, malformedRequestHandler, swiftFetch } from './http/app.ts';
import { newTransId } from './http/middleware/request-log.ts';
import { RequestStats } from './health/request-stats.ts';
import { ClockWatcher } from './ntp/clock-state.ts';
import { NtpServer } from './ntp/server.ts';
import { watchStation } from './health/station.ts';
import { createLogger, type Logger } from './log.ts';
import { OperatorError } from './errors.ts';
import { Evictor } from './replication/eviction.ts';
import { replicationHook } from './replication/ledger.ts';
import { Replicator } from './replication/replicator.ts';
import { ObjectStore } from './store/object-store.ts';
import { VERSION } from './version.ts';

export interface DaemonOptions {
  dataDir: string;
  /** Explicit --config; default DIR/edgecd.json, which may be absent. */
  configFile?: string;
  /** --listen, overriding the config. */
  listen?: string;
  /** --ntp-listen, overriding the config ('off' disables). */
  ntpListen?: string;
}

export interface Daemon {
  config: Config;
  log: Logger;
  /** Where HTTP is served (the bound port when 0 was asked for). */
  address: HostPort;
  store: ObjectStore;
  close(): Promise<void>;
}

/** The effective config; an explicit --config must exist unless `mayBeMissing` (init creates it). */
export async function loadDaemonConfig(options: DaemonOptions, mayBeMissing = false): Promise<Config> {
  const config = await loadConfig(options.configFile ?? paths(options.dataDir).config, mayBeMissing || options.configFile === undefined);
  if (options.listen !== undefined) config.listen = options.listen;
  if (options.ntpListen !== undefined) config.ntp.listen = options.ntpListen;
  parseHostPort(config.listen, '--listen');
  if (config.ntp.listen !== 'off') parseHostPort(config.ntp.listen, '--ntp-listen');
  return config;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const startedAt = Date.now();
  const config = await loadDaemonConfig(options);
  const log = createLogger(config.log.level);
  const dir = options.dataDir;
  const listen = parseHostPort(config.listen, 'listen');

  if (!(await stat(paths(dir).credentials).then(() => true, () => false))) {
    const { user } = await initDataDir(dir, {}, async () => config, listen);
    log.info({ user, connectionFile: paths(dir).connection }, 'first start: generated credentials');
  }

  // Before anything is served: a withdrawn capability stops the start here.
  await recordDeclaredCapabilities(dir, config.capabilities);

  let ready = false;
  // Listen first: while the store opens (journal replay, temp clean-up) every
  // request gets 503 + Retry-After instead of a refused connection.
  const starting = (_req: IncomingMessage, res: ServerResponse) => {
    const txId = newTransId();
    res.writeHead(503, { 'Retry-After': '5', 'Content-Type': 'text/plain; charset=utf-8', 'X-Trans-Id': txId, 'X-Openstack-Request-Id': txId, 'Connection': 'close' });
    res.end('Starting: try again shortly\n');
  };
  const server: Server = createServer(starting);
  // Large uploads over a thin link take long: no overall request deadline,
  // but an idle socket (no bytes either way) is dropped.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.setTimeout(config.http.idleTimeoutSeconds * 1000);
  await listenOn(server, listen);
  let store: ObjectStore;
  let evictor: Evictor | undefined;
  let replicator: Replicator | undefined;
  try {
    store = await ObjectStore.open(dir, {
      maxObjectBytes: config.objects.maxBytes,
      space: config.quota,
      log,
      derivedOps: replicationHook,
      makeRoom: async (bytes) => (evictor ? evictor.makeRoom(bytes) : 0),
    });
  } catch (err) {
    server.close();
    throw err;
  }
  let admin: AdminServer | undefined;
  const clock = new ClockWatcher();
  let ntp: NtpServer | undefined;
  try {
    replicator = await Replicator.open(store, config, log, 'daemon');
    if (config.retention.evictAfterReplication) {
      evictor = new Evictor({
        store,
        ledger: replicator.ledger,
        enabledTargets: () => config.replication.targets.filter((t) => t.enabled).map((t) => t.name),
        minAgeHours: config.retention.minAgeHours,
        recordFile: paths(dir).evictions,
        log,
      });
    }
    await clock.start();
    const credentials = await Credentials.load(paths(dir).credentials);
    const tokens = new TokenRegistry(config.auth.tokenTtlSeconds);
    const capabilities = capabilitiesDocument(config.capabilities);
    const systemDocuments = { capabilities: async () => capabilities, categories: () => categoriesDocument(dir) };
    const destination = new ContentDestination(store, {
      maxUsers: config.limits.maxUsers,
      maxDevices: config.limits.maxDevices,
      uniqueUserIds: config.capabilities.StoreUserIDKey,
      strict: config.validation.strict,
      containerType: config.connection.containerType,
      log,
      clockSynchronised: () => clock.current().synchronised,
    });
    const a = config.admission;
    const { app, health } = createApp({
      requests: new RequestStats(),
      startedAt,
      admission: { maxRequests: a.maxRequests, maxUploads: a.maxUploads, queue: a.queue, queueTimeoutMs: a.queueTimeoutSeconds * 1000, maxEventLoopDelayMs: a.maxEventLoopDelayMs, maxHeapBytes: a.maxHeapMB * 1024 * 1024 },
      store, destination, credentials, tokens, log, maxObjectBytes: config.objects.maxBytes, scheme: 'http', ready: () => ready, systemDocuments,
      clock: () => clock.current(),
      ntp: () => ntp?.stats ?? null,
      replication: async () => (config.replication.targets.length > 0 ? replicator!.status() : null),
    });
    server.off('request', starting);
    // No draining of unread bodies: reply() closes such connections instead (see there).
    server.on('request', getRequestListener(swiftFetch(app), { errorHandler: malformedRequestHandler(log), autoCleanupIncoming: false }));
    const bound = server.address() as AddressInfo;
    const address = { host: listen.host, port: bound.port };

    ntp = await startNtp(config, clock, log);
    await writeConnectionFile(dir, config, address, undefined, ntp !== undefined);
    admin = await startAdminServer({ socketPath: paths(dir).adminSocket, store, replicator, log });
    replicator.schedule();
    log.warn('serving plain HTTP: use it for development only; HTTPS arrives with the security work');
    const stopWatching = watchStation(health, log, config.health.checkSeconds * 1000);
    ready = true;
    log.info({ version: VERSION, listen: `${address.host}:${address.port}`, data: dir }, 'ready');

    const httpServer = server;
    const adminServer = admin;
    const replication = replicator;
    let closing: Promise<void> | undefined;
    return {
      config,
      log,
      address,
      store,
      close: () => (closing ??= (async () => {
        ready = false;
        stopWatching();
        ntp?.close();
        clock.stop();
        log.info('stopping');
        // Replication first: a pass may run for hours, and its progress stream holds the admin socket open.
        await replication.close();
        await closeHttp(httpServer, config.http.shutdownGraceSeconds * 1000);
        await adminServer.close();
        await store.close();
        log.info('stopped');
        log.flush();
      })()),
    };
  } catch (err) {
    server.close();
    ntp?.close();
    clock.stop();
    await admin?.close();
    await replicator?.close();
    await store.close();
    throw err;
  }
}

/**
 * Starts the NTP server unless it is off. A port it may not bind (123 needs
 * root or CAP_NET_BIND_SERVICE) costs one log line, not the API: the
 * connection file then tells the cameras not to use this host for time.
 */
async function startNtp(config: Config, clock: ClockWatcher, log: Logger): Promise<NtpServer | undefined> {
  if (config.ntp.listen === 'off') return undefined;
  const { host, port } = parseHostPort(config.ntp.listen, 'ntp.listen');
  const server = new NtpServer({ localStratum: config.ntp.localStratum, requireSync: config.ntp.requireSync, clock: () => clock.current() });
  try {
    const bound = await server.listen(host, port);
    const state = clock.current();
    log.info({ ntp: `${host}:${bound}`, clockSynchronised: state.synchronised, clockSource: state.source }, 'serving NTP');
    return server;
  } catch (err) {
    server.close();
    log.warn({ ntpListen: config.ntp.listen, code: (err as NodeJS.ErrnoException).code }, 'cannot serve NTP on this address; the connection file does not advertise it');
    return undefined;
  }
}

function listenOn(server: Server, { host, port }: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(new OperatorError(`cannot listen on ${host}:${port}: ${err.code ?? err.message}`));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

/** Stops accepting, lets in-flight requests finish for `graceMs`, then cuts the rest. */
async function closeHttp(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(timer);
}
