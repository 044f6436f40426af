/**
 * edgecd.txt: the settings IT may write on the image's boot partition before
 * the first boot, as `name = value` lines any PC can edit (Notepad's CRLF and
 * byte-order mark included). Every problem is reported at once, by line, so
 * one round trip to the PC fixes them all.
 */
import { isIP } from 'node:net';
import cron from 'node-cron';
import { OperatorError } from '../lib/errors.ts';

export interface ReplicationPreset {
  url: string;
  user: string;
  /** Absent once first boot has moved it into the box (see withoutSecret). */
  key?: string;
  schedule?: string;
  /** A file name next to edgecd.txt. */
  cacert?: string;
}

export interface Preset {
  hostname?: string;
  siteName?: string;
  /** Fixed address as address/prefix; DHCP when absent. */
  address?: string;
  gateway?: string;
  dns: string[];
  ntpServers: string[];
  /** 'auto', 'internal' or a device path such as /dev/sda. */
  dataDisk: string;
  formatDataDisk: boolean;
  replication?: ReplicationPreset;
  /** An account with the admin role (status, connection.json, replication now); the key is moved off the card. */
  admin?: { user: string; key?: string };
  sshAuthorizedKey?: string;
}

/** Something IT must fix in edgecd.txt (every problem found, by line). */
export class PresetError extends OperatorError {
  constructor(readonly problems: string[]) {
    super(`edgecd.txt: ${problems.join('; ')}`);
  }
}

const NAMES = [
  'hostname',
  'site_name',
  'address',
  'gateway',
  'dns',
  'ntp_servers',
  'data_disk',
  'format_data_disk',
  'replication_url',
  'replication_user',
  'replication_key',
  'replication_schedule',
  'replication_cacert',
  'admin_user',
  'admin_key',
  'ssh_authorized_key',
] as const;
type Name = (typeof NAMES)[number];

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const SSH_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;

/** The lines of edgecd.txt as name → [value, line number]; syntax problems go to `problems`. */
function readLines(text: string, problems: string[]): Map<Name, [string, number]> {
  const values = new Map<Name, [string, number]>();
  for (const [i, raw] of text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .entries()) {
    const line = raw.trim();
    const at = `line ${i + 1}`;
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) {
      problems.push(`${at}: expected "name = value", found ${JSON.stringify(line)}`);
      continue;
    }
    const name = line.slice(0, eq).trim().toLowerCase();
    if (!(NAMES as readonly string[]).includes(name)) {
      problems.push(`${at}: unknown setting "${name}" (known: ${NAMES.join(', ')})`);
      continue;
    }
    if (values.has(name as Name)) {
      problems.push(`${at}: "${name}" is set twice (also on line ${values.get(name as Name)![1]})`);
      continue;
    }
    values.set(name as Name, [line.slice(eq + 1).trim(), i + 1]);
  }
  return values;
}

export function parsePreset(text: string): Preset {
  const problems: string[] = [];
  const lines = readLines(text, problems);
  const get = (name: Name) => lines.get(name)?.[0] || undefined;
  const check = (name: Name, ok: (value: string) => boolean, what: string) => {
    const value = get(name);
    if (value !== undefined && !ok(value)) problems.push(`line ${lines.get(name)![1]}: ${name} must be ${what}, not ${JSON.stringify(value)}`);
    return value;
  };
  const list = (name: Name) => (get(name) ?? '').split(/[\s,]+/).filter((v) => v !== '');
  const checkList = (name: Name, ok: (value: string) => boolean, what: string) => {
    const values = list(name);
    const bad = values.filter((v) => !ok(v));
    if (bad.length > 0) problems.push(`line ${lines.get(name)![1]}: ${name} must list ${what}; ${bad.map((b) => JSON.stringify(b)).join(', ')} is not one`);
    return values;
  };

  const hostname = check('hostname', (v) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(v), 'a single name of letters, digits and inner hyphens (at most 63)');
  const siteName = check('site_name', (v) => v.length <= 64, 'at most 64 characters');
  const address = check(
    'address',
    (v) => {
      const [ip, prefix, extra] = v.split('/');
      const family = isIP(ip ?? '');
      return extra === undefined && family !== 0 && /^\d+$/.test(prefix ?? '') && Number(prefix) >= 1 && Number(prefix) <= (family === 4 ? 32 : 128);
    },
    'an address with its prefix length, such as 192.168.10.5/24',
  );
  const gateway = check('gateway', (v) => isIP(v) !== 0, 'an IP address');
  if (gateway !== undefined && address === undefined) problems.push(`line ${lines.get('gateway')![1]}: gateway goes with a fixed address (address = …/prefix)`);
  const dns = checkList('dns', (v) => isIP(v) !== 0, 'IP addresses');
  const ntpServers = checkList('ntp_servers', (v) => isIP(v) !== 0 || HOST_NAME.test(v), 'host names or IP addresses');
  const dataDisk = check('data_disk', (v) => v === 'auto' || v === 'internal' || /^\/dev\/[A-Za-z0-9/_-]+$/.test(v), 'auto, internal or a device such as /dev/sda') ?? 'auto';
  const format = check('format_data_disk', (v) => /^(yes|no|true|false)$/i.test(v), 'yes or no');
  const sshAuthorizedKey = check('ssh_authorized_key', (v) => SSH_KEY.test(v), 'one OpenSSH public key line (ssh-ed25519 AAAA… comment)');

  let replication: ReplicationPreset | undefined;
  const url = check(
    'replication_url',
    (v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'https:' || u.protocol === 'http:';
      } catch {
        return false;
      }
    },
    'the central auth URL, such as https://central.example.org/auth/v1.0',
  );
  const user = get('replication_user');
  const key = get('replication_key');
  const keyMoved = key !== undefined && MOVED.test(key);
  const schedule = check('replication_schedule', (v) => cron.validate(v), 'a cron line, minutes first (such as 0 1 * * *)');
  const cacert = check('replication_cacert', (v) => /^[A-Za-z0-9._-]+$/.test(v) && !v.startsWith('.'), 'the name of a file next to edgecd.txt');
  if (url !== undefined || user !== undefined || key !== undefined) {
    const missing = (['replication_url', 'replication_user', 'replication_key'] as const).filter((n) => get(n) === undefined);
    if (missing.length > 0) problems.push(`replication needs ${missing.join(' and ')} as well`);
    else replication = { url: url!, user: user!, ...(keyMoved ? {} : { key: key! }), ...(schedule ? { schedule } : {}), ...(cacert ? { cacert } : {}) };
  } else if (schedule !== undefined || cacert !== undefined) {
    problems.push('replication_schedule and replication_cacert go with replication_url, replication_user and replication_key');
  }

  let admin: Preset['admin'];
  const adminUser = check('admin_user', (v) => /^[A-Za-z0-9._-]{1,64}$/.test(v), 'a user name of letters, digits, dots, hyphens and underscores');
  const adminKey = check('admin_key', (v) => MOVED.test(v) || v.length >= 16, 'at least 16 characters');
  if (adminUser !== undefined && adminKey !== undefined) admin = { user: adminUser, ...(MOVED.test(adminKey) ? {} : { key: adminKey }) };
  else if (adminUser !== undefined || adminKey !== undefined) problems.push('admin_user and admin_key go together');

  if (problems.length > 0) throw new PresetError(problems);
  return {
    ...(hostname ? { hostname: hostname.toLowerCase() } : {}),
    ...(siteName ? { siteName } : {}),
    ...(address ? { address } : {}),
    ...(gateway ? { gateway } : {}),
    dns,
    ntpServers,
    dataDisk,
    formatDataDisk: /^(yes|true)$/i.test(format ?? 'no'),
    ...(replication ? { replication } : {}),
    ...(admin ? { admin } : {}),
    ...(sshAuthorizedKey ? { sshAuthorizedKey } : {}),
  };
}

/** A secret's value once first boot has taken it: `<moved …>`. */
const MOVED = /^<moved [^>]*>$/;

/**
 * The file with a secret's value replaced by a note: the boot partition is
 * readable by anyone holding the card, so a key does not stay there once used.
 * A first boot run again after a power cut reads the note as "already moved".
 */
export function withoutSecret(text: string, name: Name, where: string): string {
  return text.replace(new RegExp(`^([ \\t]*${name}[ \\t]*=)[^\\r\\n]*`, 'mi'), (_, head: string) => `${head} <moved ${where}>`);
}
