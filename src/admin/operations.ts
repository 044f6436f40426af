/**
 * Administrative changes (users, certificates) with their audit lines and
 * consequences (a new connection file, new certificates served). The daemon
 * runs them for the CLI through its admin socket; with the daemon stopped
 * the CLI runs them itself, holding the index lock so the two never both
 * write the audit trail.
 *
 * A change that also needs a new connection file has that file built and
 * checked first: if it could not be issued, nothing changes. Every attempt
 * is audited, refused ones too.
 */
import type { AuditSink } from '../audit/trail.ts';
import { generateKey } from '../auth/credentials.ts';
import { changeUser, listUsers, type UserChange, type UserChangeResult } from '../auth/users.ts';
import type { Config, HostPort } from '../config/config.ts';
import { commitConnectionFile, paths, prepareConnectionFile } from './data-dir.ts';
import { daysUntilExpiry, loadEndpoints, renewEndpoints, type Endpoint } from '../tls/endpoints.ts';

export interface OperationContext {
  dir: string;
  config: Config;
  /** Where the daemon listens (the connection file's port). */
  listen: HostPort;
  ntpServing: boolean;
  audit: AuditSink;
  /** The daemon serves the new certificates from the next connection on. */
  onCertificates?: (endpoints: Endpoint[]) => void;
  /** The daemon sees user changes at once (tokens of a disabled user die with the next request). */
  onUsersChanged?: () => void;
}

export async function applyUserChange(ctx: OperationContext, change: UserChange, actor: string, source: string): Promise<UserChangeResult> {
  const file = paths(ctx.dir).credentials;
  const audit = { actor, source, action: `user.${change.op}`, target: `user:${change.user}` };
  try {
    // The body-worn system's key lives in connection.json: the new file must be issuable before the key changes.
    const isConnectionUser = (await listUsers(file))[0]?.user === change.user;
    let generatedKey: string | undefined;
    let connection;
    if (change.op === 'passwd' && isConnectionUser) {
      if (change.key === undefined) change = { ...change, key: (generatedKey = generateKey()) };
      connection = await prepareConnectionFile(ctx.dir, ctx.config, ctx.listen, change.key, ctx.ntpServing);
    }
    const result = await changeUser(file, change);
    ctx.onUsersChanged?.();
    if (connection) await commitConnectionFile(ctx.dir, connection);
    await ctx.audit.append({ ...audit, result: 'ok', details: { role: result.user.role, account: result.user.account, disabled: result.user.disabled } });
    return generatedKey ? { ...result, generatedKey } : result;
  } catch (err) {
    await ctx.audit.append({ ...audit, result: 'refused', details: { reason: (err as Error).message } });
    throw err;
  }
}

export async function renewCertificates(ctx: OperationContext, actor: string, source: string): Promise<{ renewed: string[]; kept: string[]; daysUntilExpiry: number | null }> {
  const audit = { actor, source, action: 'cert.renew', target: 'tls' };
  try {
    // Fails (changing nothing) if the configuration could not issue a connection file now.
    await prepareConnectionFile(ctx.dir, ctx.config, ctx.listen, undefined, ctx.ntpServing);
    const { renewed, kept } = await renewEndpoints(ctx.dir, ctx.config.tls);
    const endpoints = await loadEndpoints(ctx.dir);
    await commitConnectionFile(ctx.dir, await prepareConnectionFile(ctx.dir, ctx.config, ctx.listen, undefined, ctx.ntpServing));
    ctx.onCertificates?.(endpoints);
    await ctx.audit.append({ ...audit, result: 'ok', details: { renewed, kept } });
    return { renewed, kept, daysUntilExpiry: daysUntilExpiry(endpoints) };
  } catch (err) {
    await ctx.audit.append({ ...audit, result: 'refused', details: { reason: (err as Error).message } });
    throw err;
  }
}
