/**
 * Who may hold a connection open. Every connection is a file descriptor, and
 * descriptors are few: a crowd of connections that never send a byte would
 * otherwise leave none for the body-worn system's uploads, logins or
 * /healthcheck (EMFILE).
 *
 * - One address (an IPv6 /64 counts as one) holds at most `maxPerAddress`.
 * - All together hold at most `maxConnections`, set below the descriptor
 *   limit; the last tenth is kept for trusted addresses: those configured,
 *   and those the body-worn system or a replicating station logged in from.
 * - At the limit, a new connection takes the place of the oldest one that has
 *   not yet sent a byte (an untrusted one): silent connections cost an
 *   attacker their place, never the camera system its own.
 * - Trusted addresses are not held to the per-address cap.
 */
import { readFileSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import type { ConnectionsView } from '../health/station.ts';

export interface ConnectionLimits {
  maxConnections: number;
  maxPerAddress: number;
  /** Addresses trusted from the start (the BWS server's, say): IPs. */
  trustedAddresses: readonly string[];
}

export type Refusal = 'per-address' | 'full';

/** How long a login keeps its address trusted after the last one. */
const TRUSTED_FOR_MS = 30 * 86_400_000;
const MAX_LEARNED = 1000;

export class ConnectionGuard {
  readonly #limits: ConnectionLimits;
  readonly #configured: Set<string>;
  /** Address key → when an uploader or replicator last logged in from it; oldest first. */
  readonly #learned = new Map<string, number>();
  readonly #byAddress = new Map<string, number>();
  /** Every open connection, with the address key it counts under. */
  readonly #tracked = new Map<Socket, string>();
  /** Connections that have not sent their first byte, oldest first. */
  readonly #silent = new Set<Socket>();
  readonly #now: () => number;
  #evicted = 0;
  readonly #refused: Record<Refusal, number> = { 'per-address': 0, full: 0 };

  constructor(limits: ConnectionLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#configured = new Set(limits.trustedAddresses.map(addressKey));
    this.#now = now;
  }

  /** The address a trusted client (the BWS, a replicating station) just logged in from. */
  trust(address: string): void {
    const key = addressKey(address);
    this.#learned.delete(key); // re-inserted last: the map stays in order of last login
    this.#learned.set(key, this.#now());
    for (const oldest of this.#learned.keys()) {
      if (this.#learned.size <= MAX_LEARNED) break;
      this.#learned.delete(oldest);
    }
  }

  isTrusted(address: string): boolean {
    const key = addressKey(address);
    if (this.#configured.has(key)) return true;
    const at = this.#learned.get(key);
    return at !== undefined && this.#now() - at < TRUSTED_FOR_MS;
  }

  /**
   * A new connection: admitted (and counted until it closes), or the reason it
   * is refused. May close the oldest silent untrusted connection to make room.
   */
  admit(socket: Socket): Refusal | undefined {
    const address = socket.remoteAddress ?? '';
    const key = addressKey(address);
    const trusted = this.isTrusted(address);
    const fromAddress = this.#byAddress.get(key) ?? 0;
    if (!trusted && fromAddress >= this.#limits.maxPerAddress) return this.#refuse('per-address');
    const max = this.#limits.maxConnections;
    const limit = trusted ? max : max - Math.max(1, Math.floor(max / 10));
    if (this.#tracked.size >= limit && !this.#evictSilent()) return this.#refuse('full');
    this.#byAddress.set(key, fromAddress + 1);
    this.#tracked.set(socket, key);
    this.#silent.add(socket);
    socket.once('close', () => this.#release(socket));
    return undefined;
  }

  /** The connection sent its first byte: it is no longer a candidate for eviction. */
  spoke(socket: Socket): void {
    this.#silent.delete(socket);
  }

  /** Closes every connection still silent (at shutdown: the HTTP server does not know them). */
  dropSilent(): void {
    for (const socket of [...this.#silent]) socket.destroy();
  }

  /** Closes every connection (at the end of a shutdown's grace). */
  dropAll(): void {
    for (const socket of [...this.#tracked.keys()]) socket.destroy();
  }

  stats(): ConnectionsView {
    return { open: this.#tracked.size, silent: this.#silent.size, maxConnections: this.#limits.maxConnections, refused: { ...this.#refused }, evicted: this.#evicted };
  }

  #evictSilent(): boolean {
    for (const socket of this.#silent) {
      if (this.isTrusted(socket.remoteAddress ?? '')) continue;
      // Released now, not on 'close' a tick later: the newcomer takes its place at once.
      this.#release(socket);
      socket.destroy();
      this.#evicted += 1;
      return true;
    }
    return false;
  }

  /** Stops counting a connection (once, however often called). */
  #release(socket: Socket): void {
    const key = this.#tracked.get(socket);
    if (key === undefined) return;
    this.#tracked.delete(socket);
    this.#silent.delete(socket);
    const n = (this.#byAddress.get(key) ?? 1) - 1;
    if (n > 0) this.#byAddress.set(key, n);
    else this.#byAddress.delete(key);
  }

  #refuse(why: Refusal): Refusal {
    this.#refused[why] += 1;
    return why;
  }
}

/**
 * The unit the per-address cap counts: an IPv4 address (IPv4-mapped IPv6
 * included), or an IPv6 address's /64, which one host commonly holds whole.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIP(address) !== 6) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const groups = (text: string) => (text === '' ? [] : text.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${all
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * How many connections to hold when the configuration leaves it to us: half
 * the open-file limit (the rest is for the store, the index, the logs and
 * outgoing replication), at most 16,384.
 */
export function defaultMaxConnections(limitsFile = '/proc/self/limits'): number {
  let openFiles = 1024;
  try {
    const line = readFileSync(limitsFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    if (Number.isSafeInteger(soft) && soft > 0) openFiles = soft;
    else if (line?.split(/\s{2,}/)[1] === 'unlimited') openFiles = 1 << 20;
  } catch {
    // Not Linux: assume the common default.
  }
  return Math.max(64, Math.min(16_384, Math.floor(openFiles / 2)));
}
