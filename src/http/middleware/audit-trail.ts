/**
 * Every storage request that matters for custody leaves a line in the audit
 * trail: each write (durable before the client hears 201), each read of
 * evidence or listing, and each refusal for want of a token or a right.
 * An upload's line is durable with its commit, in the index, and reaches
 * the trail just after (audit/carried-lines.ts); other writes' lines are
 * appended before the answer.
 * HEADs that succeed are not recorded: they read no evidence, and a BWS
 * makes many.
 *
 * Without a working trail nothing is served: evidence must not be read or
 * written untraced. Refusals of anonymous clients are recorded at most
 * DENIALS_PER_MINUTE a minute per address, the rest counted in one line, so
 * nobody can fill the disk with them.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { AuditCarrier } from '../../audit/carried-lines.ts';
import type { AuditEvent, AuditSink } from '../../audit/trail.ts';
import type { CarriedAuditLine } from '../../store/index-db.ts';
import { EdgeError } from '../../lib/errors.ts';
import { parseStoragePath, type StoragePath } from '../../swift/names.ts';
import type { Env } from '../env.ts';

const DENIALS_PER_MINUTE = 30;

export function auditTrail(audit: AuditSink, carrier?: AuditCarrier): MiddlewareHandler<Env> {
  const anonymous = new DenialBudget(audit);
  return async function auditTrail(c, next) {
    if (audit.broken) throw new EdgeError('Unavailable', 'The audit trail cannot be written: nothing is served until it is repaired (see the log)', { retryAfter: 60 });
    // An upload's line rides with its commit: made when the body checks out, as the 201 it leads to,
    // and the index's to keep only once that commit stands.
    let made: CarriedAuditLine | undefined;
    let carried: CarriedAuditLine | undefined;
    if (carrier && c.req.method === 'PUT') {
      c.set('auditLine', {
        // (Only a PUT of a storage path reaches the store, so it has an event.)
        make: () => (made = carrier.carry(eventOf(c, 201)!)),
        committed: () => (carried = made),
      });
    }
    await next();
    const status = c.res.status;
    if (carried && status === 201) return carrier!.deliver(carried);
    // Otherwise the commit did not happen, or failed once decided: then the restart that completes it restores its line, after this one.
    const event = eventOf(c, status);
    if (!event) return;
    const denied = status === 401 || status === 403;
    if (denied && !c.get('identity')) await anonymous.append(event.source!, event);
    else if (denied || c.req.method === 'PUT' || c.req.method === 'POST') await audit.append(event);
    else audit.record(event);
  };
}

/** The line a request leaves with this status, if it leaves one. */
function eventOf(c: Context<Env>, status: number): AuditEvent | undefined {
  const method = c.req.method;
  const denied = status === 401 || status === 403;
  const writes = method === 'PUT' || method === 'POST';
  if (!writes && !denied && method !== 'GET') return undefined;
  let path: StoragePath | undefined;
  try {
    path = parseStoragePath(c.env?.incoming?.url ?? c.req.path);
  } catch {
    path = undefined; // refused as malformed: recorded by its raw target below
  }
  // /status and /metrics: only refusals matter (an admin reading status is not custody).
  if (!path && !denied) return undefined;
  const level = !path ? c.req.path : path.object !== undefined ? 'object' : path.container !== undefined ? 'container' : 'account';
  const identity = c.get('identity');
  return {
    actor: identity?.user ?? 'anonymous',
    ...(identity ? { role: identity.role } : {}),
    source: c.env?.incoming?.socket.remoteAddress ?? 'unknown',
    action: denied ? `denied ${method} ${level}` : method === 'GET' ? (level === 'object' ? 'object.get' : `${level}.list`) : `${level}.${method.toLowerCase()}`,
    target: path ? [path.account, path.container, path.object].filter((p) => p !== undefined).join('/') : (c.env?.incoming?.url ?? '').slice(0, 512),
    result: String(status),
    txId: c.get('txId'),
  };
}

/** Per source address and minute: so many refusal lines, then one line counting the rest. */
export class DenialBudget {
  readonly #audit: AuditSink;
  readonly #windows = new Map<string, { start: number; lines: number; suppressed: number }>();

  constructor(audit: AuditSink) {
    this.#audit = audit;
  }

  async append(source: string, event: AuditEvent): Promise<void> {
    const now = Date.now();
    let w = this.#windows.get(source);
    if (w && now - w.start >= 60_000) {
      if (w.suppressed > 0)
        this.#audit.record({
          actor: 'anonymous',
          source,
          action: 'denied (summary)',
          result: `${w.suppressed} more refusals not recorded one by one`,
          details: { from: new Date(w.start).toISOString() },
        });
      w = undefined;
    }
    if (!w) {
      if (this.#windows.size >= 10_000) this.#windows.clear(); // a spray of addresses: start counting afresh
      this.#windows.set(source, (w = { start: now, lines: 0, suppressed: 0 }));
    }
    if (w.lines < DENIALS_PER_MINUTE) {
      w.lines += 1;
      await this.#audit.append(event);
    } else {
      w.suppressed += 1;
    }
  }
}
