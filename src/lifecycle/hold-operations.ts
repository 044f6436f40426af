/**
 * Placing and releasing a legal hold, as the daemon runs them for the CLI
 * (admin socket) and the CLI runs them itself when the daemon is stopped.
 *
 * Only a custodian may: the request carries a custodian's name and key,
 * checked here against the station's credentials, so an admin (or anyone at
 * the station's shell) cannot release a hold without a custodian's key. Every
 * attempt is audited, refused ones too. A hold on one recording is audited
 * against that recording, so its chain of custody shows it.
 */
import type { AuditSink } from '../audit/trail.ts';
import { Credentials, type Identity } from '../auth/credentials.ts';
import { EdgeError } from '../lib/errors.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { type Hold, HoldBook, type HoldScope } from './holds.ts';

export interface HoldContext {
  store: ObjectStore;
  audit: AuditSink;
  credentialsFile: string;
  now?: () => number;
  /** After a hold is placed or released (the daemon sends the X-Delete-At change to Swift targets). */
  onChange?: (hold: Hold) => void;
}

/** A custodian's request, as the CLI sends it. */
export type HoldRequest =
  | { op: 'place'; as: string; key: string; caseNumber: string; reason: string; scope: HoldScope }
  | { op: 'release'; as: string; key: string; id: string; reason: string };

/** A custodian's request from the CLI: the key is checked against the station's credentials first. */
export async function runHoldRequest(ctx: HoldContext, request: HoldRequest, source: string): Promise<Hold> {
  const actor = typeof request.as === 'string' ? request.as : '(unnamed)';
  return audited(ctx, actor, request, source, undefined, async () => {
    const identity = await (await Credentials.load(ctx.credentialsFile)).verify(actor, String(request.key ?? ''));
    if (!identity) throw new EdgeError('Unauthorized', `${actor}: unknown user or wrong key`);
    return identity;
  });
}

/** The same from a console session, whose key was checked at sign-in and whose role is checked again here. */
export function runConsoleHoldRequest(ctx: HoldContext, identity: Identity, request: ConsoleHoldRequest, source: string, txId: string): Promise<Hold> {
  return audited(ctx, identity.user, request, source, txId, async () => identity);
}

export type ConsoleHoldRequest = Omit<Extract<HoldRequest, { op: 'place' }>, 'as' | 'key'> | Omit<Extract<HoldRequest, { op: 'release' }>, 'as' | 'key'>;

async function audited(ctx: HoldContext, actor: string, request: ConsoleHoldRequest, source: string, txId: string | undefined, identify: () => Promise<Identity>): Promise<Hold> {
  const now = (ctx.now ?? Date.now)();
  const book = HoldBook.of(ctx.store.index);
  const target = request.op === 'release' ? `hold:${request.id}` : request.scope?.recording !== undefined ? `recording:${request.scope.recording}` : 'hold:(new)';
  const audit = { actor, source, action: `hold.${request.op === 'place' ? 'place' : 'release'}`, ...(txId !== undefined ? { txId } : {}) };
  try {
    if (request.op !== 'place' && request.op !== 'release') throw new EdgeError('BadRequest', `unknown hold operation ${JSON.stringify((request as { op?: unknown }).op)}`);
    const identity = await identify();
    if (identity.role !== 'custodian') throw new EdgeError('Forbidden', `${actor} is a ${identity.role}: legal holds need a custodian (edgecd user add NAME --role custodian)`);
    if (request.op === 'place') {
      if (request.scope?.recording !== undefined) await ctx.store.container(identity.account, request.scope.recording); // 404 for a recording that is not here
      const hold = await book.place(
        { account: identity.account, caseNumber: request.caseNumber, reason: request.reason, scope: request.scope ?? {}, placedBy: identity.user },
        now,
      );
      await ctx.audit.append({
        ...audit,
        role: 'custodian',
        target: targetOf(hold),
        result: 'ok',
        details: { id: hold.id, caseNumber: hold.caseNumber, reason: hold.reason, scope: hold.scope },
      });
      ctx.onChange?.(hold);
      return hold;
    }
    const held = await book.holds.get(request.id);
    if (held && held.account !== identity.account) throw new EdgeError('NotFound', `no hold ${request.id}`);
    const hold = await book.release(request.id, identity.user, request.reason, now);
    await ctx.audit.append({
      ...audit,
      role: 'custodian',
      target: targetOf(hold),
      result: 'ok',
      details: { id: hold.id, caseNumber: hold.caseNumber, reason: hold.released!.reason },
    });
    ctx.onChange?.(hold);
    return hold;
  } catch (err) {
    await ctx.audit.append({ ...audit, target, result: 'refused', details: { reason: (err as Error).message } });
    throw err;
  }
}

/** Where a hold's audit lines go: its recording, or the hold itself for a query. */
const targetOf = (hold: Hold) => (hold.scope.recording !== undefined ? `AUTH_${hold.account}/${hold.scope.recording}` : `hold:${hold.id}`);
