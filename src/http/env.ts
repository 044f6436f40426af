/** Hono's typing of what every request carries. */
import type { HttpBindings } from '@hono/node-server';
import type { Identity } from '../auth/credentials.ts';
import type { Logger } from '../lib/log.ts';
import type { AuditLineHook } from '../store/index-db.ts';

export type Bindings = HttpBindings & {
  /** HEAD responses' headers as Swift spells them (see reply.ts). */
  swiftHeaders?: Record<string, string>;
};

export type Env = {
  Bindings: Bindings;
  Variables: {
    txId: string;
    /** Response headers, spelled as Swift spells them (see reply.ts). */
    out: Record<string, string>;
    log: Logger;
    identity: Identity;
    /** Body bytes stored by an upload, for the request log. */
    bytesIn: number;
    /** The upload's audit line, for its commit to carry (audit-trail.ts). */
    auditLine: AuditLineHook;
  };
};
