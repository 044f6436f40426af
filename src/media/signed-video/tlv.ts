/**
 * Decodes the TLV payload of Axis signed-video SEIs, current and legacy
 * layouts (sv_tlv.c, legacy/legacy_tlv.c of signed-video-framework).
 *
 * Input is the TLV part with emulation-prevention bytes already removed.
 * Everything is bounds-checked against the buffer: a truncated TLV, a length
 * past the end or an unknown tag raises TlvError (and only that), so the
 * verifier can turn it into a verdict. Decoded values are copies or
 * subarrays of the input; callers copy what they keep.
 */

export class TlvError extends Error {
  override name = 'TlvError';
}

export const TAG = {
  general: 1,
  publicKey: 2,
  productInfo: 3,
  hashList: 4,
  signature: 5,
  arbitraryData: 6,
  cryptoInfo: 7,
  vendorAxis: 129,
} as const;

/** Bytes used for the length field of each known tag; unknown tags are an error when decoding. */
const LENGTH_BYTES: Record<number, number> = { 1: 1, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2, 7: 1, 129: 2 };

/** The library's hash_list buffer: MAX_HASH_SIZE (64) × MAX_GOP_LENGTH (300). Larger lists are refused. */
export const MAX_HASH_LIST_BYTES = 64 * 300;

export interface RawTlv {
  tag: number;
  value: Uint8Array;
}

/** Splits TLV data into its tags, like sv_tlv_decode()'s header loop. Stops with TlvError on a bad header. */
export function splitTlvs(data: Uint8Array): RawTlv[] {
  const out: RawTlv[] = [];
  let pos = 0;
  while (pos < data.length) {
    const left = data.length - pos;
    if (left < 2) throw new TlvError(`TLV header truncated at byte ${pos}`);
    const tag = data[pos] as number;
    const lengthBytes = LENGTH_BYTES[tag];
    if (lengthBytes === undefined) throw new TlvError(`unknown TLV tag ${tag} at byte ${pos}`);
    if (left < lengthBytes + 1) throw new TlvError(`TLV header of tag ${tag} truncated`);
    const length = lengthBytes === 2 ? ((data[pos + 1] as number) << 8) | (data[pos + 2] as number) : (data[pos + 1] as number);
    const start = pos + 1 + lengthBytes;
    if (length > data.length - start) throw new TlvError(`TLV tag ${tag} claims ${length} bytes, ${data.length - start} left`);
    out.push({ tag, value: data.subarray(start, start + length) });
    pos = start + length;
  }
  return out;
}

/**
 * Where the signature tag starts, scanning TLV headers like sv_tlv_find_tag():
 * over raw bytes, optionally skipping emulation-prevention bytes, bounded by
 * `tlvSize` counted from `start` in raw bytes (the library's own quirk).
 * Returns the raw offset of the tag byte, or -1.
 */
export function findTagOffset(bytes: Uint8Array, start: number, tlvSize: number, wanted: number, skipEpb: boolean): number {
  const end = start + tlvSize;
  let pos = start;
  let lastTwo = 0x0101;
  const read = (): number => {
    let b = bytes[pos] ?? 0;
    if (skipEpb && b === 0x03 && lastTwo === 0) {
      lastTwo = ((lastTwo << 8) | b) & 0xffff;
      pos++;
      b = bytes[pos] ?? 0;
    }
    lastTwo = ((lastTwo << 8) | b) & 0xffff;
    pos++;
    return b;
  };
  // Every iteration advances pos by at least 2, so the loop ends.
  while (pos < end && pos < bytes.length) {
    const location = pos;
    const tag = read();
    if (tag === wanted) return location;
    let length = read();
    if (LENGTH_BYTES[tag] === 2) length = (length << 8) | read();
    if (pos + length > end) return -1;
    for (let i = 0; i < length; i++) read();
  }
  return -1;
}

class Reader {
  pos = 0;
  constructor(
    readonly data: Uint8Array,
    readonly what: string,
  ) {}
  get left(): number {
    return this.data.length - this.pos;
  }
  need(n: number): void {
    if (n > this.left) throw new TlvError(`${this.what}: truncated (needs ${n} bytes at ${this.pos}, has ${this.left})`);
  }
  u8(): number {
    this.need(1);
    return this.data[this.pos++] as number;
  }
  u16(): number {
    this.need(2);
    const v = ((this.data[this.pos] as number) << 8) | (this.data[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = new DataView(this.data.buffer, this.data.byteOffset + this.pos, 4).getUint32(0);
    this.pos += 4;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = new DataView(this.data.buffer, this.data.byteOffset + this.pos, 8).getBigInt64(0);
    this.pos += 8;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  rest(): Uint8Array {
    return this.bytes(this.left);
  }
  end(): void {
    if (this.left !== 0) throw new TlvError(`${this.what}: ${this.left} unexpected trailing bytes`);
  }
}

export interface GeneralInfo {
  tagVersion: number;
  /** (Partial) GOP counter of the signer. */
  gopCounter: number;
  /** Number of hashed units the SEI covers. */
  numSent: number;
  /** The signer's library version, e.g. "v2.0.3". */
  signingVersion: string;
  signingVersionParts: [number, number, number];
  triggeredPartialGop: boolean;
  startTimestamp?: bigint;
  endTimestamp?: bigint;
  linkedHash?: Uint8Array;
  gopHash?: Uint8Array;
}

export function decodeGeneral(value: Uint8Array, legacy: boolean): GeneralInfo {
  const r = new Reader(value, 'general tag');
  const tagVersion = r.u8();
  const maxVersion = legacy ? 2 : 4;
  if (tagVersion < 1 || tagVersion > maxVersion) throw new TlvError(`general tag version ${tagVersion} not supported`);
  const gopCounter = r.u32();
  const numSent = r.u16();
  const parts: [number, number, number] = [r.u8(), r.u8(), r.u8()];
  const info: GeneralInfo = {
    tagVersion,
    gopCounter,
    numSent,
    signingVersion: `v${parts[0]}.${parts[1]}.${parts[2]}`,
    signingVersionParts: parts,
    triggeredPartialGop: false,
  };
  if (tagVersion >= 2) {
    const flags = r.u8();
    info.triggeredPartialGop = !legacy && (flags & 0x02) !== 0;
    if (flags & 0x01) {
      info.startTimestamp = r.i64();
      info.endTimestamp = !legacy && tagVersion >= 4 ? r.i64() : info.startTimestamp;
    }
  }
  if (!legacy && tagVersion >= 3) {
    const hashSize = r.left / 2;
    if (!Number.isInteger(hashSize) || hashSize > 64) throw new TlvError('general tag: bad linked/GOP hash size');
    info.linkedHash = r.bytes(hashSize);
    info.gopHash = r.bytes(hashSize);
  }
  r.end();
  return info;
}

/** The public key as carried: PEM text bytes (SubjectPublicKeyInfo). */
export function decodePublicKey(value: Uint8Array): Uint8Array {
  const r = new Reader(value, 'public key tag');
  const version = r.u8();
  if (version < 1 || version > 2) throw new TlvError(`public key tag version ${version} not supported`);
  if (version < 2) r.u8(); // algorithm byte, dropped in version 2
  const key = r.rest();
  if (key.length === 0) throw new TlvError('public key tag: empty key');
  return key;
}

export interface DecodedProductInfo {
  hardwareId: string;
  firmwareVersion: string;
  serialNumber: string;
  manufacturer: string;
  address: string;
}

export function decodeProductInfo(value: Uint8Array, legacy: boolean): DecodedProductInfo {
  const r = new Reader(value, 'product info tag');
  const version = r.u8();
  if (version === 0 || (!legacy && version > 2)) throw new TlvError(`product info tag version ${version} not supported`);
  // Version 1 stored the terminating NUL; C strings stop there, so do we.
  const str = (): string => {
    const b = r.bytes(r.u8());
    const nul = b.indexOf(0);
    return Buffer.from(nul >= 0 ? b.subarray(0, nul) : b).toString('latin1');
  };
  const info = { hardwareId: str(), firmwareVersion: str(), serialNumber: str(), manufacturer: str(), address: str() };
  r.end();
  return info;
}

export function decodeHashList(value: Uint8Array): Uint8Array {
  const r = new Reader(value, 'hash list tag');
  const version = r.u8();
  if (version !== 1) throw new TlvError(`hash list tag version ${version} not supported`);
  const list = r.rest();
  if (list.length > MAX_HASH_LIST_BYTES) throw new TlvError(`hash list of ${list.length} bytes exceeds the library's ${MAX_HASH_LIST_BYTES}`);
  return list;
}

export interface SignatureInfo {
  signature: Uint8Array;
  encodingStatus: number;
  /** Legacy only: 0 = the signature covers the GOP hash, 1 = the SEI's document hash. */
  legacyHashType?: 0 | 1;
}

export function decodeSignature(value: Uint8Array, legacy: boolean): SignatureInfo {
  const r = new Reader(value, 'signature tag');
  const version = r.u8();
  const encodingStatus = r.u8();
  let legacyHashType: 0 | 1 | undefined;
  if (legacy) {
    const t = r.u8();
    if (t !== 0 && t !== 1) throw new TlvError(`signature tag: unknown hash type ${t}`);
    legacyHashType = t;
  } else if (version < 2) {
    r.u8();
  }
  if (version === 0 || (!legacy && version > 2)) throw new TlvError(`signature tag version ${version} not supported`);
  const size = r.u16();
  const space = r.rest();
  if (size > space.length) throw new TlvError(`signature tag: signature of ${size} bytes in ${space.length}`);
  const info: SignatureInfo = { signature: space.subarray(0, size), encodingStatus };
  if (legacyHashType !== undefined) info.legacyHashType = legacyHashType;
  return info;
}

/** The DER-encoded OID of the hash algorithm (crypto info tag). */
export function decodeCryptoInfo(value: Uint8Array): Uint8Array {
  const r = new Reader(value, 'crypto info tag');
  const version = r.u8();
  if (version !== 1) throw new TlvError(`crypto info tag version ${version} not supported`);
  const size = r.u8();
  if (size === 0) throw new TlvError('crypto info tag: empty OID');
  const oid = r.bytes(size);
  r.end();
  return oid;
}

export interface AxisVendorInfo {
  /** Edge Vault attestation report; empty for factory-provisioned keys. */
  attestation: Uint8Array;
  /** PEM text of the two untrusted certificates (leaf/attestation first). */
  certificateChain: string;
}

export function decodeAxisVendor(value: Uint8Array): AxisVendorInfo {
  const r = new Reader(value, 'Axis vendor tag');
  const version = r.u8();
  if (version !== 1) throw new TlvError(`Axis vendor tag version ${version} not supported`);
  const attestation = r.bytes(r.u8());
  if (r.left < 1) throw new TlvError('Axis vendor tag: no certificate chain');
  const chain = r.rest();
  return { attestation, certificateChain: Buffer.from(chain).toString('latin1') };
}

/** Arbitrary data (deprecated): only checked for its version. */
export function decodeArbitraryData(value: Uint8Array): void {
  const r = new Reader(value, 'arbitrary data tag');
  const version = r.u8();
  if (version !== 1) throw new TlvError(`arbitrary data tag version ${version} not supported`);
  if (r.left === 0) throw new TlvError('arbitrary data tag: empty');
}
