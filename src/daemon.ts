/**
 * The daemon: opens the store, serves HTTP, keeps connection.json current,
 * and shuts down cleanly (in-flight requests finish, LevelDB closes).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { readFile, stat } from 'node:fs/promises';
import { getRequestListener } from '@hono/node-server';
import { startAdminServer, type AdminServer } from './admin/admin-server.ts';
import { LiveCredentials } from './auth/credentials.ts';
import { VideoChecker } from './authenticity/video-checker.ts';
import { videoCheckCommitted } from './authenticity/video-ledger.ts';
import { CapabilityPublisher } from './bws/capabilities.ts';
import { categoriesDocument, publishedCategories } from './bws/categories.ts';
import { ContentDestination } from './bws/content-destination.ts';
import { RecordingCatalogue } from './bws/catalogue.ts';
import { TokenRegistry } from './auth/tokens.ts';
import { loadConfig, parseHostPort, type Config, type HostPort } from './config/config.ts';
import { AnchorBook } from './audit/anchors.ts';
import { AuditCarrier } from './audit/carried-lines.ts';
import { AuditLog } from './audit/audit-log.ts';
import { readAuditLines } from './audit/audit-reader.ts';
import { loadStationKey, signHead } from './audit/station-key.ts';
import { LoginThrottle } from './auth/login-throttle.ts';
import { initDataDir, paths, reachableHosts, writeConnectionFile } from './admin/data-dir.ts';
import { ConnectionGuard, defaultMaxConnections } from './http/connection-guard.ts';
import { createFront, createHttpServer, type Front } from './http/server.ts';
import { daysUntilExpiry, generateEndpoints, loadEndpoints } from './tls/endpoints.ts';
import { createApp, loadConsoleAssets, malformedRequestHandler, swiftFetch } from './http/app.ts';
import { newTransId } from './http/middleware/request-log.ts';
import { AlarmWebhook } from './health/alarm-webhook.ts';
import { RequestStats } from './health/request-stats.ts';
import { ClockWatcher } from './ntp/clock-state.ts';
import { NtpServer } from './ntp/server.ts';
import { watchStation } from './health/station.ts';
import { createLogger, type DestinationStream, type Logger } from './lib/log.ts';
import { OperatorError } from './lib/errors.ts';
import { Evictor } from './replication/eviction.ts';
import { unruledCategories } from './lifecycle/plan.ts';
import { ensureStationDeleteAts } from './lifecycle/station-delete-at.ts';
import type { HoldContext } from './lifecycle/hold-operations.ts';
import { RetentionJob } from './lifecycle/deletion.ts';
import cron from 'node-cron';
import { derivedIndexOps } from './index-hooks.ts';
import { Replicator } from './replication/replicator.ts';
import { ObjectStore } from './store/object-store.ts';
import { checkMetaLimits } from './swift/metadata.ts';
import { VERSION } from './lib/version.ts';

/** The longest a replication pass waits for a recording's video check before sending it without verdicts. */
const VIDEO_CHECK_WAIT_MS = 10 * 60_000;

export interface DaemonOptions {
  dataDir: string;
  /** Explicit --config; default DIR/edgecd.json, which may be absent. */
  configFile?: string;
  /** --listen, overriding the config. */
  listen?: string;
  /** --ntp-listen, overriding the config ('off' disables). */
  ntpListen?: string;
  /** --plain-http: serve plain HTTP (development). */
  plaintext?: boolean;
  /** Where log lines go instead of stdout (a daemon run inside another program, such as a test). */
  logTo?: DestinationStream;
  /** Awaited once the listener answers 503 and before the store opens: where a long journal replay would be (tests hold the start here). */
  beforeStoreOpens?: () => Promise<void>;
}

export interface Daemon {
  config: Config;
  log: Logger;
  /** Where HTTP is served (the bound port when 0 was asked for). */
  address: HostPort;
  /** HTTPS, or plain HTTP (--plain-http). */
  https: boolean;
  /** Where NTP is answered (HOST:PORT), or undefined when it is not. */
  ntp: string | undefined;
  store: ObjectStore;
  close(): Promise<void>;
}

/** The effective config; an explicit --config must exist unless `mayBeMissing` (init creates it). */
export async function loadDaemonConfig(options: DaemonOptions, mayBeMissing = false): Promise<Config> {
  const config = await loadConfig(options.configFile ?? paths(options.dataDir).config, mayBeMissing || options.configFile === undefined);
  if (options.listen !== undefined) config.listen = options.listen;
  if (options.ntpListen !== undefined) config.ntp.listen = options.ntpListen;
  if (options.plaintext) config.http.plaintext = true;
  parseHostPort(config.listen, '--listen');
  if (config.ntp.listen !== 'off') parseHostPort(config.ntp.listen, '--ntp-listen');
  if (config.health.alarmWebhook.url) AlarmWebhook.checkUrl(config.health.alarmWebhook.url);
  return config;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const startedAt = Date.now();
  const config = await loadDaemonConfig(options);
  const log = createLogger(config.log.level, options.logTo);
  const dir = options.dataDir;
  const listen = parseHostPort(config.listen, 'listen');

  if (
    !(await stat(paths(dir).credentials).then(
      () => true,
      () => false,
    ))
  ) {
    const { user } = await initDataDir(dir, {}, async () => config, listen);
    log.info({ user, connectionFile: paths(dir).connection }, 'first start: generated credentials');
  }

  // Before anything is served: a withdrawn capability stops the start here.
  const targetNames = config.replication.targets.map((t) => t.name);
  const categoriesExist = async () => (await publishedCategories(dir, targetNames)).source.kind !== 'none';
  const capabilities = await CapabilityPublisher.open(dir, config.capabilities, config.given, categoriesExist);

  // HTTPS unless plain HTTP is asked for: certificates for the addresses the
  // cameras will use are made on the first start (init --https chooses them).
  let endpoints = await loadEndpoints(dir);
  if (endpoints.length === 0 && !config.http.plaintext) {
    const names = config.connection.authUrls.length > 0 ? config.connection.authUrls.map((u) => new URL(u).hostname.replace(/^\[(.*)\]$/, '$1')) : reachableHosts(listen);
    endpoints = await generateEndpoints(dir, names, config.tls);
    log.info({ names }, 'first start: generated self-signed certificates; the connection file pins them');
  }

  let ready = false;
  // Listen first: while the store opens (journal replay, temp clean-up) every
  // request gets 503 + Retry-After instead of a refused connection.
  const starting = (_req: IncomingMessage, res: ServerResponse) => {
    const txId = newTransId();
    res.writeHead(503, { 'Retry-After': '5', 'Content-Type': 'text/plain; charset=utf-8', 'X-Trans-Id': txId, 'X-Openstack-Request-Id': txId, Connection: 'close' });
    res.end('Starting: try again shortly\n');
  };
  const h = config.http;
  const server: Server = createHttpServer(
    starting,
    {
      headersTimeoutMs: h.headersTimeoutSeconds * 1000,
      idleTimeoutMs: h.idleTimeoutSeconds * 1000,
      keepAliveTimeoutMs: h.keepAliveTimeoutSeconds * 1000,
      maxRequestsPerSocket: h.maxRequestsPerSocket,
      maxHeaderBytes: h.maxHeaderBytes,
    },
    log,
  );
  const guard = new ConnectionGuard({
    maxConnections: h.maxConnections || defaultMaxConnections(),
    maxPerAddress: h.maxConnectionsPerAddress,
    trustedAddresses: h.trustedAddresses,
  });
  const front = createFront(server, endpoints, guard, log, h.headersTimeoutSeconds * 1000);
  const listener = front.server;
  await listenOn(listener, listen);
  let store: ObjectStore;
  let evictor: Evictor | undefined;
  let replicator: Replicator | undefined;
  let videoCheck: VideoChecker | undefined;
  let retention: RetentionJob | undefined;
  try {
    await options.beforeStoreOpens?.();
    store = await ObjectStore.open(dir, {
      maxObjectBytes: config.objects.maxBytes,
      bodyStallMs: h.bodyTimeoutSeconds * 1000,
      bodyMinBytesPerSecond: h.uploadMinBytesPerSecond,
      uploadDeadlineMs: h.uploadMaxSeconds * 1000,
      maxMetadataWritesPerObject: config.objects.maxMetadataWritesPerObject,
      maxMetadataWritesPerContainer: config.objects.maxMetadataWritesPerContainer,
      space: config.quota,
      checkMetadata: checkMetaLimits,
      log,
      derivedOps: derivedIndexOps,
      afterCommit: videoCheckCommitted,
      // Uploads reach the store only once the evictor exists (it needs the open store).
      ...(config.retention.evictAfterReplication ? { makeRoom: (needed: () => Promise<number>) => evictor!.makeRoom(needed) } : {}),
    });
  } catch (err) {
    listener.close();
    throw err;
  }
  // Before serving: an index from before the catalogue (or a reindex) gets one.
  try {
    const started = Date.now();
    if (await RecordingCatalogue.of(store.index).ensureBuilt()) log.info({ ms: Date.now() - started }, 'built the recording catalogue from the index');
    if (await ensureStationDeleteAts(store.index)) log.info({ ms: Date.now() - started }, "indexed the stations' X-Delete-At from the objects");
  } catch (err) {
    await store.close();
    listener.close();
    throw err;
  }
  let admin: AdminServer | undefined;
  const clock = new ClockWatcher();
  let ntp: NtpServer | undefined;
  let ntpAddress: string | undefined;
  let audit: AuditLog | undefined;
  let anchors: AnchorBook | undefined;
  try {
    audit = await AuditLog.open(paths(dir).audit, paths(dir).auditHead, {
      onWarning: (message) => log.warn({ audit: paths(dir).audit }, message),
      onError: (err) => log.error({ err }, 'audit trail write failed'),
    });
    // Before this start's first line: uploads whose lines a stop kept from the trail.
    const restored = await AuditCarrier.recover(audit, store.index);
    if (restored > 0) log.warn({ restored }, 'appended audit lines that uploads committed before the last stop');
    const stationKey = await loadStationKey(paths(dir).stationKey);
    await audit.append({
      actor: 'system',
      source: 'daemon',
      action: 'daemon.start',
      result: 'ok',
      details: { version: VERSION, config: configDigest(config), https: endpoints.map((e) => e.name), plaintext: config.http.plaintext, stationKey: stationKey.publicKey },
    });
    anchors = await AnchorBook.open(dir, stationKey, audit, config.siteName);
    // Built before the HTTP app, started once the daemon is ready: replication waits (a bounded time) for its verdicts.
    const videoChecker = new VideoChecker({ store, log, audit, uploadsInFlight: () => health.load().uploads });
    videoCheck = videoChecker;
    replicator = await Replicator.open(store, config, log, 'daemon', {
      audit,
      anchors,
      dir,
      tombstoneFile: paths(dir).tombstones,
      videoChecked: (account, container) => videoChecker.checked(account, container, VIDEO_CHECK_WAIT_MS),
    });
    const replicating = replicator;
    const retentionJob = RetentionJob.forStation(config, {
      store,
      audit,
      log,
      tombstoneFile: paths(dir).tombstones,
      replicated: (account, container) => replicating.heldByEveryTarget(account, container),
    });
    retention = retentionJob;
    // A deletion a crash cut short is finished (or, held since, cancelled) before the station serves.
    await retentionJob.recover().catch((err: unknown) => log.error({ err }, 'finishing an interrupted retention deletion failed: the next run tries again'));
    // A hold placed or released changes the X-Delete-At of copies on setDeleteAt targets: a pass sends it now.
    const holdContext: HoldContext = {
      store,
      audit,
      credentialsFile: paths(dir).credentials,
      onChange: () => {
        retentionJob.forgetPreviews();
        replicating.holdsChanged();
      },
    };
    if (config.retention.evictAfterReplication) {
      evictor = new Evictor({
        store,
        ledger: replicator.ledger,
        enabledTargets: () => replicator!.evictionTargets(),
        minAgeHours: config.retention.minAgeHours,
        recordFile: paths(dir).evictions,
        audit,
        log,
      });
    }
    await clock.start();
    const credentials = await LiveCredentials.open(paths(dir).credentials);
    const tokens = new TokenRegistry(config.auth.tokenTtlSeconds);
    const systemDocuments = { capabilities: () => capabilities.document(), categories: () => categoriesDocument(dir, targetNames) };
    const { source: categories } = await publishedCategories(dir, targetNames);
    log.info(
      {
        categories:
          categories.kind === 'central'
            ? `central ${categories.target} (fetched ${categories.fetchedAt})`
            : categories.kind === 'station'
              ? "the station's own (edgecd categories set)"
              : 'none set',
      },
      'categories published to the cameras',
    );
    const auditCarrier = new AuditCarrier(audit, store.index, (err) => log.error({ err }, 'delivering an audit line carried by an upload failed: the next start completes it'));
    const destination = new ContentDestination(store, {
      maxUsers: config.limits.maxUsers,
      maxDevices: config.limits.maxDevices,
      uniqueUserIds: config.capabilities.StoreUserIDKey,
      strict: config.validation.strict,
      containerType: config.connection.containerType,
      log,
      clockSynchronised: () => clock.current().synchronised,
      maxDaysAheadUnsynchronised: config.validation.maxDaysAheadUnsynchronised,
      clipSlackSeconds: config.validation.clipSlackSeconds,
    });
    const a = config.admission;
    const { app, health } = createApp({
      storage: { store, destination, maxObjectBytes: config.objects.maxBytes, systemDocuments },
      access: { credentials, tokens, throttle: new LoginThrottle(), connections: guard },
      audit: {
        sink: audit,
        carrier: auditCarrier,
        lines: (filter) => readAuditLines(paths(dir).audit, filter),
        anchors: () => ({
          stationKey: stationKey.publicKey,
          keyId: stationKey.keyId,
          lastAnchor: anchors?.latest ? { seq: anchors.latest.seq, time: anchors.latest.time } : null,
          anchoredAt: Object.fromEntries(config.replication.targets.map((t) => [t.name, anchors?.sentTo(t.name) ?? 0])),
          writable: audit?.broken === undefined,
        }),
        signHead: () => (audit!.head.seq === 0 ? undefined : signHead(stationKey, { station: config.siteName, ...audit!.head, time: new Date().toISOString() })),
      },
      station: {
        siteName: config.siteName,
        startedAt,
        ready: () => ready,
        requests: new RequestStats(),
        clock: () => clock.current(),
        ntp: () => ntp?.stats ?? null,
        tls: () => ({ endpoints: endpoints.map((e) => ({ name: e.name, notAfter: e.notAfter.toISOString() })), daysUntilExpiry: daysUntilExpiry(endpoints) }),
        bws: async () => {
          const { declared, notes } = await capabilities.report();
          return { capabilities: declared, notes, categories: (await publishedCategories(dir, targetNames)).source };
        },
        connectionFile: () => readFile(paths(dir).connection, 'utf8'),
        holdsBlockingEviction: () => evictor?.blockedByHolds ?? null,
        unruledCategories: () => unruledCategories(store, config.retention.keep),
        retentionLastRun: () => {
          const last = retention?.lastRun;
          return last ? { at: last.at, deleted: last.deleted.length, purged: last.purged.length, kept: last.kept } : null;
        },
        retentionSummary: () => retention?.lastSummary ?? null,
      },
      replication: {
        status: async () => (config.replication.targets.length > 0 ? replicator!.status() : null),
        targets: () => config.replication.targets.map((t) => ({ name: t.name, enabled: t.enabled })),
        runNow: () => {
          if (!config.replication.targets.some((t) => t.enabled)) return false;
          void replicator!.runNow().catch((err: unknown) => log.error({ err }, 'replication pass (from the console) failed'));
          return true;
        },
      },
      limits: {
        guard: { maxUrlBytes: h.maxUrlBytes, maxHeaders: h.maxHeaders, plaintextAllowed: h.plaintext },
        admission: {
          maxRequests: a.maxRequests,
          maxUploads: a.maxUploads,
          queue: a.queue,
          queueTimeoutMs: a.queueTimeoutSeconds * 1000,
          maxEventLoopDelayMs: a.maxEventLoopDelayMs,
          maxHeapBytes: a.maxHeapMB * 1024 * 1024,
        },
      },
      consoleAssets: loadConsoleAssets(),
      lifecycle: {
        rules: config.retention.keep,
        tombstoneFile: paths(dir).tombstones,
        holds: holdContext,
        plan: (days, account) => retentionJob.preview(days, account),
      },
      log,
    });
    server.off('request', starting);
    // No draining of unread bodies: reply() closes such connections instead (see there).
    const handle = getRequestListener(swiftFetch(app), { errorHandler: malformedRequestHandler(log), autoCleanupIncoming: false });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      // @hono/node-server flushes the headers of a streamed body at once, and
      // Node 20 then writes them as UTF-8 rather than byte for byte: metadata
      // with non-ASCII bytes would come back from a GET altered. Without the
      // flush, the headers go out with the first body bytes, as sent.
      res.flushHeaders = () => undefined;
      void handle(req, res);
    });
    const bound = listener.address() as AddressInfo;
    const address = { host: listen.host, port: bound.port };

    ({ server: ntp, address: ntpAddress } = await startNtp(config, clock, log));
    await writeConnectionFile(dir, config, address, undefined, ntp !== undefined);
    admin = await startAdminServer({
      socketPath: paths(dir).adminSocket,
      store,
      replicator,
      retention,
      holds: holdContext,
      log,
      operations: {
        dir,
        config,
        listen: address,
        ntpServing: ntp !== undefined,
        audit,
        onUsersChanged: () => credentials.invalidate(),
        onCertificates: (list) => {
          endpoints = list;
          front.setEndpoints(list);
        },
      },
    });
    replicator.schedule();
    videoChecker.start();
    const retentionSchedule = cron.schedule(config.retention.delete.schedule, () => void retentionJob.run().catch((err: unknown) => log.error({ err }, 'retention run failed')), {
      name: 'retention',
      noOverlap: true,
    });
    const summarySchedule = config.retention.delete.summarySchedule
      ? cron.schedule(config.retention.delete.summarySchedule, () => void retentionJob.weeklySummary().catch((err: unknown) => log.error({ err }, 'retention summary failed')), {
          name: 'retention-summary',
          noOverlap: true,
        })
      : undefined;
    if (h.plaintext) log.warn('serving plain HTTP (http.plaintext / --plain-http): for development only; evidence and keys cross the network unencrypted');
    const days = daysUntilExpiry(endpoints);
    if (days !== null && days <= config.tls.warnDaysBeforeExpiry)
      log.warn({ daysUntilExpiry: days }, 'a TLS certificate expires soon: run edgecd cert renew and upload the new connection file');
    const webhook = config.health.alarmWebhook.url
      ? new AlarmWebhook({ index: store.index, url: config.health.alarmWebhook.url, station: config.siteName, audit, log, retryMs: config.health.alarmWebhook.retrySeconds * 1000 })
      : undefined;
    void webhook?.deliver(); // what a restart left queued
    const stopWatching = watchStation(health, log, config.health.checkSeconds * 1000, (alarm) => webhook?.raise(alarm));
    const anchorBook = anchors;
    const stopAnchoring = anchorBook.schedule({ everyLines: config.audit.anchorEveryLines, everyMs: config.audit.anchorEveryMinutes * 60_000 }, (err) =>
      log.error({ err }, 'signing the audit trail head failed'),
    );
    ready = true;
    log.info({ version: VERSION, listen: `${address.host}:${address.port}`, data: dir }, 'ready');

    const httpServer = server;
    const adminServer = admin;
    const replication = replicator;
    const auditLog = audit;
    let closing: Promise<void> | undefined;
    return {
      config,
      log,
      address,
      https: !h.plaintext,
      ntp: ntpAddress,
      store,
      close: () =>
        (closing ??= (async () => {
          ready = false;
          stopWatching();
          await webhook?.close();
          stopAnchoring();
          ntp?.close();
          clock.stop();
          log.info('stopping');
          // Replication first: a pass may run for hours, and its progress stream holds the admin socket open.
          await replication.close();
          await retentionSchedule.stop();
          await summarySchedule?.stop();
          await videoChecker.close();
          await closeHttp(front, httpServer, config.http.shutdownGraceSeconds * 1000);
          await adminServer.close();
          await auditLog.append({ actor: 'system', source: 'daemon', action: 'daemon.stop', result: 'ok' }).catch(() => undefined);
          // The last head, signed: the next pass after a restart sends it.
          await anchorBook.anchor().catch((err: unknown) => log.error({ err }, 'signing the audit trail head failed'));
          await auditLog.close();
          await auditCarrier.idle();
          await store.close();
          log.info('stopped');
          log.flush();
        })()),
    };
  } catch (err) {
    listener.close();
    ntp?.close();
    clock.stop();
    await admin?.close();
    await replicator?.close();
    await videoCheck?.close();
    await audit?.close();
    await store.close();
    throw err;
  }
}

/**
 * Starts the NTP server unless it is off. A port it may not bind (123 needs
 * root or CAP_NET_BIND_SERVICE) costs one log line, not the API: the
 * connection file then tells the cameras not to use this host for time.
 */
async function startNtp(config: Config, clock: ClockWatcher, log: Logger): Promise<{ server?: NtpServer; address?: string }> {
  if (config.ntp.listen === 'off') return {};
  const { host, port } = parseHostPort(config.ntp.listen, 'ntp.listen');
  const server = new NtpServer({ localStratum: config.ntp.localStratum, requireSync: config.ntp.requireSync, clock: () => clock.current() });
  try {
    const bound = await server.listen(host, port);
    const state = clock.current();
    const address = `${host.includes(':') ? `[${host}]` : host}:${bound}`;
    log.info({ ntp: address, clockSynchronised: state.synchronised, clockSource: state.source }, 'serving NTP');
    return { server, address };
  } catch (err) {
    server.close();
    log.warn({ ntpListen: config.ntp.listen, code: (err as NodeJS.ErrnoException).code }, 'cannot serve NTP on this address; the connection file does not advertise it');
    return {};
  }
}

function listenOn(server: NetServer, { host, port }: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(new OperatorError(`cannot listen on ${host}:${port}: ${err.code ?? err.message}`));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

/**
 * Stops accepting, lets in-flight requests finish for `graceMs`, then cuts
 * the rest. Connections that never sent a byte go at once.
 */
async function closeHttp(front: Front, http: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => front.server.close(() => resolve()));
  front.guard.dropSilent();
  // Connections turn idle as their last responses finish: close those as they do.
  http.closeIdleConnections();
  const idle = setInterval(() => http.closeIdleConnections(), 50);
  const timer = setTimeout(() => {
    http.closeAllConnections();
    front.guard.dropAll(); // and those still in a TLS handshake, which the HTTP server never saw
  }, graceMs);
  await closed;
  clearInterval(idle);
  clearTimeout(timer);
}

/** A digest of the effective configuration with secrets left out, for the audit trail. */
function configDigest(config: Config): string {
  const redacted = {
    ...config,
    replication: { targets: config.replication.targets.map((t) => ({ ...t, key: '(secret)', readerKey: '(secret)', central: { ...t.central, key: '(secret)' } })) },
  };
  return createHash('sha256').update(JSON.stringify(redacted)).digest('hex');
}
