/**
 * Commands about what the body-worn systems see and send: the categories
 * published to them, the recordings they uploaded, and `simulate`, which acts
 * as one against a CD.
 */
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { adminGet } from '../admin/admin-client.ts';
import { paths } from '../admin/data-dir.ts';
import { Credentials } from '../auth/credentials.ts';
import { readCategories, setCategories } from '../bws/categories.ts';
import { listRecordings, type RecordingFilter, type RecordingSummary } from '../bws/recordings.ts';
import { type RecordingVideo, withVideoVerdicts } from '../authenticity/video-custody.ts';
import { VideoLedger } from '../authenticity/video-ledger.ts';
import { connectionOptions, simulate, type ConnectionFileForBws } from '../simulator/body-worn-system.ts';
import { need, parseDay, UsageError, type Command } from './args.ts';
import { out, say } from './output.ts';
import { viaDaemonOrDirect, withStore } from './via-daemon.ts';

/** curl's --connect-to HOST:PORT:HOST2:PORT2 (IPv4 or names). */
function parseConnectTo(text: string): { from: string; to: string } {
  const m = /^([^:]+:\d+):([^:]+:\d+)$/.exec(text);
  if (!m) throw new UsageError('--connect-to HOST:PORT:HOST2:PORT2, such as 10.0.2.15:443:127.0.0.1:8443');
  return { from: m[1]!.replace(/:443$/, ''), to: m[2]! };
}

function keyNaming(value: unknown): 'base' | 'spec' | 'reference' {
  if (value === 'base' || value === 'spec' || value === 'reference') return value;
  throw new UsageError('--key-names base|spec|reference');
}

export const bwsCommands: Record<string, Command> = {
  categories: {
    options: { data: { type: 'string' } },
    positionals: true,
    async run(v, positionals) {
      const dir = resolve(need(v, 'data'));
      const [action, file] = positionals;
      if (action === 'set' && file && positionals.length === 2) {
        const categories = await setCategories(dir, await readFile(file, 'utf8'));
        out(`${categories.length} categories published as System/Categories.json (BWSs read them once a day, or when the connection file is uploaded again)`);
        return 0;
      }
      if (action === 'show' && positionals.length === 1) {
        out(JSON.stringify(await readCategories(dir), null, 2));
        return 0;
      }
      throw new UsageError('use: categories set FILE --data DIR, or categories show --data DIR');
    },
  },
  recordings: {
    options: {
      data: { type: 'string' },
      user: { type: 'string' },
      device: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      incomplete: { type: 'boolean' },
      category: { type: 'string' },
    },
    async run(v) {
      const dir = resolve(need(v, 'data'));
      const filter: RecordingFilter = {};
      if (typeof v.user === 'string') filter.user = v.user;
      if (typeof v.device === 'string') filter.device = v.device;
      if (typeof v.since === 'string') filter.since = parseDay(v.since, 'since', false);
      if (typeof v.until === 'string') filter.until = parseDay(v.until, 'until', true);
      if (v.incomplete === true) filter.incomplete = true;
      if (typeof v.category === 'string') filter.category = v.category;
      const account = (await Credentials.load(paths(dir).credentials)).users[0]?.account ?? '';
      const query = `/recordings?account=${encodeURIComponent(account)}&filter=${encodeURIComponent(JSON.stringify(filter))}`;
      const recordings = await viaDaemonOrDirect(
        dir,
        (adminSocket) => adminGet<(RecordingSummary & { video?: RecordingVideo })[]>(adminSocket, query),
        () => withStore(dir, async (store) => withVideoVerdicts(VideoLedger.of(store.index), account, await listRecordings(store, account, filter))),
      );
      out(JSON.stringify({ count: recordings.length, recordings }, null, 2));
      return 0;
    },
  },
  simulate: {
    options: {
      connection: { type: 'string' },
      users: { type: 'string' },
      devices: { type: 'string' },
      recordings: { type: 'string' },
      clips: { type: 'string' },
      'clip-bytes': { type: 'string' },
      'clip-file': { type: 'string', multiple: true },
      concurrency: { type: 'string' },
      extras: { type: 'boolean' },
      'public-key': { type: 'string' },
      'public-key-id': { type: 'string' },
      'connect-to': { type: 'string' },
      'legacy-names': { type: 'boolean' },
      'key-names': { type: 'string' },
      'clip-locations': { type: 'boolean' },
    },
    async run(v) {
      const file = JSON.parse(await readFile(need(v, 'connection'), 'utf8')) as ConnectionFileForBws;
      const number = (name: string, fallback: number) => {
        const text = v[name];
        if (text === undefined) return fallback;
        if (typeof text !== 'string' || !/^\d+$/.test(text)) throw new UsageError(`--${name}: a whole number`);
        return Number(text);
      };
      const report = await simulate({
        // A BWS encrypts for the key its connection file gives, when it wants encryption; --public-key overrides.
        ...connectionOptions(file),
        users: number('users', 5),
        devices: number('devices', 3),
        recordings: number('recordings', 10),
        clipsPerRecording: number('clips', 3),
        clipBytes: number('clip-bytes', 1024 * 1024),
        ...(Array.isArray(v['clip-file']) ? { clipFiles: await Promise.all(v['clip-file'].map((f) => readFile(f))) } : {}),
        concurrency: number('concurrency', 2),
        extras: v.extras === true,
        legacyNames: v['legacy-names'] === true,
        clipLocations: v['clip-locations'] === true,
        ...(v['key-names'] !== undefined ? { keyNames: keyNaming(v['key-names']) } : {}),
        firstTrigger: new Date(Math.floor(Date.now() / 86_400_000 - 1) * 86_400_000),
        ...(typeof v['public-key'] === 'string'
          ? {
              encryption: {
                publicKey: createPublicKey(await readFile(v['public-key'], 'utf8')),
                publicKeyId: typeof v['public-key-id'] === 'string' ? v['public-key-id'] : 'simulator',
              },
            }
          : {}),
        progress: (line) => say(line),
        ...(typeof v['connect-to'] === 'string' ? { connectTo: parseConnectTo(v['connect-to']) } : {}),
      });
      out(JSON.stringify(report, null, 2));
      return report.stoppedOnFullDisk ? 1 : 0;
    },
  },
};
