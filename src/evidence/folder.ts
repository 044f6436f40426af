/**
 * The folder a recording leaves a CD as (`edgecd pull`, or the console's
 * download): the objects byte for byte, plus these documents.
 *
 * - metadata.json: container and object metadata, decoded
 * - manifest.sha256: one line per object, as `sha256sum -c` checks it (manifest.ts)
 * - custody.json: the source, who took it out and when, each object's hashes
 *   and what they were checked against, each clip's signed-video verdict (at
 *   the source, and again at the clerk's end with pull --verify-video), and
 *   the source's audit excerpt
 * - track.geojson: the GNSS track, when there is a readable, unencrypted one
 */
import { pairKeyFiles } from '../bws/key-files.ts';
import { parseEpoch } from '../bws/names.ts';
import { parseTags } from '../bws/recordings.ts';
import { decodeMetaValue } from '../swift/metadata.ts';
import type { ClipVideo } from '../authenticity/video-custody.ts';
import { VERSION } from '../lib/version.ts';
import { parseLocation, parseTrack, toGeoJson, withTimes, type Waypoint } from '../bws/gnss.ts';
import { formatManifest, MANIFEST } from './manifest.ts';

/** The names edgecd writes in an evidence folder itself (decrypt's outputs go into `decrypted/`): no pulled object may take one. */
export const FOLDER_DOCUMENTS = new Set(['metadata.json', MANIFEST, 'custody.json', 'track.geojson', 'decrypted']);

export interface FolderObject {
  name: string;
  /** Its file name in the folder (diskName of the object name). */
  file: string;
  bytes: number;
  md5: string;
  /** Computed from the bytes as they were taken out. */
  sha256: string;
  /** Recorded where it first arrived, when the source kept one. */
  sourceSha256?: string;
  contentType: string;
  lastModified: string;
  /** Object metadata as stored (encoded values), without the X-Object-Meta- prefix. */
  meta: Record<string, string>;
}

export interface FolderInput {
  container: string;
  containerMeta: Record<string, string>;
  objects: FolderObject[];
  failures: { object: string; reason: string }[];
  /** Where the recording came from (a URL, or the station and its console). */
  source: Record<string, unknown>;
  pulledBy: string;
  auditExcerpt: unknown[] | null;
  /** The head the source signed over the excerpt, and what was checked of it (or why it failed); null without one. */
  auditHead: unknown;
  /** Where the source replicated the recording, and how each copy was confirmed (an edgecd source), else null. */
  replicas: unknown[] | null;
  /** The GNSS track object's text, when there is one. */
  trackText?: string;
  /** Per clip, the signed-video verdict the source recorded, and the one taken at the clerk's end (pull --verify-video). */
  video?: { atSource: Record<string, ClipVideo>; atPull?: Record<string, ClipVideo> };
}

const decoded = (meta: Record<string, string>) => Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, decodeMetaValue(v)]));

/** The documents (name → text) and notes a clerk should read. */
export function folderDocuments(input: FolderInput): { files: Record<string, string>; notes: string[] } {
  const { container, containerMeta, objects } = input;
  const notes: string[] = [];
  const metadata = {
    recording: container,
    container: decoded(containerMeta),
    objects: objects.map((e) => ({
      name: e.name,
      file: e.file,
      bytes: e.bytes,
      contentType: e.contentType,
      lastModified: e.lastModified,
      metadata: decoded(e.meta),
      ...(e.name.startsWith('bookmark_') ? { bookmark: bookmarkOf(e) } : {}),
    })),
  };
  const custody = {
    tool: `edgecd ${VERSION}`,
    source: input.source,
    pulledBy: input.pulledBy,
    pulledAt: new Date().toISOString(),
    objects: objects.map((e) => ({
      name: e.name,
      file: e.file,
      bytes: e.bytes,
      md5: e.md5,
      sha256: e.sha256,
      // Recorded where it first arrived (a station); absent when the source never recorded one.
      sha256OnArrival: e.sourceSha256 ?? null,
      receivedBy: e.meta['edgecd-station'] ? decodeMetaValue(e.meta['edgecd-station']) : null,
      receivedAt: e.meta['edgecd-received'] ?? null,
      // The receiving station's public signing key: its anchored audit heads vouch for its history.
      receivedByKey: e.meta['edgecd-station-key'] ?? null,
      verified: e.sourceSha256 ? ['md5 (listing)', 'sha256 (recorded on arrival)'] : ['md5 (listing)'],
      ...videoOf(input, e.name),
    })),
    failures: input.failures,
    auditExcerpt: input.auditExcerpt,
    auditHead: input.auditHead,
    replication: input.replicas,
  };
  const files: Record<string, string> = {
    'metadata.json': JSON.stringify(metadata, null, 2) + '\n',
    [MANIFEST]: formatManifest(objects.map((e) => ({ name: e.file, sha256: e.sha256 }))),
    'custody.json': JSON.stringify(custody, null, 2) + '\n',
  };
  const track = objects.find((e) => e.name.endsWith('_gpstrail.json'));
  const start = containerMeta.starttime === undefined ? undefined : parseEpoch(decodeMetaValue(containerMeta.starttime));
  const encrypted = track !== undefined && pairKeyFiles(objects, start).keyOf.has(track.name);
  if (track && encrypted) notes.push(`${track.name} is encrypted: run edgecd decrypt, then edgecd export gnss`);
  if (track && !encrypted && input.trackText !== undefined) {
    try {
      const points = parseTrack(input.trackText);
      const start = Number(decodeMetaValue(containerMeta.starttime ?? ''));
      const timed = withTimes(points, Number.isFinite(start) && start > 0 ? (start > 1e11 ? start : start * 1000) : undefined);
      files['track.geojson'] = toGeoJson(timed, { recording: container, source: track.name }, waypoints(objects)) + '\n';
    } catch (err) {
      notes.push(`${track.name}: not converted to track.geojson: ${(err as Error).message}`);
    }
  }
  return { files, notes };
}

/** A clip's verdicts for custody.json: at the source, at this pull, and whether they agree. */
function videoOf(input: FolderInput, name: string): { video?: Record<string, unknown> } {
  const atSource = input.video?.atSource[name];
  const atPull = input.video?.atPull?.[name];
  if (!atSource && !atPull) return {};
  const agree = atSource && atPull ? atSource.verdict === atPull.verdict && atSource.signer?.publicKeyFingerprint === atPull.signer?.publicKeyFingerprint : undefined;
  return { video: { atSource: atSource ?? null, ...(atPull ? { atPull } : {}), ...(agree !== undefined ? { agree } : {}) } };
}

/** A bookmark as a clerk reads it: category, tags and, since v1.6.11, where it was set. */
function bookmarkOf(e: FolderObject): Record<string, unknown> {
  const meta = decoded(e.meta);
  const location = meta.location === undefined ? undefined : parseLocation(meta.location);
  return {
    categoryId: meta.categoryid,
    categoryName: meta.categoryname,
    tags: parseTags(meta.tags),
    ...(meta.location !== undefined ? { location: location ?? { unreadable: meta.location } } : {}),
  };
}

/** The bookmarks that say where they were set, as named places beside the track. */
export function waypoints(objects: Pick<FolderObject, 'name' | 'meta'>[]): Waypoint[] {
  const out: Waypoint[] = [];
  for (const o of objects) {
    if (!o.name.startsWith('bookmark_') || o.meta.location === undefined) continue;
    const place = parseLocation(decodeMetaValue(o.meta.location));
    const meta = decoded(o.meta);
    if (place) out.push({ ...place, name: meta.categoryname ? `${o.name} (${meta.categoryname})` : o.name });
  }
  return out;
}
