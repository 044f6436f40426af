/**
 * What the host knows about its own clock: synchronised or not and, when
 * chrony runs, the upstream's stratum, id, root delay and dispersion. Read in
 * the background and cached; a reply never waits for it.
 *
 * Sources, best first: `chronyc -c tracking`; systemd-timesyncd's
 * /run/systemd/timesync/synchronized (synchronised, upstream unknown);
 * otherwise unsynchronised.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';

export interface ClockState {
  synchronised: boolean;
  /** Where the answer came from (status and metrics show it). */
  source: 'chrony' | 'timesyncd' | 'none' | 'injected';
  /**
   * This host's own stratum as its time daemon reports it (chrony: one more
   * than the server it follows). edgecd serves the same clock, so the same stratum.
   */
  hostStratum?: number;
  /** Leap second announced by the upstream: 1 insert, 2 delete. */
  leap?: 0 | 1 | 2;
  referenceId?: Buffer;
  /** Seconds. */
  rootDelay?: number;
  rootDispersion?: number;
  /** Unix ms of the upstream's last update. */
  lastSync?: number;
}

function chronyTracking(): Promise<ClockState | undefined> {
  return new Promise((resolve) => {
    execFile('chronyc', ['-c', 'tracking'], { timeout: 2000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      // RefID,Name,Stratum,RefTime,SysTime,LastOffset,RMS,Freq,ResidFreq,Skew,RootDelay,RootDispersion,UpdateInterval,Leap
      const f = stdout.trim().split(',');
      if (f.length < 14) return resolve(undefined);
      const synchronised = f[13] !== 'Not synchronised' && Number(f[2]) > 0 && Number(f[2]) < 16;
      resolve({
        synchronised,
        source: 'chrony',
        hostStratum: Number(f[2]),
        leap: f[13] === 'Insert second' ? 1 : f[13] === 'Delete second' ? 2 : 0,
        referenceId: Buffer.from(f[0]!.padStart(8, '0').slice(-8), 'hex'),
        rootDelay: Number(f[10]),
        rootDispersion: Number(f[11]),
        lastSync: Number(f[3]) * 1000,
      });
    });
  });
}

async function readClockState(): Promise<ClockState> {
  const chrony = await chronyTracking();
  if (chrony) return chrony;
  // timesyncd touches its marker at each sync: its mtime is the last sync.
  const marker = await stat('/run/systemd/timesync/synchronized').catch(() => undefined);
  return marker ? { synchronised: true, source: 'timesyncd', lastSync: marker.mtimeMs } : { synchronised: false, source: 'none' };
}

/** Keeps a cached ClockState fresh (every `everyMs`); `current()` never blocks. */
export class ClockWatcher {
  #state: ClockState = { synchronised: false, source: 'none' };
  #timer: NodeJS.Timeout | undefined;

  async start(everyMs = 16_000): Promise<void> {
    this.#state = await readClockState();
    this.#timer = setInterval(
      () =>
        void readClockState().then(
          (s) => (this.#state = s),
          () => undefined,
        ),
      everyMs,
    );
    this.#timer.unref();
  }

  current(): ClockState {
    return this.#state;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
