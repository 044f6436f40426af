/**
 * NTP packets (RFC 5905 §7.3), server side. Timestamps are 64-bit fixed
 * point: seconds since 1900 (era-relative: they wrap every 2^32 s, next in
 * 2036) and a 32-bit fraction. The client's transmit timestamp is echoed as
 * raw bytes: as a JS number it would lose bits, and chrony checks them all.
 */

export const PACKET_BYTES = 48;
/** A request longer than this (extension fields, MAC included) is dropped. */
export const MAX_REQUEST_BYTES = 1024;
const NTP_EPOCH_OFFSET_S = 2_208_988_800; // 1900-01-01 → 1970-01-01

export interface Request {
  version: number;
  poll: number;
  /** The client's transmit timestamp, 8 raw bytes. */
  transmit: Buffer;
}

/** A mode-3 (client) request of version 3 or 4, or undefined to drop it. */
export function parseRequest(datagram: Buffer): Request | undefined {
  if (datagram.length < PACKET_BYTES || datagram.length > MAX_REQUEST_BYTES) return undefined;
  const version = (datagram[0]! >> 3) & 0x7;
  const mode = datagram[0]! & 0x7;
  if (mode !== 3 || (version !== 3 && version !== 4)) return undefined;
  return { version, poll: datagram[2]!, transmit: Buffer.from(datagram.subarray(40, 48)) };
}

/** Writes `ms` (Unix epoch milliseconds, may be fractional) as an NTP timestamp. */
export function writeTimestamp(buf: Buffer, offset: number, ms: number): void {
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 2 ** 32);
  buf.writeUInt32BE((seconds + NTP_EPOCH_OFFSET_S) % 2 ** 32, offset);
  buf.writeUInt32BE(Math.min(fraction, 2 ** 32 - 1), offset + 4);
}

/** Reads an NTP timestamp as Unix ms, in the era nearest `near` (ms). */
export function readTimestamp(buf: Buffer, offset: number, near = Date.now()): number {
  const seconds = buf.readUInt32BE(offset);
  const fraction = buf.readUInt32BE(offset + 4);
  const nearNtp = Math.floor(near / 1000) + NTP_EPOCH_OFFSET_S;
  const era = Math.round((nearNtp - seconds) / 2 ** 32);
  return (seconds + era * 2 ** 32 - NTP_EPOCH_OFFSET_S) * 1000 + (fraction / 2 ** 32) * 1000;
}

/** NTP short format (16.16 seconds), for root delay and dispersion. */
function writeShort(buf: Buffer, offset: number, seconds: number): void {
  buf.writeUInt32BE(Math.min(0xffffffff, Math.max(0, Math.round(seconds * 65536))), offset);
}

export interface ReplyFields {
  leap: 0 | 1 | 2 | 3;
  stratum: number;
  /** log2 seconds of the clock read. */
  precision: number;
  rootDelay: number;
  rootDispersion: number;
  /** 4 bytes: the upstream's id, or ASCII like "LOCL" / "RATE". */
  referenceId: Buffer;
  /** Unix ms of the last sync (reference timestamp). */
  referenceTime: number;
}

/**
 * A mode-4 reply with everything but the transmit timestamp, which the caller
 * writes (at offset 40) as late as possible before sending.
 */
export function buildReply(request: Request, receivedMs: number, f: ReplyFields): Buffer {
  const reply = Buffer.alloc(PACKET_BYTES);
  reply[0] = (f.leap << 6) | (request.version << 3) | 4;
  reply[1] = f.stratum;
  reply[2] = request.poll;
  reply.writeInt8(f.precision, 3);
  writeShort(reply, 4, f.rootDelay);
  writeShort(reply, 8, f.rootDispersion);
  f.referenceId.copy(reply, 12, 0, 4);
  if (f.referenceTime > 0) writeTimestamp(reply, 16, f.referenceTime); // 0: never synchronised, all zero
  request.transmit.copy(reply, 24); // origin = the client's transmit, byte for byte
  writeTimestamp(reply, 32, receivedMs);
  return reply;
}

/** Kiss-o'-Death RATE (RFC 5905 §7.4): stratum 0, the code as reference id. */
export function buildKissOfDeath(request: Request, receivedMs: number): Buffer {
  const reply = buildReply(request, receivedMs, {
    leap: 3,
    stratum: 0,
    precision: -10,
    rootDelay: 0,
    rootDispersion: 0,
    referenceId: Buffer.from('RATE'),
    referenceTime: 0,
  });
  return reply;
}
