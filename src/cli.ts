#!/usr/bin/env node
/**
 * edgecd's command line. Commands print for people (stdout) and exit non-zero
 * with a one-line reason on failure; the daemon itself logs JSON via pino.
 */
import { runCommand } from './cli/run.ts';

runCommand(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
