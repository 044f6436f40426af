/**
 * The station's signing key, and the signed heads of its audit trail.
 *
 * Key: Ed25519, made once (at `init`, or at the first start of a station from
 * before it existed), private part in DIR/station-key.pem (0600). Its public
 * key (raw 32 bytes, base64) is in /status and in every replicated custody
 * record; its id is the first 16 hex digits of the public key's SHA-256.
 *
 * A signed head vouches that line `seq` of the station's audit trail hashed
 * to `hash` when it was signed:
 *
 *   {"type":"edgecd-audit-head","station":…,"publicKey":…,"seq":N,
 *    "hash":"<sha256 of line N>","time":"<ISO>","signature":"<base64>"}
 *
 * The signature covers the JSON of every field but `signature`, in that
 * order, as UTF-8. Once a head is held outside the station (anchors.ts),
 * rewriting, cutting or back-dating the trail up to it shows.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileDurable } from '../lib/durable.ts';

export interface StationKey {
  privateKey: KeyObject;
  /** Raw Ed25519 public key, base64. */
  publicKey: string;
  keyId: string;
}

export interface AuditHead {
  type: 'edgecd-audit-head';
  /** The station's name (siteName) when it signed. */
  station: string;
  publicKey: string;
  seq: number;
  hash: string;
  time: string;
}

export interface SignedHead extends AuditHead {
  signature: string;
}

/** The response header that carries a signed head (base64url JSON) with a recording's audit lines (GET /custody/…). */
export const AUDIT_HEAD_HEADER = 'X-Edgecd-Audit-Head';

const HEX64 = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The station's key from `file`, made (0600) if there is none yet. */
export async function loadStationKey(file: string): Promise<StationKey> {
  let key = await readStationKey(file);
  if (!key) {
    await writeFileDurable(file, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
    key = (await readStationKey(file))!;
  }
  return key;
}

/** The station's key from `file`, or undefined if it has none. */
export async function readStationKey(file: string): Promise<StationKey | undefined> {
  const pem = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (pem === undefined) return undefined;
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${file}: not an Ed25519 key`);
  const publicKey = Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url').toString('base64');
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

export const keyIdOf = (publicKey: string): string => createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('hex').slice(0, 16);

export function signHead(key: StationKey, head: { station: string; seq: number; hash: string; time: string }): SignedHead {
  const unsigned: AuditHead = { type: 'edgecd-audit-head', station: head.station, publicKey: key.publicKey, seq: head.seq, hash: head.hash, time: head.time };
  return { ...unsigned, signature: sign(null, signedBytes(unsigned), key.privateKey).toString('base64') };
}

/** The head `doc` claims to be, if it is well formed and its signature holds under its own public key; else why not. */
export function checkSignedHead(doc: unknown): SignedHead | string {
  if (typeof doc !== 'object' || doc === null) return 'not a JSON object';
  const h = doc as Record<string, unknown>;
  if (h.type !== 'edgecd-audit-head') return 'type is not edgecd-audit-head';
  if (typeof h.station !== 'string' || h.station.length > 256) return 'station is not a name';
  if (typeof h.publicKey !== 'string' || !BASE64.test(h.publicKey) || Buffer.from(h.publicKey, 'base64').length !== 32) return 'publicKey is not a base64 Ed25519 key';
  if (!Number.isSafeInteger(h.seq) || (h.seq as number) < 0) return 'seq is not a line number';
  if (typeof h.hash !== 'string' || !HEX64.test(h.hash)) return 'hash is not a SHA-256';
  if (typeof h.time !== 'string' || Number.isNaN(Date.parse(h.time))) return 'time is not a date';
  if (typeof h.signature !== 'string' || !BASE64.test(h.signature)) return 'signature is not base64';
  const head: SignedHead = { type: 'edgecd-audit-head', station: h.station, publicKey: h.publicKey, seq: h.seq as number, hash: h.hash, time: h.time, signature: h.signature };
  const { signature, ...unsigned } = head;
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(head.publicKey, 'base64').toString('base64url') }, format: 'jwk' });
  return verify(null, signedBytes(unsigned), publicKey, Buffer.from(signature, 'base64')) ? head : 'the signature does not verify';
}

/** What is signed: the head's fields, in their fixed order, as JSON. */
function signedBytes(head: AuditHead): Buffer {
  const { type, station, publicKey, seq, hash, time } = head;
  return Buffer.from(JSON.stringify({ type, station, publicKey, seq, hash, time }));
}
