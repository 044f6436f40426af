/**
 * Who may do what. Five roles, least privilege each:
 *
 * - uploader (the body-worn system): stores and updates recordings, users and
 *   cameras, may check what it stored (HEAD), and reads only the System
 *   container's documents. As with Axis's reference server, evidence cannot
 *   be read back with the camera system's credentials.
 * - replicator (an edge station on a central): what an uploader may do; it
 *   confirms what it sent with HEAD. Only a replicator writes a station's
 *   audit anchors (edgecd-audit-* containers).
 * - reader (central office): reads and lists, never writes.
 * - custodian (central office): what a reader may, and places and releases
 *   legal holds (lifecycle/hold-operations.ts checks the role there).
 * - admin (operators): the station's status and metrics; users, retention
 *   and configuration are local commands.
 *
 * DELETE and COPY are refused for every role: evidence leaves only by the
 * eviction policy or an audited local command.
 */
import { EdgeError } from '../lib/errors.ts';

export const ROLES = ['uploader', 'reader', 'replicator', 'admin', 'custodian'] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (text: string): text is Role => (ROLES as readonly string[]).includes(text);

export interface StorageRequest {
  method: string;
  level: 'account' | 'container' | 'object';
  container?: string;
  object?: string;
}

const WRITERS: readonly Role[] = ['uploader', 'replicator'];
const SYSTEM = 'System';
const ANCHOR_PREFIX = 'edgecd-audit-';

/** Throws 403 (Forbidden) unless `role` may make this storage request. */
export function authorizeStorage(role: Role, r: StorageRequest): void {
  const deny = (why: string) => new EdgeError('Forbidden', `${role} may not ${why}`);
  switch (r.method) {
    case 'DELETE':
    case 'COPY':
      throw new EdgeError('Forbidden', `${r.method} is refused for every role: evidence is never deleted or copied over the API`);
    case 'PUT':
    case 'POST':
      if (!WRITERS.includes(role)) throw deny(`${r.method} (write) ${describe(r)}`);
      if (role !== 'replicator' && r.container?.startsWith(ANCHOR_PREFIX)) throw deny(`write ${describe(r)}: a station's audit anchors come only from its replication`);
      return;
    case 'HEAD':
      if (role === 'admin') throw deny(`read ${describe(r)}`);
      return;
    case 'GET':
      if (role === 'reader' || role === 'custodian') return;
      // The BWS reads the System container's documents (capabilities, categories, its SystemID).
      if (WRITERS.includes(role) && r.level === 'object' && r.container === SYSTEM) return;
      throw deny(`read ${describe(r)}`);
    default:
      return; // other methods get 405 from the router
  }
}

/** /status and /metrics. */
export function authorizeStationView(role: Role): void {
  if (role !== 'admin') throw new EdgeError('Forbidden', `${role} may not read the station's status: an admin account is needed (edgecd user add NAME --role admin)`);
}

function describe(r: StorageRequest): string {
  if (r.level === 'account') return 'the account';
  if (r.level === 'container') return `container ${r.container}`;
  return `${r.container}/${r.object}`;
}
