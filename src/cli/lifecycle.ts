/**
 * The evidence lifecycle from the command line:
 * - `retention plan`: what retention lets go within N days, and what stays
 *   and why; `retention run`: the deletion job, now;
 * - `deleted`: the tombstones; `restore NAME`: a recording back from the
 *   trash, under a hold (the daemon stopped: it rebuilds the index);
 * - `hold add|list|release`: legal holds.
 * Through the daemon when it runs. Holds and restores need a custodian's name
 * and key (--as NAME, and --key or EDGECD_KEY, so the key need not be on a
 * command line), checked where the change is made; every attempt is audited.
 */
import { resolve } from 'node:path';
import { adminGet } from '../admin/admin-client.ts';
import { paths } from '../admin/data-dir.ts';
import { type HoldRequest, runHoldRequest } from '../lifecycle/hold-operations.ts';
import { type Hold, HoldBook, type HoldScope } from '../lifecycle/holds.ts';
import { type DeletionReport, RetentionJob, type WeeklySummary } from '../lifecycle/deletion.ts';
import { readTombstones } from '../lifecycle/tombstones.ts';
import { planDays, type RetentionPlan, retentionPlan } from '../lifecycle/plan.ts';
import { restoreRecording } from '../lifecycle/restore.ts';
import { CARRIED_OVER, derivedIndexOps } from '../index-hooks.ts';
import { OperatorError } from '../lib/errors.ts';
import { createLogger } from '../lib/log.ts';
import { reindex } from '../store/reindex.ts';
import { Replicator } from '../replication/replicator.ts';
import { need, parseDay, UsageError, type Command, type Values } from './args.ts';
import { logDestination, out } from './output.ts';
import { adminRequest, stationConfig, viaDaemonOrDirect, withAudit, withStore } from './via-daemon.ts';

const USAGE = `hold add (--recording NAME | [--user-id UUID] [--device SERIAL] [--since DATE] [--until DATE] [--category ID]) --case CASE --reason TEXT --as CUSTODIAN --data DIR
hold list [--all] [--json] --data DIR
hold release ID --reason TEXT --as CUSTODIAN --data DIR
(the custodian's key: --key KEY, or EDGECD_KEY in the environment)`;

export const lifecycleCommands: Record<string, Command> = {
  retention: {
    options: { data: { type: 'string' }, days: { type: 'string' }, json: { type: 'boolean' }, config: { type: 'string' } },
    positionals: true,
    async run(v, positionals) {
      const dir = resolve(need(v, 'data'));
      if (positionals.length === 1 && positionals[0] === 'run') {
        const report = await viaDaemonOrDirect(
          dir,
          (adminSocket) => adminRequest<DeletionReport>(adminSocket, '/retention/run', {}),
          () => withRetention(dir, v, (job) => job.run()),
        );
        out(JSON.stringify(report, null, 2));
        return 0;
      }
      if (positionals.length === 1 && positionals[0] === 'summary') {
        const summary = await viaDaemonOrDirect(
          dir,
          (adminSocket) => adminGet<WeeklySummary>(adminSocket, '/retention/summary'),
          () => withRetention(dir, v, (job) => job.weeklySummary()),
        );
        out(JSON.stringify(summary, null, 2));
        return 0;
      }
      if (positionals.length !== 1 || positionals[0] !== 'plan')
        throw new UsageError('retention plan [--days N] [--json] --data DIR | retention run --data DIR | retention summary --data DIR');
      const days = planDays(v.days as string | undefined);
      if (days === undefined) throw new UsageError('--days: a whole number of days (0: what is due now)');
      const plan = await viaDaemonOrDirect(
        dir,
        (adminSocket) => adminGet<RetentionPlan>(adminSocket, `/retention/plan?days=${days}`),
        async () => {
          const config = await stationConfig(dir, v);
          return withStore(dir, async (store, log) => {
            const replicator = await Replicator.open(store, config, log, 'none');
            return retentionPlan(store, config.retention.keep, { now: Date.now(), days, replicated: (a, c) => replicator.heldByEveryTarget(a, c) });
          });
        },
      );
      if (v.json === true) {
        out(JSON.stringify(plan, null, 2));
        return 0;
      }
      out(`retention plan as of ${plan.asOf}, up to ${plan.until} (${plan.scanned} recordings looked at)`);
      out(`${plan.due.length} to delete:`);
      for (const r of plan.due) out(`  ${r.keepUntil}  ${r.recording}  (${r.rule})`);
      if (plan.kept.length > 0) out(`${plan.kept.length} kept although retention would let them go:`);
      for (const r of plan.kept) out(`  ${r.keepUntil}  ${r.recording}  (${r.rule}): ${r.keptBecause}`);
      if (plan.unruledCategories.length > 0) out(`categories with no rule (the default applies): ${plan.unruledCategories.join(', ')}`);
      return 0;
    },
  },
  restore: {
    options: { data: { type: 'string' }, case: { type: 'string' }, reason: { type: 'string' }, as: { type: 'string' }, key: { type: 'string' } },
    positionals: true,
    async run(v, positionals) {
      const usage = 'restore NAME --case CASE --reason TEXT --as CUSTODIAN [--key KEY] --data DIR (the daemon stopped)';
      if (positionals.length !== 1) throw new UsageError(usage);
      const dir = resolve(need(v, 'data'));
      const key = typeof v.key === 'string' ? v.key : process.env.EDGECD_KEY;
      if (key === undefined) throw new UsageError(`the custodian's key: --key KEY, or EDGECD_KEY in the environment\n${usage}`);
      if ((await adminGet(paths(dir).adminSocket, '/status')) !== undefined)
        throw new OperatorError('the daemon is running: stop it first (restore rebuilds the index from the disk), then start it again');
      const { tombstone, hold } = await restoreRecording(
        {
          dir,
          credentialsFile: paths(dir).credentials,
          tombstoneFile: paths(dir).tombstones,
          reindex: async () => {
            await reindex(dir, { log: createLogger('warn', logDestination()), verify: false, derivedOps: derivedIndexOps, carryOver: CARRIED_OVER });
          },
          withStore: (work) => withStore(dir, (store) => withAudit(dir, (audit) => work(store, audit))),
        },
        { recording: positionals[0]!, as: need(v, 'as'), key, caseNumber: need(v, 'case'), reason: need(v, 'reason') },
      );
      out(`restored ${tombstone.recording} (deleted ${tombstone.deletedAt}, ${Object.keys(tombstone.manifest).length} objects), under hold ${hold.id}`);
      return 0;
    },
  },
  deleted: {
    options: { data: { type: 'string' }, json: { type: 'boolean' } },
    async run(v) {
      const tombstones = await readTombstones(paths(resolve(need(v, 'data'))).tombstones);
      if (v.json === true) out(JSON.stringify(tombstones, null, 2));
      else {
        for (const t of tombstones) {
          const restorable = t.cancelled
            ? `not carried out: ${t.cancelled.reason}`
            : t.restored
              ? `restored ${t.restored.at} by ${t.restored.by}`
              : t.restorableUntil
                ? `restorable until ${t.restorableUntil}`
                : 'removed outright';
          out(`${t.deletedAt}  ${t.recording}  ${Object.keys(t.manifest).length} objects, ${t.bytes} bytes  (${t.rule}; ${restorable})`);
        }
        if (tombstones.length === 0) out('nothing deleted by retention');
      }
      return 0;
    },
  },
  hold: {
    options: {
      data: { type: 'string' },
      recording: { type: 'string' },
      'user-id': { type: 'string' },
      device: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      category: { type: 'string' },
      case: { type: 'string' },
      reason: { type: 'string' },
      as: { type: 'string' },
      key: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    positionals: true,
    async run(v, positionals) {
      const dir = resolve(need(v, 'data'));
      const [action, id, ...extra] = positionals;
      if (action === 'list' && id === undefined) {
        const released = v.all === true;
        const holds = await viaDaemonOrDirect(
          dir,
          (adminSocket) => adminGet<Hold[]>(adminSocket, `/holds${released ? '?released=1' : ''}`),
          () => withStore(dir, (store) => HoldBook.of(store.index).list({ released })),
        );
        if (v.json === true) out(JSON.stringify(holds, null, 2));
        else for (const h of holds) out(describe(h));
        if (v.json !== true && holds.length === 0) out(released ? 'no legal holds' : 'no legal hold in force');
        return 0;
      }
      const key = typeof v.key === 'string' ? v.key : process.env.EDGECD_KEY;
      if (key === undefined) throw new UsageError(`the custodian's key: --key KEY, or EDGECD_KEY in the environment\n${USAGE}`);
      let request: HoldRequest;
      if (action === 'add' && id === undefined) {
        const scope: HoldScope = {};
        if (typeof v.recording === 'string') scope.recording = v.recording;
        if (typeof v['user-id'] === 'string') scope.userId = v['user-id'];
        if (typeof v.device === 'string') scope.device = v.device;
        if (typeof v.since === 'string') scope.since = parseDay(v.since, 'since', false);
        if (typeof v.until === 'string') scope.until = parseDay(v.until, 'until', true);
        if (typeof v.category === 'string') scope.category = v.category;
        request = { op: 'place', as: need(v, 'as'), key, caseNumber: need(v, 'case'), reason: need(v, 'reason'), scope };
      } else if (action === 'release' && id !== undefined && extra.length === 0) {
        request = { op: 'release', as: need(v, 'as'), key, id, reason: need(v, 'reason') };
      } else throw new UsageError(USAGE);
      const hold = await viaDaemonOrDirect(
        dir,
        (adminSocket) => adminRequest<Hold>(adminSocket, '/holds', { request }),
        () => withStore(dir, (store) => withAudit(dir, (audit) => runHoldRequest({ store, audit, credentialsFile: paths(dir).credentials }, request, 'cli'))),
      );
      out(describe(hold));
      return 0;
    },
  },
};

function describe(h: Hold): string {
  const s = h.scope;
  const covers =
    s.recording !== undefined
      ? `recording ${s.recording}`
      : [
          s.userId && `user ${s.userId}`,
          s.device && `camera ${s.device}`,
          s.since !== undefined && `from ${new Date(s.since).toISOString()}`,
          s.until !== undefined && `until ${new Date(s.until).toISOString()}`,
          s.category && `category ${s.category}`,
        ]
          .filter(Boolean)
          .join(', ') + ' (and recordings that arrive later and match)';
  const state = h.released ? `released by ${h.released.by} at ${new Date(h.released.at).toISOString()}: ${h.released.reason}` : 'in force';
  return `${h.id}  case ${h.caseNumber}  ${state}\n  covers ${covers}\n  placed by ${h.placedBy} at ${new Date(h.placedAt).toISOString()}: ${h.reason}`;
}

/** A retention job in this process (the daemon is stopped), with the store and the audit trail open. */
async function withRetention<T>(dir: string, v: Values, work: (job: RetentionJob) => Promise<T>): Promise<T> {
  const config = await stationConfig(dir, v);
  return withStore(dir, (store, log) =>
    withAudit(dir, async (audit) => {
      const replicator = await Replicator.open(store, config, log, 'none');
      return work(RetentionJob.forStation(config, { store, audit, log, tombstoneFile: paths(dir).tombstones, replicated: (a, c) => replicator.heldByEveryTarget(a, c) }));
    }),
  );
}
