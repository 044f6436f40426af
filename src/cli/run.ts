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
import { COMMAND_HELP, commandHelp, nearest, overview } from './help.ts';
import { out, say } from './output.ts';

async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' && rest[0] !== undefined && Object.hasOwn(COMMAND_HELP, rest[0])) {
    out(commandHelp(rest[0]));
    return 0;
  }
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    out(overview());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    out(VERSION);
    return 0;
  }
  const load = Object.hasOwn(COMMAND_MODULES, name) ? COMMAND_MODULES[name] : undefined;
  if (!load) {
    const guess = nearest(name, Object.keys(COMMAND_MODULES));
    throw new UsageError(`unknown command ${JSON.stringify(name)}${guess ? `; did you mean '${guess}'?` : ''}`);
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out(commandHelp(name));
    return 0;
  }
  const command = (await load())[name]!;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, strict: true, allowPositionals: command.positionals === true });
  } catch (err) {
    throw usageOf(err, name, command.options);
  }
  try {
    return await command.run(parsed.values as Values, parsed.positionals);
  } catch (err) {
    if (err instanceof UsageError) err.command ??= name;
    throw err;
  }
}

/** A parse failure as a usage error, with the option the user probably meant. */
function usageOf(err: unknown, command: string, options: Record<string, unknown>): unknown {
  const code = (err as { code?: string }).code;
  if (!code?.startsWith('ERR_PARSE_ARGS')) return err;
  const unknown = /Unknown option '(-{1,2}[^']+)'/.exec((err as Error).message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
    const guess = nearest(unknown.replace(/^-+/, '').split('=')[0]!, Object.keys(options));
    return new UsageError(`${command}: unknown option '${unknown}'${guess ? `; did you mean '--${guess}'?` : ''}`, { command });
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return new UsageError(`${command}: ${(err as Error).message.split('.')[0]}`, { command });
  return new UsageError(`${command}: ${(err as Error).message}`, { command });
}

/** Runs `argv` (the words after `edgecd`) and resolves with the exit code: 0 done, 1 failed, 2 a usage error. */
export async function runCommand(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (err) {
    const known = err instanceof UsageError || err instanceof OperatorError || err instanceof EdgeError;
    say(`edgecd: ${(err as Error).message}`);
    if (!known) say(`${(err as Error).stack ?? ''}`);
    if (err instanceof UsageError) say(`run 'edgecd ${err.command ? `${err.command} --help` : 'help'}' for usage`);
    return err instanceof UsageError ? 2 : 1;
  }
}
