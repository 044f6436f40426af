/**
 * The central office's side of the evidence: `pull` recordings with verified
 * hashes, `keys generate` the end-to-end encryption key pair, `decrypt` what
 * was encrypted for it, and `export gnss` a track for GIS tools.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseTrack, toGeoJson, toGpx, withTimes, type Waypoint } from '../bws/gnss.ts';
import { generateContentKeys } from '../evidence/content-keys.ts';
import { DECRYPTED, decryptEvidence } from '../evidence/decrypt.ts';
import { loadPrivateKeys } from '../evidence/private-keys.ts';
import { waypoints } from '../evidence/folder.ts';
import { pull, type PullSelection } from '../evidence/pull.ts';
import { OperatorError } from '../lib/errors.ts';
import { need, parseDay, UsageError, type Command } from './args.ts';
import { mb, out, transferBar } from './output.ts';

export const evidenceCommands: Record<string, Command> = {
  pull: {
    options: {
      from: { type: 'string' },
      user: { type: 'string' },
      key: { type: 'string' },
      cacert: { type: 'string' },
      to: { type: 'string' },
      recording: { type: 'string' },
      'user-id': { type: 'string' },
      device: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      all: { type: 'boolean' },
      'stall-seconds': { type: 'string' },
      'verify-video': { type: 'boolean' },
    },
    async run(v) {
      const selection: PullSelection = {};
      const stall = v['stall-seconds'] === undefined ? undefined : Number(v['stall-seconds']);
      if (stall !== undefined && !(stall > 0)) throw new UsageError('--stall-seconds: a number of seconds');
      if (typeof v.recording === 'string') selection.recording = v.recording;
      if (typeof v['user-id'] === 'string') selection.userId = v['user-id'];
      if (typeof v.device === 'string') selection.device = v.device;
      if (typeof v.since === 'string') selection.since = parseDay(v.since, 'since', false);
      if (typeof v.until === 'string') selection.until = parseDay(v.until, 'until', true);
      if (v.all === true) selection.all = true;
      if (Object.keys(selection).length === 0) throw new UsageError('choose what to pull: --recording NAME, --user-id ID, --device SERIAL, --since/--until DATE, or --all');
      const source = {
        authUrl: need(v, 'from'),
        user: need(v, 'user'),
        key: need(v, 'key'),
        ...(typeof v.cacert === 'string' ? { ca: await readFile(v.cacert, 'utf8') } : {}),
      };
      const to = resolve(need(v, 'to'));
      const started = Date.now();
      const bar = transferBar(started);
      const report = await pull(source, selection, to, {
        onProgress: (p) => bar(p.bytesDone, p.bytesTotal, `${p.objectsDone}/${p.objectsTotal} objects`),
        ...(stall ? { stallMs: stall * 1000 } : {}),
        ...(v['verify-video'] === true ? { verifyVideo: true, onVerifyProgress: (clip: string, done: number, size: number) => bar(done, size, `verifying ${clip}`) } : {}),
      });
      bar.done();
      for (const r of report.recordings) {
        out(
          `${r.failures.length ? 'FAILED' : 'ok    '} ${r.name}: ${r.objects - r.failures.length}/${r.objects} objects verified (${r.downloaded} fetched), ${mb(r.bytes)} → ${r.folder}`,
        );
        for (const f of r.failures) out(`         ${f.object}: ${f.reason}`);
        for (const n of r.notes) out(`         note: ${n}`);
      }
      out(`${report.recordings.length} recordings, ${mb(report.bytes)} in ${report.seconds.toFixed(1)} s; ${report.failed} objects failed verification or download`);
      return report.failed > 0 || report.recordings.length === 0 ? 1 : 0;
    },
  },
  keys: {
    options: { out: { type: 'string' }, id: { type: 'string' }, bits: { type: 'string' }, data: { type: 'string' } },
    positionals: true,
    async run(v, positionals) {
      if (positionals[0] !== 'generate' || positionals.length > 1) throw new UsageError('keys generate --out DIR [--id ID] [--bits 2048|3072|4096]');
      const folder = resolve(need(v, 'out'));
      const id = typeof v.id === 'string' ? v.id : `contentkey-${new Date().toISOString().slice(0, 10)}`;
      const bits = Number(typeof v.bits === 'string' ? v.bits : 3072);
      const keys = await generateContentKeys(folder, { id, bits, ...(typeof v.data === 'string' ? { dataDir: resolve(v.data) } : {}) });
      out(`private key (0600): ${keys.privateKeyFile}`);
      out(`public key:         ${keys.publicKeyFile}`);
      out('');
      out('To have the cameras encrypt for it, copy the PUBLIC key to the station and add to its configuration:');
      out(JSON.stringify({ connection: { wantEncryption: true, publicKeyFile: '/etc/edgecd/' + basename(keys.publicKeyFile), publicKeyId: keys.id } }, null, 2));
      out('then restart edgecd and upload the new connection.json in the Body Worn Manager. WantEncryption can never be turned off again.');
      out('');
      out(`WARNING: the private key decrypts every recording made for it. Keep it at the central office with the clerks (edgecd decrypt --private-key ${keys.id}=FILE),`);
      out('never on a field station, and keep a backup: without it, encrypted evidence cannot be read.');
      return 0;
    },
  },
  decrypt: {
    options: { 'private-key': { type: 'string', multiple: true }, 'key-id': { type: 'string' } },
    positionals: true,
    async run(v, positionals) {
      const specs = v['private-key'] as string[] | undefined;
      if (!specs?.length || positionals.length !== 1) throw new UsageError('decrypt --private-key [ID=]KEY.pem [--private-key …] [--key-id ID] FOLDER|FILE');
      const report = await decryptEvidence(resolve(positionals[0]!), await loadPrivateKeys(specs), typeof v['key-id'] === 'string' ? { keyId: v['key-id'] } : {});
      for (const d of report.decrypted) out(`decrypted ${basename(d.source)} → ${basename(d.output)} (sha256 ${d.outputSha256})`);
      for (const s of report.skipped) out(`skipped   ${basename(s.file)}: ${s.reason}`);
      for (const f of report.failed) out(`FAILED    ${basename(f.file)}: ${f.reason}`);
      out(`${report.decrypted.length} decrypted, ${report.skipped.length} skipped, ${report.failed.length} failed`);
      return report.failed.length > 0 ? 1 : 0;
    },
  },
  export: {
    options: { format: { type: 'string' }, out: { type: 'string' } },
    positionals: true,
    async run(v, positionals) {
      const [what, recording] = positionals;
      if (what !== 'gnss' || !recording || positionals.length !== 2) throw new UsageError('export gnss RECORDING_FOLDER|TRACK_FILE --format geojson|gpx [--out FILE]');
      const format = (v.format as string | undefined) ?? 'geojson';
      if (format !== 'geojson' && format !== 'gpx') throw new UsageError('--format: geojson or gpx');
      const text = await exportTrack(resolve(recording), format);
      if (typeof v.out === 'string') await writeFile(v.out, text);
      else out(text);
      return 0;
    },
  },
};

/** A pulled recording's (or a file's) GNSS track as GeoJSON or GPX. */
async function exportTrack(path: string, format: 'geojson' | 'gpx'): Promise<string> {
  const info = await stat(path);
  let trackFile = path;
  let recording = basename(path);
  let startMs: number | undefined;
  let places: Waypoint[] = [];
  if (info.isDirectory()) {
    const names = await readdir(path);
    const track = names.find((n) => n.endsWith('_gpstrail.json'));
    if (!track) throw new OperatorError(`${path} has no GNSS track (*_gpstrail.json)`);
    // A decrypted track (decrypt writes it into decrypted/) wins over its ciphertext.
    const decrypted = join(path, DECRYPTED, track);
    trackFile = (await stat(decrypted).then(
      (s) => s.isFile(),
      () => false,
    ))
      ? decrypted
      : join(path, track);
    const meta = await readFile(join(path, 'metadata.json'), 'utf8').then(
      (t) => JSON.parse(t) as { recording?: string; container?: Record<string, string>; objects?: { name: string; metadata: Record<string, string> }[] },
      () => undefined,
    );
    if (meta?.recording) recording = meta.recording;
    // Bookmarks that say where they were set become named waypoints.
    places = waypoints((meta?.objects ?? []).map((o) => ({ name: o.name, meta: o.metadata ?? {} })));
    const start = Number(meta?.container?.starttime);
    if (Number.isFinite(start) && start > 0) startMs = start > 1e11 ? start : start * 1000;
  }
  let points;
  try {
    points = withTimes(parseTrack(await readFile(trackFile, 'utf8')), startMs);
  } catch (err) {
    throw new OperatorError(
      `${trackFile}: ${(err as Error).message}${basename(dirname(trackFile)) === DECRYPTED ? '' : ' (if the recording is encrypted, run edgecd decrypt first)'}`,
    );
  }
  return format === 'gpx' ? toGpx(points, { recording }, places) : toGeoJson(points, { recording, source: basename(trackFile) }, places);
}
