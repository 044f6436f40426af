/** `user`: list, add, passwd, disable and enable the station's Swift users. */
import { resolve } from 'node:path';
import { adminGet } from '../admin/admin-client.ts';
import { paths } from '../admin/data-dir.ts';
import { applyUserChange } from '../admin/operations.ts';
import { listUsers, type UserChange, type UserChangeResult, type UserView } from '../auth/users.ts';
import { need, UsageError, type Command } from './args.ts';
import { out } from './output.ts';
import { operate, viaDaemonOrDirect } from './via-daemon.ts';

export const userCommands: Record<string, Command> = {
  user: {
    options: { data: { type: 'string' }, role: { type: 'string' }, key: { type: 'string' }, account: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } },
    positionals: true,
    async run(v, positionals) {
      const dir = resolve(need(v, 'data'));
      const [action, name, ...extra] = positionals;
      if (action === 'list' && name === undefined) {
        const users = await viaDaemonOrDirect(
          dir,
          (adminSocket) => adminGet<UserView[]>(adminSocket, '/users'),
          () => listUsers(paths(dir).credentials),
        );
        if (v.json === true) out(JSON.stringify(users, null, 2));
        else for (const u of users) out(`${u.user.padEnd(24)} ${u.role.padEnd(10)} account ${u.account}${u.disabled ? '  (disabled)' : ''}`);
        return 0;
      }
      if (!name || extra.length > 0 || !['add', 'passwd', 'disable', 'enable'].includes(action ?? '')) {
        throw new UsageError('user add NAME --role ROLE [--key KEY] | user list | user passwd NAME [--key KEY] | user disable NAME | user enable NAME');
      }
      const key = typeof v.key === 'string' ? v.key : undefined;
      const change: UserChange =
        action === 'add'
          ? { op: 'add', user: name, role: need(v, 'role'), ...(key ? { key } : {}), ...(typeof v.account === 'string' ? { account: v.account } : {}) }
          : action === 'passwd'
            ? { op: 'passwd', user: name, ...(key ? { key } : {}) }
            : { op: action as 'disable' | 'enable', user: name };
      const result = await operate<UserChangeResult>(dir, v, '/users', { change }, (ctx, actor) => applyUserChange(ctx, change, actor, 'cli'));
      out(`${result.user.user}: ${result.user.role} in account ${result.user.account}${result.user.disabled ? ', disabled (its tokens stop working within a second)' : ''}`);
      if (result.generatedKey) out(`key (shown once, store it now): ${result.generatedKey}`);
      if (result.isConnectionUser && result.key) out(`${paths(dir).connection} now holds the new key: upload it in the Body Worn Manager`);
      return 0;
    },
  },
};
