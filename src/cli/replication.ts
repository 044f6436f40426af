/**
 * Replication to central CDs: `replicate --now` (one pass, with progress),
 * `replication status` (backlog, alarms, confirmation per target) and
 * `target check` (a read-only preflight of a central from its connection file).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { adminGet, adminStream } from '../admin/admin-client.ts';
import { paths } from '../admin/data-dir.ts';
import { AnchorBook } from '../audit/anchors.ts';
import { loadStationKey } from '../audit/station-key.ts';
import { readCentralConnectionFile } from '../connection/connection-file.ts';
import { OperatorError } from '../lib/errors.ts';
import type { PassProgress, PassReport } from '../replication/pass.ts';
import { Replicator, type ReplicationStatus } from '../replication/replicator.ts';
import { checkTarget, formatTargetCheck } from '../replication/target-check.ts';
import { need, UsageError, type Command } from './args.ts';
import { mb, out, transferBar } from './output.ts';
import { stationConfig, viaDaemonOrDirect, withAudit, withStore } from './via-daemon.ts';

export const replicationCommands: Record<string, Command> = {
  replicate: {
    options: { data: { type: 'string' }, now: { type: 'boolean' }, target: { type: 'string' }, 'retry-failed': { type: 'boolean' }, config: { type: 'string' } },
    async run(v) {
      if (v.now !== true) throw new UsageError('replicate runs one pass now: give --now (the daemon runs scheduled passes)');
      const dir = resolve(need(v, 'data'));
      const target = typeof v.target === 'string' ? v.target : undefined;
      const retryFailed = v['retry-failed'] === true;
      const bar = transferBar(Date.now());
      const show = (p: PassProgress) => bar(Math.max(0, p.bytesDone), p.bytesTotal, `${p.target}: jobs ${p.jobsDone}/${p.jobsTotal}`);
      const query = new URLSearchParams({ ...(target ? { target } : {}), ...(retryFailed ? { retryFailed: '1' } : {}) });
      const { reports, failure } = await viaDaemonOrDirect<{ reports?: PassReport[]; failure?: string }>(
        dir,
        async (adminSocket) => {
          const answer: { reports?: PassReport[]; failure?: string } = {};
          const answered = await adminStream(adminSocket, `/replicate?${query}`, (line) => {
            const l = line as { progress?: PassProgress; reports?: PassReport[]; error?: string };
            if (l.progress) show(l.progress);
            if (l.reports) answer.reports = l.reports;
            if (l.error) answer.failure = l.error;
          });
          return answered ? answer : undefined;
        },
        async () => {
          const config = await stationConfig(dir, v);
          return withStore(dir, (store, log) =>
            // The store's index lock is held: this process is the audit trail's only writer.
            withAudit(dir, async (audit) => {
              const anchors = await AnchorBook.open(dir, await loadStationKey(paths(dir).stationKey), audit, config.siteName);
              const replicator = await Replicator.open(store, config, log, 'pass', { audit, anchors, dir, tombstoneFile: paths(dir).tombstones });
              try {
                return { reports: await replicator.runNow({ ...(target ? { target } : {}), retryFailed, onProgress: show }) };
              } finally {
                await replicator.close();
              }
            }),
          );
        },
      );
      bar.done();
      if (failure) throw new OperatorError(failure);
      out(JSON.stringify(reports, null, 2));
      return reports?.every((r) => r.outcome === 'done') ? 0 : 1;
    },
  },
  replication: {
    options: { data: { type: 'string' }, json: { type: 'boolean' }, config: { type: 'string' } },
    positionals: true,
    async run(v, positionals) {
      if (positionals[0] !== 'status') throw new UsageError('replication status --data DIR');
      const dir = resolve(need(v, 'data'));
      const status = await viaDaemonOrDirect(
        dir,
        (adminSocket) => adminGet<ReplicationStatus>(adminSocket, '/replication'),
        async () => {
          const config = await stationConfig(dir, v);
          return withStore(dir, async (store, log) => (await Replicator.open(store, config, log, 'none')).status());
        },
      );
      out(v.json === true ? JSON.stringify(status, null, 2) : formatReplicationStatus(status));
      return 0;
    },
  },
  target: {
    options: { 'connection-file': { type: 'string' }, 'reader-user': { type: 'string' }, 'reader-key': { type: 'string' }, json: { type: 'boolean' } },
    positionals: true,
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
};

function formatReplicationStatus(status: ReplicationStatus): string {
  if (status.targets.length === 0) return 'no replication targets configured (replication.targets in the config)';
  const lines: string[] = [];
  for (const t of status.targets) {
    const b = t.backlog;
    lines.push(`${t.name}${t.enabled ? '' : ' (disabled)'}  ${t.authUrl}  schedule "${t.schedule}"${t.nextRun ? `  next ${t.nextRun}` : ''}${t.running ? '  [running]' : ''}`);
    if (!t.registered) lines.push('  not registered yet: the daemon (or replicate --now) queues its backlog when it starts');
    lines.push(
      `  backlog: ${b.recordings} recordings, ${b.rejected} rejected-content containers, ${b.unrecognised} containers with unrecognised names, ${b.objects} registry objects, ${mb(b.bytes)}${b.oldestEnqueuedAt ? `, oldest queued ${new Date(b.oldestEnqueuedAt).toISOString()}` : ''}`,
    );
    if (b.waiting > 0) lines.push(`  waiting out a backoff: ${b.waiting}`);
    if (b.failed > 0) lines.push(`  refused by the target (run replicate --now --retry-failed after fixing): ${b.failed}`);
    if (b.lastError) lines.push(`  last error: ${b.lastError}`);
    if (t.lastPass) lines.push(`  last pass: ${t.lastPass.outcome} at ${new Date(t.lastPass.finishedAt).toISOString()}`);
    if (t.registered) lines.push(`  capabilities: ${t.capabilities.join(', ') || 'none'}${t.capabilitiesProblem ? ` (${t.capabilitiesProblem})` : ''}`);
    const held = Object.entries(t.heldBack);
    if (held.length > 0)
      lines.push(
        `  held back (the target does not declare what they need; their recordings stay here unless evictHeldBack): ${held.map(([cap, n]) => `${n} for ${cap}`).join(', ')}`,
      );
    if (t.confirmation.level) lines.push(`  confirmation: ${t.confirmation.level} (eviction needs ${t.confirmation.needed})`);
    if (t.confirmation.warning) lines.push(`  WARNING: ${t.confirmation.warning}`);
    if (t.alarm) lines.push(`  ALARM: ${t.alarm.message} (since ${new Date(t.alarm.since).toISOString()})`);
  }
  lines.push(`recordings every enabled target holds, confirmed as eviction needs (evictable when old enough, if eviction is on): ${status.heldByAllTargets}`);
  const u = status.unrecognisedName;
  if (u.count > 0)
    lines.push(`unrecognised name: ${u.count} container(s), replicated as they are and never evicted: ${u.names.join(', ')}${u.count > u.names.length ? ', …' : ''}`);
  return lines.join('\n');
}
