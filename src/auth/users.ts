/**
 * User management (`edgecd user …`): changes to DIR/credentials.json. The
 * daemon runs these for the CLI through its admin socket when it is up (so
 * one process writes the audit trail); otherwise the CLI runs them itself.
 */
import { OperatorError } from '../lib/errors.ts';
import { Credentials, USER_NAME, generateKey, hashKey, type UserRecord } from './credentials.ts';
import { isRole, ROLES, type Role } from './roles.ts';

export interface UserView {
  user: string;
  account: string;
  role: Role;
  disabled: boolean;
}

export type UserChange =
  | { op: 'add'; user: string; role: string; key?: string; account?: string }
  | { op: 'passwd'; user: string; key?: string }
  | { op: 'disable' | 'enable'; user: string };

export interface UserChangeResult {
  user: UserView;
  /** The new key, when edgecd generated it (shown once). */
  generatedKey?: string;
  /** The key that was set (generated or given): the body-worn system's goes into connection.json. */
  key?: string;
  /** True when the user is the one connection.json names. */
  isConnectionUser: boolean;
}

export const viewOf = (r: UserRecord): UserView => ({ user: r.user, account: r.account, role: r.role ?? 'uploader', disabled: r.disabled === true });

export function checkKey(key: string): void {
  if (key.length < 8 || key.length > 64 || /[\s\u0000-\u001f]/.test(key)) throw new OperatorError('--key: 8–64 printable characters without spaces');
}

/** Applies a change to the credentials file and returns what changed. */
export async function changeUser(file: string, change: UserChange): Promise<UserChangeResult> {
  const current = await Credentials.load(file);
  const users = [...current.users];
  const at = users.findIndex((u) => u.user === change.user);
  const connectionUser = users[0]?.user;
  let key: string | undefined;
  let generatedKey: string | undefined;
  const newKey = async (given: string | undefined) => {
    if (given !== undefined) checkKey(given);
    key = given ?? (generatedKey = generateKey());
    return hashKey(key);
  };
  switch (change.op) {
    case 'add': {
      if (!USER_NAME.test(change.user)) throw new OperatorError(`user name: 1–64 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(change.user)}`);
      if (at !== -1) throw new OperatorError(`user ${change.user} exists (use edgecd user passwd, or another name)`);
      if (!isRole(change.role)) throw new OperatorError(`--role: one of ${ROLES.join(', ')}, got ${JSON.stringify(change.role)}`);
      // Everyone works in the station's account unless told otherwise: readers read what the BWS stored.
      const account = change.account ?? users[0]?.account ?? change.user;
      if (!USER_NAME.test(account)) throw new OperatorError(`--account: 1–64 characters of A-Z a-z 0-9 _ . -`);
      users.push({ user: change.user, account, role: change.role, key: await newKey(change.key) });
      break;
    }
    case 'passwd':
      if (at === -1) throw new OperatorError(`no user ${change.user}`);
      // A new key voids the tokens the old one got (it may have leaked).
      users[at] = { ...users[at]!, key: await newKey(change.key), tokensNotBefore: Date.now() };
      break;
    case 'disable':
    case 'enable':
      if (at === -1) throw new OperatorError(`no user ${change.user}`);
      // Re-enabling must not revive tokens from before the disable.
      if (change.op === 'disable') users[at] = { ...users[at]!, disabled: true, tokensNotBefore: Date.now() };
      else {
        const { disabled: _gone, ...rest } = users[at]!;
        users[at] = rest;
      }
      break;
  }
  await new Credentials(users).save(file);
  const record = users.find((u) => u.user === change.user)!;
  return { user: viewOf(record), ...(generatedKey ? { generatedKey } : {}), ...(key ? { key } : {}), isConnectionUser: change.user === connectionUser };
}

export async function listUsers(file: string): Promise<UserView[]> {
  return (await Credentials.load(file)).users.map(viewOf);
}
