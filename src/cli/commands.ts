/**
 * Which module runs each command. Only that module is loaded: `edgecd help`
 * or `edgecd decrypt` starts without the daemon's web stack and database,
 * and `serve` without the clerk's tools.
 */
import type { Command } from './args.ts';

type CommandTable = () => Promise<Record<string, Command>>;

const appliance: CommandTable = async () => (await import('./appliance.ts')).applianceCommands;
const audit: CommandTable = async () => (await import('./audit.ts')).auditCommands;
const bws: CommandTable = async () => (await import('./bws.ts')).bwsCommands;
const evidence: CommandTable = async () => (await import('./evidence.ts')).evidenceCommands;
const lifecycle: CommandTable = async () => (await import('./lifecycle.ts')).lifecycleCommands;
const replication: CommandTable = async () => (await import('./replication.ts')).replicationCommands;
const serve: CommandTable = async () => (await import('./serve.ts')).serveCommands;
const station: CommandTable = async () => (await import('./station.ts')).stationCommands;
const tls: CommandTable = async () => (await import('./tls.ts')).tlsCommands;
const users: CommandTable = async () => (await import('./users.ts')).userCommands;
const video: CommandTable = async () => (await import('./video.ts')).videoCommands;

/** Command name → the table that holds it. */
export const COMMAND_MODULES: Record<string, CommandTable> = {
  serve,
  init: station,
  'connection-file': station,
  status: station,
  reindex: station,
  user: users,
  cert: tls,
  audit,
  categories: bws,
  recordings: bws,
  simulate: bws,
  pull: evidence,
  keys: evidence,
  decrypt: evidence,
  export: evidence,
  'verify-video': video,
  hold: lifecycle,
  retention: lifecycle,
  deleted: lifecycle,
  restore: lifecycle,
  replicate: replication,
  replication,
  target: replication,
  appliance,
};

/** Every table, once (for checking that each command is routed to its own). */
export const COMMAND_TABLES: readonly CommandTable[] = [appliance, audit, bws, evidence, lifecycle, replication, serve, station, tls, users, video];
