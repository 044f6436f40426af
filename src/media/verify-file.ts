/**
 * One clip file → its signed-video verdict: the container layer yields NAL
 * units, the verifier judges them. Memory stays bounded whatever the file's
 * size: neither layer keeps picture data.
 *
 * A file the container layer cannot read is 'unsupported' with the reason
 * (an encrypted clip looks like that too: the caller, which knows about key
 * files, says 'encrypted' before it gets here).
 */
import { MediaFormatError, openVideo, type VideoCodec } from './containers/open-video.ts';
import { SignedVideoVerifier } from './signed-video/verifier.ts';
import { uncheckedVerdict, type VideoVerdict } from './verdict.ts';

export interface VerifyOptions {
  codecHint?: VideoCodec;
  /** Called now and then with bytes read so far and the file's size (a progress bar). */
  onProgress?: (bytesRead: number, size: number) => void;
  /**
   * Awaited every few MiB: where a background job yields to uploads (it
   * sleeps in proportion to the work just done) and where it is stopped
   * (it throws).
   */
  pace?: () => Promise<void> | void;
}

/** How many NAL units between calls to onProgress / pace: a few MiB of typical 1080p video. */
const PACE_EVERY = 256;

export async function verifyVideoFile(path: string, options: VerifyOptions = {}): Promise<VideoVerdict> {
  let source: Awaited<ReturnType<typeof openVideo>>;
  try {
    source = await openVideo(path, options.codecHint ? { codecHint: options.codecHint } : {});
  } catch (err) {
    if (err instanceof MediaFormatError) return uncheckedVerdict('unsupported', `not a readable H.264/H.265 MP4, MKV or Annex B file: ${err.message}`, options.codecHint);
    throw err;
  }
  try {
    const verifier = new SignedVideoVerifier(source.codec);
    let n = 0;
    try {
      for await (const nal of source.nalUnits()) {
        verifier.add(nal.bytes, nal.timeMs === undefined ? undefined : { timeMs: nal.timeMs });
        if (++n % PACE_EVERY === 0) {
          options.onProgress?.(source.bytesRead(), source.size);
          await options.pace?.();
        }
      }
    } catch (err) {
      if (!(err instanceof MediaFormatError)) throw err;
      // What was read before the damage is still judged: a cut recording verifies up to the cut.
      const verdict = verifier.finish();
      return { ...verdict, format: { ...verdict.format, container: source.container }, reason: joinReasons(verdict.reason, `the file is damaged: ${err.message}`) };
    }
    options.onProgress?.(source.size, source.size);
    const verdict = verifier.finish();
    return { ...verdict, format: { ...verdict.format, container: source.container } };
  } finally {
    await source.close();
  }
}

const joinReasons = (a: string | undefined, b: string) => (a ? `${a}; ${b}` : b);
