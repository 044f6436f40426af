/**
 * What every command module shares about options: the command's shape, the
 * parsed values, required options and dates, and the error that means "the
 * command line was wrong" (cli.ts maps it to exit code 2 and a usage hint).
 */
import type { ParseArgsConfig } from 'node:util';

export type Values = Record<string, string | boolean | string[] | undefined>;

export type Command = {
  options: NonNullable<ParseArgsConfig['options']>;
  /** The command takes words after its name (an action such as `user add NAME`, or a folder). */
  positionals?: true;
  run: (v: Values, positionals: string[]) => Promise<number>;
};

export class UsageError extends Error {
  /** The command whose usage was wrong, when known: the hint points at its --help. */
  command: string | undefined;

  constructor(message: string, options: { command?: string } = {}) {
    super(message);
    this.command = options.command;
  }
}

export function need(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.length === 0) throw new UsageError(`--${name} is required`);
  return value;
}

/** YYYY-MM-DD (the whole UTC day; its end for --until) or a full ISO time → ms. */
export function parseDay(text: string, name: string, endOfDay: boolean): number {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const ms = Date.parse(day ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(ms)) throw new UsageError(`--${name}: a date (YYYY-MM-DD) or an ISO 8601 time`);
  return day && endOfDay ? ms + 86_400_000 - 1 : ms;
}
