/**
 * Decrypts end-to-end encrypted evidence for a clerk holding the private key.
 *
 * With WantEncryption a BWS uploads each content object (a clip
 * `<StartTime>_<RecordingID>.mkv|.mp4`, or a GNSS track `..._gpstrail.json`)
 * encrypted with AES-256-CBC (PKCS#7 padding) under a fresh key and IV, next
 * to a key object with the same base name and extension `.key`:
 *
 *   {"EncryptedKey": base64(RSA-OAEP(aesKey)), "ContentEncryptionIV": base64(iv), "PublicKeyId": "<id>"}
 *
 * RSA-OAEP is OpenSSL's default (SHA-1, MGF1-SHA-1), as `openssl pkeyutl
 * -pkeyopt rsa_padding_mode:oaep` and `rsautl -oaep` produce. Each content
 * file is decrypted, under its own name, into the folder's `decrypted/`,
 * which has its own manifest.sha256: no pulled object's name can land there
 * (pull refuses an object that would be called `decrypted`), so a planted
 * object can never pass for an output, and the pulled evidence, its
 * manifest included, is never written to.
 */
import { constants, createDecipheriv, createHash, privateDecrypt, randomBytes, type KeyObject } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pairKeyFiles } from '../bws/key-files.ts';
import { parseEpoch } from '../bws/names.ts';
import { fsyncPath } from '../lib/durable.ts';
import { emptyManifest, MANIFEST, readManifest, writeManifest, type Manifest } from './manifest.ts';
import { parsePrivateKey, type PrivateKeyEntry } from './private-keys.ts';

export interface DecryptedFile {
  source: string;
  output: string;
  sourceSha256: string;
  outputSha256: string;
  /** Plaintext bytes written. */
  bytes: number;
}

export interface DecryptReport {
  decrypted: DecryptedFile[];
  skipped: { file: string; reason: string }[];
  failed: { file: string; reason: string }[];
}

/** Where the outputs go, inside the evidence folder. */
export const DECRYPTED = 'decrypted';
/** Files an evidence folder carries beside the content, none of them encrypted. */
const IGNORED = new Set([MANIFEST, 'metadata.json', 'custody.json', 'track.geojson']);
/** A key file is a few hundred bytes; anything much larger is not one. */
const MAX_KEY_FILE_BYTES = 64 * 1024;
const AES_BLOCK = 16;

/**
 * Which file in `dir` holds each content file's key: pairs by name and, when
 * the folder has pull's metadata.json, by the key files' StartTime (see
 * bws/key-files.ts). Keys that pair with nothing are returned to report.
 */
async function keyFiles(dir: string, files: string[]): Promise<{ keyOf: (file: string) => string | undefined; unmatched: string[] }> {
  const folder = await readFile(join(dir, 'metadata.json'), 'utf8').then(
    (t) => JSON.parse(t) as { container?: Record<string, string>; objects?: { name: string; file: string; metadata?: Record<string, string> }[] },
    () => undefined,
  );
  // Pull names files after objects (diskName); pair objects, answer in files.
  const listed = new Map((folder?.objects ?? []).filter((o) => files.includes(o.file)).map((o) => [o.file, o]));
  const objects = files.map((file) => ({ name: listed.get(file)?.name ?? file, meta: listed.get(file)?.metadata ?? {} }));
  const fileOf = new Map(files.map((file, i) => [objects[i]!.name, file]));
  const start = folder?.container?.starttime === undefined ? undefined : parseEpoch(folder.container.starttime);
  // Every file that is not a key may be content here (names need not be a camera's).
  const { keyOf, unmatched } = pairKeyFiles(objects, start, () => true);
  return {
    keyOf: (file) => {
      const key = keyOf.get(objects[files.indexOf(file)]?.name ?? file);
      return key === undefined ? undefined : fileOf.get(key);
    },
    unmatched: unmatched.map((k: string) => fileOf.get(k) ?? k),
  };
}

/** Why a file in an evidence folder is not a content file, or undefined if it is one. */
function notContent(name: string): string | undefined {
  // Hidden names include our own in-flight temp files (".<name>.<rand>.partial").
  if (name.startsWith('.')) return 'hidden file';
  if (IGNORED.has(name)) return 'evidence folder file';
  if (name.endsWith('.key')) return 'a key file: pass its content file, or the folder';
  return undefined;
}

/**
 * Decrypts every content file with a key file in a folder (or one content
 * file); writes each, under its own name, into `decrypted/` and records it in
 * `decrypted/manifest.sha256`.
 *
 * Throws only for a bad call (target missing, a key that does not parse, an
 * unknown `keyId`); problems with individual files go to the report.
 */
export async function decryptEvidence(target: string, keys: PrivateKeyEntry[], options: { keyId?: string } = {}): Promise<DecryptReport> {
  const ring = keys.map((k, i) => ({ id: k.id, key: parsePrivateKey(k.pem, k.id !== undefined ? `key '${k.id}'` : `key #${i + 1}`) }));
  if (options.keyId !== undefined && !ring.some((k) => k.id === options.keyId)) {
    throw new Error(
      `no private key with id '${options.keyId}' was given (ids: ${
        ring
          .map((k) => k.id)
          .filter((id) => id !== undefined)
          .join(', ') || 'none'
      })`,
    );
  }

  const info = await stat(target);
  let dir: string;
  let names: string[];
  if (info.isDirectory()) {
    dir = target;
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
  } else {
    dir = dirname(target);
    names = [basename(target)];
  }

  const report: DecryptReport = { decrypted: [], skipped: [], failed: [] };
  // The evidence's manifest checks the ciphertext; the outputs get their own.
  const manifest = await readManifest(dir);
  const outputs = (await readManifest(join(dir, DECRYPTED))) ?? emptyManifest();
  const candidates = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && (e.name.endsWith('.key') || notContent(e.name) === undefined)).map((e) => e.name);
  const paired = await keyFiles(dir, candidates);
  // Reported, never guessed: a key that unlocks nothing here, or more than one thing.
  if (info.isDirectory())
    for (const key of paired.unmatched)
      report.skipped.push({ file: join(dir, key), reason: 'a key file that pairs with no content file here (by name or by StartTime): not used' });
  for (const name of names) {
    const why = notContent(name);
    if (why !== undefined) {
      // In a folder these are simply not ours; named explicitly, the caller deserves to know.
      if (!info.isDirectory()) report.skipped.push({ file: target, reason: `not a content file (${why})` });
      continue;
    }
    const file = join(dir, name);
    const outcome = await decryptOne(dir, name, paired.keyOf(name), ring, options.keyId, manifest, outputs).catch(
      (e: unknown): Outcome => ({ kind: 'failed', reason: message(e) }),
    );
    if (outcome.kind === 'decrypted') {
      // Recorded after each file rather than at the end, so a crash part way
      // through a folder of large clips keeps what was already done.
      outputs.set(name, outcome.file.outputSha256);
      try {
        await writeManifest(join(dir, DECRYPTED), outputs);
      } catch (e) {
        // The output is complete, but unrecorded; a rerun redoes it (see decryptOne).
        report.failed.push({ file, reason: `decrypted to ${outcome.file.output}, but ${DECRYPTED}/${MANIFEST} could not be updated: ${message(e)}` });
        continue;
      }
      report.decrypted.push(outcome.file);
    } else if (outcome.kind === 'skipped') {
      report.skipped.push({ file, reason: outcome.reason });
    } else {
      report.failed.push({ file, reason: outcome.reason });
    }
  }
  return report;
}

type Outcome = { kind: 'decrypted'; file: DecryptedFile } | { kind: 'skipped' | 'failed'; reason: string };
type Ring = { id: string | undefined; key: KeyObject }[];

async function decryptOne(
  dir: string,
  name: string,
  keyName: string | undefined,
  ring: Ring,
  keyId: string | undefined,
  manifest: Manifest | undefined,
  outputs: Manifest,
): Promise<Outcome> {
  const source = join(dir, name);
  const outDir = join(dir, DECRYPTED);
  const output = join(outDir, name);
  if (keyName === undefined) return { kind: 'skipped', reason: 'not encrypted: no key file' };
  const keyPath = join(dir, keyName);

  let keyText: Buffer;
  try {
    const k = await stat(keyPath);
    if (!k.isFile()) return { kind: 'skipped', reason: 'not encrypted: no key file' };
    if (k.size > MAX_KEY_FILE_BYTES) return { kind: 'failed', reason: `key file ${keyName} is ${k.size} bytes: not a key file` };
    keyText = await readFile(keyPath);
  } catch (e) {
    if (code(e) === 'ENOENT') return { kind: 'skipped', reason: 'not encrypted: no key file' };
    return { kind: 'failed', reason: `cannot read key file ${keyName}: ${message(e)}` };
  }

  const src = await stat(source);
  // Skip only an output that is at least as new as its ciphertext and listed in
  // decrypted/manifest.sha256: an output missing from it means a run died
  // between rename and manifest write, and redoing it is cheaper to reason
  // about than trusting an unrecorded file.
  const out = await stat(output).catch(() => undefined);
  if (out?.isFile() && out.mtimeMs >= src.mtimeMs && outputs.has(name)) {
    return { kind: 'skipped', reason: 'already decrypted' };
  }

  // CBC ciphertext is whole blocks, at least one (the padding): say so now
  // rather than after streaming gigabytes to a "bad decrypt".
  if (src.size === 0 || src.size % AES_BLOCK !== 0) {
    return { kind: 'failed', reason: `not AES-CBC ciphertext: ${src.size} bytes is not a whole number of 16-byte blocks (truncated?)` };
  }

  const parsed = parseKeyFile(keyText);
  if (typeof parsed === 'string') return { kind: 'failed', reason: `key file ${keyName}: ${parsed}` };
  const unwrapped = unwrapContentKey(parsed.wrapped, parsed.publicKeyId, ring, keyId);
  if (typeof unwrapped === 'string') return { kind: 'failed', reason: unwrapped };

  await mkdir(outDir, { recursive: true, mode: 0o750 });
  const tmp = join(outDir, `.${name}.${randomBytes(6).toString('hex')}.partial`);
  try {
    const sourceHash = createHash('sha256');
    const outputHash = createHash('sha256');
    let bytes = 0;
    await pipeline(
      createReadStream(source),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          sourceHash.update(chunk);
          yield chunk;
        }
      },
      createDecipheriv('aes-256-cbc', unwrapped, parsed.iv),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          outputHash.update(chunk);
          bytes += chunk.length;
          yield chunk;
        }
      },
      // 'wx': a temp name that somehow exists is not ours to overwrite.
      createWriteStream(tmp, { flags: 'wx' }),
    );
    const sourceSha256 = sourceHash.digest('hex');
    // CBC has no integrity check: a corrupted middle block decrypts to garbage
    // without error. Where the folder's manifest lists the ciphertext, it is
    // the check, so a mismatch fails the file instead of yielding bad evidence.
    const listed = manifest?.get(name);
    if (listed !== undefined && listed !== sourceSha256) {
      throw new Error(`${name} does not match ${MANIFEST} (sha256 ${sourceSha256}, manifest says ${listed}): corrupt ciphertext`);
    }
    await fsyncPath(tmp);
    await rename(tmp, output);
    await fsyncPath(outDir);
    return { kind: 'decrypted', file: { source, output, sourceSha256, outputSha256: outputHash.digest('hex'), bytes } };
  } catch (e) {
    await unlink(tmp).catch(() => {});
    await rmdir(outDir).catch(() => {}); // only while empty: a failure leaves nothing behind
    return { kind: 'failed', reason: decipherReason(e) };
  }
}

function parseKeyFile(text: Buffer): { wrapped: Buffer; iv: Buffer; publicKeyId: string | undefined } | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  if (typeof doc !== 'object' || doc === null) return 'not a JSON object';
  const { EncryptedKey, ContentEncryptionIV, PublicKeyId } = doc as Record<string, unknown>;
  if (typeof EncryptedKey !== 'string' || EncryptedKey === '') return 'no EncryptedKey';
  if (typeof ContentEncryptionIV !== 'string') return 'no ContentEncryptionIV';
  const iv = Buffer.from(ContentEncryptionIV, 'base64');
  if (iv.length !== AES_BLOCK) return `ContentEncryptionIV is ${iv.length} bytes, not 16`;
  return { wrapped: Buffer.from(EncryptedKey, 'base64'), iv, publicKeyId: typeof PublicKeyId === 'string' ? PublicKeyId : undefined };
}

/** The AES key, or why no given private key yields it. */
function unwrapContentKey(wrapped: Buffer, publicKeyId: string | undefined, ring: Ring, keyId: string | undefined): Buffer | string {
  const tryKey = (key: KeyObject): Buffer | undefined => {
    try {
      // oaepHash sha1 is OpenSSL's OAEP default; spelled out because it is the format.
      const aes = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, wrapped);
      return aes.length === 32 ? aes : undefined;
    } catch {
      return undefined; // OAEP decoding error: not the key this was wrapped for
    }
  };
  const wrongKey = (label: string) => `the private key ${label} does not unwrap this content key (wrong key?)`;
  const shown = publicKeyId ?? '(none in key file)';

  if (keyId !== undefined) {
    const k = ring.find((e) => e.id === keyId)!; // checked by the caller
    return tryKey(k.key) ?? wrongKey(`'${keyId}' (forced; key file says PublicKeyId ${shown})`);
  }
  const byId = publicKeyId === undefined ? undefined : ring.find((e) => e.id === publicKeyId);
  if (byId !== undefined) return tryKey(byId.key) ?? wrongKey(`'${byId.id}'`);

  // No id matches: keys given without an id are candidates, tried in turn.
  const anonymous = ring.filter((e) => e.id === undefined);
  if (anonymous.length === 0) return `no private key for PublicKeyId ${shown}`;
  for (const k of anonymous) {
    const aes = tryKey(k.key);
    if (aes !== undefined) return aes;
  }
  return anonymous.length === 1
    ? wrongKey(`given without id`) + ` (PublicKeyId ${shown})`
    : `none of the ${anonymous.length} private keys given without id unwraps this content key (wrong keys?; PublicKeyId ${shown})`;
}

function decipherReason(e: unknown): string {
  const m = message(e);
  // OpenSSL reports a bad final block as "bad decrypt": with an unwrapped key
  // that is right for the key file, the ciphertext is corrupt or truncated.
  if (/bad decrypt|wrong final block length/i.test(m)) return 'decryption failed (bad padding): corrupt or truncated ciphertext, or a key file that does not belong to it';
  return m;
}

const code = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code;
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
