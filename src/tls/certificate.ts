/**
 * Self-signed X.509 v3 certificates from node:crypto alone: node can sign and
 * parse certificates but not build them, so the DER (X.690) is written here.
 * Only the handful of ASN.1 types a certificate needs are encoded; see
 * RFC 5280 §4.1 for the structure this follows.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

export type KeyAlgorithm = 'ec-p256' | 'rsa-2048';
export interface CertificateRequest {
  /** Each becomes a SubjectAltName entry; the first is also the subject CN. IPv4/IPv6 literals become iPAddress, anything else dNSName. */
  names: string[];
  validityDays: number; // notBefore = now - 1 hour (clock skew), notAfter = notBefore + validityDays
  algorithm: KeyAlgorithm; // default to 'ec-p256' at call sites
  /** Optional: reuse this private key (PEM, PKCS#8) instead of generating one — for renewal keeping the key. */
  keyPem?: string;
  now?: Date;
}
export interface GeneratedCertificate {
  keyPem: string;
  certPem: string;
  notAfter: Date;
  fingerprint256: string;
}

// ---- DER encoding: tag, definite length, contents ----

function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  let length: Buffer;
  if (body.length < 0x80) length = Buffer.from([body.length]);
  else {
    const bytes: number[] = [];
    for (let n = body.length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const seq = (...items: Buffer[]): Buffer => tlv(0x30, ...items);
const set = (...items: Buffer[]): Buffer => tlv(0x31, ...items);
const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner); // [n] EXPLICIT: constructed, context-specific
const bool = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
const NULL = Buffer.from([0x05, 0x00]);
const octetString = (bytes: Buffer): Buffer => tlv(0x04, bytes);
const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
const printableString = (text: string): Buffer => tlv(0x13, Buffer.from(text, 'ascii'));
/** The bit string's first content octet counts the unused bits at the end. */
const bitString = (bytes: Buffer, unusedBits = 0): Buffer => tlv(0x03, Buffer.from([unusedBits]), bytes);

/** Unsigned big-endian magnitude → DER INTEGER: minimal octets, 0x00 pad so it stays positive. */
function integer(value: Buffer | number): Buffer {
  let bytes = typeof value === 'number' ? Buffer.from([value]) : value;
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  bytes = bytes.subarray(start);
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = arcs;
  const out: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const base128: number[] = [arc & 0x7f]; // base-128, high bit set on all but the last octet
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) base128.unshift((n & 0x7f) | 0x80);
    out.push(...base128);
  }
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime for 1950–2049, GeneralizedTime otherwise; always Z, whole seconds. */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2049-06-01T00:00:00.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z'; // 20490601000000Z
  const year = date.getUTCFullYear();
  return year >= 1950 && year <= 2049 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
}

/** Where the contents of the DER element at `offset` start and end (enough to pick apart a SubjectPublicKeyInfo). */
function element(der: Buffer, offset: number): { start: number; end: number } {
  let length = der[offset + 1] ?? 0;
  let start = offset + 2;
  if (length & 0x80) {
    // long form: the low bits count the length octets that follow
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[start + i] ?? 0);
    start += count;
  }
  return { start, end: start + length };
}

// ---- names ----

const MAX_NAMES = 10;
// Labels of letters, digits and inner hyphens, ≤ 63 each; a wildcard only as the whole leftmost label.
const HOSTNAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function validateNames(names: string[]): void {
  if (!Array.isArray(names) || names.length === 0) throw new Error('certificate: at least one name (DNS name or IP address) is required');
  if (names.length > MAX_NAMES) throw new Error(`certificate: ${names.length} names given; at most ${MAX_NAMES} are allowed`);
  for (const name of names) {
    if (typeof name !== 'string' || name === '') throw new Error('certificate: names must be non-empty strings');
    if (name.includes('%')) throw new Error(`certificate: "${name}": an IPv6 zone id cannot go in a certificate; drop the %zone`);
    if (isIP(name) === 0 && (name.length > 253 || !HOSTNAME.test(name))) {
      throw new Error(`certificate: "${name}" is neither an IP address nor a valid DNS name (letters, digits, hyphens and dots, optionally starting with "*.")`);
    }
  }
  // RFC 5280 caps a CN at 64 characters (ub-common-name); the SAN entries have no such limit.
  if ((names[0] ?? '').length > 64) throw new Error(`certificate: the first name becomes the subject CN and must be at most 64 characters; put a shorter name first`);
}

/** iPAddress SAN contents: 4 or 16 network-order octets. */
function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  let text = ip;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text); // ::ffff:1.2.3.4 → last two groups
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groupsOf = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const groups = tail === undefined ? groupsOf(head) : [...groupsOf(head), ...Array<string>(8 - groupsOf(head).length - groupsOf(tail).length).fill('0'), ...groupsOf(tail)];
  const out = Buffer.alloc(16);
  for (const [i, group] of groups.entries()) out.writeUInt16BE(parseInt(group, 16), i * 2);
  return out;
}

// ---- keys ----

function resolveKey(req: CertificateRequest): KeyObject {
  if (req.keyPem === undefined) {
    return req.algorithm === 'rsa-2048' ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(req.keyPem);
  } catch (err) {
    throw new Error(`certificate: keyPem is not a usable unencrypted private key: ${(err as Error).message}`);
  }
  // The signature algorithm follows the key, so a key of another kind than requested is a configuration mistake.
  const kind = key.asymmetricKeyType === 'rsa' ? 'rsa-2048' : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ec-p256' : undefined;
  if (kind !== req.algorithm)
    throw new Error(
      `certificate: keyPem is not a ${req.algorithm} key (it is ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''})`,
    );
  if (kind === 'rsa-2048' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error('certificate: keyPem RSA key is shorter than 2048 bits');
  return key;
}

// ---- the certificate ----

const HOUR = 3600_000;
const DAY = 24 * HOUR;

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  // critical is BOOLEAN DEFAULT FALSE: DER requires leaving out a default value.
  return seq(oid(id), ...(critical ? [bool(true)] : []), octetString(value));
}

export function generateSelfSigned(req: CertificateRequest): GeneratedCertificate {
  validateNames(req.names);
  if (!Number.isInteger(req.validityDays) || req.validityDays < 1 || req.validityDays > 36_525) {
    throw new Error(`certificate: validityDays must be a whole number of days from 1 to 36525, not ${req.validityDays}`);
  }
  const key = resolveKey(req);
  const rsa = req.algorithm === 'rsa-2048';

  // Whole seconds: the encoded times carry none, and notAfter returned must equal what is in the certificate.
  const now = Math.floor((req.now ?? new Date()).getTime() / 1000) * 1000;
  const notBefore = new Date(now - HOUR);
  const notAfter = new Date(notBefore.getTime() + req.validityDays * DAY);

  let serial: Buffer;
  do {
    serial = randomBytes(16);
    serial[0]! &= 0x7f;
  } while (serial.every((b) => b === 0)); // positive, non-zero (§4.1.2.2)

  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey BIT STRING }; the key id hashes the bits alone (§4.2.1.2).
  const algorithm = element(spki, element(spki, 0).start);
  const bits = element(spki, algorithm.end);
  const keyBits = spki.subarray(bits.start + 1, bits.end); // skip the unused-bits octet

  const name = seq(set(seq(oid('2.5.4.10'), printableString('edgecd'))), set(seq(oid('2.5.4.3'), utf8String(req.names[0]!))));
  const signatureAlgorithm = rsa ? seq(oid('1.2.840.113549.1.1.11'), NULL) : seq(oid('1.2.840.10045.4.3.2'));
  // keyUsage named bits: digitalSignature(0), keyEncipherment(2), keyCertSign(5); trailing zero bits are dropped, so 2 unused.
  const keyUsage = bitString(Buffer.from([rsa ? 0b1010_0100 : 0b1000_0100]), 2);
  const altNames = req.names.map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii'))));

  const extensions = seq(
    // CA:TRUE, pathLen 0: pinned, the certificate is its own trust anchor, and trust stores built to hold CAs expect one.
    // (OpenSSL/curl/node, GnuTLS and Java also accept a pinned CA:FALSE self-signed leaf: a one-certificate chain is never CA-checked.)
    extension('2.5.29.19', true, seq(bool(true), integer(0))),
    extension('2.5.29.15', true, keyUsage),
    extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))),
    extension('2.5.29.17', false, seq(...altNames)),
    extension('2.5.29.14', false, octetString(createHash('sha1').update(keyBits).digest())),
  );

  const tbs = seq(explicit(0, integer(2)), integer(serial), signatureAlgorithm, name, seq(time(notBefore), time(notAfter)), name, spki, explicit(3, extensions));
  const signature = rsa ? sign('sha256', tbs, key) : sign('sha256', tbs, { key, dsaEncoding: 'der' });
  const der = seq(tbs, signatureAlgorithm, bitString(signature));

  const base64 = der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return {
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string,
    certPem: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`,
    notAfter,
    fingerprint256: createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':'),
  };
}
