/**
 * What the console's pages show, gathered from the store's index, the
 * catalogue and the replication ledger (no Hono here). Content objects are
 * read only for readers, and only small ones: bookmark notes and GNSS tracks.
 */
import type { AuditLine } from '../../audit/audit-format.ts';
import { RecordingCatalogue, type CatalogueEntry } from '../../bws/catalogue.ts';
import { pairKeyFiles } from '../../bws/key-files.ts';
import { parseClipName, parseEpoch } from '../../bws/names.ts';
import { parseTags, readText } from '../../bws/recordings.ts';
import { deviceLabel, loadRegistry, userLabel, type Registry } from '../../bws/registry.ts';
import { EdgeError } from '../../lib/errors.ts';
import { parseLocation, withTimes } from '../../bws/gnss.ts';
import { parseTrackOffThread } from '../../bws/track-parsing.ts';
import { ReplicationLedger } from '../../replication/ledger.ts';
import { replicaRecords, type ReplicaRecord } from '../../replication/replicas.ts';
import type { ObjectEntry, ObjectStore } from '../../store/object-store.ts';
import { KEY_TOP } from '../../store/index-keys.ts';
import { decodeMetaValue, type MetaMap } from '../../swift/metadata.ts';
import type { RecordingRow, RecordingSearch, RecordingsView } from './views/recordings.ts';
import type { BookmarkView, ClipVideoView, ClipView, CustodyLine, RecordingView, ReplicaView } from './views/recording.ts';
import { type ClipCheck, isVideoClip, VideoLedger, worse } from '../../authenticity/video-ledger.ts';
import { explainVerdict, HEADLINES } from '../../media/explain.ts';
import { HoldBook } from '../../lifecycle/holds.ts';
import { type KeepRules, retentionOf, retentionSubject } from '../../lifecycle/retention.ts';
import { stationDeleteAtOf, wholeRecording } from '../../lifecycle/station-delete-at.ts';
import type { Authenticity, VideoVerdict } from '../../media/verdict.ts';

export interface ReplicationTargetRef {
  name: string;
  enabled: boolean;
}

const PAGE_SIZE = 50;
const SMALL = 64 * 1024;
const TRACK_MAX = 4 * 1024 * 1024;
const CUSTODY_LINES = 200;

const text = (meta: MetaMap, key: string) => (meta[key] === undefined ? undefined : decodeMetaValue(meta[key]!).trim());
const epochOf = (meta: MetaMap, key: string) => {
  const value = text(meta, key);
  return value === undefined ? undefined : parseEpoch(value);
};

/** Day bounds of a yyyy-mm-dd form field, in UTC (times are shown in UTC too). */
export function formDay(value: string, end: boolean): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
  const ms = Date.parse(`${value}T00:00:00Z`);
  return Number.isNaN(ms) ? undefined : end ? ms + 86_400_000 - 1 : ms;
}

const lower = (s: string | undefined) => (s ?? '').toLowerCase();

export async function searchRecordings(
  store: ObjectStore,
  account: string,
  search: RecordingSearch,
  cursor: { before?: string; after?: string },
  targets: ReplicationTargetRef[],
): Promise<RecordingsView & { scanned: number }> {
  const catalogue = RecordingCatalogue.of(store.index);
  const registry = await loadRegistry(store, account);
  const problems: string[] = [];
  const checks: ((e: CatalogueEntry) => boolean)[] = [];

  if (search.user.trim() !== '') {
    const q = lower(search.user.trim());
    const ids = new Set([...registry.users.values()].filter((u) => u.id.toLowerCase() === q || lower(u.userId) === q || lower(u.name).includes(q)).map((u) => u.id));
    ids.add(search.user.trim()); // a UUID of a user no longer registered
    checks.push((e) => e.userId !== undefined && ids.has(e.userId));
  }
  if (search.device.trim() !== '') {
    const q = lower(search.device.trim());
    const serials = new Set([...registry.devices.values()].filter((d) => d.serial.toLowerCase() === q || lower(d.name).includes(q)).map((d) => d.serial));
    serials.add(search.device.trim());
    checks.push((e) => e.deviceSerial !== undefined && serials.has(e.deviceSerial));
  }
  if (search.status !== '') checks.push((e) => e.status === search.status);
  if (search.category !== '') {
    const holding = await catalogue.withCategory(account, search.category);
    checks.push((e) => holding.has(e.container));
  }
  const enabled = targets.filter((t) => t.enabled).map((t) => t.name);
  const held = await heldByAll(store, account, enabled);
  if (search.replicated !== '' && enabled.length > 0) {
    const want = search.replicated === 'yes';
    checks.push((e) => held.has(e.container) === want);
  }
  const since = search.from ? formDay(search.from, false) : undefined;
  const until = search.to ? formDay(search.to, true) : undefined;
  if (search.from && since === undefined) problems.push(`"${search.from}" is not a date`);
  if (search.to && until === undefined) problems.push(`"${search.to}" is not a date`);

  const result = await catalogue.query(account, {
    limit: PAGE_SIZE,
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...cursor,
    where: (e) => checks.every((check) => check(e)),
  });
  const unrecognised = await catalogue.unrecognisedContainers(20, account);
  const rows: RecordingRow[] = [];
  for (const e of result.entries) {
    const container = await store.container(account, e.container).catch(() => undefined);
    rows.push({
      container: e.container,
      kind: e.kind,
      at: e.at,
      user: e.kind === 'rejected' ? 'rejected content' : userLabel(registry, e.userId),
      device: deviceLabel(registry, e.deviceSerial),
      status: e.status,
      objects: container?.objectCount ?? 0,
      bytes: container?.bytesUsed ?? 0,
      replicated: enabled.length === 0 ? null : held.has(e.container),
    });
  }
  return {
    search,
    rows,
    categories: await catalogue.categories(account),
    replicationTargets: enabled.length,
    problems,
    unrecognised,
    scanned: result.scanned,
    ...(result.older ? { older: result.older } : {}),
    ...(result.newer ? { newer: result.newer } : {}),
  };
}

/** Recordings every one of `targets` confirmed Complete: one key scan per target. */
async function heldByAll(store: ObjectStore, account: string, targets: string[]): Promise<Set<string>> {
  if (targets.length === 0) return new Set();
  const ledger = ReplicationLedger.of(store.index);
  let held: Set<string> | undefined;
  for (const target of targets) {
    const prefix = ReplicationLedger.key(target, account, '');
    const mine = new Set<string>();
    for await (const key of ledger.complete.keys({ gte: prefix, lt: prefix + KEY_TOP })) {
      const container = key.slice(prefix.length);
      if (!held || held.has(container)) mine.add(container);
    }
    held = mine;
  }
  return held!;
}

/** Every object of a container, from the index, a page at a time. */
export async function allObjects(store: ObjectStore, account: string, container: string): Promise<ObjectEntry[]> {
  const objects: ObjectEntry[] = [];
  for await (const o of store.objects(account, container)) objects.push(o);
  return objects;
}

const CONTAINER_LABELS: Record<string, string> = {
  containername: 'Container name',
  userid: 'UserID',
  bwcserialnumber: 'Camera serial number',
  triggerontime: 'Trigger on',
  triggeron: 'Triggered by',
  triggeroff: 'Stopped by',
  starttime: 'Start (with pre-buffer)',
  stoptime: 'Stop',
  status: 'Status',
  rejectedcontentoriginalcontainer: 'Should have joined',
  rejectedcontenttime: 'Rejected at',
  rejectedcontentreason: 'Why rejected',
};

const TIME_KEYS = new Set(['triggerontime', 'starttime', 'stoptime', 'rejectedcontenttime']);

const VIDEO_TYPES: Record<string, string> = { mkv: 'video/x-matroska', mp4: 'video/mp4' };

/**
 * How the console may serve stored bytes: a clip (by its name, never by the
 * type its uploader declared) as video, to play in the page; anything else
 * as opaque bytes, to download. A stored type of text/html or text/javascript
 * would otherwise run as the console's own script.
 */
export function evidenceType(name: string): { type: string; inline: boolean } {
  const clip = parseClipName(name);
  return clip ? { type: VIDEO_TYPES[clip.extension]!, inline: true } : { type: 'application/octet-stream', inline: false };
}

/** An object's state on a target, as a clerk reads it. */
function objectStateWords(state: ReplicaRecord['objects'][number]): string {
  if (state.state === 'confirmed') {
    const level = { verified: 'verified', 'read-back': 'read back', acknowledged: 'acknowledged only' }[state.confirmation ?? 'verified'];
    return state.rejectedInto ? `${level}, as rejected content in ${state.rejectedInto}` : level + (state.withheld ? ` (without ${state.withheld.join(', ')})` : '');
  }
  if (state.state === 'held-back') return 'held back: the target does not take it yet';
  if (state.state === 'failed') return 'refused by the target';
  return 'sent, not yet confirmed';
}

export async function recordingView(
  store: ObjectStore,
  account: string,
  container: string,
  options: { canReadContent: boolean; retentionRules: KeepRules; targets: ReplicationTargetRef[]; custody: (prefix: string) => AsyncIterable<AuditLine> },
): Promise<RecordingView> {
  const entry = await store.container(account, container);
  const catalogued = await RecordingCatalogue.of(store.index).find(account, container, entry);
  if (!catalogued) throw new EdgeError('NotFound', `${container} is not a recording`);
  const registry: Registry = await loadRegistry(store, account);
  const objects = await allObjects(store, account, container);
  const read = (name: string) => readText(store, account, container, name);
  const { keyOf } = pairKeyFiles(objects, epochOf(entry.meta, 'starttime') ?? catalogued.at);

  const checks = await VideoLedger.of(store.index).recording(account, container);
  const clips: ClipView[] = objects
    .filter((o) => parseClipName(o.name) || isVideoClip(o.name))
    .map((o) => ({
      name: o.name,
      bytes: o.bytes,
      start: epochOf(o.meta, 'starttime'),
      stop: epochOf(o.meta, 'stoptime'),
      type: evidenceType(o.name).type,
      video: clipVideoView(checks.get(o.name), o.sha256),
    }))
    .sort((a, b) => (a.start ?? 0) - (b.start ?? 0) || a.name.localeCompare(b.name));
  const video = clips.reduce<Authenticity | 'pending' | undefined>((worst, c) => {
    if (worst === 'pending' || c.video === 'pending') return 'pending';
    return worse(worst, c.video.verdict);
  }, undefined);

  const bookmarks: BookmarkView[] = [];
  for (const o of objects.filter((o) => o.name.startsWith('bookmark_'))) {
    const at = text(o.meta, 'starttime');
    const end = text(o.meta, 'endtime');
    const location = text(o.meta, 'location');
    const parse = (t: string | undefined) => (t === undefined ? undefined : (parseEpoch(t) ?? (Number.isNaN(Date.parse(t)) ? undefined : Date.parse(t))));
    bookmarks.push({
      name: o.name,
      at: parse(at),
      end: parse(end),
      categoryId: text(o.meta, 'categoryid'),
      categoryName: text(o.meta, 'categoryname'),
      tags: parseTags(text(o.meta, 'tags')),
      ...(location !== undefined ? { location: parseLocation(location) ?? { unreadable: location } } : {}),
      // Bookmarks are never encrypted (only clips and tracks have key files).
      ...(options.canReadContent ? { text: o.bytes <= SMALL ? await read(o.name) : '(longer than 64 KiB: download it)' } : {}),
    });
  }
  bookmarks.sort((a, b) => (a.at ?? 0) - (b.at ?? 0));

  let track: RecordingView['track'];
  const trackObject = objects.find((o) => o.name.endsWith('_gpstrail.json'));
  if (trackObject) {
    track = { name: trackObject.name };
    if (!options.canReadContent) track.problem = 'shown to reader accounts only';
    else if (keyOf.has(trackObject.name)) track.problem = 'encrypted: decrypt it with edgecd decrypt, then edgecd export gnss';
    else if (trackObject.bytes > TRACK_MAX) track.problem = 'larger than 4 MiB: download it';
    else {
      try {
        track.points = withTimes(await parseTrackOffThread(await read(trackObject.name)), epochOf(entry.meta, 'starttime'));
      } catch (err) {
        track.problem = `not drawn: ${(err as Error).message}`;
      }
    }
  }

  let replication: ReplicaView[] | null = null;
  if (options.targets.length > 0) {
    const ledger = ReplicationLedger.of(store.index);
    replication = [];
    const records = await replicaRecords(
      ledger,
      options.targets.map((t) => t.name),
      account,
      container,
    );
    for (const [i, r] of records.entries()) {
      const view: ReplicaView = {
        target: r.target,
        enabled: options.targets[i]!.enabled,
        ...(r.complete ? { completeAt: Date.parse(r.complete.at), level: r.complete.confirmation } : {}),
        confirmed: {},
        sent: 0,
        failed: 0,
        heldBack: 0,
        rejected: 0,
        queued: false,
        objects: {},
      };
      for (const o of r.objects) {
        view.objects[o.name] = objectStateWords(o);
        if (o.state === 'confirmed') view.confirmed[o.confirmation ?? 'verified'] = (view.confirmed[o.confirmation ?? 'verified'] ?? 0) + 1;
        else if (o.state === 'held-back') view.heldBack += 1;
        else if (o.state === 'sent' || o.state === 'failed') view[o.state] += 1;
        if (o.rejectedInto) view.rejected += 1;
      }
      const prefix = ReplicationLedger.key(r.target, account, container, '');
      view.queued = (await ledger.queue.keys({ gte: prefix, lt: prefix + KEY_TOP, limit: 1 }).all()).length > 0;
      replication.push(view);
    }
  }

  const custody: CustodyLine[] = [];
  let custodyTotal = 0;
  for await (const line of options.custody(`AUTH_${account}/${container}`)) {
    custodyTotal += 1;
    custody.push({ at: line.time, actor: line.actor, role: line.role, action: line.action, target: line.target, result: line.result, source: line.source });
    if (custody.length > CUSTODY_LINES) custody.shift();
  }

  const metadata: [string, string][] = Object.keys(entry.meta)
    .sort()
    .map((key) => {
      const value = text(entry.meta, key) ?? '';
      const label = CONTAINER_LABELS[key] ?? key;
      const ms = TIME_KEYS.has(key) ? parseEpoch(value) : undefined;
      return [label, ms === undefined ? value : `${new Date(ms).toISOString()} (${value})`];
    });

  return {
    container,
    kind: catalogued.kind,
    status: catalogued.status,
    user: catalogued.kind === 'rejected' ? 'rejected content' : userLabel(registry, catalogued.userId),
    device: deviceLabel(registry, catalogued.deviceSerial),
    ...(catalogued.kind === 'recording' ? { triggerOn: catalogued.at } : {}),
    ...(catalogued.startTime !== undefined ? { startTime: catalogued.startTime } : {}),
    ...(catalogued.stopTime !== undefined ? { stopTime: catalogued.stopTime } : {}),
    ...(catalogued.status === 'Complete' ? { completedAt: new Date(Number(entry.timestamp) * 1000).toISOString() } : {}),
    metadata,
    clips,
    bookmarks,
    ...(track ? { track } : {}),
    objects: objects.map((o) => ({ name: o.name, bytes: o.bytes, sha256: o.sha256, md5: o.md5, contentType: o.contentType, lastModified: o.lastModified })),
    replication,
    custody: custody.reverse(),
    custodyTotal,
    canReadContent: options.canReadContent,
    ...(video ? { video } : {}),
    holds: (await HoldBook.of(store.index).holding(store, account, container)).map((h) => ({
      id: h.id,
      caseNumber: h.caseNumber,
      placedBy: h.placedBy,
      placedAt: h.placedAt,
      reason: h.reason,
    })),
    retention: retentionOf(
      retentionSubject(
        catalogued,
        [...new Set(bookmarks.map((b) => b.categoryId).filter((id): id is string => !!id))],
        wholeRecording(await stationDeleteAtOf(store.index, account, container), entry.objectCount),
      ),
      options.retentionRules,
    ),
  };
}

/**
 * The clip's frames as consecutive stretches by result, for the strip: the
 * library's reports may overlap (the legacy format's first report is the
 * first I-frame alone, its second the whole first GOP again), and frames no
 * signature covered yet (the end of a cut clip) are shown as pending.
 */
function gopStrip(v: VideoVerdict): ClipVideoView['gops'] {
  const strip: ClipVideoView['gops'] = [];
  let end = 0;
  for (const g of [...v.gops].sort((a, b) => a.firstFrame - b.firstFrame)) {
    const from = Math.max(g.firstFrame, end);
    const to = g.firstFrame + g.frames;
    if (to <= from) continue;
    if (from > end) strip.push({ firstFrame: end, frames: from - end, outcome: 'pending' });
    strip.push({ firstFrame: from, frames: to - from, outcome: g.outcome });
    end = to;
  }
  if (v.gops.length > 0 && end < v.frames) strip.push({ firstFrame: end, frames: v.frames - end, outcome: 'pending' });
  return strip;
}

/** A clip's check as the page shows it; 'pending' when there is none yet for these bytes. */
function clipVideoView(check: ClipCheck | undefined, sha256: string): ClipVideoView | 'pending' {
  if (!check || check.sha256 !== sha256) return 'pending';
  const v = check.verdict;
  return {
    verdict: v.verdict,
    headline: HEADLINES[v.verdict],
    facts: explainVerdict(v),
    gops: gopStrip(v),
    checkedAt: check.checkedAt,
    ...(check.elsewhere
      ? { sender: { ...(check.elsewhere.station ? { station: check.elsewhere.station } : {}), verdict: check.elsewhere.verdict, agrees: check.elsewhere.agrees } }
      : {}),
  };
}
