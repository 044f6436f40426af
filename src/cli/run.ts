/**
 * One command line, run: finds the command (the modules under cli/ run
 * them), prints usage, and turns errors into exit codes. src/cli.ts runs it
 * for a shell; a test may run it in its own process (`withOutput`).
 */
import { parseArgs } from 'node:util';
import { EdgeError, OperatorError } from '../lib/errors.ts';
import { VERSION } from '../lib/version.ts';
import { UsageError, type Values } from './args.ts';
import { COMMAND_MODULES } from './commands.ts';
import { out, say } from './output.ts';

const USAGE = `edgecd ${VERSION} — content destination for body-worn camera systems

usage: edgecd <command> [options]

  init --data DIR [--user NAME] [--key KEY] [--site NAME] [--url URL ...] [--config FILE]
       [--https [--ip IP ...] [--hostname NAME ...] | --https --cert FILE --cert-key FILE]
        create DIR, credentials (generated unless given) and DIR/connection.json;
        --site and --url are saved in the config file; --https sets up certificates
  serve --data DIR --listen HOST:PORT [--ntp-listen HOST:PORT|off] [--config FILE] [--plain-http]
        serve the Swift API over HTTPS (initialises DIR on first start)
  cert show|renew --data DIR         HTTPS certificates; renew rewrites the connection file
  user add NAME --role uploader|reader|replicator|admin|custodian [--key KEY] [--account A] --data DIR
  user list|passwd NAME [--key KEY]|disable NAME|enable NAME --data DIR
  hold add (--recording NAME | [--user-id UUID] [--device SERIAL] [--since DATE] [--until DATE] [--category ID])
       --case CASE --reason TEXT --as CUSTODIAN [--key KEY] --data DIR
  hold list [--all] [--json] --data DIR | hold release ID --reason TEXT --as CUSTODIAN [--key KEY] --data DIR
        legal holds: a held recording is never evicted (EDGECD_KEY may hold the custodian's key)
  retention plan [--days N] [--json] --data DIR
        what retention.keep lets go within N days (0: now), and what a hold, an unfinished
        recording or replication keeps
  retention run --data DIR           delete what is due now (the daemon runs it on retention.delete.schedule)
  retention summary --data DIR       the past week: deletions, restorations, holds; and what the next week deletes
  deleted [--json] --data DIR        what retention deleted (tombstones, kept for ever)
  restore NAME --case CASE --reason TEXT --as CUSTODIAN [--key KEY] --data DIR
        bring a deleted recording back from the trash within its grace period, under a hold
        (the daemon stopped)
  audit verify --data DIR            check the audit trail's hash chain
  audit verify --data DIR --against AUTH_URL --user U --key K [--cacert FILE] [--key-id ID]
        and check it against the signed heads a central holds (rewritten, truncated, back-dated lines)
  audit show --recording NAME --data DIR   a recording's chain of custody
  pull --from AUTH_URL --user U --key K [--cacert FILE] [--stall-seconds N] [--verify-video] --to DIR
       (--recording NAME | --user-id ID | --device SERIAL | --since DATE --until DATE | --all)
        download recordings with verified hashes: objects, metadata.json, manifest.sha256, custody.json;
        --verify-video checks each clip's signed video again here and records both verdicts
  keys generate --out DIR [--id ID] [--bits 2048|3072|4096]
        an RSA key pair for end-to-end encryption (WantEncryption); the private key
        (0600) is for the central office and is never written into a data directory
  decrypt --private-key [ID=]KEY.pem ... [--key-id ID] FOLDER|FILE
        decrypt end-to-end encrypted clips and tracks into the folder's decrypted/
  export gnss FOLDER|TRACK --format geojson|gpx [--out FILE]   a GNSS track for GIS tools
  verify-video FILE... [--json]      check Axis signed video in MP4/MKV/Annex B clips: exit 0 all
        authentic, 1 any tampered, 3 any unsigned, incomplete, unsupported or encrypted
  connection-file --data DIR         print the connection file for the Body Worn Manager
  connection-file --check FILE       validate a connection file and explain every violation
  categories set FILE --data DIR     publish the categories in FILE (a JSON list of {"Name", "Id"})
  categories show --data DIR         print the published categories
  recordings --data DIR [--user ID] [--device SERIAL] [--since DATE] [--until DATE] [--incomplete] [--category ID]
        recordings from the index (user by UUID or UserID), with clips, track, bookmarks and manifest
  simulate --connection FILE [--users N] [--devices N] [--recordings N] [--clips N] [--clip-bytes N] [--clip-file F ...]
           [--concurrency N] [--extras] [--public-key PEM [--public-key-id ID]] [--connect-to HOST:PORT:HOST2:PORT2]
           [--legacy-names] [--key-names base|spec|reference] [--clip-locations]
        act as a body-worn system against the CD in FILE; print what it answered
  status --data DIR                  totals from the index (through the daemon when it runs)
  replicate --now --data DIR [--target NAME] [--retry-failed]
        one replication pass now (through the daemon when it runs), with progress;
        --retry-failed also retries what a target refused
  replication status --data DIR [--json]   backlog, alarms, capabilities, confirmation and last pass per target
  target check --connection-file FILE [--reader-user U --reader-key K] [--json]
        read-only preflight of a central CD from its connection file: what replication
        will send or hold back, and how it confirms; exit 1 when it cannot be used
  reindex --data DIR [--verify]      rebuild the index from the disk (daemon stopped)
  appliance first-boot [--root DIR] [--boot DIR]
        an appliance image's first boot: disks, name, keys, connection.json (run by systemd)
  help                               this text
`;

async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    out(USAGE);
    return name ? 0 : 2;
  }
  if (name === '--version') {
    out(VERSION);
    return 0;
  }
  const load = Object.hasOwn(COMMAND_MODULES, name) ? COMMAND_MODULES[name] : undefined;
  const command = (await load?.())?.[name];
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  const { values, positionals } = parseArgs({ args: rest, options: command.options, strict: true, allowPositionals: command.positionals === true });
  return command.run(values as Values, positionals);
}

/** Runs `argv` (the words after `edgecd`) and resolves with the exit code: 0 done, 1 failed, 2 a usage error. */
export async function runCommand(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (err) {
    const known = err instanceof UsageError || err instanceof OperatorError || err instanceof EdgeError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    say(`edgecd: ${(err as Error).message}`);
    if (!known) say(`${(err as Error).stack ?? ''}`);
    if (err instanceof UsageError) say(`run 'edgecd help' for usage`);
    return err instanceof UsageError ? 2 : 1;
  }
}
