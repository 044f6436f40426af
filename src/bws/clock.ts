/**
 * Whether this host's clock is known to be synchronised. A Raspberry Pi has
 * no real-time clock: until it syncs, "now" may be years off, so a recording
 * must not be refused for being "in the future". systemd-timesyncd marks a
 * sync with /run/systemd/timesync/synchronized; without that evidence the
 * clock counts as unsynchronised. (The NTP work will add chrony's view.)
 */
import { stat } from 'node:fs/promises';

const MARKER = '/run/systemd/timesync/synchronized';
let cached: { at: number; synced: boolean } | undefined;

export async function hostClockSynchronised(now = Date.now()): Promise<boolean> {
  if (cached && now - cached.at < 60_000) return cached.synced;
  const synced = await stat(MARKER).then(() => true, () => false);
  cached = { at: now, synced };
  return synced;
}
