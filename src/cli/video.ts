/**
 * `verify-video FILE…`: a clerk's (or examiner's) check of Axis signed video
 * in clips on disk, with edgecd's own verifier, no vendor tool needed.
 *
 * Exit codes: 0 every file authentic; 1 any tampered; 3 any other verdict
 * (unsigned, incomplete, unsupported, encrypted: not shown to be authentic);
 * 2 a usage error (no file, or one that cannot be read).
 */
import { access, constants, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { explainVerdict } from '../media/explain.ts';
import type { VideoVerdict } from '../media/verdict.ts';
import { verifyVideoFile } from '../media/verify-file.ts';
import { UsageError, type Command } from './args.ts';
import { out, transferBar } from './output.ts';

const PROGRESS_FROM_BYTES = 64 * 1024 * 1024;

export const videoCommands: Record<string, Command> = {
  'verify-video': {
    options: { json: { type: 'boolean' } },
    positionals: true,
    async run(v, files) {
      if (files.length === 0) throw new UsageError('verify-video FILE... [--json]');
      for (const file of files) {
        await access(file, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
          throw new UsageError(`cannot read ${file}: ${err.code ?? err.message}`);
        });
      }
      const results: ({ file: string } & VideoVerdict)[] = [];
      for (const file of files) {
        // A bar for large files only: a clip of a few MB is checked before a bar could say anything.
        const bar = (await stat(file)).size >= PROGRESS_FROM_BYTES ? transferBar(Date.now()) : undefined;
        const verdict = await verifyVideoFile(file, bar ? { onProgress: (done, size) => bar(done, size, basename(file)) } : {});
        bar?.done();
        results.push({ file, ...verdict });
        if (v.json !== true) out(describe(file, verdict));
      }
      if (v.json === true) out(JSON.stringify(results, null, 2));
      if (results.some((r) => r.verdict === 'tampered')) return 1;
      return results.every((r) => r.verdict === 'authentic') ? 0 : 3;
    },
  },
};

/** One clip's verdict: the verdict and file, then the facts behind it. */
function describe(file: string, v: VideoVerdict): string {
  return [`${v.verdict.toUpperCase().padEnd(11)} ${file}`, ...explainVerdict(v).map((line) => `  ${line}`)].join('\n');
}
