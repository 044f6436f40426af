/**
 * The Connection API: the JSON file an administrator uploads in the Body Worn
 * Manager. `build` makes one from edgecd's settings; `check` explains every
 * way a file breaks the spec's rules, so a bad file is caught here rather than
 * as an opaque failure in the BWM.
 */
import { X509Certificate, createPublicKey } from 'node:crypto';

export interface ConnectionFile {
  ConnectionFileVersion: '1.0';
  SiteName: string;
  ApplicationName: string;
  ApplicationVersion: string;
  ContentDestinationAsNTPServer: boolean;
  AuthenticationTokenURI: string[];
  HTTPSCertificate?: string[];
  BlobAPIKey: string;
  BlobAPIUserName: string;
  ContainerType?: 'mkv' | 'mp4';
  FullStoreAndReadSupport?: boolean;
  WantEncryption?: boolean;
  PublicKey?: string;
  PublicKeyId?: string;
}

export const MAX_CONNECTION_FILE_BYTES = 64 * 1024;

export interface ConnectionSettings {
  siteName: string;
  applicationVersion: string;
  ntpServer: boolean;
  authUrls: string[];
  user: string;
  key: string;
  containerType: 'mkv' | 'mp4';
  /** PEM certificates, one per URI in the same order (HTTPS). */
  certificates?: string[];
  fullStoreAndReadSupport: boolean;
  /** The RSA public key (PEM) and its id when the cameras are to encrypt. */
  encryption?: { publicKeyPem: string; publicKeyId: string };
}

export function buildConnectionFile(s: ConnectionSettings): ConnectionFile {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  return {
    ConnectionFileVersion: '1.0',
    SiteName: s.siteName,
    ApplicationName: 'edgecd',
    ApplicationVersion: s.applicationVersion,
    ContentDestinationAsNTPServer: s.ntpServer,
    AuthenticationTokenURI: s.authUrls,
    ...(s.certificates?.length ? { HTTPSCertificate: s.certificates.map(b64) } : {}),
    BlobAPIKey: s.key,
    BlobAPIUserName: s.user,
    ContainerType: s.containerType,
    FullStoreAndReadSupport: s.fullStoreAndReadSupport,
    WantEncryption: s.encryption !== undefined,
    ...(s.encryption ? { PublicKey: b64(s.encryption.publicKeyPem), PublicKeyId: s.encryption.publicKeyId } : {}),
  };
}

type Rule = { type: 'string'; max: number; required: boolean } | { type: 'boolean'; required: boolean } | { type: 'list'; max: number; itemMax: number; required: boolean };

const RULES: Record<string, Rule> = {
  ConnectionFileVersion: { type: 'string', max: 16, required: true },
  SiteName: { type: 'string', max: 64, required: true },
  ApplicationName: { type: 'string', max: 256, required: true },
  // 64 in the first text, 128 since v1.6.10.
  ApplicationVersion: { type: 'string', max: 128, required: true },
  ContentDestinationAsNTPServer: { type: 'boolean', required: true },
  AuthenticationTokenURI: { type: 'list', max: 10, itemMax: 512, required: true },
  HTTPSCertificate: { type: 'list', max: 10, itemMax: 16 * 1024, required: false },
  BlobAPIKey: { type: 'string', max: 64, required: true },
  BlobAPIUserName: { type: 'string', max: 64, required: true },
  ContainerType: { type: 'string', max: 3, required: false },
  FullStoreAndReadSupport: { type: 'boolean', required: false },
  WantEncryption: { type: 'boolean', required: false },
  PublicKey: { type: 'string', max: 2048, required: false },
  PublicKeyId: { type: 'string', max: 128, required: false },
};

/** Attributes a BWS can do without when a generated file leaves them out (the Axis reference server's does). */
const DEFAULTED: Record<string, string> = { ContentDestinationAsNTPServer: 'taken as false' };

/** Every violation of the spec's rules, as sentences; empty when the file is valid. */
export function checkConnectionFile(text: string): string[] {
  return inspectConnectionFile(text).problems;
}

/**
 * The spec's rules, as sentences: `problems` break the file; `warnings` are
 * what a client tolerates (attributes it does not know, an empty string where
 * the spec wants no value, an attribute a generated file leaves out that has
 * an obvious default). Lengths are UTF-8 bytes, as the file is.
 */
export function inspectConnectionFile(text: string): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_CONNECTION_FILE_BYTES) problems.push(`the file is ${size} bytes; the maximum is ${MAX_CONNECTION_FILE_BYTES} (64 kB)`);
  let doc: unknown;
  try {
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    return { problems: [...problems, `not valid JSON: ${(err as Error).message}`], warnings };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { problems: [...problems, 'the file must be a JSON object'], warnings };
  // An empty string is "no value" (the reference server writes "" for what it lacks), except where a value is needed.
  const file = Object.fromEntries(
    Object.entries(doc).filter(([key, value]) => {
      if (value !== '' || key === 'BlobAPIKey' || key === 'BlobAPIUserName' || RULES[key]?.required) return true;
      warnings.push(`${key}: empty, taken as absent`);
      return false;
    }),
  );
  const bytes = (v: string) => Buffer.byteLength(v, 'utf8');

  for (const key of Object.keys(file)) if (!(key in RULES)) warnings.push(`${key}: not an attribute of the connection file (ignored)`);
  for (const [key, rule] of Object.entries(RULES)) {
    const value = file[key];
    if (value === undefined) {
      if (rule.required && DEFAULTED[key]) warnings.push(`${key}: missing, ${DEFAULTED[key]}`);
      else if (rule.required) problems.push(`${key}: required but missing`);
      continue;
    }
    if (rule.type === 'boolean' && typeof value !== 'boolean') problems.push(`${key}: must be true or false`);
    if (rule.type === 'string') {
      if (typeof value !== 'string') problems.push(`${key}: must be a string`);
      else if (bytes(value) > rule.max) problems.push(`${key}: at most ${rule.max} bytes (UTF-8), got ${bytes(value)}`);
    }
    if (rule.type === 'list') {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) problems.push(`${key}: must be a list of strings`);
      else {
        if (value.length > rule.max) problems.push(`${key}: at most ${rule.max} entries, got ${value.length}`);
        value.forEach((v: string, i) => {
          if (bytes(v) > rule.itemMax) problems.push(`${key}[${i}]: at most ${rule.itemMax} bytes (UTF-8), got ${bytes(v)}`);
        });
      }
    }
  }

  if (typeof file.ConnectionFileVersion === 'string' && file.ConnectionFileVersion !== '1.0') {
    problems.push(`ConnectionFileVersion: must be "1.0", got ${JSON.stringify(file.ConnectionFileVersion)}`);
  }
  const uris = Array.isArray(file.AuthenticationTokenURI) ? (file.AuthenticationTokenURI as unknown[]) : [];
  if (Array.isArray(file.AuthenticationTokenURI) && uris.length === 0) problems.push('AuthenticationTokenURI: at least one URI is needed');
  uris.forEach((uri, i) => {
    if (typeof uri !== 'string') return;
    let url: URL | undefined;
    try {
      url = new URL(uri);
    } catch {
      problems.push(`AuthenticationTokenURI[${i}]: not a URI: ${JSON.stringify(uri)}`);
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`AuthenticationTokenURI[${i}]: must be http or https`);
  });
  const certs = Array.isArray(file.HTTPSCertificate) ? (file.HTTPSCertificate as unknown[]) : [];
  certs.forEach((cert, i) => {
    if (typeof cert !== 'string') return;
    if (!parseCertificate(cert)) problems.push(`HTTPSCertificate[${i}]: not a base64-encoded X.509 certificate`);
  });
  if (certs.length > 0 && certs.length !== uris.length) {
    problems.push(`HTTPSCertificate: ${certs.length} certificates for ${uris.length} URIs; give one per AuthenticationTokenURI, in the same order`);
  }
  if (typeof file.BlobAPIKey === 'string' && file.BlobAPIKey.length === 0) problems.push('BlobAPIKey: must not be empty');
  if (typeof file.BlobAPIUserName === 'string' && file.BlobAPIUserName.length === 0) problems.push('BlobAPIUserName: must not be empty');
  if (file.ContainerType !== undefined && file.ContainerType !== 'mkv' && file.ContainerType !== 'mp4') {
    problems.push(`ContainerType: must be "mkv" or "mp4", got ${JSON.stringify(file.ContainerType)}`);
  }
  if (file.WantEncryption === true) {
    if (file.PublicKey === undefined) problems.push('PublicKey: required when WantEncryption is true');
    else if (typeof file.PublicKey === 'string' && !isRsaPublicKey(file.PublicKey)) problems.push('PublicKey: not a base64-encoded PEM RSA public key');
    if (file.PublicKeyId === undefined) problems.push('PublicKeyId: required when WantEncryption is true');
  } else {
    if (file.PublicKey !== undefined) problems.push('PublicKey: only allowed when WantEncryption is true');
    if (file.PublicKeyId !== undefined) problems.push('PublicKeyId: only allowed when WantEncryption is true');
  }
  return { problems, warnings };
}

/**
 * A central content destination as a replicating station (or a BWS) reaches
 * it, read from the central's own connection file: the auth URIs in order,
 * each with the certificate pinned for it, the credentials, and what the file
 * promises or asks for.
 */
export interface CentralConnection {
  endpoints: CentralEndpoint[];
  user: string;
  key: string;
  containerType: 'mkv' | 'mp4';
  fullStoreAndReadSupport: boolean;
  /** The central's content key: its cameras (and so the edge's) encrypt for it. */
  encryption?: { publicKeyPem: string; publicKeyId: string };
}

export interface CentralEndpoint {
  authUrl: string;
  /** PEM: the only certificate trusted for this URI (HTTPSCertificate at the same index). */
  ca?: string;
  /** Or a PEM file holding it (replication.targets[].cacert), read when first connecting. */
  caFile?: string;
}

/** Attributes a client needs to connect at all; the rest may be missing from a central's file. */
const NEEDED_TO_CONNECT = new Set(['AuthenticationTokenURI', 'BlobAPIKey', 'BlobAPIUserName']);

/**
 * Reads a central's connection file the way a BWS takes one: every rule that
 * would stop a connection is a problem; what a client can do without
 * (attributes it does not know, descriptive ones missing, an empty string
 * where the spec wants no value) is a warning. The Axis reference server's
 * own file, for one, carries BlobAPI and empty PublicKey values.
 */
export function readCentralConnectionFile(text: string): { connection?: CentralConnection; problems: string[]; warnings: string[] } {
  const inspected = inspectConnectionFile(text);
  const problems: string[] = [];
  const warnings = [...inspected.warnings];
  for (const p of inspected.problems) {
    const field = /^(\w+)/.exec(p)?.[1] ?? '';
    // Descriptive attributes a connecting client does not need.
    (p.endsWith(': required but missing') && !NEEDED_TO_CONNECT.has(field) ? warnings : problems).push(p);
  }
  if (problems.length > 0) return { problems, warnings };
  const f = Object.fromEntries(Object.entries(JSON.parse(text.replace(/^\uFEFF/, '')) as Record<string, unknown>).filter(([, v]) => v !== '')) as unknown as ConnectionFile;
  const certs = f.HTTPSCertificate ?? [];
  return {
    connection: {
      endpoints: f.AuthenticationTokenURI.map((authUrl, i) => ({ authUrl, ...(certs[i] ? { ca: parseCertificate(certs[i])!.toString() } : {}) })),
      user: f.BlobAPIUserName,
      key: f.BlobAPIKey,
      containerType: f.ContainerType ?? 'mkv',
      fullStoreAndReadSupport: f.FullStoreAndReadSupport === true,
      ...(f.WantEncryption === true ? { encryption: { publicKeyPem: fromBase64(f.PublicKey!)!.toString('utf8'), publicKeyId: f.PublicKeyId! } } : {}),
    },
    problems: [],
    warnings,
  };
}

function fromBase64(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

function parseCertificate(text: string): X509Certificate | undefined {
  const bytes = fromBase64(text);
  if (!bytes) return undefined;
  try {
    return new X509Certificate(bytes); // PEM or DER
  } catch {
    return undefined;
  }
}

function isRsaPublicKey(text: string): boolean {
  const bytes = fromBase64(text);
  if (!bytes) return false;
  try {
    return createPublicKey(bytes.toString('utf8')).asymmetricKeyType === 'rsa';
  } catch {
    return false;
  }
}
