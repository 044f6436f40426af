/** `appliance first-boot`: an appliance image's first boot (disks, name, keys, connection.json), run by systemd. */
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstBoot, hostMachine } from '../appliance/first-boot.ts';
import { UsageError, type Command } from './args.ts';
import { out } from './output.ts';

/**
 * The CLI's entry point, which first boot runs again for init and user add:
 * src/cli.ts next to this folder, or dist/cli.js in the build (the same
 * extension as this module's).
 */
const ENTRY = fileURLToPath(new URL(`../cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

export const applianceCommands: Record<string, Command> = {
  appliance: {
    options: { root: { type: 'string' }, boot: { type: 'string' } },
    positionals: true,
    async run(v, positionals) {
      if (positionals[0] !== 'first-boot' || positionals.length !== 1) throw new UsageError('appliance first-boot [--root DIR] [--boot DIR]');
      const root = resolve((v.root as string | undefined) ?? '/');
      await firstBoot({
        root,
        boot: resolve((v.boot as string | undefined) ?? join(root, 'boot/firmware')),
        machine: hostMachine(),
        cli: ENTRY,
        say: (line) => out(`edgecd first boot: ${line}`),
      });
      return 0;
    },
  },
};
