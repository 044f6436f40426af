/**
 * Recordings as the body-worn system stored them, read from the index: who,
 * which camera, when, how complete, what clips, track, key files and
 * bookmarks. Everything is derived from container and object entries (and
 * bookmark texts), so it is always exactly what is stored; sealed recordings
 * never change, so neither does their description.
 */
import type { ObjectEntry, ObjectStore } from '../store/object-store.ts';
import { decodeMetaValue, type MetaMap } from '../swift/metadata.ts';
import { DEVICES, USERS } from './content-destination.ts';
import { parseLocation, TrackError, type MetaLocation } from './gnss.ts';
import { parseTrackOffThread } from './track-parsing.ts';
import { isKeyFile, isTrack, pairKeyFiles } from './key-files.ts';
import { RecordingCatalogue } from './catalogue.ts';
import { loadRegistry } from './registry.ts';
import { isRejectedContentName, parseClipName, parseEpoch, parseRecordingName } from './names.ts';

export interface Bookmark {
  name: string;
  categoryId?: string;
  categoryName?: string;
  /** The Tags key:value pairs ("TriggerOn:Button;Shift:Night"). */
  tags: Record<string, string>;
  startTime?: string;
  endTime?: string;
  /** Where it was set (v1.6.11), parsed, or as sent when unreadable. */
  location?: MetaLocation | { unreadable: string };
  /** The free-text description (the object's body). */
  text: string;
}

export interface GnssTrack {
  name: string;
  /** Parsed as the spec's location file (CoordinateEntries of POINT(lon lat)). */
  valid: boolean;
  points: number;
  problem?: string;
  /** Ciphertext (the recording is end-to-end encrypted): checked after decryption. */
  encrypted?: boolean;
}

export interface KeyFile {
  name: string;
  /** JSON with an EncryptedKey: what a clerk needs to decrypt its clip. */
  valid: boolean;
  publicKeyId?: string;
  /** The clip or track it unlocks (by name, or by its StartTime); absent when it pairs with nothing. */
  unlocks?: string;
  problem?: string;
}

export interface RecordingSummary {
  name: string;
  kind: 'recording' | 'rejected';
  userId?: string;
  /** The registered user: "display Name (UserID)", as the spec recommends. */
  user?: { name?: string; userId?: string; active?: string };
  deviceSerial?: string;
  device?: { name?: string; model?: string; active?: string };
  triggerOn?: string;
  /** The recording's StartTime/StopTime metadata (pre- and post-buffer included), ISO. */
  startTime?: string;
  stopTime?: string;
  status: string;
  /** When the recording was sealed (its last container change, once Complete). */
  completedAt?: string;
  clips: number;
  clipBytes: number;
  objects: number;
  bytes: number;
  gnssTrack: boolean;
  /** Every GNSS track, checked; a malformed one is kept (evidence) and flagged here. */
  gnssTracks: GnssTrack[];
  keyFiles: number;
  keys: KeyFile[];
  bookmarks: Bookmark[];
  /** For rejected content: the recording it should have joined, and why it did not. */
  originalContainer?: string;
  originalExists?: boolean;
  rejectedAt?: string;
  rejectedReason?: string;
  /** For a recording: rejected-content containers that name it as their original. */
  rejected?: string[];
  /** object name → sha256 and size, the recording's evidence manifest. */
  manifest: Record<string, { sha256: string; bytes: number }>;
}

export interface RecordingFilter {
  /** The user's UUID, or the UserID (badge number) they were registered with. */
  user?: string;
  device?: string;
  /** Trigger time bounds, ms since the epoch (inclusive). */
  since?: number;
  until?: number;
  incomplete?: boolean;
  category?: string;
}

const text = (meta: MetaMap, key: string) => (meta[key] === undefined ? undefined : decodeMetaValue(meta[key]!));

export function parseTags(tags: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (tags ?? '').split(';')) {
    const cut = pair.indexOf(':');
    if (pair.trim() === '') continue;
    if (cut === -1) out[pair.trim()] = '';
    else out[pair.slice(0, cut).trim()] = pair.slice(cut + 1).trim();
  }
  return out;
}

/** A small object's bytes as UTF-8 text. */
export async function readText(store: ObjectStore, account: string, container: string, object: string): Promise<string> {
  const { body } = await store.readObject(account, container, object, () => undefined);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A GNSS track per the spec's location file format, read as the console and export read it (off the event loop). */
export async function checkGnssTrack(name: string, body: string): Promise<GnssTrack> {
  try {
    return { name, valid: true, points: (await parseTrackOffThread(body)).length };
  } catch (err) {
    return { name, valid: false, points: err instanceof TrackError ? err.entries : 0, problem: (err as Error).message };
  }
}

/** A key file: JSON carrying the wrapped content key. */
export function checkKeyFile(name: string, body: string): KeyFile {
  try {
    const doc = JSON.parse(body) as { EncryptedKey?: unknown; PublicKeyId?: unknown };
    if (typeof doc?.EncryptedKey !== 'string' || doc.EncryptedKey.length === 0) return { name, valid: false, problem: 'no EncryptedKey' };
    return { name, valid: true, publicKeyId: typeof doc.PublicKeyId === 'string' ? doc.PublicKeyId : undefined };
  } catch (err) {
    return { name, valid: false, problem: `not JSON: ${(err as Error).message}` };
  }
}

/** The user UUIDs a --user argument stands for: itself, or whoever has it as UserID. */
async function resolveUser(store: ObjectStore, account: string, user: string): Promise<Set<string>> {
  const ids = new Set([user]);
  for (const u of (await loadRegistry(store, account)).users.values()) if (u.userId === user) ids.add(u.id);
  return ids;
}

export async function describeRecording(store: ObjectStore, account: string, container: string): Promise<RecordingSummary> {
  const entry = await store.container(account, container);
  const name = parseRecordingName(container);
  const status = text(entry.meta, 'status') ?? (isRejectedContentName(container) ? 'Rejected' : 'Transferring');
  const summary: RecordingSummary = {
    name: container,
    kind: name ? 'recording' : 'rejected',
    status,
    clips: 0,
    clipBytes: 0,
    objects: 0,
    bytes: 0,
    gnssTrack: false,
    gnssTracks: [],
    keyFiles: 0,
    keys: [],
    bookmarks: [],
    manifest: {},
  };
  if (name) {
    summary.userId = name.userId;
    summary.deviceSerial = name.deviceSerial;
    if (name.triggerOn !== undefined) summary.triggerOn = new Date(name.triggerOn).toISOString();
    const user = await store.object(account, USERS, name.userId).catch(() => undefined);
    if (user) summary.user = { name: text(user.meta, 'name'), userId: text(user.meta, 'userid'), active: text(user.meta, 'active') };
    const device = await store.object(account, DEVICES, name.deviceSerial).catch(() => undefined);
    if (device) summary.device = { name: text(device.meta, 'name'), model: text(device.meta, 'model'), active: text(device.meta, 'active') };
  } else {
    summary.originalContainer = text(entry.meta, 'rejectedcontentoriginalcontainer');
    if (summary.originalContainer)
      summary.originalExists = await store.container(account, summary.originalContainer).then(
        () => true,
        () => false,
      );
    summary.rejectedAt = text(entry.meta, 'rejectedcontenttime');
    summary.rejectedReason = text(entry.meta, 'rejectedcontentreason');
  }
  const at = (key: string) => {
    const ms = entry.meta[key] === undefined ? undefined : parseEpoch(decodeMetaValue(entry.meta[key]!));
    return ms === undefined ? undefined : new Date(ms).toISOString();
  };
  summary.startTime = at('starttime');
  summary.stopTime = at('stoptime');
  if (status === 'Complete') summary.completedAt = new Date(Number(entry.timestamp) * 1000).toISOString();
  const objects: ObjectEntry[] = [];
  for await (const o of store.objects(account, container)) objects.push(o);
  const start = entry.meta.starttime === undefined ? name?.triggerOn : parseEpoch(decodeMetaValue(entry.meta.starttime));
  const { keyOf, unmatched } = pairKeyFiles(objects, start);
  const unlocks = new Map([...keyOf].map(([content, key]) => [key, content]));
  for (const o of objects) {
    summary.objects += 1;
    summary.bytes += o.bytes;
    summary.manifest[o.name] = { sha256: o.sha256, bytes: o.bytes };
    if (isKeyFile(o)) {
      summary.keyFiles += 1;
      const key = checkKeyFile(o.name, o.bytes <= 64 * 1024 ? await readText(store, account, container, o.name) : '');
      summary.keys.push({
        ...key,
        ...(unlocks.has(o.name) ? { unlocks: unlocks.get(o.name)! } : {}),
        ...(unmatched.includes(o.name) ? { problem: [key.problem, 'pairs with no clip or track (by name or StartTime): not guessed'].filter(Boolean).join('; ') } : {}),
      });
    } else if (parseClipName(o.name)) {
      summary.clips += 1;
      summary.clipBytes += o.bytes;
    } else if (isTrack(o.name)) {
      summary.gnssTrack = true;
      // An encrypted track is ciphertext: it can only be checked after decryption.
      if (keyOf.has(o.name)) summary.gnssTracks.push({ name: o.name, valid: true, points: 0, encrypted: true });
      else if (o.bytes > 4 * 1024 * 1024) summary.gnssTracks.push({ name: o.name, valid: false, points: 0, problem: 'larger than 4 MiB: not checked' });
      else summary.gnssTracks.push(await checkGnssTrack(o.name, await readText(store, account, container, o.name)));
    } else if (o.name.startsWith('bookmark_')) {
      const location = text(o.meta, 'location');
      summary.bookmarks.push({
        name: o.name,
        categoryId: text(o.meta, 'categoryid'),
        categoryName: text(o.meta, 'categoryname'),
        tags: parseTags(text(o.meta, 'tags')),
        startTime: text(o.meta, 'starttime'),
        endTime: text(o.meta, 'endtime'),
        ...(location !== undefined ? { location: parseLocation(location) ?? { unreadable: location } } : {}),
        text: o.bytes <= 64 * 1024 ? await readText(store, account, container, o.name) : '(longer than 64 KiB: download it)',
      });
    }
  }
  return summary;
}

/**
 * Recordings (and rejected content) matching the filter, oldest trigger
 * first. The catalogue names them (the console searches it too); each one
 * that passes the cheap tests on its name and entry is then described from
 * the index.
 */
export async function listRecordings(store: ObjectStore, account: string, filter: RecordingFilter): Promise<RecordingSummary[]> {
  const catalogue = RecordingCatalogue.of(store.index);
  // A station whose daemon has not run since the catalogue came in (this command opens it directly).
  await catalogue.ensureBuilt();
  const users = filter.user === undefined ? undefined : await resolveUser(store, account, filter.user);
  const out: RecordingSummary[] = [];
  const rejectedFor = new Map<string, string[]>(); // original container → rejected-content containers
  for await (const entry of catalogue.entries(account)) {
    const name = parseRecordingName(entry.container);
    if (entry.kind === 'rejected') {
      const meta = (await store.container(account, entry.container).catch(() => undefined))?.meta ?? {};
      const original = text(meta, 'rejectedcontentoriginalcontainer');
      if (original) rejectedFor.set(original, [...(rejectedFor.get(original) ?? []), entry.container]);
    }
    // Cheap tests on the name and catalogue entry first; objects only for survivors.
    if (users && (!name || !users.has(name.userId))) continue;
    if (filter.device !== undefined && name?.deviceSerial !== filter.device) continue;
    if (filter.since !== undefined && (name?.triggerOn ?? -Infinity) < filter.since) continue;
    if (filter.until !== undefined && (name?.triggerOn ?? Infinity) > filter.until) continue;
    if (filter.incomplete && name && entry.status === 'Complete') continue;
    const summary = await describeRecording(store, account, entry.container);
    if (filter.category !== undefined && !summary.bookmarks.some((b) => b.categoryId === filter.category)) continue;
    out.push(summary);
  }
  for (const r of out) if (r.kind === 'recording' && rejectedFor.has(r.name)) r.rejected = rejectedFor.get(r.name)!.sort();
  return out.sort((a, b) => (a.triggerOn ?? '').localeCompare(b.triggerOn ?? '') || a.name.localeCompare(b.name));
}
