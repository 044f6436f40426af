/**
 * The one rule for commands that work on a station's data directory: when
 * the daemon runs there, ask it through its admin socket (it owns the index,
 * the store and the audit trail); when no daemon answers, do the work here,
 * on the data directory itself. Also the ways of doing it here: with the
 * store open, or holding the index lock with the audit trail open.
 */
import { adminPost } from '../admin/admin-client.ts';
import { paths } from '../admin/data-dir.ts';
import type { OperationContext } from '../admin/operations.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { osUserName } from '../audit/os-user.ts';
import { parseHostPort, type Config } from '../config/config.ts';
import { loadDaemonConfig } from '../daemon.ts';
import { derivedIndexOps } from '../index-hooks.ts';
import { OperatorError } from '../lib/errors.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { IndexDb } from '../store/index-db.ts';
import { StoreLayout } from '../store/layout.ts';
import { ObjectStore } from '../store/object-store.ts';
import type { Values } from './args.ts';
import { logDestination } from './output.ts';

/**
 * `daemon` asks the daemon of `dir` through its admin socket and answers
 * `undefined` when none answers (what admin-client.ts's calls do); `direct`
 * then does the same work here.
 */
export async function viaDaemonOrDirect<T>(dir: string, daemon: (adminSocket: string) => Promise<T | undefined>, direct: () => Promise<T>): Promise<T> {
  const answer = await daemon(paths(dir).adminSocket);
  return answer !== undefined ? answer : direct();
}

/**
 * Runs an administrative change through the daemon when it runs (it writes
 * the audit trail), or here with the index lock held when it does not.
 */
export async function operate<T>(dir: string, v: Values, path: string, body: object, direct: (ctx: OperationContext, actor: string) => Promise<T>): Promise<T> {
  const actor = `cli:${osUserName()}`;
  return viaDaemonOrDirect(
    dir,
    (adminSocket) => adminRequest<T>(adminSocket, path, { ...body, actor }),
    async () => {
      const config = await stationConfig(dir, v);
      return underStationLock(dir, (audit) => direct({ dir, config, listen: parseHostPort(config.listen, 'listen'), ntpServing: false, audit }, actor));
    },
  );
}

/** A change asked of the daemon: its answer, undefined when no daemon answers, an OperatorError when it refuses. */
export async function adminRequest<T>(adminSocket: string, path: string, body: object): Promise<T | undefined> {
  const answer = await adminPost<T | { error: string }>(adminSocket, path, body);
  if (typeof answer === 'object' && answer !== null && 'error' in answer) throw new OperatorError(answer.error);
  return answer as T | undefined;
}

/** The station's configuration as the daemon would load it (--config, or the data directory's). */
export function stationConfig(dir: string, v: Values): Promise<Config> {
  return loadDaemonConfig({ dataDir: dir, ...(typeof v.config === 'string' ? { configFile: v.config } : {}) });
}

/** Opens the store in this process (the daemon is not running), with the same index hooks (replication queue, catalogue). */
export async function withStore<T>(dir: string, work: (store: ObjectStore, log: Logger) => Promise<T>): Promise<T> {
  const log = createLogger('warn', logDestination());
  const store = await ObjectStore.open(dir, { maxObjectBytes: Infinity, log, derivedOps: derivedIndexOps });
  try {
    return await work(store, log);
  } finally {
    await store.close();
  }
}

/**
 * Runs `work` with the audit trail open: only while this process holds the
 * index lock (an open store, or underStationLock), which makes it the trail's
 * only writer.
 */
export async function withAudit<T>(dir: string, work: (audit: AuditLog) => Promise<T>): Promise<T> {
  const p = paths(dir);
  const audit = await AuditLog.open(p.audit, p.auditHead);
  try {
    return await work(audit);
  } finally {
    await audit.close();
  }
}

/** Runs `work` holding the index lock (proof no daemon runs), with the audit trail open for it. */
export async function underStationLock<T>(dir: string, work: (audit: AuditLog) => Promise<T>): Promise<T> {
  const lock = await IndexDb.open(new StoreLayout(dir).indexDir);
  try {
    return await withAudit(dir, work);
  } finally {
    await lock.close();
  }
}
