/**
 * What each command says for itself: its usage lines, what it does, and
 * examples. `edgecd help` lists them all, `edgecd COMMAND --help` shows one.
 * Kept apart from the command modules so that help loads none of them (no
 * daemon stack, no database); a test checks both name the same options.
 */
import { VERSION } from '../lib/version.ts';

export interface CommandHelp {
  /** Usage lines, each after `edgecd `. */
  usage: string[];
  /** What the command does, in a sentence or two. */
  about: string;
  examples: string[];
}

export const EXIT_CODES = `exit codes: 0 done · 1 failed (the reason is on stderr) · 2 usage error
           verify-video: 1 any clip tampered, 3 any unsigned, incomplete, unsupported or encrypted`;

export const COMMAND_HELP: Record<string, CommandHelp> = {
  init: {
    usage: [
      'init --data DIR [--user NAME] [--key KEY] [--site NAME] [--url URL ...] [--config FILE]',
      '     [--https [--ip IP ...] [--hostname NAME ...] | --https --cert FILE --cert-key FILE]',
    ],
    about:
      'Create DIR, credentials (generated unless given) and DIR/connection.json. --site and --url are saved in the config file; --https makes a self-signed certificate per address (--ip, --hostname), or takes your own (--cert, --cert-key), and pins it in the connection file.',
    examples: ['edgecd init --data /var/lib/edgecd --https --hostname station1.example.org', 'edgecd init --data ./var --user bws --key s3cret --url http://192.0.2.10:8080'],
  },
  serve: {
    usage: ['serve --data DIR --listen HOST:PORT [--ntp-listen HOST:PORT|off] [--config FILE] [--plain-http]'],
    about:
      'Serve the Swift API (HTTPS unless --plain-http), the console and NTP until SIGTERM. Initialises DIR on first start. On a terminal it prints where to connect, and logs readably; otherwise it logs JSON lines.',
    examples: ['edgecd serve --data /var/lib/edgecd --listen 0.0.0.0:443', 'edgecd serve --data ./var --listen 127.0.0.1:8080 --plain-http --ntp-listen off'],
  },
  cert: {
    usage: ['cert show|renew --data DIR [--config FILE] [--json]'],
    about: 'Show the HTTPS certificates and when they expire, or renew them (renew rewrites the connection file with the new pin).',
    examples: ['edgecd cert show --data /var/lib/edgecd', 'edgecd cert renew --data /var/lib/edgecd'],
  },
  user: {
    usage: [
      'user add NAME --role uploader|reader|replicator|admin|custodian [--key KEY] [--account A] --data DIR [--config FILE]',
      'user list [--json] --data DIR',
      'user passwd NAME [--key KEY] | user disable NAME | user enable NAME --data DIR',
    ],
    about: 'Manage the Swift users (works while the daemon runs). A key is generated and shown once unless --key gives one.',
    examples: [
      'edgecd user add alice --role admin --data /var/lib/edgecd',
      'edgecd user add central --role replicator --key s3cret --data ./var',
      'edgecd user list --json --data ./var',
    ],
  },
  hold: {
    usage: [
      'hold add (--recording NAME | [--user-id UUID] [--device SERIAL] [--since DATE] [--until DATE] [--category ID])',
      '         --case CASE --reason TEXT --as CUSTODIAN [--key KEY] --data DIR',
      'hold list [--all] [--json] --data DIR',
      'hold release ID --reason TEXT --as CUSTODIAN [--key KEY] --data DIR',
    ],
    about: 'Legal holds: a held recording is never deleted or evicted. Placed and released by a custodian (EDGECD_KEY may hold the key).',
    examples: ['edgecd hold add --recording 20261204_101500_ABCD --case 2026-117 --reason "court order" --as carol --data ./var', 'edgecd hold list --json --data ./var'],
  },
  retention: {
    usage: ['retention plan [--days N] [--json] --data DIR [--config FILE]', 'retention run --data DIR', 'retention summary --data DIR'],
    about:
      'plan: what retention.keep lets go within N days (0: now), and what a hold, an unfinished recording or replication keeps. run: delete what is due now (the daemon runs it on retention.delete.schedule), and print what it did as JSON. summary: the past week and the next, as JSON.',
    examples: ['edgecd retention plan --days 7 --data ./var', 'edgecd retention run --data ./var'],
  },
  deleted: {
    usage: ['deleted [--json] --data DIR'],
    about: 'What retention deleted: the tombstones, kept for ever.',
    examples: ['edgecd deleted --json --data /var/lib/edgecd'],
  },
  restore: {
    usage: ['restore NAME --case CASE --reason TEXT --as CUSTODIAN [--key KEY] --data DIR'],
    about: 'Bring a deleted recording back from the trash within its grace period, under a new hold (the daemon stopped).',
    examples: ['edgecd restore 20261204_101500_ABCD --case 2026-117 --reason "appeal" --as carol --data /var/lib/edgecd'],
  },
  audit: {
    usage: [
      'audit verify [--json] --data DIR',
      'audit verify --data DIR --against AUTH_URL --user U --key K [--cacert FILE] [--key-id ID]',
      'audit show --recording NAME [--account A] --data DIR',
    ],
    about:
      "Check the audit trail's hash chain (and, with --against, the signed heads a central holds), or show a recording's chain of custody (its audit lines, one JSON object a line).",
    examples: ['edgecd audit verify --data /var/lib/edgecd', 'edgecd audit show --recording 20261204_101500_ABCD --data /var/lib/edgecd'],
  },
  pull: {
    usage: [
      'pull --from AUTH_URL --user U --key K [--cacert FILE] [--stall-seconds N] [--verify-video] --to DIR',
      '     (--recording NAME | --user-id ID | --device SERIAL | --since DATE --until DATE | --all)',
    ],
    about:
      "Download recordings with verified hashes: objects, metadata.json, manifest.sha256 and custody.json. --verify-video checks each clip's signed video again here and records both verdicts.",
    examples: ['edgecd pull --from https://central.example.org/auth/v1.0 --user clerk --key K --to ./case-117 --recording 20261204_101500_ABCD'],
  },
  keys: {
    usage: ['keys generate --out DIR [--id ID] [--bits 2048|3072|4096] [--data DIR]'],
    about:
      'An RSA key pair for end-to-end encryption (WantEncryption). The private key (0600) is for the central office and is never written into a data directory (--data names one --out must stay out of, when it is not found above --out).',
    examples: ['edgecd keys generate --out ./keys --id agency-2026'],
  },
  decrypt: {
    usage: ['decrypt --private-key [ID=]KEY.pem ... [--key-id ID] FOLDER|FILE'],
    about: "Decrypt end-to-end encrypted clips and tracks into the folder's decrypted/.",
    examples: ['edgecd decrypt --private-key ./keys/agency-2026.pem ./case-117'],
  },
  export: {
    usage: ['export gnss FOLDER|TRACK --format geojson|gpx [--out FILE]'],
    about: "A recording's GNSS track for GIS tools.",
    examples: ['edgecd export gnss ./case-117/20261204_101500_ABCD --format gpx --out track.gpx'],
  },
  'verify-video': {
    usage: ['verify-video FILE... [--json]'],
    about: 'Check Axis signed video in MP4/MKV/Annex B clips.',
    examples: ['edgecd verify-video ./case-117/*/*.mkv', 'edgecd verify-video clip.mp4 --json'],
  },
  'connection-file': {
    usage: ['connection-file --data DIR', 'connection-file --check FILE'],
    about: 'Print the connection file for the Body Worn Manager, or validate one and explain every violation.',
    examples: ['edgecd connection-file --data /var/lib/edgecd > connection.json', 'edgecd connection-file --check connection.json'],
  },
  categories: {
    usage: ['categories set FILE --data DIR', 'categories show --data DIR'],
    about: 'Publish the categories in FILE (a JSON list of {"Name", "Id"}), or print the published ones (JSON).',
    examples: ['edgecd categories set categories.json --data /var/lib/edgecd'],
  },
  recordings: {
    usage: ['recordings --data DIR [--user ID] [--device SERIAL] [--since DATE] [--until DATE] [--incomplete] [--category ID]'],
    about: 'Recordings from the index (user by UUID or UserID), with clips, track, bookmarks and manifest, as JSON.',
    examples: ['edgecd recordings --data /var/lib/edgecd --since 2026-12-01', 'edgecd recordings --data ./var --incomplete'],
  },
  simulate: {
    usage: [
      'simulate --connection FILE [--users N] [--devices N] [--recordings N] [--clips N] [--clip-bytes N] [--clip-file F ...]',
      '         [--concurrency N] [--extras] [--public-key PEM [--public-key-id ID]] [--connect-to HOST:PORT:HOST2:PORT2]',
      '         [--legacy-names] [--key-names base|spec|reference] [--clip-locations]',
    ],
    about: 'Act as a body-worn system against the CD in FILE, and print what it answered.',
    examples: ['edgecd simulate --connection ./var/connection.json --recordings 3 --clips 2'],
  },
  status: {
    usage: ['status --data DIR'],
    about: 'Totals, space, load, replication and health, as JSON (through the daemon when it runs).',
    examples: ['edgecd status --data /var/lib/edgecd'],
  },
  replicate: {
    usage: ['replicate --now --data DIR [--target NAME] [--retry-failed] [--config FILE]'],
    about: 'One replication pass now (through the daemon when it runs), with progress. --retry-failed also retries what a target refused.',
    examples: ['edgecd replicate --now --data /var/lib/edgecd'],
  },
  replication: {
    usage: ['replication status [--json] --data DIR [--config FILE]'],
    about: 'Backlog, alarms, capabilities, confirmation and last pass per target.',
    examples: ['edgecd replication status --data /var/lib/edgecd --json'],
  },
  target: {
    usage: ['target check --connection-file FILE [--reader-user U --reader-key K] [--json]'],
    about: 'Read-only preflight of a central CD from its connection file: what replication will send or hold back, and how it confirms. Exit 1 when it cannot be used.',
    examples: ['edgecd target check --connection-file central-connection.json'],
  },
  reindex: {
    usage: ['reindex --data DIR [--verify]'],
    about: 'Rebuild the index from the disk (the daemon stopped); --verify also re-hashes every object.',
    examples: ['edgecd reindex --data /var/lib/edgecd --verify'],
  },
  appliance: {
    usage: ['appliance first-boot [--root DIR] [--boot DIR]'],
    about: "An appliance image's first boot: disks, name, keys, connection.json (run by systemd).",
    examples: ['edgecd appliance first-boot'],
  },
};

/** `edgecd help`: every command's usage and what it does. */
export function overview(): string {
  const lines = [
    `edgecd ${VERSION} — content destination for body-worn camera systems`,
    '',
    'usage: edgecd <command> [options]      edgecd <command> --help      edgecd --version',
    '',
  ];
  for (const help of Object.values(COMMAND_HELP)) {
    lines.push(...help.usage.map((u) => `  ${u}`));
    lines.push(...wrap(help.about, 92).map((l) => `        ${l}`));
  }
  lines.push('', EXIT_CODES, '');
  return lines.join('\n');
}

/** `edgecd COMMAND --help`. */
export function commandHelp(name: string): string {
  const help = COMMAND_HELP[name]!;
  return ['usage:', ...help.usage.map((u) => `  edgecd ${u}`), '', ...wrap(help.about, 96), '', 'examples:', ...help.examples.map((e) => `  ${e}`), '', EXIT_CODES, ''].join('\n');
}

/** The candidate closest to `word` by edit distance, if it is close enough to be a likely typo. */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}
