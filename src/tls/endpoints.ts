/**
 * The station's HTTPS endpoints: one certificate and key per address the
 * body-worn system may use, in DIR/tls/ (keys 0600), listed in
 * DIR/tls/endpoints.json in the order the connection file names them.
 *
 * Certificates are generated (self-signed, pinned by the connection file's
 * HTTPSCertificate) or supplied by the operator. Either way the daemon picks
 * the certificate by the address a connection arrived on (or its SNI name).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { OperatorError } from '../lib/errors.ts';
import { writeFileDurable } from '../lib/durable.ts';
import { generateSelfSigned, type KeyAlgorithm } from './certificate.ts';

export interface EndpointRecord {
  /** IP address or DNS name the certificate is for (its first SubjectAltName). */
  name: string;
  cert: string;
  key: string;
  /** Made by edgecd (renewable) rather than supplied by the operator. */
  generated: boolean;
}

export interface Endpoint extends EndpointRecord {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

export const MAX_ENDPOINTS = 10; // the connection file holds at most ten URIs and certificates

const tlsDir = (dir: string) => join(dir, 'tls');
const manifestPath = (dir: string) => join(tlsDir(dir), 'endpoints.json');
const fileName = (name: string) => name.replace(/[^A-Za-z0-9.-]/g, '_');

/** The endpoints, or [] when HTTPS was never set up. */
export async function loadEndpoints(dir: string): Promise<Endpoint[]> {
  let records: EndpointRecord[];
  try {
    records = (JSON.parse(await readFile(manifestPath(dir), 'utf8')) as { endpoints: EndpointRecord[] }).endpoints;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new OperatorError(`${manifestPath(dir)}: ${(err as Error).message}`);
  }
  return Promise.all(
    records.map(async (r) => {
      const certPem = await readFile(join(dir, r.cert), 'utf8');
      const keyPem = await readFile(join(dir, r.key), 'utf8');
      return { ...r, certPem, keyPem, notAfter: new Date(new X509Certificate(certPem).validTo) };
    }),
  );
}

async function saveEndpoint(dir: string, name: string, certPem: string, keyPem: string, generated: boolean): Promise<EndpointRecord> {
  await mkdir(tlsDir(dir), { recursive: true, mode: 0o700 });
  const base = fileName(name);
  const record = { name, cert: join('tls', `${base}.pem`), key: join('tls', `${base}.key`), generated };
  await writeFileDurable(join(dir, record.key), keyPem, 0o600);
  await writeFileDurable(join(dir, record.cert), certPem, 0o644);
  return record;
}

async function saveManifest(dir: string, records: EndpointRecord[]): Promise<void> {
  await writeFileDurable(manifestPath(dir), JSON.stringify({ endpoints: records }, null, 2) + '\n', 0o600);
}

export function checkNames(names: string[]): void {
  if (names.length === 0) throw new OperatorError('HTTPS needs at least one address (--ip or --hostname)');
  if (names.length > MAX_ENDPOINTS) throw new OperatorError(`at most ${MAX_ENDPOINTS} addresses: the connection file holds ten certificates`);
  if (new Set(names).size !== names.length) throw new OperatorError('an address is given twice');
  for (const n of names) {
    if (isIP(n) === 0 && !/^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(n)) {
      throw new OperatorError(`${JSON.stringify(n)} is neither an IP address nor a host name`);
    }
    if (n === '0.0.0.0' || n === '::') throw new OperatorError(`${n} is a wildcard, not an address the cameras can reach: name the station's addresses`);
  }
}

/** Generates a self-signed certificate for each name, replacing any endpoints there were. */
export async function generateEndpoints(dir: string, names: string[], options: { validityDays: number; algorithm: KeyAlgorithm }): Promise<Endpoint[]> {
  checkNames(names);
  const records: EndpointRecord[] = [];
  for (const name of names) {
    const made = generateSelfSigned({ names: [name], validityDays: options.validityDays, algorithm: options.algorithm });
    records.push(await saveEndpoint(dir, name, made.certPem, made.keyPem, true));
  }
  await saveManifest(dir, records);
  return loadEndpoints(dir);
}

/** Takes an operator's certificate and key (PEM) for the names the certificate covers. */
export async function importEndpoint(dir: string, certPem: string, keyPem: string): Promise<Endpoint[]> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new OperatorError('--cert: not a PEM X.509 certificate');
  }
  let matches = false;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    throw new OperatorError('--cert-key: not a PEM private key');
  }
  if (!matches) throw new OperatorError('--cert-key does not belong to --cert');
  if (new Date(cert.validTo) <= new Date()) throw new OperatorError(`--cert expired on ${cert.validTo}`);
  const names = (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .map((e) => /^(?:IP Address|DNS):(.+)$/.exec(e)?.[1])
    .filter((n): n is string => n !== undefined && !n.startsWith('*'));
  if (names.length === 0) throw new OperatorError('--cert has no IP or DNS SubjectAltName: the cameras could not match it to an address');
  checkNames(names);
  const records: EndpointRecord[] = [];
  for (const name of names) records.push(await saveEndpoint(dir, name, certPem, keyPem, false));
  await saveManifest(dir, records);
  return loadEndpoints(dir);
}

/** New certificates (same keys, fresh validity) for the generated endpoints; operator ones are left alone. */
export async function renewEndpoints(dir: string, options: { validityDays: number; algorithm: KeyAlgorithm }): Promise<{ renewed: string[]; kept: string[] }> {
  const endpoints = await loadEndpoints(dir);
  if (endpoints.length === 0) throw new OperatorError('HTTPS is not set up here: run edgecd init --https first');
  const renewed: string[] = [];
  const kept: string[] = [];
  for (const e of endpoints) {
    if (!e.generated) {
      kept.push(e.name);
      continue;
    }
    // The key stays (and with it its algorithm, whatever tls.algorithm says now).
    const algorithm: KeyAlgorithm = createPrivateKey(e.keyPem).asymmetricKeyType === 'rsa' ? 'rsa-2048' : 'ec-p256';
    const made = generateSelfSigned({ names: [e.name], validityDays: options.validityDays, algorithm, keyPem: e.keyPem });
    await writeFileDurable(join(dir, e.cert), made.certPem, 0o644);
    renewed.push(e.name);
  }
  return { renewed, kept };
}

/** Days until the first certificate expires (negative once one has). */
export function daysUntilExpiry(endpoints: Endpoint[], now = Date.now()): number | null {
  if (endpoints.length === 0) return null;
  const first = Math.min(...endpoints.map((e) => e.notAfter.getTime()));
  return Math.floor((first - now) / 86_400_000);
}
