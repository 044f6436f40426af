/**
 * Commands that set up and look after a station's data directory: init, the
 * connection file for the Body Worn Manager, status totals, and reindex.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { adminGet } from '../admin/admin-client.ts';
import { initDataDir, paths, reachableHosts } from '../admin/data-dir.ts';
import { osUserName } from '../audit/os-user.ts';
import { parseHostPort } from '../config/config.ts';
import { inspectConnectionFile } from '../connection/connection-file.ts';
import { loadDaemonConfig } from '../daemon.ts';
import { storeStatus, type StoreStatus } from '../health/station.ts';
import { CARRIED_OVER, derivedIndexOps } from '../index-hooks.ts';
import { OperatorError } from '../lib/errors.ts';
import { createLogger } from '../lib/log.ts';
import { reindex } from '../store/reindex.ts';
import { generateEndpoints, importEndpoint } from '../tls/endpoints.ts';
import { need, UsageError, type Command } from './args.ts';
import { logDestination, out } from './output.ts';
import { underStationLock, viaDaemonOrDirect, withStore } from './via-daemon.ts';

export const stationCommands: Record<string, Command> = {
  init: {
    options: {
      data: { type: 'string' },
      user: { type: 'string' },
      key: { type: 'string' },
      site: { type: 'string' },
      url: { type: 'string', multiple: true },
      config: { type: 'string' },
      https: { type: 'boolean' },
      ip: { type: 'string', multiple: true },
      hostname: { type: 'string', multiple: true },
      cert: { type: 'string' },
      'cert-key': { type: 'string' },
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
      out(
        await readFile(file, 'utf8').catch(() => {
          throw new UsageError(`${file} does not exist yet: run edgecd init or serve first`);
        }),
      );
      return 0;
    },
  },
  status: {
    options: { data: { type: 'string' } },
    async run(v) {
      const dir = resolve(need(v, 'data'));
      const status = await viaDaemonOrDirect(
        dir,
        (adminSocket) => adminGet<StoreStatus>(adminSocket, '/status'),
        () => withStore(dir, (store) => storeStatus(store, 'index')),
      );
      out(JSON.stringify(status, null, 2));
      return 0;
    },
  },
  reindex: {
    options: { data: { type: 'string' }, verify: { type: 'boolean' } },
    async run(v) {
      const dir = resolve(need(v, 'data'));
      const report = await reindex(dir, {
        log: createLogger('warn', logDestination()),
        verify: v.verify === true,
        derivedOps: derivedIndexOps,
        carryOver: CARRIED_OVER,
      });
      out(`reindexed ${dir}: ${report.accounts} accounts, ${report.containers} containers, ${report.objects} objects, ${report.bytes} bytes`);
      if (report.warnings.length > 0) out(`${report.warnings.length} warnings:\n  ${report.warnings.join('\n  ')}`);
      return 0;
    },
  },
};
