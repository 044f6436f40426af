/**
 * `edgecd keys generate`: the RSA key pair for end-to-end encryption
 * (WantEncryption). The public half goes in the connection file (cameras wrap
 * each clip's AES key with it); the private half decrypts, and belongs at the
 * central office with the clerks, never on a field station: a station that
 * holds it protects nothing. So it is never written inside a data directory.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { OperatorError } from '../lib/errors.ts';

export const KEY_BITS = [2048, 3072, 4096] as const;

export interface GeneratedKeys {
  privateKeyFile: string;
  publicKeyFile: string;
  id: string;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** The edgecd data directory `dir` is in (it or an ancestor holds credentials.json), if any. */
async function dataDirAbove(dir: string): Promise<string | undefined> {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (await exists(join(d, 'credentials.json'))) return d;
    if (dirname(d) === d) return undefined;
  }
}

const inside = (child: string, parent: string) => {
  const rel = relative(resolve(parent), resolve(child));
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'));
};

export async function generateContentKeys(out: string, options: { id: string; bits: number; dataDir?: string }): Promise<GeneratedKeys> {
  if (!KEY_BITS.includes(options.bits as (typeof KEY_BITS)[number])) throw new OperatorError(`--bits: one of ${KEY_BITS.join(', ')}`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(options.id)) throw new OperatorError('--id: 1–128 letters, digits, ".", "_" or "-" (it is the PublicKeyId and the file names)');
  const station = options.dataDir !== undefined && inside(out, options.dataDir) ? resolve(options.dataDir) : await dataDirAbove(out);
  if (station)
    throw new OperatorError(
      `${out} is inside the data directory ${station}: the private key must not stay on the station (decryption happens at the central office). Generate it elsewhere, for example on the clerks' machine, and copy only the public key here`,
    );
  await mkdir(out, { recursive: true, mode: 0o700 });
  const privateKeyFile = join(out, `${options.id}.private.pem`);
  const publicKeyFile = join(out, `${options.id}.public.pem`);
  for (const f of [privateKeyFile, publicKeyFile])
    if (await exists(f)) throw new OperatorError(`${f} exists: a key is never overwritten (recordings encrypted for it would be lost)`);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: options.bits });
  // 'wx': never over a file that appeared meanwhile.
  await writeFile(privateKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  await writeFile(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
  return { privateKeyFile, publicKeyFile, id: options.id };
}
