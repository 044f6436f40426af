/**
 * The clerk's RSA private keys for `edgecd decrypt`: read from `FILE` or
 * `ID=FILE` specs and checked up front (PEM, RSA, not a public key, not
 * passphrase-protected), so a bad key fails the call rather than each file.
 * Using them to unwrap content keys is decrypt.ts's job.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export interface PrivateKeyEntry {
  /** Matched against the key file's PublicKeyId. A key without id is tried when no id matches. */
  id?: string;
  pem: string;
}

/** The key as a KeyObject fit for RSA-OAEP; throws, naming it by `label`, why not. */
export function parsePrivateKey(pem: string, label: string): KeyObject {
  if (/-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)) throw new Error(`${label}: this is a public key; decryption needs the private key`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException | undefined)?.code === 'ERR_MISSING_PASSPHRASE') {
      throw new Error(`${label}: the key is passphrase-protected; write an unprotected copy first (openssl pkey -in KEY -out PLAIN.pem)`);
    }
    throw new Error(`${label}: not a PEM private key (${message(e)})`);
  }
  // RSA-PSS keys are RSA but restricted to signing; OAEP needs plain rsa.
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`${label}: a ${key.asymmetricKeyType ?? 'unknown'} key, not RSA`);
  return key;
}

/**
 * Reads private keys from `FILE` or `ID=FILE` specs (PEM, PKCS#1 or PKCS#8).
 * A spec is `ID=FILE` when it has an `=` before any `/`; a file whose name
 * contains `=` can be given as `./name`.
 */
export async function loadPrivateKeys(specs: string[]): Promise<PrivateKeyEntry[]> {
  const entries: PrivateKeyEntry[] = [];
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const slash = spec.indexOf('/');
    const hasId = eq > 0 && (slash === -1 || eq < slash);
    const id = hasId ? spec.slice(0, eq) : undefined;
    const file = hasId ? spec.slice(eq + 1) : spec;
    if (file === '') throw new Error(`private key '${spec}': no file given`);
    if (id !== undefined && entries.some((e) => e.id === id)) throw new Error(`private key id '${id}' given twice`);
    let pem: string;
    try {
      pem = await readFile(file, 'utf8');
    } catch (e) {
      throw new Error(`cannot read private key file ${file}: ${message(e)}`);
    }
    parsePrivateKey(pem, `private key file ${file}`); // fail now, not per content file
    entries.push(id === undefined ? { pem } : { id, pem });
  }
  return entries;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
