/**
 * What the rest of edgecd sees of the audit trail: append (durable before it
 * resolves, for writes, denials, logins and administration) and record
 * (queued the same way without waiting, for reads).
 */
import type { AuditEvent } from './audit-format.ts';

export interface AuditSink {
  append(event: AuditEvent): Promise<void>;
  record(event: AuditEvent): void;
  /** Set once the trail cannot be written: requests are then refused rather than left untraced. */
  readonly broken?: Error | undefined;
}

export type { AuditEvent };
