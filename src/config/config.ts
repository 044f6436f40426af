/**
 * edgecd's configuration: one JSON file (default DIR/edgecd.json). Every key
 * has a default; an unknown key or a wrong type is refused at start with the
 * dotted path of the offending key, so a typo never silently falls back.
 */
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import cron from 'node-cron';
import { CAPABILITIES, type CapabilityName } from '../connection/capability-names.ts';
import { readCentralConnectionFile, type CentralConnection } from '../connection/connection-file.ts';
import { OperatorError } from '../lib/errors.ts';
import { MAX_FILE_SIZE } from './limits.ts';

/**
 * How surely a target is known to hold an object, strongest first: its HEAD
 * shows the size and md5 (verified); a GET with reader credentials hashed to
 * the same (read back); or only its 2xx to the PUT and a HEAD showing the
 * object and its metadata (acknowledged).
 */
export const CONFIRMATION_LEVELS = ['verified', 'read-back', 'acknowledged'] as const;
export type ConfirmationLevel = (typeof CONFIRMATION_LEVELS)[number];

/** How long a retention rule keeps a recording: whole days, for ever, or (uncategorised, rejected) as the default says. */
export type KeepFor = number | 'forever' | 'default';
/** The longest retention in days: about a century. */
const MAX_KEEP_DAYS = 36_500;

type Leaf =
  | { kind: 'string'; default: string; oneOf?: readonly string[]; maxLength?: number }
  | { kind: 'integer'; default: number; min: number; max?: number }
  | { kind: 'boolean'; default: boolean }
  | { kind: 'string[]'; default: readonly string[]; maxItems?: number }
  | { kind: 'object[]'; item: Schema; maxItems?: number }
  | { kind: 'days'; default: KeepFor }
  | { kind: 'days-by-id'; default: Readonly<Record<string, KeepFor>>; maxItems: number };
type Schema = { readonly [key: string]: Leaf | Schema };

/** The value a schema node holds once loaded: the Config type is derived from the schema, never written twice. */
type Loaded<N> = N extends { kind: 'string'; oneOf: readonly (infer U)[] }
  ? U
  : N extends { kind: 'string' }
    ? string
    : N extends { kind: 'integer' }
      ? number
      : N extends { kind: 'boolean' }
        ? boolean
        : N extends { kind: 'string[]' }
          ? string[]
          : N extends { kind: 'object[]'; item: infer I }
            ? LoadedSchema<I>[]
            : N extends { kind: 'days' }
              ? KeepFor
              : N extends { kind: 'days-by-id' }
                ? Record<string, KeepFor>
                : LoadedSchema<N>;
type LoadedSchema<S> = { -readonly [K in keyof S]: Loaded<S[K]> };

/** A central CD (edgecd, any Swift cluster, or any Body Worn API server) that receives this station's recordings. */
export type ReplicationTarget = LoadedSchema<(typeof CONFIG_SCHEMA)['replication']['targets']['item']> & {
  /** Where and how to reach the central, from connectionFile or from authUrl/user/key/cacert (resolved at load). */
  central: CentralConnection;
};

export type Config = Omit<LoadedSchema<typeof CONFIG_SCHEMA>, 'replication'> & {
  /** Where sealed recordings travel, and when. */
  replication: { targets: ReplicationTarget[] };
  /** Dotted keys the file set itself; the rest are defaults (a default may change, what an operator chose may not). */
  given: ReadonlySet<string>;
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The single source of keys, types and defaults: the Config type is derived from it (docs/operators.md's reference mirrors it). */
export const CONFIG_SCHEMA = {
  /** HTTP listener, HOST:PORT. */
  listen: { kind: 'string', default: '127.0.0.1:8080' },
  /** Name of the field station, shown in the BWM as SiteName (≤ 64 characters). */
  siteName: { kind: 'string', default: 'edgecd', maxLength: 64 },
  /** The NTP server the connection file advertises to the cameras. */
  ntp: {
    listen: { kind: 'string', default: '0.0.0.0:123' },
    localStratum: { kind: 'integer', default: 10, min: 1, max: 15 },
    requireSync: { kind: 'boolean', default: false },
  },
  auth: { tokenTtlSeconds: { kind: 'integer', default: 86400, min: 60, max: 30 * 86400 } },
  connection: {
    /** AuthenticationTokenURI entries; empty = derived from the listen address (or the HTTPS endpoints). */
    authUrls: { kind: 'string[]', default: [], maxItems: 10 },
    containerType: { kind: 'string', default: 'mkv', oneOf: ['mkv', 'mp4'] },
    /** May only ever change from false to true once issued (the spec's rule). */
    wantEncryption: { kind: 'boolean', default: false },
    /** PEM file with the RSA public key the cameras encrypt content keys with (WantEncryption). */
    publicKeyFile: { kind: 'string', default: '' },
    publicKeyId: { kind: 'string', default: '', maxLength: 128 },
    fullStoreAndReadSupport: { kind: 'boolean', default: false },
  },
  /** Self-signed certificates edgecd generates (init --https, cert renew). */
  tls: {
    validityDays: { kind: 'integer', default: 5 * 365, min: 1, max: 20 * 365 },
    algorithm: { kind: 'string', default: 'ec-p256', oneOf: ['ec-p256', 'rsa-2048'] },
    warnDaysBeforeExpiry: { kind: 'integer', default: 30, min: 0 },
  },
  /** The largest object, and how many metadata-only changes an object and a container may take. */
  objects: {
    maxBytes: { kind: 'integer', default: MAX_FILE_SIZE, min: 1 },
    maxMetadataWritesPerObject: { kind: 'integer', default: 100, min: 1 },
    maxMetadataWritesPerContainer: { kind: 'integer', default: 2000, min: 1 },
  },
  validation: {
    strict: { kind: 'boolean', default: true },
    // An unsynchronised clock (a Pi without its RTC) may be wrong by a lot, but not by years.
    maxDaysAheadUnsynchronised: { kind: 'integer', default: 366, min: 1, max: 36500 },
    clipSlackSeconds: { kind: 'integer', default: 600, min: 0, max: 86400 },
  },
  /** How often the station's health is checked for warnings (storage 80/90/95 %, heat, read-only disk). */
  health: {
    checkSeconds: { kind: 'integer', default: 30, min: 1 },
    /** Alarms POSTed as JSON to this URL, for stations without Prometheus ('' : off); retried with backoff from retrySeconds. */
    alarmWebhook: { url: { kind: 'string', default: '', maxLength: 2048 }, retrySeconds: { kind: 'integer', default: 10, min: 1, max: 3600 } },
  },
  /** How often the audit trail's head is signed and queued for the replication targets (whichever comes first). */
  audit: {
    anchorEveryLines: { kind: 'integer', default: 1000, min: 1 },
    anchorEveryMinutes: { kind: 'integer', default: 10, min: 1 },
  },
  /** Load shedding: past these, requests get 503 + Retry-After. Sized for a Raspberry Pi 4 (4 cores, 4 GB, one SD card or USB SSD). */
  admission: {
    maxRequests: { kind: 'integer', default: 64, min: 1 },
    maxUploads: { kind: 'integer', default: 8, min: 1 },
    queue: { kind: 'integer', default: 32, min: 0 },
    queueTimeoutSeconds: { kind: 'integer', default: 10, min: 1 },
    maxEventLoopDelayMs: { kind: 'integer', default: 1000, min: 10 },
    maxHeapMB: { kind: 'integer', default: 512, min: 16 },
  },
  /** What edgecd may hold (0 = the disk) and the free space it always leaves. */
  quota: {
    maxBytes: { kind: 'integer', default: 0, min: 0 },
    reserveBytes: { kind: 'integer', default: 0, min: 0 },
    reservePercent: { kind: 'integer', default: 5, min: 0, max: 50 },
  },
  /** Licence limits on registered users and cameras; 0 = none. */
  limits: {
    maxUsers: { kind: 'integer', default: 0, min: 0 },
    maxDevices: { kind: 'integer', default: 0, min: 0 },
  },
  /** What System/Capabilities.json declares; once declared, never withdrawn. */
  capabilities: Object.fromEntries(Object.entries(CAPABILITIES).map(([name, c]) => [name, { kind: 'boolean', default: c.default }])) as Record<
    CapabilityName,
    { kind: 'boolean'; default: boolean }
  >,
  http: {
    /** Serve plain HTTP (development only; warned at every start). */
    plaintext: { kind: 'boolean', default: false },
    idleTimeoutSeconds: { kind: 'integer', default: 120, min: 1 },
    shutdownGraceSeconds: { kind: 'integer', default: 10, min: 0 },
    headersTimeoutSeconds: { kind: 'integer', default: 20, min: 1 },
    bodyTimeoutSeconds: { kind: 'integer', default: 60, min: 1 },
    /** An upload body slower than this over a bodyTimeoutSeconds window gets 408. */
    uploadMinBytesPerSecond: { kind: 'integer', default: 1024, min: 0 },
    /** A whole upload must arrive within this. */
    uploadMaxSeconds: { kind: 'integer', default: 86_400, min: 60 },
    keepAliveTimeoutSeconds: { kind: 'integer', default: 5, min: 1 },
    maxRequestsPerSocket: { kind: 'integer', default: 1000, min: 1 },
    maxHeaderBytes: { kind: 'integer', default: 16 * 1024, min: 1024, max: 1024 * 1024 },
    maxHeaders: { kind: 'integer', default: 100, min: 10 },
    maxUrlBytes: { kind: 'integer', default: 8 * 1024, min: 256 },
    /** Connections held at most, all addresses together (0: half the open-file limit). */
    maxConnections: { kind: 'integer', default: 0, min: 0 },
    maxConnectionsPerAddress: { kind: 'integer', default: 128, min: 1 },
    /** Addresses never held to the per-address cap, and kept a share of the total (the BWS server's). */
    trustedAddresses: { kind: 'string[]', default: [], maxItems: 64 },
  },
  /** Where sealed recordings travel, and when. */
  replication: {
    targets: {
      kind: 'object[]',
      maxItems: 8,
      item: {
        name: { kind: 'string', default: '' },
        /** The central's own connection file (the one its operator gives a Body Worn Manager); replaces authUrl, user, key and cacert. */
        connectionFile: { kind: 'string', default: '' },
        /** Swift auth v1.0 URL of the central (without connectionFile). */
        authUrl: { kind: 'string', default: '' },
        user: { kind: 'string', default: '' },
        key: { kind: 'string', default: '' },
        /** PEM file: the only certificate authority trusted for this target (pins a self-signed certificate). */
        cacert: { kind: 'string', default: '' },
        /** Without connectionFile: whether the target takes everything, as the connection file's FullStoreAndReadSupport says. */
        fullStoreAndReadSupport: { kind: 'boolean', default: true },
        /** Optional reader credentials: objects are read back and hashed where the target's HEAD cannot show size and md5. */
        readerUser: { kind: 'string', default: '' },
        readerKey: { kind: 'string', default: '' },
        /** Send the station's custody metadata (X-Object-Meta-Edgecd-*) where the target keeps it. */
        custodyMetadata: { kind: 'boolean', default: true },
        /** The confirmation eviction needs from this target ('' = retention.minConfirmation). */
        minConfirmation: { kind: 'string', default: '', oneOf: ['', ...CONFIRMATION_LEVELS] },
        /** Let recordings with objects this target cannot hold (held back) be evicted anyway. */
        evictHeldBack: { kind: 'boolean', default: false },
        /**
         * Give each replicated object X-Delete-At from the station's retention (none while held or kept
         * for ever), and keep it up to date: an OpenStack Swift central's object expirer then enforces it.
         */
        setDeleteAt: { kind: 'boolean', default: false },
        /** When passes run: a cron expression (node-cron, minutes first; a sixth leading field is seconds). */
        schedule: { kind: 'string', default: '*/10 * * * *' },
        /** Objects in flight at once. */
        concurrency: { kind: 'integer', default: 2, min: 1, max: 16 },
        /** Upload cap over all of this target's transfers; 0 = none. */
        bandwidthBytesPerSec: { kind: 'integer', default: 0, min: 0 },
        enabled: { kind: 'boolean', default: true },
      },
    },
  },
  /** Whether recordings held by every target may leave the station when space runs short. */
  retention: {
    evictAfterReplication: { kind: 'boolean', default: false },
    minAgeHours: { kind: 'integer', default: 24, min: 0 },
    minConfirmation: { kind: 'string', default: 'verified', oneOf: CONFIRMATION_LEVELS },
    /**
     * How long recordings are kept, in days or "forever"; the longest rule that
     * applies wins. Nothing is ever deleted until an operator sets a rule: the
     * default keeps everything.
     */
    keep: {
      default: { kind: 'days', default: 'forever' },
      /** Recordings no bookmark gave a category. */
      uncategorised: { kind: 'days', default: 'default' },
      rejected: { kind: 'days', default: 'default' },
      /** By category ID (System/Categories.json). */
      categories: { kind: 'days-by-id', default: {}, maxItems: 1000 },
      /** By user UUID and by camera serial, optional. */
      users: { kind: 'days-by-id', default: {}, maxItems: 10_000 },
      devices: { kind: 'days-by-id', default: {}, maxItems: 10_000 },
      /** Whether the period starts at the recording's TriggerOnTime or at its seal. */
      from: { kind: 'string', default: 'trigger', oneOf: ['trigger', 'seal'] },
      /**
       * A central's view of the X-Delete-At its stations set: "honour" weighs it in place of the
       * default (rules set here for the recording's category, user or camera still weigh, the
       * longest winning); "ignore" leaves retention to the rules here alone.
       */
      stationDeleteAt: { kind: 'string', default: 'honour', oneOf: ['honour', 'ignore'] },
    },
    /** The job that deletes what retention.keep lets go (edgecd retention plan shows what). */
    delete: {
      /** When it runs (cron, local time). */
      schedule: { kind: 'string', default: '30 3 * * *' },
      /** Days a deleted recording stays restorable in DIR/trash/ (0: removed outright). */
      graceDays: { kind: 'integer', default: 7, min: 0, max: 3650 },
      /** When the week's summary (deletions, restorations, holds, what is due next) goes to the log and /status (cron, local time; '' for never). */
      summarySchedule: { kind: 'string', default: '0 6 * * 1' },
    },
  },
  log: { level: { kind: 'string', default: 'info', oneOf: LOG_LEVELS } },
} as const satisfies Schema;

export class ConfigError extends OperatorError {
  override name = 'ConfigError';
}

const isLeaf = (node: Leaf | Schema): node is Leaf => typeof (node as Leaf).kind === 'string';

function checkLeaf(path: string, leaf: Leaf, value: unknown): unknown {
  switch (leaf.kind) {
    case 'string':
      if (typeof value !== 'string') throw new ConfigError(`${path}: expected a string, got ${JSON.stringify(value)}`);
      if (leaf.oneOf && !leaf.oneOf.includes(value)) throw new ConfigError(`${path}: must be one of ${leaf.oneOf.join(', ')}, got ${JSON.stringify(value)}`);
      if (leaf.maxLength !== undefined && value.length > leaf.maxLength) throw new ConfigError(`${path}: at most ${leaf.maxLength} characters`);
      return value;
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new ConfigError(`${path}: expected an integer, got ${JSON.stringify(value)}`);
      if (value < leaf.min || (leaf.max !== undefined && value > leaf.max)) throw new ConfigError(`${path}: must be between ${leaf.min} and ${leaf.max ?? 'any'}, got ${value}`);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw new ConfigError(`${path}: expected true or false, got ${JSON.stringify(value)}`);
      return value;
    case 'string[]':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new ConfigError(`${path}: expected a list of strings`);
      if (leaf.maxItems !== undefined && value.length > leaf.maxItems) throw new ConfigError(`${path}: at most ${leaf.maxItems} entries`);
      return [...value];
    case 'days':
      return checkKeepFor(path, value, leaf.default === 'default');
    case 'days-by-id': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${path}: expected an object of ID → days or "forever"`);
      const entries = Object.entries(value);
      if (entries.length > leaf.maxItems) throw new ConfigError(`${path}: at most ${leaf.maxItems} entries`);
      return Object.fromEntries(entries.map(([id, days]) => [id, checkKeepFor(`${path}.${id}`, days, false)]));
    }
    case 'object[]':
      if (!Array.isArray(value)) throw new ConfigError(`${path}: expected a list of objects`);
      if (leaf.maxItems !== undefined && value.length > leaf.maxItems) throw new ConfigError(`${path}: at most ${leaf.maxItems} entries`);
      return value.map((item, i) => merge(leaf.item, item, `${path}[${i}].`));
  }
}

function checkKeepFor(path: string, value: unknown, mayBeDefault: boolean): KeepFor {
  if (value === 'forever' || (mayBeDefault && value === 'default')) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_KEEP_DAYS) return value;
  throw new ConfigError(`${path}: days (0 to ${MAX_KEEP_DAYS}) or "forever"${mayBeDefault ? ' or "default"' : ''}, got ${JSON.stringify(value)}`);
}

function merge(schema: Schema, input: unknown, prefix: string): Record<string, unknown> {
  if (input === undefined) input = {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(`${prefix || 'config'}: expected an object`);
  }
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(key in schema)) throw new ConfigError(`${prefix}${key}: unknown configuration key`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, node] of Object.entries(schema)) {
    const path = prefix + key;
    if (isLeaf(node)) {
      const fallback = node.kind === 'object[]' ? [] : structuredClone(node.default);
      out[key] = given[key] === undefined ? fallback : checkLeaf(path, node, given[key]);
    } else {
      out[key] = merge(node, given[key], `${path}.`);
    }
  }
  return out;
}

/**
 * Validates a parsed JSON document against the schema and fills in defaults.
 * Files a target names (connectionFile, cacert) are read here, relative to
 * `baseDir` (the config file's folder), so a bad one stops the start too.
 */
export function parseConfig(input: unknown, baseDir = process.cwd()): Config {
  const config = merge(CONFIG_SCHEMA, input, '') as unknown as Config;
  config.given = new Set(givenKeys(input, ''));
  parseHostPort(config.listen, 'listen');
  if (!cron.validate(config.retention.delete.schedule))
    throw new ConfigError(`retention.delete.schedule: not a cron expression: ${JSON.stringify(config.retention.delete.schedule)}`);
  const summary = config.retention.delete.summarySchedule;
  if (summary !== '' && !cron.validate(summary)) throw new ConfigError(`retention.delete.summarySchedule: not a cron expression (or '' for never): ${JSON.stringify(summary)}`);
  if (config.ntp.listen !== 'off') parseHostPort(config.ntp.listen, 'ntp.listen');
  for (const [i, url] of config.connection.authUrls.entries()) {
    if (!/^https?:\/\/[^/]+\/auth\/v1\.0$/.test(url)) throw new ConfigError(`connection.authUrls[${i}]: expected http(s)://HOST[:PORT]/auth/v1.0, got ${JSON.stringify(url)}`);
  }
  for (const [i, address] of config.http.trustedAddresses.entries()) {
    if (isIP(address) === 0) throw new ConfigError(`http.trustedAddresses[${i}]: expected an IP address, got ${JSON.stringify(address)}`);
  }
  const raw = input as { replication?: { targets?: Record<string, unknown>[] } } | undefined;
  checkTargets(config.replication.targets, raw?.replication?.targets ?? [], baseDir);
  return config;
}

function checkTargets(targets: ReplicationTarget[], given: Record<string, unknown>[], baseDir: string): void {
  const seen = new Set<string>();
  const keys = new Set<string>();
  for (const [i, t] of targets.entries()) {
    const at = `replication.targets[${i}]`;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(t.name)) throw new ConfigError(`${at}.name: 1–64 letters, digits, '.', '_' or '-', got ${JSON.stringify(t.name)}`);
    if (seen.has(t.name)) throw new ConfigError(`${at}.name: ${t.name} is used twice`);
    seen.add(t.name);
    if (!cron.validate(t.schedule)) throw new ConfigError(`${at}.schedule: not a cron expression: ${JSON.stringify(t.schedule)}`);
    if ((t.readerUser === '') !== (t.readerKey === '')) throw new ConfigError(`${at}: readerUser and readerKey go together`);
    if (t.connectionFile !== '') {
      const clash = ['authUrl', 'user', 'key', 'cacert', 'fullStoreAndReadSupport'].filter((k) => given[i]?.[k] !== undefined);
      if (clash.length > 0) throw new ConfigError(`${at}: connectionFile replaces ${clash.join(', ')}; give one or the other`);
      t.central = readCentral(`${at}.connectionFile`, resolve(baseDir, t.connectionFile));
      // The first URI and the user name the target (the ledger starts afresh when they change).
      t.authUrl = t.central.endpoints[0]!.authUrl;
      t.user = t.central.user;
      t.key = t.central.key;
    } else {
      if (!/^https?:\/\/[^/\s]+\/\S*$/.test(t.authUrl)) throw new ConfigError(`${at}.authUrl: expected an http(s):// auth v1.0 URL, got ${JSON.stringify(t.authUrl)}`);
      if (t.user === '' || t.key === '') throw new ConfigError(`${at}: user and key are required (or a connectionFile)`);
      // The CA file is read when replication first connects (an image's config names it before it is there).
      t.central = {
        endpoints: [{ authUrl: t.authUrl, ...(t.cacert ? { caFile: resolve(baseDir, t.cacert) } : {}) }],
        user: t.user,
        key: t.key,
        containerType: 'mkv',
        fullStoreAndReadSupport: t.fullStoreAndReadSupport,
      };
    }
    const encryption = t.central.encryption;
    if (encryption) keys.add(encryption.publicKeyId);
    if (keys.size > 1)
      throw new ConfigError(
        `${at}: its central asks for encryption with key ${encryption!.publicKeyId}, another target's with ${[...keys][0]}; cameras can encrypt for one key only`,
      );
  }
}

function readText(what: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${what}: ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function readCentral(what: string, file: string): CentralConnection {
  const { connection, problems } = readCentralConnectionFile(readText(what, file));
  if (!connection) throw new ConfigError(`${what}: ${file} is not a usable connection file:\n  ${problems.join('\n  ')}`);
  return connection;
}

/** The dotted paths of the values a document sets (lists count as one value). */
function givenKeys(input: unknown, prefix: string): string[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return prefix ? [prefix.slice(0, -1)] : [];
  return Object.entries(input).flatMap(([key, value]) => (value === undefined ? [] : givenKeys(value, `${prefix}${key}.`)));
}

/** Replication keys are secrets: a config holding one, and a central's connection file, must be readable by their owner only. */
async function refuseReadableSecrets(file: string, config: Config): Promise<void> {
  if (config.replication.targets.length === 0) return;
  const files = [file, ...config.replication.targets.filter((t) => t.connectionFile !== '').map((t) => resolve(dirname(file), t.connectionFile))];
  for (const f of files) {
    const { mode } = await stat(f);
    if ((mode & 0o077) !== 0) {
      throw new ConfigError(`${f} holds replication keys but is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 ${f}`);
    }
  }
}

/** Reads FILE; a missing file means "all defaults" only when `optional`. */
export async function loadConfig(file: string, optional: boolean): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return parseConfig({});
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  let config: Config;
  try {
    config = parseConfig(json, dirname(resolve(file)));
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  await refuseReadableSecrets(file, config);
  return config;
}

export interface HostPort {
  host: string;
  port: number;
}

/** "HOST:PORT" or "[V6]:PORT"; port 0 asks the OS for a free one. */
export function parseHostPort(text: string, what: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${what}: expected HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: (m[1] ?? m[2])!, port };
}
