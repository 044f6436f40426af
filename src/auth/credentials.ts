/**
 * Users and their keys: DIR/credentials.json (mode 0600), keys stored only as
 * scrypt hashes. The body-worn system's plain key exists in connection.json
 * alone, because the Body Worn Manager needs it there; other users' keys are
 * printed once, when set.
 *
 * The file may change while the daemon runs (edgecd user …): LiveCredentials
 * notices within a second, and a disabled user's tokens stop working then.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { writeFileDurable } from '../lib/durable.ts';
import type { Role } from './roles.ts';

const scrypt = (key: string, salt: Buffer, length: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(key, salt, length, options, (err, out) => (err ? reject(err) : resolve(out))));

// N = 2^14 costs ~50 ms on a Raspberry Pi 4; auth happens once per token.
const PARAMS = { N: 16384, r: 8, p: 1 } as const;
const HASH_BYTES = 32;

export interface KeyHash {
  salt: string;
  hash: string;
  N: number;
  r: number;
  p: number;
}

export interface UserRecord {
  user: string;
  /** Swift account the user works in: the storage URL is /v1/AUTH_<account>. */
  account: string;
  /** Absent in files from before roles: the body-worn system's user, an uploader. */
  role?: Role;
  disabled?: boolean;
  /** Tokens issued before this (ms) are void: set when the key changes or the user is disabled. */
  tokensNotBefore?: number;
  key: KeyHash;
}

export interface Identity {
  user: string;
  account: string;
  role: Role;
  /** Which key the identity was proved with (its hash's salt): a token is void once the key changes. */
  credential: string;
}

export const USER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export async function hashKey(key: string): Promise<KeyHash> {
  const salt = randomBytes(16);
  const hash = await scrypt(key, salt, HASH_BYTES, { ...PARAMS, maxmem: 64 * 1024 * 1024 });
  return { salt: salt.toString('base64'), hash: hash.toString('base64'), ...PARAMS };
}

/** A random key that fits BlobAPIKey (≤ 64 characters) and any header. */
export function generateKey(): string {
  // A key starting with '-' or '_' reads as an option to the swift, curl or edgecd
  // command lines IT pastes it into; 256 bits of base64url otherwise.
  for (;;) {
    const key = randomBytes(32).toString('base64url');
    if (/^[A-Za-z0-9]/.test(key)) return key;
  }
}

export class Credentials {
  readonly users: readonly UserRecord[];
  // Checked when the user is unknown, so a miss costs what a wrong key costs.
  // Random bytes, not a real hash: it never matches and costs no scrypt to make.
  readonly #decoy: KeyHash = { salt: randomBytes(16).toString('base64'), hash: randomBytes(HASH_BYTES).toString('base64'), ...PARAMS };

  constructor(users: UserRecord[]) {
    this.users = users;
  }

  static async load(file: string): Promise<Credentials> {
    const doc = JSON.parse(await readFile(file, 'utf8')) as { users?: UserRecord[] };
    if (!Array.isArray(doc.users)) throw new Error(`${file}: no users list`);
    return new Credentials(doc.users);
  }

  async save(file: string): Promise<void> {
    await writeFileDurable(file, JSON.stringify({ version: 1, users: this.users }, null, 2) + '\n', 0o600);
  }

  /**
   * Checks a user ("user" or Swift's "account:user") and key. Always runs one
   * scrypt and one constant-time comparison, known user or not.
   */
  async verify(userName: string, key: string): Promise<Identity | undefined> {
    const [account, user] = userName.includes(':') ? (userName.split(':', 2) as [string, string]) : [undefined, userName];
    const record = this.users.find((u) => u.user === user && (account === undefined || u.account === account) && !u.disabled);
    const stored = record?.key ?? this.#decoy;
    const expected = Buffer.from(stored.hash, 'base64');
    const actual = await scrypt(key, Buffer.from(stored.salt, 'base64'), expected.length, {
      N: stored.N,
      r: stored.r,
      p: stored.p,
      maxmem: 64 * 1024 * 1024,
    });
    const match = timingSafeEqual(actual, expected);
    return match && record ? identityOf(record) : undefined;
  }

  /** The user's current identity, if the user exists and is enabled, and since when its tokens count. */
  active(user: string): (Identity & { tokensNotBefore: number }) | undefined {
    const record = this.users.find((u) => u.user === user && !u.disabled);
    return record && { ...identityOf(record), tokensNotBefore: record.tokensNotBefore ?? 0 };
  }
}

const identityOf = (r: UserRecord): Identity => ({ user: r.user, account: r.account, role: r.role ?? 'uploader', credential: r.key.salt });

/** The credentials file as it is now, re-read when it changes (checked at most once a second). */
export class LiveCredentials {
  readonly #file: string;
  #current: Credentials;
  /** inode, mtime and size: a rewrite (always a rename) changes at least the inode. */
  #version: string;
  #checkedAt = 0;
  #checking: Promise<void> | undefined;

  private constructor(file: string, current: Credentials, version: string) {
    this.#file = file;
    this.#current = current;
    this.#version = version;
  }

  static async open(file: string): Promise<LiveCredentials> {
    const version = await versionOf(file);
    return new LiveCredentials(file, await Credentials.load(file), version);
  }

  /** The file was just changed here: read it on the next use, not up to a second later. */
  invalidate(): void {
    this.#checkedAt = 0;
  }

  async current(): Promise<Credentials> {
    if (Date.now() - this.#checkedAt >= 1000) await (this.#checking ??= this.#refresh().finally(() => (this.#checking = undefined)));
    return this.#current;
  }

  async #refresh(): Promise<void> {
    this.#checkedAt = Date.now();
    const version = await versionOf(this.#file);
    if (version === this.#version) return;
    this.#current = await Credentials.load(this.#file);
    this.#version = version;
  }
}

async function versionOf(file: string): Promise<string> {
  const s = await stat(file);
  return `${s.ino}:${s.mtimeMs}:${s.size}`;
}
