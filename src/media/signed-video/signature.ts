/**
 * Signature checks of signed-video SEIs with node:crypto: the public key as
 * the stream carries it (PEM SubjectPublicKeyInfo, or the leaf certificate of
 * the Axis vendor tag), ECDSA (DER r,s) or RSA PKCS#1 v1.5, over SHA-256.
 *
 * The library verifies a precomputed hash (EVP_PKEY_verify); for the
 * document hash that equals verifying the document itself with
 * verify('sha256', …), which is what we do. Legacy GOP-hash signatures sign
 * a hash whose message we do not have; those are checked as prehashed:
 * RSA by recovering the DigestInfo, ECDSA P-256 with a small BigInt verifier.
 */
import { createHash, createPublicKey, type KeyObject, publicDecrypt, constants as cryptoConstants, verify } from 'node:crypto';

export interface StreamPublicKey {
  key: KeyObject;
  algorithm: 'ecdsa' | 'rsa' | 'unknown';
  /** SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex. */
  fingerprint: string;
  /** The DER SPKI, to compare keys between SEIs. */
  spki: Uint8Array;
}

/** Parses a PEM (or DER) public key; undefined when the bytes are not a key node can read. */
export function parsePublicKey(bytes: Uint8Array): StreamPublicKey | undefined {
  try {
    const buf = Buffer.from(bytes);
    const text = buf.toString('latin1');
    const key = text.includes('-----BEGIN') ? createPublicKey({ key: text, format: 'pem' }) : createPublicKey({ key: buf, format: 'der', type: 'spki' });
    return describeKey(key);
  } catch {
    return undefined;
  }
}

export function describeKey(key: KeyObject): StreamPublicKey {
  const spki = new Uint8Array(key.export({ format: 'der', type: 'spki' }));
  const type = key.asymmetricKeyType;
  const algorithm = type === 'ec' ? 'ecdsa' : type === 'rsa' ? 'rsa' : 'unknown';
  return { key, algorithm, fingerprint: createHash('sha256').update(spki).digest('hex'), spki };
}

/** Verifies `signature` over `message` hashed with `hashName`. False on any failure, including malformed DER. */
export function verifyMessage(publicKey: StreamPublicKey, hashName: string, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length === 0) return false;
  try {
    return verify(hashName, message, publicKey.key, signature);
  } catch {
    return false;
  }
}

const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** Verifies a signature over an already computed SHA-256 digest. */
export function verifyDigest(publicKey: StreamPublicKey, digest: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length === 0 || digest.length !== 32) return false;
  try {
    if (publicKey.algorithm === 'rsa') {
      const recovered = publicDecrypt({ key: publicKey.key, padding: cryptoConstants.RSA_PKCS1_PADDING }, signature);
      return recovered.equals(Buffer.concat([SHA256_DIGEST_INFO, digest]));
    }
    if (publicKey.algorithm === 'ecdsa') return verifyP256Digest(publicKey.key, digest, signature);
  } catch {
    return false;
  }
  return false;
}

// --- ECDSA P-256 over a digest (no node:crypto API verifies a prehashed ECDSA signature) ---

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const A = P - 3n;
const G: [bigint, bigint] = [0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n, 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n];

const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m;
function inv(a: bigint, m: bigint): bigint {
  let [r0, r1] = [mod(a, m), m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}
type Point = [bigint, bigint] | null;
function add(p: Point, q: Point): Point {
  if (!p) return q;
  if (!q) return p;
  if (p[0] === q[0]) {
    if (mod(p[1] + q[1], P) === 0n) return null;
    const l = mod((3n * p[0] * p[0] + A) * inv(2n * p[1], P), P);
    const x = mod(l * l - 2n * p[0], P);
    return [x, mod(l * (p[0] - x) - p[1], P)];
  }
  const l = mod((q[1] - p[1]) * inv(q[0] - p[0], P), P);
  const x = mod(l * l - p[0] - q[0], P);
  return [x, mod(l * (p[0] - x) - p[1], P)];
}
function mul(k: bigint, p: Point): Point {
  let r: Point = null;
  let q = p;
  while (k > 0n) {
    if (k & 1n) r = add(r, q);
    q = add(q, q);
    k >>= 1n;
  }
  return r;
}
function readDerSignature(sig: Uint8Array): [bigint, bigint] | undefined {
  let pos = 0;
  const byte = () => sig[pos++];
  if (byte() !== 0x30) return undefined;
  let len = byte() ?? 0;
  if (len & 0x80) {
    if (len !== 0x81) return undefined;
    len = byte() ?? 0;
  }
  const int = (): bigint | undefined => {
    if (byte() !== 0x02) return undefined;
    const l = byte() ?? 0;
    if (l === 0 || pos + l > sig.length) return undefined;
    const v = BigInt(`0x${Buffer.from(sig.subarray(pos, pos + l)).toString('hex')}`);
    pos += l;
    return v;
  };
  const r = int();
  const s = int();
  return r === undefined || s === undefined ? undefined : [r, s];
}
function verifyP256Digest(key: KeyObject, digest: Uint8Array, signature: Uint8Array): boolean {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'P-256' || !jwk.x || !jwk.y) return false;
  const Q: [bigint, bigint] = [BigInt(`0x${Buffer.from(jwk.x, 'base64url').toString('hex')}`), BigInt(`0x${Buffer.from(jwk.y, 'base64url').toString('hex')}`)];
  const rs = readDerSignature(signature);
  if (!rs) return false;
  const [r, s] = rs;
  if (r <= 0n || r >= N || s <= 0n || s >= N) return false;
  const e = BigInt(`0x${Buffer.from(digest).toString('hex')}`);
  const w = inv(s, N);
  const point = add(mul(mod(e * w, N), G), mul(mod(r * w, N), Q));
  return point !== null && mod(point[0], N) === r;
}
