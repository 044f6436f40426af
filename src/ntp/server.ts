/**
 * The NTP server (RFC 5905 server side; SNTP clients per RFC 4330 work too):
 * answers mode-3 requests on UDP from the host's clock, honest about how good
 * that clock is, and drops anything else without a word.
 *
 * - Synchronised host: the host's own stratum (one more than its upstream's),
 *   the upstream's reference id, root delay and root dispersion grown by
 *   15 ppm since the last update, so a client can see a clock going stale,
 *   and any leap second the upstream announces.
 * - Unsynchronised host: chrony's "local stratum" idea, ntp.localStratum
 *   (default 10), so an isolated station still gives its cameras one
 *   consistent time; or, with ntp.requireSync, leap indicator 3 (alarm).
 * - Floods: a token bucket per client address; past it a Kiss-o'-Death RATE.
 *   A reply is never larger than its request (no amplification).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { buildKissOfDeath, buildReply, parseRequest, writeTimestamp, type ReplyFields } from './packet.ts';
import type { ClockState } from './clock-state.ts';

export interface NtpOptions {
  localStratum: number;
  requireSync: boolean;
  /** The host clock's state, cached by the caller (never blocks). */
  clock: () => ClockState;
  /** Wall clock in Unix ms (Date.now(): 1 ms resolution, follows steps and slews). */
  now?: () => number;
  rateLimit?: { burst: number; perSecond: number };
}

export interface NtpStats {
  served: number;
  dropped: number;
  kissOfDeath: number;
  mode: 'synchronised' | 'local-stratum' | 'unsynchronised';
}

/** Date.now() has millisecond resolution: 2^-10 s is the honest precision. */
const PRECISION = -10;
const DISPERSION_RATE = 15e-6; // PHI: 15 ppm, RFC 5905
const MAX_CLIENTS = 10_000;

export class NtpServer {
  readonly #o: NtpOptions;
  readonly #now: () => number;
  readonly #sockets: Socket[] = [];
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly stats: NtpStats = { served: 0, dropped: 0, kissOfDeath: 0, mode: 'local-stratum' };

  constructor(options: NtpOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Binds HOST:PORT (on 0.0.0.0 also [::] where the host has IPv6); resolves with the bound port. */
  async listen(host: string, port: number): Promise<number> {
    const first = await this.#bind(host.includes(':') ? 'udp6' : 'udp4', host, port);
    const bound = first.address().port;
    if (host === '0.0.0.0') await this.#bind('udp6', '::', bound).catch(() => undefined); // IPv6 where available
    return bound;
  }

  #bind(type: 'udp4' | 'udp6', host: string, port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type, ipv6Only: type === 'udp6' });
      socket.once('error', (err) => {
        socket.close();
        reject(err);
      });
      socket.on('message', (msg, rinfo) => this.#answer(socket, msg, rinfo));
      socket.bind(port, host, () => {
        socket.off('error', reject);
        socket.on('error', () => undefined); // a send error to one client is no reason to stop
        this.#sockets.push(socket);
        resolve(socket);
      });
    });
  }

  #answer(socket: Socket, datagram: Buffer, from: RemoteInfo): void {
    try {
      this.#reply(socket, datagram, from);
    } catch {
      // Whatever one datagram provokes, the daemon (and its uploads) carries on.
      this.stats.dropped += 1;
    }
  }

  #reply(socket: Socket, datagram: Buffer, from: RemoteInfo): void {
    const received = this.#now(); // as early as possible after arrival
    const request = from.port === 0 ? undefined : parseRequest(datagram);
    if (!request) {
      this.stats.dropped += 1;
      return;
    }
    if (!this.#admit(from.address, performance.now())) {
      this.stats.kissOfDeath += 1;
      socket.send(buildKissOfDeath(request, received), from.port, from.address);
      return;
    }
    const reply = buildReply(request, received, this.#fields(received));
    writeTimestamp(reply, 40, this.#now()); // as late as possible before sending
    socket.send(reply, from.port, from.address);
    this.stats.served += 1;
  }

  #fields(now: number): ReplyFields {
    const clock = this.#o.clock();
    if (clock.synchronised && clock.hostStratum !== undefined) {
      this.stats.mode = 'synchronised';
      const age = clock.lastSync !== undefined ? Math.max(0, (now - clock.lastSync) / 1000) : 0;
      return {
        leap: clock.leap ?? 0,
        stratum: Math.min(15, clock.hostStratum),
        precision: PRECISION,
        rootDelay: clock.rootDelay ?? 0,
        rootDispersion: (clock.rootDispersion ?? 0) + age * DISPERSION_RATE,
        referenceId: clock.referenceId ?? Buffer.from('SYNC'),
        referenceTime: clock.lastSync ?? now,
      };
    }
    if (clock.synchronised) {
      // Synchronised, upstream unknown (timesyncd): assume a stratum-2 upstream;
      // dispersion still grows from the last sync, so a stale clock shows.
      this.stats.mode = 'synchronised';
      const age = clock.lastSync !== undefined ? Math.max(0, (now - clock.lastSync) / 1000) : 0;
      return {
        leap: 0,
        stratum: 3,
        precision: PRECISION,
        rootDelay: 0,
        rootDispersion: 0.001 + age * DISPERSION_RATE,
        referenceId: Buffer.from('SYNC'),
        referenceTime: clock.lastSync ?? now,
      };
    }
    if (this.#o.requireSync) {
      this.stats.mode = 'unsynchronised';
      return { leap: 3, stratum: this.#o.localStratum, precision: PRECISION, rootDelay: 0, rootDispersion: 0, referenceId: Buffer.from('INIT'), referenceTime: 0 };
    }
    this.stats.mode = 'local-stratum';
    return { leap: 0, stratum: this.#o.localStratum, precision: PRECISION, rootDelay: 0, rootDispersion: 0, referenceId: Buffer.from('LOCL'), referenceTime: now };
  }

  /** Token bucket per client address, on the monotonic clock (wall-clock steps must not starve clients). */
  #admit(address: string, now: number): boolean {
    const { burst, perSecond } = this.#o.rateLimit ?? { burst: 8, perSecond: 1 };
    let bucket = this.#buckets.get(address);
    if (!bucket) {
      if (this.#buckets.size >= MAX_CLIENTS) this.#buckets.delete(this.#buckets.keys().next().value!);
      bucket = { tokens: burst, at: now };
      this.#buckets.set(address, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  close(): void {
    for (const s of this.#sockets) s.close();
    this.#sockets.length = 0;
  }
}
