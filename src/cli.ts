#!/usr/bin/env node
/**
 * edgecd's command line. Commands print for people (stdout) and exit non-zero
 * with a one-line reason on failure; the daemon itself logs JSON via pino.
 */
import { X509Certificate, createPublicKey } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { osUserName } from './audit/os-user.ts';
import { adminGet, adminPost, adminStream } from './admin/admin-client.ts';
import { applyUserChange, renewCertificates, type OperationContext } from './admin/operations.ts';
import { checkAgainstAnchors } from './audit/anchor-check.ts';
import { AnchorBook } from './audit/anchors.ts';
import { AuditLog, byTarget, readAuditLines, verifyAuditLog } from './audit/audit-log.ts';
import { loadStationKey, readStationKey } from './audit/station-key.ts';
import { fetchAnchors } from './replication/remote-anchors.ts';
import { SwiftClient } from './swift/client.ts';
import { listUsers, type UserChange, type UserChangeResult, type UserView } from './auth/users.ts';
import { pull, type PullSelection } from './evidence/pull.ts';
import { DECRYPTED, decryptEvidence, loadPrivateKeys } from './evidence/decrypt.ts';
import { generateContentKeys } from './evidence/content-keys.ts';
import { parseTrack, toGeoJson, toGpx, withTimes, type Waypoint } from './bws/gnss.ts';
import { waypoints } from './evidence/folder.ts';
import { IndexDb } from './store/index-db.ts';
import { StoreLayout } from './store/layout.ts';
import { daysUntilExpiry, generateEndpoints, importEndpoint, loadEndpoints } from './tls/endpoints.ts';
import { parseHostPort } from './config/config.ts';
import { readCategories, setCategories } from './bws/categories.ts';
import { connectionOptions, simulate, type ConnectionFileForBws } from './bws/simulator.ts';
import { listRecordings, type RecordingFilter, type RecordingSummary } from './bws/recordings.ts';
import { Credentials } from './auth/credentials.ts';
import { inspectConnectionFile, readCentralConnectionFile } from './connection/connection-file.ts';
import { checkTarget, formatTargetCheck } from './replication/target-check.ts';
import { loadDaemonConfig, startDaemon } from './daemon.ts';
import { initDataDir, paths, reachableHosts } from './admin/data-dir.ts';
import { EdgeError, OperatorError } from './lib/errors.ts';
import { firstBoot, hostMachine } from './appliance/first-boot.ts';
import { createLogger } from './lib/log.ts';
import { ObjectStore } from './store/object-store.ts';
import { reindex } from './store/reindex.ts';
import type { PassProgress, PassReport } from './replication/pass.ts';
import { derivedIndexOps } from './index-hooks.ts';
import { LEDGER_SUBLEVELS, Replicator, type ReplicationStatus } from './replication/replicator.ts';
import { storeStatus, type StoreStatus } from './health/station.ts';
import { VERSION } from './lib/version.ts';

const USAGE = `edgecd ${VERSION} — content destination for body-worn camera systems

usage: edgecd <command> [options]

  init --data DIR [--user NAME] [--key KEY] [--site NAME] [--url URL ...] [--config FILE]
       [--https [--ip IP ...] [--hostname NAME ...] | --https --cert FILE --cert-key FILE]
        create DIR, credentials (generated unless given) and DIR/connection.json;
        --site and --url are saved in the config file; --https sets up certificates
  serve --data DIR --listen HOST:PORT [--ntp-listen HOST:PORT|off] [--config FILE] [--plain-http]
        serve the Swift API over HTTPS (initialises DIR on first start)
  cert show|renew --data DIR         HTTPS certificates; renew rewrites the connection file
  user add NAME --role uploader|reader|replicator|admin [--key KEY] [--account A] --data DIR
  user list|passwd NAME [--key KEY]|disable NAME|enable NAME --data DIR
  audit verify --data DIR            check the audit trail's hash chain
  audit verify --data DIR --against AUTH_URL --user U --key K [--cacert FILE] [--key-id ID]
        and check it against the signed heads a central holds (rewritten, truncated, back-dated lines)
  audit show --recording NAME --data DIR   a recording's chain of custody
  pull --from AUTH_URL --user U --key K [--cacert FILE] [--stall-seconds N] --to DIR
       (--recording NAME | --user-id ID | --device SERIAL | --since DATE --until DATE | --all)
        download recordings with verified hashes: objects, metadata.json, manifest.sha256, custody.json
  keys generate --out DIR [--id ID] [--bits 2048|3072|4096]
        an RSA key pair for end-to-end encryption (WantEncryption); the private key
        (0600) is for the central office and is never written into a data directory
  decrypt --private-key [ID=]KEY.pem ... [--key-id ID] FOLDER|FILE
        decrypt end-to-end encrypted clips and tracks into the folder's decrypted/
  export gnss FOLDER|TRACK --format geojson|gpx [--out FILE]   a GNSS track for GIS tools
  connection-file --data DIR         print the connection file for the Body Worn Manager
  connection-file --check FILE       validate a connection file and explain every violation
  categories set FILE --data DIR     publish the categories in FILE (a JSON list of {"Name", "Id"})
  categories show --data DIR         print the published categories
  recordings --data DIR [--user ID] [--device SERIAL] [--since DATE] [--until DATE] [--incomplete] [--category ID]
        recordings from the index (user by UUID or UserID), with clips, track, bookmarks and manifest
  simulate --connection FILE [--users N] [--devices N] [--recordings N] [--clips N] [--clip-bytes N]
           [--concurrency N] [--extras] [--public-key PEM [--public-key-id ID]] [--connect-to HOST:PORT:HOST2:PORT2]
           [--legacy-names] [--key-names base|spec|reference] [--clip-locations]
        act as a body-worn system against the CD in FILE; print what it answered
  status --data DIR                  totals from the index (through the daemon when it runs)
  replicate --now --data DIR [--target NAME] [--retry-failed]
        one replication pass now (through the daemon when it runs), with progress;
        --retry-failed also retries what a target refused
  replication status --data DIR [--json]   backlog, alarms, capabilities, confirmation and last pass per target
  target check --connection-file FILE [--reader-user U --reader-key K] [--json]
        read-only preflight of a central CD from its connection file: what replication
        will send or hold back, and how it confirms; exit 1 when it cannot be used
  reindex --data DIR [--verify]      rebuild the index from the disk (daemon stopped)
  appliance first-boot [--root DIR] [--boot DIR]
        an appliance image's first boot: disks, name, keys, connection.json (run by systemd)
  help                               this text
`;

const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : text + '\n');

type Values = Record<string, string | boolean | string[] | undefined>;

function need(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.length === 0) throw new UsageError(`--${name} is required`);
  return value;
}

class UsageError extends Error {}

/** curl's --connect-to HOST:PORT:HOST2:PORT2 (IPv4 or names). */
function parseConnectTo(text: string): { from: string; to: string } {
  const m = /^([^:]+:\d+):([^:]+:\d+)$/.exec(text);
  if (!m) throw new UsageError('--connect-to HOST:PORT:HOST2:PORT2, such as 10.0.2.15:443:127.0.0.1:8443');
  return { from: m[1]!.replace(/:443$/, ''), to: m[2]! };
}

function keyNaming(value: unknown): 'base' | 'spec' | 'reference' {
  if (value === 'base' || value === 'spec' || value === 'reference') return value;
  throw new UsageError('--key-names base|spec|reference');
}

/** YYYY-MM-DD (the whole UTC day; its end for --until) or a full ISO time → ms. */
function parseDay(text: string, name: string, endOfDay: boolean): number {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const ms = Date.parse(day ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(ms)) throw new UsageError(`--${name}: a date (YYYY-MM-DD) or an ISO 8601 time`);
  return day && endOfDay ? ms + 86_400_000 - 1 : ms;
}

type Command = {
  options: NonNullable<ParseArgsConfig['options']>;
  run: (v: Values, positionals: string[]) => Promise<number>;
};

const commands: Record<string, Command> = {
  init: {
    options: {
      data: { type: 'string' }, user: { type: 'string' }, key: { type: 'string' }, site: { type: 'string' }, url: { type: 'string', multiple: true }, config: { type: 'string' },
      https: { type: 'boolean' }, ip: { type: 'string', multiple: true }, hostname: { type: 'string', multiple: true }, cert: { type: 'string' }, 'cert-key': { type: 'string' },
    },
    async run(v) {
      const dir = resolve(need(v, 'data'));
      if (await adminGet(paths(dir).adminSocket, '/status')) {
        throw new OperatorError('the daemon is running here: init would change keys and certificates under it. Stop it first, or use edgecd user passwd / cert renew');
      }
      await mkdir(dir, { recursive: true, mode: 0o750 });
      return underStationLock(dir, async (audit) => {
        const changes: string[] = [];
        if (v.https === true) {
          const config = await loadDaemonConfig({ dataDir: dir, configFile: v.config as string | undefined }, true);
          let endpoints;
          if (typeof v.cert === 'string' || typeof v['cert-key'] === 'string') {
            endpoints = await importEndpoint(dir, await readFile(need(v, 'cert'), 'utf8'), await readFile(need(v, 'cert-key'), 'utf8'));
          } else {
            const names = [...((v.ip as string[] | undefined) ?? []), ...((v.hostname as string[] | undefined) ?? [])];
            endpoints = await generateEndpoints(dir, names.length > 0 ? names : reachableHosts(parseHostPort(config.listen, 'listen')), config.tls);
          }
          for (const e of endpoints) out(`HTTPS for ${e.name}: ${e.cert} (until ${e.notAfter.toISOString().slice(0, 10)}${e.generated ? ', self-signed' : ''})`);
          changes.push(`https: ${endpoints.map((e) => e.name).join(', ')}`);
        } else if (v.ip !== undefined || v.hostname !== undefined || v.cert !== undefined) {
          throw new UsageError('--ip, --hostname and --cert go with --https');
        }
        const options = {
          configFile: v.config as string | undefined,
          user: v.user as string | undefined,
          key: v.key as string | undefined,
          siteName: v.site as string | undefined,
          authUrls: v.url as string[] | undefined,
        };
        const load = () => loadDaemonConfig({ dataDir: dir, configFile: v.config as string | undefined }, true);
        const { user, keySet } = await initDataDir(dir, options, load, parseHostPort((await load()).listen, 'listen'));
        if (keySet) changes.push(`new key for ${user}`);
        await audit.append({ actor: `cli:${osUserName()}`, source: 'cli', action: 'init', target: dir, result: 'ok', details: { changes } });
        out(`${dir}: user ${user}${keySet ? ' with a new key' : ' (key unchanged)'}`);
        out(`connection file for the Body Worn Manager: ${paths(dir).connection}`);
        return 0;
      });
    },
  },
  serve: {
    options: { data: { type: 'string' }, listen: { type: 'string' }, 'ntp-listen': { type: 'string' }, config: { type: 'string' }, 'plain-http': { type: 'boolean' } },
    async run(v) {
      const daemon = await startDaemon({
        dataDir: resolve(need(v, 'data')),
        listen: v.listen as string | undefined,
        ntpListen: v['ntp-listen'] as string | undefined,
        configFile: v.config as string | undefined,
        plaintext: v['plain-http'] === true,
      });
      await new Promise<void>((done) => {
        const stop = (signal: string) => {
          daemon.log.info({ signal }, 'signal received');
          void daemon.close().then(done);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      return 0;
    },
  },
  'connection-file': {
    options: { data: { type: 'string' }, check: { type: 'string' } },
    async run(v) {
      if (typeof v.check === 'string') {
        const { problems, warnings } = inspectConnectionFile(await readFile(v.check, 'utf8'));
        if (problems.length === 0) out(`${v.check}: valid`);
        else out(`${v.check}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
        for (const p of problems) out(`  - ${p}`);
        for (const w of warnings) out(`  warning: ${w}`);
        return problems.length === 0 ? 0 : 1;
      }
      const file = paths(resolve(need(v, 'data'))).connection;
      out(await readFile(file, 'utf8').catch(() => {
        throw new UsageError(`${file} does not exist yet: run edgecd init or serve first`);
      }));
      return 0;
    },
  },
  categories: {
    options: { data: { type: 'string' } },
    async run(v, positionals) {
      const dir = resolve(need(v, 'data'));
      const [action, file] = positionals;
      if (action === 'set' && file && positionals.length === 2) {
        const categories = await setCategories(dir, await readFile(file, 'utf8'));
        out(`${categories.length} categories published as System/Categories.json (BWSs read them once a day, or when the connection file is uploaded again)`);
        return 0;
      }
      if (action === 'show' && positionals.length === 1) {
        out(JSON.stringify(await readCategories(dir), null, 2));
        return 0;
      }
      throw new UsageError('use: categories set FILE --data DIR, or categories show --data DIR');
    },
  },
  recordings: {
    options: {
      data: { type: 'string' }, user: { type: 'string' }, device: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' },
      incomplete: { type: 'boolean' }, category: { type: 'string' },
    },
    async run(v) {
      const dir = resolve(need(v, 'data'));
      const filter: RecordingFilter = {};
      if (typeof v.user === 'string') filter.user = v.user;
      if (typeof v.device === 'string') filter.device = v.device;
      if (typeof v.since === 'string') filter.since = parseDay(v.since, 'since', false);
      if (typeof v.until === 'string') filter.until = parseDay(v.until, 'until', true);
      if (v.incomplete === true) filter.incomplete = true;
      if (typeof v.category === 'string') filter.category = v.category;
      const account = (await Credentials.load(paths(dir).credentials)).users[0]?.account ?? '';
      const query = `/recordings?account=${encodeURIComponent(account)}&filter=${encodeURIComponent(JSON.stringify(filter))}`;
      let recordings = await adminGet<RecordingSummary[]>(paths(dir).adminSocket, query);
      if (!recordings) {
        const store = await openStoreDirect(dir);
        try {
          recordings = await listRecordings(store, account, filter);
        } finally {
          await store.close();
        }
      }
      out(JSON.stringify({ count: recordings.length, recordings }, null, 2));
      return 0;
    },
  },
  simulate: {
    options: {
      connection: { type: 'string' }, users: { type: 'string' }, devices: { type: 'string' }, recordings: { type: 'string' },
      clips: { type: 'string' }, 'clip-bytes': { type: 'string' }, concurrency: { type: 'string' }, extras: { type: 'boolean' },
      'public-key': { type: 'string' }, 'public-key-id': { type: 'string' }, 'connect-to': { type: 'string' },
      'legacy-names': { type: 'boolean' }, 'key-names': { type: 'string' }, 'clip-locations': { type: 'boolean' },
    },
    async run(v) {
      const file = JSON.parse(await readFile(need(v, 'connection'), 'utf8')) as ConnectionFileForBws;
      const number = (name: string, fallback: number) => {
        const text = v[name];
        if (text === undefined) return fallback;
        if (typeof text !== 'string' || !/^\d+$/.test(text)) throw new UsageError(`--${name}: a whole number`);
        return Number(text);
      };
      const report = await simulate({
        // A BWS encrypts for the key its connection file gives, when it wants encryption; --public-key overrides.
        ...connectionOptions(file),
        users: number('users', 5),
        devices: number('devices', 3),
        recordings: number('recordings', 10),
        clipsPerRecording: number('clips', 3),
        clipBytes: number('clip-bytes', 1024 * 1024),
        concurrency: number('concurrency', 2),
        extras: v.extras === true,
        legacyNames: v['legacy-names'] === true,
        clipLocations: v['clip-locations'] === true,
        ...(v['key-names'] !== undefined ? { keyNames: keyNaming(v['key-names']) } : {}),
        firstTrigger: new Date(Math.floor(Date.now() / 86_400_000 - 1) * 86_400_000),
        ...(typeof v['public-key'] === 'string'
          ? { encryption: { publicKey: createPublicKey(await readFile(v['public-key'], 'utf8')), publicKeyId: typeof v['public-key-id'] === 'string' ? v['public-key-id'] : 'simulator' } }
          : {}),
        progress: (line) => process.stderr.write(line + '\n'),
        ...(typeof v['connect-to'] === 'string' ? { connectTo: parseConnectTo(v['connect-to']) } : {}),
      });
      out(JSON.stringify(report, null, 2));
      return report.stoppedOnFullDisk ? 1 : 0;
    },
  },
  status: {
    options: { data: { type: 'string' } },
    async run(v) {
      const dir = resolve(need(v, 'data'));
      let status = await adminGet<StoreStatus>(paths(dir).adminSocket, '/status');
      if (!status) {
        const store = await openStoreDirect(dir);
        try {
          status = await storeStatus(store, 'index');
        } finally {
          await store.close();
        }
      }
      out(JSON.stringify(status, null, 2));
      return 0;
    },
  },
  replicate: {
    options: { data: { type: 'string' }, now: { type: 'boolean' }, target: { type: 'string' }, 'retry-failed': { type: 'boolean' }, config: { type: 'string' } },
    async run(v) {
      if (v.now !== true) throw new UsageError('replicate runs one pass now: give --now (the daemon runs scheduled passes)');
      const dir = resolve(need(v, 'data'));
      const target = typeof v.target === 'string' ? v.target : undefined;
      const retryFailed = v['retry-failed'] === true;
      const bar = transferBar(Date.now());
      const show = (p: PassProgress) => bar(Math.max(0, p.bytesDone), p.bytesTotal, `${p.target}: jobs ${p.jobsDone}/${p.jobsTotal}`);
      let reports: PassReport[] | undefined;
      let failure: string | undefined;
      const query = new URLSearchParams({ ...(target ? { target } : {}), ...(retryFailed ? { retryFailed: '1' } : {}) });
      const viaDaemon = await adminStream(paths(dir).adminSocket, `/replicate?${query}`, (line) => {
        const l = line as { progress?: PassProgress; reports?: PassReport[]; error?: string };
        if (l.progress) show(l.progress);
        if (l.reports) reports = l.reports;
        if (l.error) failure = l.error;
      });
      if (!viaDaemon) {
        const config = await loadDaemonConfig({ dataDir: dir, ...(typeof v.config === 'string' ? { configFile: v.config } : {}) });
        const log = createLogger('warn');
        const store = await ObjectStore.open(dir, { maxObjectBytes: Infinity, log, derivedOps: derivedIndexOps });
        try {
          // The store's index lock is held: this process is the audit trail's only writer.
          const audit = await AuditLog.open(paths(dir).audit, paths(dir).auditHead);
          try {
            const anchors = await AnchorBook.open(dir, await loadStationKey(paths(dir).stationKey), audit, config.siteName);
            const replicator = await Replicator.open(store, config, log, 'pass', { audit, anchors, dir });
            try {
              reports = await replicator.runNow({ ...(target ? { target } : {}), retryFailed, onProgress: show });
            } finally {
              await replicator.close();
            }
          } finally {
            await audit.close();
          }
        } finally {
          await store.close();
        }
      }
      bar.done();
      if (failure) throw new OperatorError(failure);
      out(JSON.stringify(reports, null, 2));
      return reports?.every((r) => r.outcome === 'done') ? 0 : 1;
    },
  },
  replication: {
    options: { data: { type: 'string' }, json: { type: 'boolean' }, config: { type: 'string' } },
    async run(v, positionals) {
      if (positionals[0] !== 'status') throw new UsageError('replication status --data DIR');
      const dir = resolve(need(v, 'data'));
      let status = await adminGet<ReplicationStatus>(paths(dir).adminSocket, '/replication');
      if (!status) {
        const config = await loadDaemonConfig({ dataDir: dir, ...(typeof v.config === 'string' ? { configFile: v.config } : {}) });
        const store = await openStoreDirect(dir);
        try {
          status = await (await Replicator.open(store, config, createLogger('warn'), 'none')).status();
        } finally {
          await store.close();
        }
      }
      out(v.json === true ? JSON.stringify(status, null, 2) : formatReplicationStatus(status));
      return 0;
    },
  },
  keys: {
    options: { out: { type: 'string' }, id: { type: 'string' }, bits: { type: 'string' }, data: { type: 'string' } },
    async run(v, positionals) {
      if (positionals[0] !== 'generate' || positionals.length > 1) throw new UsageError('keys generate --out DIR [--id ID] [--bits 2048|3072|4096]');
      const folder = resolve(need(v, 'out'));
      const id = typeof v.id === 'string' ? v.id : `contentkey-${new Date().toISOString().slice(0, 10)}`;
      const bits = Number(typeof v.bits === 'string' ? v.bits : 3072);
      const keys = await generateContentKeys(folder, { id, bits, ...(typeof v.data === 'string' ? { dataDir: resolve(v.data) } : {}) });
      out(`private key (0600): ${keys.privateKeyFile}`);
      out(`public key:         ${keys.publicKeyFile}`);
      out('');
      out('To have the cameras encrypt for it, copy the PUBLIC key to the station and add to its configuration:');
      out(JSON.stringify({ connection: { wantEncryption: true, publicKeyFile: '/etc/edgecd/' + basename(keys.publicKeyFile), publicKeyId: keys.id } }, null, 2));
      out('then restart edgecd and upload the new connection.json in the Body Worn Manager. WantEncryption can never be turned off again.');
      out('');
      out(`WARNING: the private key decrypts every recording made for it. Keep it at the central office with the clerks (edgecd decrypt --private-key ${keys.id}=FILE),`);
      out('never on a field station, and keep a backup: without it, encrypted evidence cannot be read.');
      return 0;
    },
  },
  target: {
    options: { 'connection-file': { type: 'string' }, 'reader-user': { type: 'string' }, 'reader-key': { type: 'string' }, json: { type: 'boolean' } },
    async run(v, positionals) {
      if (positionals[0] !== 'check' || positionals.length > 1) throw new UsageError('target check --connection-file FILE');
      const file = need(v, 'connection-file');
      const { connection, problems, warnings } = readCentralConnectionFile(await readFile(file, 'utf8'));
      if (!connection) {
        out(`${file}: not a usable connection file`);
        for (const p of problems) out(`  - ${p}`);
        return 1;
      }
      if ((v['reader-user'] === undefined) !== (v['reader-key'] === undefined)) throw new UsageError('--reader-user and --reader-key go together');
      const reader = typeof v['reader-user'] === 'string' ? { user: v['reader-user'], key: need(v, 'reader-key') } : undefined;
      const report = await checkTarget(connection, { ...(reader ? { reader } : {}), warnings: warnings.map((w) => `connection file: ${w}`) });
      out(v.json === true ? JSON.stringify(report, null, 2) : formatTargetCheck(file, report));
      return report.usable ? 0 : 1;
    },
  },
  user: {
    options: { data: { type: 'string' }, role: { type: 'string' }, key: { type: 'string' }, account: { type: 'string' }, config: { type: 'string' } },
    async run(v, positionals) {
      const dir = resolve(need(v, 'data'));
      const [action, name, ...extra] = positionals;
      if (action === 'list' && name === undefined) {
        const users = (await adminGet<UserView[]>(paths(dir).adminSocket, '/users')) ?? (await listUsers(paths(dir).credentials));
        for (const u of users) out(`${u.user.padEnd(24)} ${u.role.padEnd(10)} account ${u.account}${u.disabled ? '  (disabled)' : ''}`);
        return 0;
      }
      if (!name || extra.length > 0 || !['add', 'passwd', 'disable', 'enable'].includes(action ?? '')) {
        throw new UsageError('user add NAME --role ROLE [--key KEY] | user list | user passwd NAME [--key KEY] | user disable NAME | user enable NAME');
      }
      const key = typeof v.key === 'string' ? v.key : undefined;
      const change: UserChange = action === 'add'
        ? { op: 'add', user: name, role: need(v, 'role'), ...(key ? { key } : {}), ...(typeof v.account === 'string' ? { account: v.account } : {}) }
        : action === 'passwd' ? { op: 'passwd', user: name, ...(key ? { key } : {}) } : { op: action as 'disable' | 'enable', user: name };
      const result = await operate<UserChangeResult>(dir, v, '/users', { change }, (ctx, actor) => applyUserChange(ctx, change, actor, 'cli'));
      out(`${result.user.user}: ${result.user.role} in account ${result.user.account}${result.user.disabled ? ', disabled (its tokens stop working within a second)' : ''}`);
      if (result.generatedKey) out(`key (shown once, store it now): ${result.generatedKey}`);
      if (result.isConnectionUser && result.key) out(`${paths(dir).connection} now holds the new key: upload it in the Body Worn Manager`);
      return 0;
    },
  },
  cert: {
    options: { data: { type: 'string' }, config: { type: 'string' } },
    async run(v, positionals) {
      const dir = resolve(need(v, 'data'));
      if (positionals[0] === 'show' && positionals.length === 1) {
        const endpoints = await loadEndpoints(dir);
        if (endpoints.length === 0) out('no HTTPS endpoints (plain HTTP): edgecd init --https sets them up');
        for (const e of endpoints) {
          out(`${e.name.padEnd(24)} until ${e.notAfter.toISOString()}  ${e.generated ? 'self-signed' : 'operator-supplied'}  ${e.cert}`);
          // What a browser or `openssl x509 -fingerprint -sha256` shows, for checking by eye.
          out(`${''.padEnd(24)} SHA-256 ${new X509Certificate(e.certPem).fingerprint256}`);
        }
        const days = daysUntilExpiry(endpoints);
        if (days !== null) out(`first expiry in ${days} days`);
        return 0;
      }
      if (positionals[0] !== 'renew' || positionals.length !== 1) throw new UsageError('cert renew --data DIR | cert show --data DIR');
      const result = await operate<{ renewed: string[]; kept: string[]; daysUntilExpiry: number | null }>(dir, v, '/cert/renew', {}, (ctx, actor) => renewCertificates(ctx, actor, 'cli'));
      out(`renewed: ${result.renewed.join(', ') || 'none'}${result.kept.length ? `; operator certificates left as they are: ${result.kept.join(', ')}` : ''}`);
      out(`first expiry in ${result.daysUntilExpiry} days; upload ${paths(dir).connection} in the Body Worn Manager: it pins the new certificates`);
      return 0;
    },
  },
  audit: {
    options: {
      data: { type: 'string' }, recording: { type: 'string' }, account: { type: 'string' },
      against: { type: 'string' }, user: { type: 'string' }, key: { type: 'string' }, cacert: { type: 'string' }, 'key-id': { type: 'string' },
    },
    async run(v, positionals) {
      const dir = resolve(need(v, 'data'));
      const p = paths(dir);
      if (positionals[0] === 'verify' && positionals.length === 1) {
        const report = await verifyAuditLog(p.audit, p.auditHead);
        if (report.ok) out(`${p.audit}: ${report.lines} lines, chain intact${report.head ? ` (head at line ${report.head.seq})` : ''}`);
        else out(`${p.audit}: BROKEN at line ${report.firstBad!.line}: ${report.firstBad!.reason}`);
        if (typeof v.against !== 'string') return report.ok ? 0 : 1;
        return (await verifyAgainstAnchors(p, v)) && report.ok ? 0 : 1;
      }
      if (positionals[0] === 'show' && positionals.length === 1) {
        const recording = need(v, 'recording');
        const account = typeof v.account === 'string' ? v.account : ((await Credentials.load(p.credentials)).users[0]?.account ?? '');
        const prefix = `AUTH_${account}/${recording}`;
        let n = 0;
        for await (const line of readAuditLines(p.audit, byTarget(prefix))) {
          out(JSON.stringify(line));
          n += 1;
        }
        if (n === 0) out(`no audit lines for ${prefix}`);
        return 0;
      }
      throw new UsageError('audit verify --data DIR [--against AUTH_URL --user U --key K [--cacert FILE] [--key-id ID]] | audit show --recording NAME --data DIR [--account ACCOUNT]');
    },
  },
  pull: {
    options: {
      from: { type: 'string' }, user: { type: 'string' }, key: { type: 'string' }, cacert: { type: 'string' }, to: { type: 'string' },
      recording: { type: 'string' }, 'user-id': { type: 'string' }, device: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, all: { type: 'boolean' },
      'stall-seconds': { type: 'string' },
    },
    async run(v) {
      const selection: PullSelection = {};
      const stall = v['stall-seconds'] === undefined ? undefined : Number(v['stall-seconds']);
      if (stall !== undefined && !(stall > 0)) throw new UsageError('--stall-seconds: a number of seconds');
      if (typeof v.recording === 'string') selection.recording = v.recording;
      if (typeof v['user-id'] === 'string') selection.userId = v['user-id'];
      if (typeof v.device === 'string') selection.device = v.device;
      if (typeof v.since === 'string') selection.since = parseDay(v.since, 'since', false);
      if (typeof v.until === 'string') selection.until = parseDay(v.until, 'until', true);
      if (v.all === true) selection.all = true;
      if (Object.keys(selection).length === 0) throw new UsageError('choose what to pull: --recording NAME, --user-id ID, --device SERIAL, --since/--until DATE, or --all');
      const source = {
        authUrl: need(v, 'from'), user: need(v, 'user'), key: need(v, 'key'),
        ...(typeof v.cacert === 'string' ? { ca: await readFile(v.cacert, 'utf8') } : {}),
      };
      const to = resolve(need(v, 'to'));
      const started = Date.now();
      const bar = transferBar(started);
      const report = await pull(source, selection, to, { onProgress: (p) => bar(p.bytesDone, p.bytesTotal, `${p.objectsDone}/${p.objectsTotal} objects`), ...(stall ? { stallMs: stall * 1000 } : {}) });
      bar.done();
      for (const r of report.recordings) {
        out(`${r.failures.length ? 'FAILED' : 'ok    '} ${r.name}: ${r.objects - r.failures.length}/${r.objects} objects verified (${r.downloaded} fetched), ${mb(r.bytes)} → ${r.folder}`);
        for (const f of r.failures) out(`         ${f.object}: ${f.reason}`);
        for (const n of r.notes) out(`         note: ${n}`);
      }
      out(`${report.recordings.length} recordings, ${mb(report.bytes)} in ${report.seconds.toFixed(1)} s; ${report.failed} objects failed verification or download`);
      return report.failed > 0 || report.recordings.length === 0 ? 1 : 0;
    },
  },
  decrypt: {
    options: { 'private-key': { type: 'string', multiple: true }, 'key-id': { type: 'string' } },
    async run(v, positionals) {
      const specs = v['private-key'] as string[] | undefined;
      if (!specs?.length || positionals.length !== 1) throw new UsageError('decrypt --private-key [ID=]KEY.pem [--private-key …] [--key-id ID] FOLDER|FILE');
      const report = await decryptEvidence(resolve(positionals[0]!), await loadPrivateKeys(specs), typeof v['key-id'] === 'string' ? { keyId: v['key-id'] } : {});
      for (const d of report.decrypted) out(`decrypted ${basename(d.source)} → ${basename(d.output)} (sha256 ${d.outputSha256})`);
      for (const s of report.skipped) out(`skipped   ${basename(s.file)}: ${s.reason}`);
      for (const f of report.failed) out(`FAILED    ${basename(f.file)}: ${f.reason}`);
      out(`${report.decrypted.length} decrypted, ${report.skipped.length} skipped, ${report.failed.length} failed`);
      return report.failed.length > 0 ? 1 : 0;
    },
  },
  export: {
    options: { format: { type: 'string' }, out: { type: 'string' } },
    async run(v, positionals) {
      const [what, recording] = positionals;
      if (what !== 'gnss' || !recording || positionals.length !== 2) throw new UsageError('export gnss RECORDING_FOLDER|TRACK_FILE --format geojson|gpx [--out FILE]');
      const format = (v.format as string | undefined) ?? 'geojson';
      if (format !== 'geojson' && format !== 'gpx') throw new UsageError('--format: geojson or gpx');
      const text = await exportTrack(resolve(recording), format);
      if (typeof v.out === 'string') await writeFile(v.out, text);
      else out(text);
      return 0;
    },
  },
  appliance: {
    options: { root: { type: 'string' }, boot: { type: 'string' } },
    async run(v, positionals) {
      if (positionals[0] !== 'first-boot' || positionals.length !== 1) throw new UsageError('appliance first-boot [--root DIR] [--boot DIR]');
      const root = resolve((v.root as string | undefined) ?? '/');
      await firstBoot({
        root,
        boot: resolve((v.boot as string | undefined) ?? join(root, 'boot/firmware')),
        machine: hostMachine(),
        cli: fileURLToPath(import.meta.url),
        say: (line) => out(`edgecd first boot: ${line}`),
      });
      return 0;
    },
  },
  reindex: {
    options: { data: { type: 'string' }, verify: { type: 'boolean' } },
    async run(v) {
      const dir = resolve(need(v, 'data'));
      const report = await reindex(dir, { log: createLogger('warn'), verify: v.verify === true, derivedOps: derivedIndexOps, carryOver: LEDGER_SUBLEVELS });
      out(`reindexed ${dir}: ${report.accounts} accounts, ${report.containers} containers, ${report.objects} objects, ${report.bytes} bytes`);
      if (report.warnings.length > 0) out(`${report.warnings.length} warnings:\n  ${report.warnings.join('\n  ')}`);
      return 0;
    },
  },
};

/** Opens the store in this process (the daemon is not running), with the same index hooks (replication queue, catalogue). */
function openStoreDirect(dir: string): Promise<ObjectStore> {
  return ObjectStore.open(dir, { maxObjectBytes: Infinity, log: createLogger('warn'), derivedOps: derivedIndexOps });
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Bytes, rate and ETA on stderr: redrawn on a terminal, a line every few seconds otherwise. */
function transferBar(started: number): ((done: number, total: number, extra: string) => void) & { done(): void } {
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  let drawn = false;
  const draw = (done: number, total: number, extra: string) => {
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 && total > done ? `${Math.ceil((total - done) / rate)} s left` : '';
    const share = total > 0 ? Math.min(1, done / total) : 1;
    const text = `${'#'.repeat(Math.round(share * 30)).padEnd(30, '.')} ${(share * 100).toFixed(0).padStart(3)}%  ${mb(done)}/${mb(total)}  ${mb(rate)}/s  ${eta}  ${extra}`;
    if (tty) {
      process.stderr.write(`\r${text}\x1b[K`);
      drawn = true;
    } else if (Date.now() - lastLine > 5000 || done >= total) {
      process.stderr.write(text + '\n');
      lastLine = Date.now();
    }
  };
  return Object.assign(draw, { done: () => drawn && process.stderr.write('\n') });
}

/** A pulled recording's (or a file's) GNSS track as GeoJSON or GPX. */
async function exportTrack(path: string, format: 'geojson' | 'gpx'): Promise<string> {
  const info = await stat(path);
  let trackFile = path;
  let recording = basename(path);
  let startMs: number | undefined;
  let places: Waypoint[] = [];
  if (info.isDirectory()) {
    const names = await readdir(path);
    const track = names.find((n) => n.endsWith('_gpstrail.json'));
    if (!track) throw new OperatorError(`${path} has no GNSS track (*_gpstrail.json)`);
    // A decrypted track (decrypt writes it into decrypted/) wins over its ciphertext.
    const decrypted = join(path, DECRYPTED, track);
    trackFile = (await stat(decrypted).then((s) => s.isFile(), () => false)) ? decrypted : join(path, track);
    const meta = await readFile(join(path, 'metadata.json'), 'utf8').then((t) => JSON.parse(t) as { recording?: string; container?: Record<string, string>; objects?: { name: string; metadata: Record<string, string> }[] }, () => undefined);
    if (meta?.recording) recording = meta.recording;
    // Bookmarks that say where they were set become named waypoints.
    places = waypoints((meta?.objects ?? []).map((o) => ({ name: o.name, meta: o.metadata ?? {} })));
    const start = Number(meta?.container?.starttime);
    if (Number.isFinite(start) && start > 0) startMs = start > 1e11 ? start : start * 1000;
  }
  let points;
  try {
    points = withTimes(parseTrack(await readFile(trackFile, 'utf8')), startMs);
  } catch (err) {
    throw new OperatorError(`${trackFile}: ${(err as Error).message}${basename(dirname(trackFile)) === DECRYPTED ? '' : ' (if the recording is encrypted, run edgecd decrypt first)'}`);
  }
  return format === 'gpx' ? toGpx(points, { recording }, places) : toGeoJson(points, { recording, source: basename(trackFile) }, places);
}

function formatReplicationStatus(status: ReplicationStatus): string {
  if (status.targets.length === 0) return 'no replication targets configured (replication.targets in the config)';
  const lines: string[] = [];
  for (const t of status.targets) {
    const b = t.backlog;
    lines.push(`${t.name}${t.enabled ? '' : ' (disabled)'}  ${t.authUrl}  schedule "${t.schedule}"${t.nextRun ? `  next ${t.nextRun}` : ''}${t.running ? '  [running]' : ''}`);
    if (!t.registered) lines.push('  not registered yet: the daemon (or replicate --now) queues its backlog when it starts');
    lines.push(`  backlog: ${b.recordings} recordings, ${b.rejected} rejected-content containers, ${b.unrecognised} containers with unrecognised names, ${b.objects} registry objects, ${mb(b.bytes)}${b.oldestEnqueuedAt ? `, oldest queued ${new Date(b.oldestEnqueuedAt).toISOString()}` : ''}`);
    if (b.waiting > 0) lines.push(`  waiting out a backoff: ${b.waiting}`);
    if (b.failed > 0) lines.push(`  refused by the target (run replicate --now --retry-failed after fixing): ${b.failed}`);
    if (b.lastError) lines.push(`  last error: ${b.lastError}`);
    if (t.lastPass) lines.push(`  last pass: ${t.lastPass.outcome} at ${new Date(t.lastPass.finishedAt).toISOString()}`);
    if (t.registered) lines.push(`  capabilities: ${t.capabilities.join(', ') || 'none'}${t.capabilitiesProblem ? ` (${t.capabilitiesProblem})` : ''}`);
    const held = Object.entries(t.heldBack);
    if (held.length > 0) lines.push(`  held back (the target does not declare what they need; their recordings stay here unless evictHeldBack): ${held.map(([cap, n]) => `${n} for ${cap}`).join(', ')}`);
    if (t.confirmation.level) lines.push(`  confirmation: ${t.confirmation.level} (eviction needs ${t.confirmation.needed})`);
    if (t.confirmation.warning) lines.push(`  WARNING: ${t.confirmation.warning}`);
    if (t.alarm) lines.push(`  ALARM: ${t.alarm.message} (since ${new Date(t.alarm.since).toISOString()})`);
  }
  lines.push(`recordings every enabled target holds, confirmed as eviction needs (evictable when old enough, if eviction is on): ${status.heldByAllTargets}`);
  const u = status.unrecognisedName;
  if (u.count > 0) lines.push(`unrecognised name: ${u.count} container(s), replicated as they are and never evicted: ${u.names.join(', ')}${u.count > u.names.length ? ', …' : ''}`);
  return lines.join('\n');
}

/**
 * Runs an administrative change through the daemon when it runs (it writes
 * the audit trail), or here with the index lock held when it does not.
 */
async function operate<T>(dir: string, v: Values, path: string, body: object, direct: (ctx: OperationContext, actor: string) => Promise<T>): Promise<T> {
  const actor = `cli:${osUserName()}`;
  const viaDaemon = await adminPost<T | { error: string }>(paths(dir).adminSocket, path, { ...body, actor });
  if (viaDaemon !== undefined) {
    if (typeof viaDaemon === 'object' && viaDaemon !== null && 'error' in viaDaemon) throw new OperatorError(viaDaemon.error);
    return viaDaemon as T;
  }
  const config = await loadDaemonConfig({ dataDir: dir, ...(typeof v.config === 'string' ? { configFile: v.config } : {}) });
  return underStationLock(dir, (audit) => direct({ dir, config, listen: parseHostPort(config.listen, 'listen'), ntpServing: false, audit }, actor));
}

/**
 * `audit verify --against`: the trail checked against the signed heads a CD
 * holds for the station's key (or --key-id's); prints the verdict, true when
 * nothing is wrong.
 */
async function verifyAgainstAnchors(p: ReturnType<typeof paths>, v: Values): Promise<boolean> {
  const keyId = typeof v['key-id'] === 'string' ? v['key-id'] : (await readStationKey(p.stationKey))?.keyId;
  if (keyId === undefined) throw new OperatorError(`${p.stationKey} is missing: name the key the anchors were signed with (--key-id, from the central's edgecd-audit-<id> container)`);
  if (!/^[0-9a-f]{16}$/.test(keyId)) throw new UsageError('--key-id: 16 hex digits');
  const cacert = typeof v.cacert === 'string' ? await readFile(v.cacert, 'utf8') : undefined;
  const client = new SwiftClient({ authUrl: need(v, 'against'), user: need(v, 'user'), key: need(v, 'key'), ...(cacert ? { ca: cacert } : {}), sockets: 2 });
  try {
    const { anchors, invalid } = await fetchAnchors(client, keyId);
    const report = await checkAgainstAnchors(p.audit, anchors);
    out(`anchors of key ${keyId} at ${String(v.against)}: ${anchors.length}${report.verifiedThrough ? `; the trail matches them through line ${report.verifiedThrough.seq} (anchored ${report.verifiedThrough.time})` : ''}`);
    for (const bad of invalid) out(`NOT AN ANCHOR ${bad.name}: ${bad.reason}`);
    for (const problem of report.problems) out(`PROBLEM ${problem}`);
    if (report.ok) out(`${report.unanchored} line(s) after the newest anchor are not anchored yet`);
    return report.ok && invalid.length === 0 && anchors.length > 0;
  } finally {
    client.close();
  }
}

/** Runs `work` holding the index lock (proof no daemon runs), with the audit trail open for it. */
async function underStationLock<T>(dir: string, work: (audit: AuditLog) => Promise<T>): Promise<T> {
  const lock = await IndexDb.open(new StoreLayout(dir).indexDir);
  try {
    const p = paths(dir);
    const audit = await AuditLog.open(p.audit, p.auditHead);
    try {
      return await work(audit);
    } finally {
      await audit.close();
    }
  } finally {
    await lock.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    out(USAGE);
    return name ? 0 : 2;
  }
  if (name === '--version') {
    out(VERSION);
    return 0;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  const { values, positionals } = parseArgs({ args: rest, options: command.options, strict: true, allowPositionals: ['categories', 'replication', 'target', 'keys', 'user', 'cert', 'audit', 'export', 'decrypt', 'appliance'].includes(name) });
  return command.run(values as Values, positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const known = err instanceof UsageError || err instanceof OperatorError || err instanceof EdgeError
      || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`edgecd: ${(err as Error).message}\n`);
    if (!known) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    if (err instanceof UsageError) process.stderr.write(`run 'edgecd help' for usage\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
