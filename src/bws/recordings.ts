/**
 * Recordings as the body-worn system stored them, read from the index: who,
 * which camera, when, how complete, what clips, track, key files and
 * bookmarks. Everything is derived from container and object entries (and
 * bookmark texts), so it is always exactly what is stored; sealed recordings
 * never change, so neither does their description.
 */
import type { ObjectStore } from '../store/object-store.ts';
import { decodeMetaValue, type MetaMap } from '../swift/metadata.ts';
import { USERS } from './content-destination.ts';
import { isRejectedContentName, parseClipName, parseRecordingName } from './names.ts';

export interface Bookmark {
  name: string;
  categoryId?: string;
  categoryName?: string;
  /** The Tags key:value pairs ("TriggerOn:Button;Shift:Night"). */
  tags: Record<string, string>;
  startTime?: string;
  endTime?: string;
  /** The free-text description (the object's body). */
  text: string;
}

export interface RecordingSummary {
  name: string;
  kind: 'recording' | 'rejected';
  userId?: string;
  deviceSerial?: string;
  triggerOn?: string;
  status: string;
  /** When the recording was sealed (its last container change, once Complete). */
  completedAt?: string;
  clips: number;
  clipBytes: number;
  objects: number;
  bytes: number;
  gnssTrack: boolean;
  keyFiles: number;
  bookmarks: Bookmark[];
  /** For rejected content: the recording it should have joined. */
  originalContainer?: string;
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
const PAGE = 1000;

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

async function readText(store: ObjectStore, account: string, container: string, object: string): Promise<string> {
  const { body } = await store.readObject(account, container, object, () => undefined);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The user UUIDs a --user argument stands for: itself, or whoever has it as UserID. */
async function resolveUser(store: ObjectStore, account: string, user: string): Promise<Set<string>> {
  const ids = new Set([user]);
  let marker = '';
  for (;;) {
    const page = await store.listObjects(account, USERS, { prefix: '', marker, endMarker: '', delimiter: '', limit: PAGE }).catch(() => []);
    for (const e of page) {
      if ('subdir' in e) continue;
      if (text(e.meta, 'userid')?.trim() === user) ids.add(e.name);
      marker = e.name;
    }
    if (page.length < PAGE) return ids;
  }
}

export async function describeRecording(store: ObjectStore, account: string, container: string): Promise<RecordingSummary> {
  const entry = await store.container(account, container);
  const name = parseRecordingName(container);
  const status = text(entry.meta, 'status') ?? (isRejectedContentName(container) ? 'Rejected' : 'Transferring');
  const summary: RecordingSummary = {
    name: container,
    kind: name ? 'recording' : 'rejected',
    status,
    clips: 0, clipBytes: 0, objects: 0, bytes: 0, gnssTrack: false, keyFiles: 0, bookmarks: [], manifest: {},
  };
  if (name) {
    summary.userId = name.userId;
    summary.deviceSerial = name.deviceSerial;
    if (name.triggerOn !== undefined) summary.triggerOn = new Date(name.triggerOn).toISOString();
  } else {
    summary.originalContainer = text(entry.meta, 'rejectedcontentoriginalcontainer');
  }
  if (status === 'Complete') summary.completedAt = new Date(Number(entry.timestamp) * 1000).toISOString();
  let marker = '';
  for (;;) {
    const page = await store.listObjects(account, container, { prefix: '', marker, endMarker: '', delimiter: '', limit: PAGE });
    for (const o of page) {
      if ('subdir' in o) continue;
      marker = o.name;
      summary.objects += 1;
      summary.bytes += o.bytes;
      summary.manifest[o.name] = { sha256: o.sha256, bytes: o.bytes };
      if (parseClipName(o.name)) {
        summary.clips += 1;
        summary.clipBytes += o.bytes;
      } else if (o.name.endsWith('.key')) summary.keyFiles += 1;
      else if (o.name.endsWith('_gpstrail.json')) summary.gnssTrack = true;
      else if (o.name.startsWith('bookmark_')) {
        summary.bookmarks.push({
          name: o.name,
          categoryId: text(o.meta, 'categoryid'),
          categoryName: text(o.meta, 'categoryname'),
          tags: parseTags(text(o.meta, 'tags')),
          startTime: text(o.meta, 'starttime'),
          endTime: text(o.meta, 'endtime'),
          text: o.bytes <= 64 * 1024 ? await readText(store, account, container, o.name) : '(longer than 64 KiB: download it)',
        });
      }
    }
    if (page.length < PAGE) return summary;
  }
}

/** Recordings (and rejected content) matching the filter, oldest trigger first. */
export async function listRecordings(store: ObjectStore, account: string, filter: RecordingFilter): Promise<RecordingSummary[]> {
  const users = filter.user === undefined ? undefined : await resolveUser(store, account, filter.user);
  const out: RecordingSummary[] = [];
  let marker = '';
  for (;;) {
    const page = await store.listContainers(account, { prefix: '', marker, endMarker: '', delimiter: '', limit: PAGE });
    for (const c of page) {
      if ('subdir' in c) continue;
      marker = c.name;
      const name = parseRecordingName(c.name);
      if (!name && !isRejectedContentName(c.name)) continue;
      // Cheap tests on the name and container entry first; objects only for survivors.
      if (users && (!name || !users.has(name.userId))) continue;
      if (filter.device !== undefined && name?.deviceSerial !== filter.device) continue;
      if (filter.since !== undefined && (name?.triggerOn ?? -Infinity) < filter.since) continue;
      if (filter.until !== undefined && (name?.triggerOn ?? Infinity) > filter.until) continue;
      if (filter.incomplete && name && text(c.meta, 'status') === 'Complete') continue;
      const summary = await describeRecording(store, account, c.name);
      if (filter.category !== undefined && !summary.bookmarks.some((b) => b.categoryId === filter.category)) continue;
      out.push(summary);
    }
    if (page.length < PAGE) break;
  }
  return out.sort((a, b) => (a.triggerOn ?? '').localeCompare(b.triggerOn ?? '') || a.name.localeCompare(b.name));
}
