/**
 * A station's data directory: credentials, connection file and configuration
 * next to the store. `init` creates what is missing and never discards a
 * credential it was not asked to replace.
 *
 *   DIR/edgecd.json        configuration (optional; defaults otherwise)
 *   DIR/credentials.json   users with scrypt-hashed keys (0600)
 *   DIR/connection.json    the file for the Body Worn Manager (0600: holds the key)
 */
import { createHash, createPublicKey } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { Credentials, USER_NAME, generateKey, hashKey } from '../auth/credentials.ts';
import type { Config, HostPort } from '../config/config.ts';
import { buildConnectionFile, checkConnectionFile, type ConnectionFile } from '../connection/connection-file.ts';
import { OperatorError } from '../lib/errors.ts';
import { loadEndpoints, type Endpoint } from '../tls/endpoints.ts';
import { writeFileDurable } from '../lib/durable.ts';
import { loadStationKey } from '../audit/station-key.ts';
import { VERSION } from '../lib/version.ts';

export const paths = (dir: string) => ({
  config: join(dir, 'edgecd.json'),
  credentials: join(dir, 'credentials.json'),
  connection: join(dir, 'connection.json'),
  adminSocket: join(dir, 'admin.sock'),
  evictions: join(dir, 'evictions.jsonl'),
  /** What retention deleted, kept for ever (lifecycle/deletion.ts). */
  tombstones: join(dir, 'tombstones.jsonl'),
  /** What connection files have told the BWS (some flags may never be taken back). */
  issued: join(dir, 'connection-issued.json'),
  audit: join(dir, 'audit.jsonl'),
  auditHead: join(dir, 'audit.head'),
  /** The station's Ed25519 signing key (audit/station-key.ts), 0600. */
  stationKey: join(dir, 'station-key.pem'),
});

export interface InitOptions {
  /** The config file --site/--url are written to (default DIR/edgecd.json). */
  configFile?: string;
  user?: string;
  key?: string;
  siteName?: string;
  authUrls?: string[];
}

export class InitError extends OperatorError {
  override name = 'InitError';
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * Creates DIR and its credentials if missing, stores --site/--url in the config
 * file, and writes connection.json. Returns the BWS user and whether a key was set.
 */
export async function initDataDir(dir: string, options: InitOptions, loadConfig: () => Promise<Config>, listen: HostPort): Promise<{ user: string; keySet: boolean }> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const p = paths(dir);
  if (options.user !== undefined && !USER_NAME.test(options.user)) throw new InitError(`--user: 1–64 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(options.user)}`);
  if (options.key !== undefined && (options.key.length < 8 || options.key.length > 64 || /[\s\u0000-\u001f]/.test(options.key))) {
    throw new InitError('--key: 8–64 printable characters without spaces (BlobAPIKey holds at most 64)');
  }
  if (options.siteName !== undefined || options.authUrls !== undefined) await updateConfigFile(options.configFile ?? p.config, options);
  await loadStationKey(p.stationKey); // made now if missing: its public key goes to IT with the station's details

  let users: Credentials | undefined;
  if (await exists(p.credentials)) users = await Credentials.load(p.credentials);
  const user = options.user ?? users?.users[0]?.user ?? 'bws';
  const config = await loadConfig();
  if (users && options.key === undefined && users.users[0]?.user === user) {
    await writeConnectionFile(dir, config, listen);
    return { user, keySet: false };
  }
  const key = options.key ?? generateKey();
  const others = (users?.users ?? []).filter((u) => u.user !== user);
  // The BWS user comes first: it is the one connection.json names.
  await new Credentials([{ user, account: user, role: 'uploader', key: await hashKey(key) }, ...others]).save(p.credentials);
  await writeConnectionFile(dir, config, listen, key);
  return { user, keySet: true };
}

async function updateConfigFile(file: string, options: InitOptions): Promise<void> {
  const mode = await stat(file).then(
    (s) => s.mode & 0o777,
    () => 0o640,
  );
  const doc: { siteName?: string; connection?: object } = (await exists(file)) ? JSON.parse(await readFile(file, 'utf8')) : {};
  if (options.siteName !== undefined) doc.siteName = options.siteName;
  if (options.authUrls !== undefined) doc.connection = { ...(doc.connection ?? {}), authUrls: options.authUrls };
  // Keep the file's mode: a config holding replication keys must stay 0600.
  await writeFileDurable(file, JSON.stringify(doc, null, 2) + '\n', mode);
}

/** The addresses the cameras can reach a listener on: itself, or the machine's IPv4 addresses for a wildcard. */
export function reachableHosts(listen: HostPort): string[] {
  const wildcard = listen.host === '0.0.0.0' || listen.host === '::';
  const hosts = wildcard
    ? Object.values(networkInterfaces())
        .flatMap((list) => list ?? [])
        .filter((a) => !a.internal && a.family === 'IPv4')
        .map((a) => a.address)
    : [listen.host];
  if (hosts.length === 0) hosts.push('127.0.0.1');
  return hosts.slice(0, 10);
}

const authUrl = (scheme: string, host: string, port: number) => `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}/auth/v1.0`;

/**
 * The AuthenticationTokenURI list, and with HTTPS the certificate for each:
 * configured URIs (each must name an endpoint when HTTPS is on), or one per
 * endpoint, or (plain HTTP) one per reachable address.
 */
export function authUrlsFor(config: Config, listen: HostPort, endpoints: Endpoint[] = []): { urls: string[]; certificates?: string[] } {
  if (endpoints.length === 0) {
    return { urls: config.connection.authUrls.length > 0 ? config.connection.authUrls : reachableHosts(listen).map((h) => authUrl('http', h, listen.port)) };
  }
  if (config.connection.authUrls.length === 0) {
    return { urls: endpoints.map((e) => authUrl('https', e.name, listen.port)), certificates: endpoints.map((e) => e.certPem) };
  }
  const certificates = config.connection.authUrls.map((u, i) => {
    const url = new URL(u);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    const endpoint = endpoints.find((e) => e.name.toLowerCase() === host);
    if (url.protocol !== 'https:' || !endpoint) {
      throw new InitError(`connection.authUrls[${i}] (${u}) must be https:// and name one of the certificate addresses (${endpoints.map((e) => e.name).join(', ')})`);
    }
    return endpoint.certPem;
  });
  return { urls: config.connection.authUrls, certificates };
}

interface Issued {
  WantEncryption?: string;
  FullStoreAndReadSupport?: string;
  /** The content key the cameras were first told to encrypt for: its id and SPKI SHA-256. */
  PublicKey?: { id: string; sha256: string; since: string };
  /** The container format the cameras were told to record in (the spec gives no way to change it). */
  ContainerType?: { value: string; since: string };
}

/** A public key's identity, whatever its PEM's line breaks: SHA-256 of its SPKI DER. */
function keyFingerprint(pem: string): string {
  return createHash('sha256')
    .update(createPublicKey(pem).export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/**
 * The spec lets WantEncryption and FullStoreAndReadSupport change only from
 * false to true: a BWS told once that the CD reads everything, or that
 * content arrives encrypted, must never be told otherwise. The first time
 * each was issued as true is remembered here.
 */
async function refuseWithdrawal(dir: string, file: ConnectionFile): Promise<Issued> {
  const issued = await readIssued(dir);
  const settings: Record<'WantEncryption' | 'FullStoreAndReadSupport', string> = {
    WantEncryption: 'connection.wantEncryption (or a central that wants encryption)',
    FullStoreAndReadSupport: 'connection.fullStoreAndReadSupport',
  };
  for (const flag of Object.keys(settings) as (keyof typeof settings)[]) {
    if (issued[flag] && file[flag] !== true) {
      throw new InitError(
        `${flag} was issued as true on ${issued[flag]}; the spec allows it to change only from false to true, because a body-worn system already relies on it. Keep ${settings[flag]} true`,
      );
    }
  }
  const now = new Date().toISOString();
  let key: Issued['PublicKey'];
  if (file.WantEncryption && file.PublicKey) {
    key = { id: file.PublicKeyId!, sha256: keyFingerprint(Buffer.from(file.PublicKey, 'base64').toString('utf8')), since: issued.PublicKey?.since ?? now };
    if (issued.PublicKey && (issued.PublicKey.sha256 !== key.sha256 || issued.PublicKey.id !== key.id)) {
      throw new InitError(
        `the cameras were told on ${issued.PublicKey.since} to encrypt content for key ${issued.PublicKey.id}; this configuration would tell them to use ${key.id}${issued.PublicKey.sha256 !== key.sha256 ? ' (another key)' : ''}. ` +
          'A content key does not change silently: recordings already made stay readable only with the first key\'s private half. See "Encryption for a central" in docs/operators.md',
      );
    }
  }
  const type = file.ContainerType ?? 'mkv';
  if (issued.ContainerType && issued.ContainerType.value !== type) {
    throw new InitError(
      `ContainerType was issued as ${issued.ContainerType.value} on ${issued.ContainerType.since}; the spec gives no way to change it (its "Change" column is empty), because cameras and the Body Worn Manager keep the first. Keep connection.containerType ${issued.ContainerType.value}`,
    );
  }
  return {
    ...issued,
    ...(file.WantEncryption && !issued.WantEncryption ? { WantEncryption: now } : {}),
    ...(file.FullStoreAndReadSupport && !issued.FullStoreAndReadSupport ? { FullStoreAndReadSupport: now } : {}),
    ...(key ? { PublicKey: key } : {}),
    ContainerType: issued.ContainerType ?? { value: type, since: now },
  };
}

/** What was issued: the record, and the current connection.json too (a file from before the record). Unreadable is an error, never "nothing". */
async function readIssued(dir: string): Promise<Issued> {
  const p = paths(dir);
  const orAbsent = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new InitError(`cannot tell what connection files were issued: ${(err as Error).message}`);
    }
  };
  const issued = (await orAbsent(async () => JSON.parse(await readFile(p.issued, 'utf8')) as Issued)) ?? {};
  const current = await orAbsent(async () => JSON.parse(await readFile(p.connection, 'utf8')) as Partial<ConnectionFile>);
  const earlier = 'an earlier date (found in connection.json)';
  const currentKey =
    current?.WantEncryption && current.PublicKey
      ? { id: current.PublicKeyId ?? '', sha256: keyFingerprint(Buffer.from(current.PublicKey, 'base64').toString('utf8')), since: earlier }
      : undefined;
  return {
    ...(current?.WantEncryption ? { WantEncryption: earlier } : {}),
    ...(current?.FullStoreAndReadSupport ? { FullStoreAndReadSupport: earlier } : {}),
    ...(currentKey ? { PublicKey: currentKey } : {}),
    ...(current ? { ContainerType: { value: current.ContainerType ?? 'mkv', since: earlier } } : {}),
    ...issued,
  };
}

/**
 * The key the cameras encrypt for: a central's that asks for encryption (the
 * station then holds ciphertext only, for the central's key holder), or the
 * station's own. Both at once must be the same key.
 */
async function encryptionSettings(config: Config): Promise<{ publicKeyPem: string; publicKeyId: string } | undefined> {
  const c = config.connection;
  const central = config.replication.targets.find((t) => t.central.encryption);
  let own: { publicKeyPem: string; publicKeyId: string } | undefined;
  if (c.wantEncryption) {
    if (c.publicKeyFile === '' || c.publicKeyId === '')
      throw new InitError('connection.wantEncryption needs connection.publicKeyFile (an RSA public key, PEM) and connection.publicKeyId');
    const publicKeyPem = await readFile(c.publicKeyFile, 'utf8').catch((err: Error) => {
      throw new InitError(`connection.publicKeyFile: ${err.message}`);
    });
    own = { publicKeyPem, publicKeyId: c.publicKeyId };
  }
  if (!central) return own;
  const wanted = central.central.encryption!;
  if (own && (own.publicKeyId !== wanted.publicKeyId || keyFingerprint(own.publicKeyPem) !== keyFingerprint(wanted.publicKeyPem))) {
    throw new InitError(
      `connection.wantEncryption asks the cameras to encrypt for key ${own.publicKeyId}, but the central of replication target ${central.name} wants content encrypted for its key ${wanted.publicKeyId}. ` +
        'Evidence encrypted for one key cannot be read with the other: remove connection.wantEncryption (the central\'s key is used), or use the central\'s key. See "Encryption for a central" in docs/operators.md',
    );
  }
  return wanted;
}

/**
 * Writes DIR/connection.json for the current settings and returns it. The
 * plain key lives only in that file (the BWM needs it there), so it is carried
 * over from the previous file unless a new one is given.
 */
/** A connection file built and checked (every rule, and no withdrawn flag), not yet written. */
export interface PreparedConnectionFile {
  file: ConnectionFile;
  text: string;
  issued: Issued;
}

export async function writeConnectionFile(dir: string, config: Config, listen: HostPort, newKey?: string, ntpServing = false): Promise<ConnectionFile> {
  const prepared = await prepareConnectionFile(dir, config, listen, newKey, ntpServing);
  await commitConnectionFile(dir, prepared);
  return prepared.file;
}

/** Writes a prepared file: the record of what was issued first, so a crash never loses it. */
export async function commitConnectionFile(dir: string, prepared: PreparedConnectionFile): Promise<void> {
  const p = paths(dir);
  await writeFileDurable(p.issued, JSON.stringify(prepared.issued, null, 2) + '\n', 0o600);
  await writeFileDurable(p.connection, prepared.text, 0o600);
}

export async function prepareConnectionFile(dir: string, config: Config, listen: HostPort, newKey?: string, ntpServing = false): Promise<PreparedConnectionFile> {
  const p = paths(dir);
  const credentials = await Credentials.load(p.credentials);
  const user = credentials.users[0]?.user;
  if (!user) throw new InitError(`${p.credentials} has no users; run edgecd init --data ${dir}`);
  const key = newKey ?? (await previousKey(dir, user));
  const { urls, certificates } = authUrlsFor(config, listen, await loadEndpoints(dir));
  const encryption = await encryptionSettings(config);
  // What the cameras record in: the operator's choice; else what they were told
  // before (it cannot change); else what the central asks for; else the default.
  const central = config.replication.targets.find((t) => t.connectionFile !== '')?.central.containerType;
  const containerType = config.given.has('connection.containerType')
    ? config.connection.containerType
    : (((await readIssued(dir)).ContainerType?.value as 'mkv' | 'mp4' | undefined) ?? central ?? config.connection.containerType);
  const file = buildConnectionFile({
    siteName: config.siteName,
    applicationVersion: VERSION,
    // Only a server that is really answering may be advertised to the cameras.
    ntpServer: ntpServing,
    authUrls: urls,
    ...(certificates ? { certificates } : {}),
    user,
    key,
    containerType,
    fullStoreAndReadSupport: config.connection.fullStoreAndReadSupport,
    ...(encryption ? { encryption } : {}),
  });
  const text = JSON.stringify(file, null, 2) + '\n';
  const problems = checkConnectionFile(text);
  if (problems.length > 0) throw new InitError(`the connection file would be invalid:\n  ${problems.join('\n  ')}`);
  const issued = await refuseWithdrawal(dir, file);
  return { file, text, issued };
}

/**
 * The key from the current connection.json. It is not re-checked against its
 * scrypt hash here: init writes both together, and a check would cost a
 * 16 MiB scrypt at every start (the tests prove the published key works).
 */
async function previousKey(dir: string, user: string): Promise<string> {
  const file = paths(dir).connection;
  const previous = await readFile(file, 'utf8').then(
    (t) => JSON.parse(t) as Partial<ConnectionFile>,
    () => undefined,
  );
  const key = previous?.BlobAPIUserName === user ? previous.BlobAPIKey : undefined;
  if (key === undefined) {
    throw new InitError(
      `${file} is missing or names another user than ${user}, and keys are otherwise stored only hashed; set a new key with: edgecd init --data ${dir} --key NEW_KEY`,
    );
  }
  return key;
}
