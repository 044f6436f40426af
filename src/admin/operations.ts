/**
 * Administrative changes (users, certificates) with their audit lines and
 * consequences (a new connection file, new certificates served). The daemon
 * runs them for the CLI through its admin socket; with the daemon stopped
 * the CLI runs them itself, holding the index lock so the two never both
 * write the audit trail.
 */
import type { AuditSink } from '../audit/trail.ts';
import { changeUser, type UserChange, type UserChangeResult } from '../auth/users.ts';
import type { Config, HostPort } from '../config/config.ts';
import { paths, writeConnectionFile } from '../data-dir.ts';
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
  const target = `user:${change.user}`;
  let result: UserChangeResult;
  try {
    result = await changeUser(paths(ctx.dir).credentials, change);
    ctx.onUsersChanged?.();
  } catch (err) {
    await ctx.audit.append({ actor, source, action: `user.${change.op}`, target, result: 'refused', details: { reason: (err as Error).message } });
    throw err;
  }
  // The body-worn system's key lives in connection.json: a new one means a new file to upload in the BWM.
  if (result.isConnectionUser && result.key !== undefined) await writeConnectionFile(ctx.dir, ctx.config, ctx.listen, result.key, ctx.ntpServing);
  await ctx.audit.append({ actor, source, action: `user.${change.op}`, target, result: 'ok', details: { role: result.user.role, account: result.user.account, disabled: result.user.disabled } });
  return result;
}

export async function renewCertificates(ctx: OperationContext, actor: string, source: string): Promise<{ renewed: string[]; kept: string[]; daysUntilExpiry: number | null }> {
  const { renewed, kept } = await renewEndpoints(ctx.dir, ctx.config.tls);
  const endpoints = await loadEndpoints(ctx.dir);
  ctx.onCertificates?.(endpoints);
  await writeConnectionFile(ctx.dir, ctx.config, ctx.listen, undefined, ctx.ntpServing);
  await ctx.audit.append({ actor, source, action: 'cert.renew', target: 'tls', result: 'ok', details: { renewed, kept } });
  return { renewed, kept, daysUntilExpiry: daysUntilExpiry(endpoints) };
}
