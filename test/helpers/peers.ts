/**
 * The third-party programs the suites talk to, and what to do without one.
 *
 * On a fresh machine a suite whose peer is missing is skipped with one line
 * that names the Debian package to install. Under EDGECD_REQUIRE_PEERS=1
 * (.ci/run sets it) a missing peer fails instead: CI always runs everything.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

interface Peer {
  found(): boolean;
  /** What to install: a Debian package, or the step that builds it. */
  from: string;
}

const onPath = (command: string) => () =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

const PEERS = {
  swift: { found: onPath('swift'), from: 'python3-swiftclient' },
  rclone: { found: onPath('rclone'), from: 'rclone' },
  chronyd: { found: onPath('chronyd'), from: 'chrony' },
  ntplib: { found: () => spawnSync('/usr/bin/python3', ['-c', 'import ntplib']).status === 0, from: 'python3-ntplib' },
  python3: { found: () => existsSync('/usr/bin/python3'), from: 'python3' },
  openssl: { found: onPath('openssl'), from: 'openssl' },
  curl: { found: onPath('curl'), from: 'curl' },
  ffmpeg: { found: () => onPath('ffmpeg')() && onPath('ffprobe')(), from: 'ffmpeg' },
  chromium: { found: () => existsSync('/usr/bin/chromium'), from: 'chromium fonts-dejavu-core' },
  'systemd-analyze': { found: () => existsSync('/usr/bin/systemd-analyze'), from: 'systemd' },
  promtool: { found: onPath('promtool'), from: 'prometheus' },
  lintian: { found: onPath('lintian'), from: 'lintian' },
  fincore: { found: onPath('fincore'), from: 'util-linux-extra' },
} satisfies Record<string, Peer>;

export type PeerName = keyof typeof PEERS;

/** Whether strict: set by .ci/run, where a skip for a missing peer is a failure. */
export const PEERS_REQUIRED = process.env.EDGECD_REQUIRE_PEERS === '1';

/** Why the peers cannot be used here (the packages to install for those missing), or undefined when all are here. */
export function missingPeers(...names: PeerName[]): string | undefined {
  const missing = names.filter((name) => !PEERS[name].found());
  if (missing.length === 0) return undefined;
  return `needs ${missing.join(', ')} (apt-get install ${[...new Set(missing.map((m) => PEERS[m].from))].join(' ')})`;
}

/** A skip reason naming the packages to install for the peers missing here, or false when all are here. */
export function needs(...names: PeerName[]): string | false {
  return skipOrFail(missingPeers(...names));
}

/**
 * A skip reason for something the suites build or find rather than install
 * (the Axis CD build, the shared signed-video corpus), or false; under
 * EDGECD_REQUIRE_PEERS=1 a reason fails the run.
 */
export function skipOrFail(reason: string | false | undefined): string | false {
  if (!reason) return false;
  if (PEERS_REQUIRED) throw new Error(`EDGECD_REQUIRE_PEERS=1, but a suite would skip: ${reason}`);
  return reason;
}
