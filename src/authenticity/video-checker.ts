/**
 * The video check as the daemon runs it: takes sealed recordings from the
 * ledger's queue, verifies each clip's signed video off the event loop, and
 * records the verdict in the index and the audit trail (video.verified).
 *
 * Never on the upload path: a recording is checked after its seal's 201, and
 * the check yields to uploads (the worker pauses in proportion to its work
 * while any are in flight). A tampered clip is stored like any other (it is
 * evidence, whatever it says about itself) and raises an alarm: an error in
 * the log, the recording in /status and the console.
 *
 * On a central, clips arrive with the verdict the edge recorded (replication
 * metadata, video-metadata.ts); the central verifies them again and a
 * disagreement is an alarm too.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AuditSink } from '../audit/trail.ts';
import { isKeyFile, pairKeyFiles } from '../bws/key-files.ts';
import { parseEpoch, parseRecordingName } from '../bws/names.ts';
import { EdgeError } from '../lib/errors.ts';
import type { VideoVerdict } from '../media/verdict.ts';
import type { ObjectEntry, ObjectStore } from '../store/object-store.ts';
import { decodeMetaValue } from '../swift/metadata.ts';
import { OffThreadVerifier } from './verify-off-thread.ts';
import { compareWithRecorded, recordedVerdict } from './video-metadata.ts';
import { encryptedVerdict, notChecked } from './video-custody.ts';
import { type CheckJob, type ClipCheck, isVideoClip, VideoLedger } from './video-ledger.ts';

export interface VideoCheckerOptions {
  store: ObjectStore;
  log: Logger;
  audit?: AuditSink;
  /** Uploads in flight now: while there are any, the check slows down. */
  uploadsInFlight: () => number;
  /** Pause per unit of work while uploads are in flight, in % (300: the check takes a quarter of a core). */
  sleepPercentUnderLoad?: number;
  /** How often the queue is looked at when nothing woke the checker, ms. */
  pollMs?: number;
  now?: () => number;
}

const MAX_BACKOFF_MS = 60 * 60_000;
/** Attempts at a clip before it is recorded as not checked (10 s, 20 s, … about 5 minutes in all). */
const MAX_ATTEMPTS = 6;

export class VideoChecker {
  readonly ledger: VideoLedger;
  readonly #o: Required<Omit<VideoCheckerOptions, 'audit'>> & Pick<VideoCheckerOptions, 'audit'>;
  readonly #verifier = new OffThreadVerifier();
  #closed = false;
  #wake: (() => void) | undefined;
  /** A seal committed since the queue was last read: look again before sleeping. */
  #signalled = false;
  #loop: Promise<void> | undefined;
  /** Recordings someone waits on (replication), woken after each check. */
  #recordingWaiters = new Set<() => void>();

  constructor(options: VideoCheckerOptions) {
    this.#o = { sleepPercentUnderLoad: 300, pollMs: 30_000, now: Date.now, ...options };
    this.ledger = VideoLedger.of(options.store.index);
  }

  /** Starts taking work from the queue; a seal wakes it at once. */
  start(): void {
    this.ledger.onQueued = () => {
      this.#signalled = true;
      this.#wake?.();
    };
    this.#loop ??= this.#run();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.ledger.onQueued = undefined;
    this.#wake?.();
    for (const wake of [...this.#recordingWaiters]) wake();
    await this.#verifier.close();
    await this.#loop;
  }

  /**
   * Resolves once a recording's clips are checked, so their verdicts travel
   * with them when replication sends them; at most `timeoutMs` (a long
   * backlog or a failing check never holds replication up for longer).
   */
  async checked(account: string, container: string, timeoutMs: number): Promise<boolean> {
    const deadline = this.#o.now() + timeoutMs;
    while (await this.ledger.awaitingCheck(account, container)) {
      const left = deadline - this.#o.now();
      if (left <= 0 || this.#closed) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#recordingWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.#recordingWaiters.add(done);
      });
    }
    return true;
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      let worked = false;
      this.#signalled = false;
      try {
        worked = await this.runOnce();
      } catch (err) {
        this.#o.log.error({ err }, 'video check failed');
      }
      if (worked || this.#signalled || this.#closed) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#o.pollMs);
        timer.unref();
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Checks the oldest due recording. Returns whether there was one. */
  async runOnce(): Promise<boolean> {
    const next = await this.ledger.nextJob(this.#o.now());
    if (!next) return false;
    const [key, job] = next;
    try {
      await this.#checkRecording(job);
      await this.#o.store.index.write([{ type: 'del', sublevel: this.ledger.queue, key }], true);
      for (const wake of [...this.#recordingWaiters]) wake();
    } catch (err) {
      if (this.#closed) return false;
      const attempts = job.attempts + 1;
      const backoff = Math.min(MAX_BACKOFF_MS, 10_000 * 2 ** (attempts - 1));
      const retry: CheckJob = { ...job, attempts, notBefore: this.#o.now() + backoff, lastError: (err as Error).message };
      await this.#o.store.index.write([{ type: 'put', sublevel: this.ledger.queue, key, value: retry }], false);
      this.#o.log.warn({ err, container: job.container, attempts, retryInMs: backoff }, 'video check failed; will retry');
      for (const wake of [...this.#recordingWaiters]) wake();
    }
    return true;
  }

  async #checkRecording(job: CheckJob): Promise<void> {
    const { store } = this.#o;
    const container = await store.container(job.account, job.container).catch((err: unknown) => {
      if (err instanceof EdgeError && err.code === 'NotFound') return undefined; // evicted or removed since: nothing to check
      throw err;
    });
    if (!container) return;
    const objects: ObjectEntry[] = [];
    for await (const o of store.objects(job.account, job.container)) objects.push(o);
    const start = container.meta.starttime === undefined ? parseRecordingName(job.container)?.triggerOn : parseEpoch(decodeMetaValue(container.meta.starttime));
    const { keyOf } = pairKeyFiles(objects, start);
    const previous = await this.ledger.recording(job.account, job.container);
    for (const clip of objects) {
      if (!isVideoClip(clip.name) || isKeyFile(clip)) continue;
      const earlier = previous.get(clip.name);
      if (earlier?.sha256 === clip.sha256) continue; // these bytes were checked already
      await this.#checkClip(job, clip, keyOf.has(clip.name), earlier);
    }
  }

  async #checkClip(job: CheckJob, clip: ObjectEntry, encrypted: boolean, earlier: ClipCheck | undefined): Promise<void> {
    const started = this.#o.now();
    let verdict: VideoVerdict;
    if (encrypted) verdict = encryptedVerdict();
    else {
      this.#verifier.setSleepPercent(this.#o.uploadsInFlight() > 0 ? this.#o.sleepPercentUnderLoad : 0);
      const slowDown = setInterval(() => this.#verifier.setSleepPercent(this.#o.uploadsInFlight() > 0 ? this.#o.sleepPercentUnderLoad : 0), 100);
      try {
        verdict = await this.#verifier.verify(join(this.#o.store.layout.containerDir(job.account, job.container), clip.file));
      } catch (err) {
        // Retried with backoff; after the last attempt the clip is recorded as not checked, with why, rather than pending for ever.
        if (this.#closed || job.attempts + 1 < MAX_ATTEMPTS) throw err;
        verdict = notChecked(`the check failed ${MAX_ATTEMPTS} times: ${(err as Error).message}`);
      } finally {
        clearInterval(slowDown);
      }
    }
    const recorded = recordedVerdict(clip.meta);
    const check: ClipCheck = {
      object: clip.name,
      sha256: clip.sha256,
      bytes: clip.bytes,
      checkedAt: this.#o.now(),
      tookMs: this.#o.now() - started,
      verdict,
      ...(recorded ? { elsewhere: compareWithRecorded(verdict, recorded) } : {}),
    };
    const target = `AUTH_${job.account}/${job.container}/${clip.name}`;
    const details = {
      sha256: clip.sha256,
      verdict: verdict.verdict,
      ...(verdict.libraryVerdict ? { libraryVerdict: verdict.libraryVerdict } : {}),
      firstInvalidFrame: verdict.firstInvalidFrame,
      frames: verdict.frames,
      ...(verdict.signer ? { fingerprint: verdict.signer.publicKeyFingerprint } : {}),
      attestation: verdict.attestation.kind,
      ...(verdict.reason ? { reason: verdict.reason } : {}),
      ...(check.elsewhere ? { recordedBy: check.elsewhere.station ?? 'the sender', recordedVerdict: check.elsewhere.verdict, agrees: check.elsewhere.agrees } : {}),
    };
    // The audit line first: a crash before the index write checks the clip again (two lines), never none.
    await this.#o.audit?.append({ actor: 'system', source: 'video-check', action: 'video.verified', target, result: verdict.verdict, details });
    await this.#o.store.index.write(this.ledger.recordOps(job.account, job.container, check, earlier), true);
    const fields = { container: job.container, object: clip.name, ...details, ms: check.tookMs };
    if (verdict.verdict === 'tampered') this.#o.log.error(fields, 'video alarm: a clip fails its signed-video check (tampered)');
    else if (check.elsewhere && !check.elsewhere.agrees) this.#o.log.error(fields, 'video alarm: this station and the sender disagree about a clip');
    else this.#o.log.info(fields, 'video checked');
  }
}
