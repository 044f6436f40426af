/**
 * Differential test of signed-video verification: for every generated case
 * (test/helpers/signed-video-cases.ts: signed, tampered, truncated, re-signed
 * H.264/H.265 in MP4/MKV), edgecd's verdict must be the reference library's,
 * judged on the same file in the same run: the same verdict, the same first
 * failing frame and the same count of frames.
 *
 * Without the reference tools (sv_validate/sv_sign not built, no ffmpeg)
 * every case is skipped with the reason.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { verifyVideoFile } from '../src/media/verify-file.ts';
import { skipOrFail } from './helpers/peers.ts';
import { AUTHENTICITY, CASE_NAMES, makeSignedVideoCases, OPTIONAL_CASES, referenceUnavailable, type SignedVideoCase } from './helpers/signed-video-cases.ts';

const unavailable = skipOrFail(referenceUnavailable());

// One test per case, named before the cases exist (node:test wants the tests when the file loads);
// without the reference tools each is skipped with the reason.
describe('signed video: edgecd against the reference library', () => {
  let dir: string | undefined;
  const cases = new Map<string, SignedVideoCase>();

  before(async () => {
    if (unavailable) return;
    dir = await mkdtemp(join(tmpdir(), 'edgecd-signed-video-'));
    for (const c of await makeSignedVideoCases(dir)) cases.set(c.name, c);
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const name of CASE_NAMES) {
    test(name, { skip: unavailable }, async (t) => {
      const c = cases.get(name);
      if (!c && OPTIONAL_CASES.has(name)) {
        t.skip(skipOrFail("needs an ffmpeg with libx264 to make a stream with B-frames (Debian's ffmpeg has it)") || undefined);
        return;
      }
      assert.ok(c, `case ${name} was not made`);
      const got = await verifyVideoFile(c.file);
      const want = c.expected;
      const context = `${c.description}; reference: ${JSON.stringify(want)}`;
      assert.equal(got.verdict, AUTHENTICITY[want.verdict], `verdict (reference: ${want.verdict}); ${context}`);
      if (got.libraryVerdict !== undefined) assert.equal(got.libraryVerdict, want.verdict, `library verdict; ${context}`);
      assert.equal(got.firstInvalidFrame, want.firstFailureFrame, `first invalid frame; ${context}`);
      assert.equal(got.frames, want.frames, `frames; ${context}`);
    });
  }
});
