/**
 * What a target is sent, decided as a body-worn system decides it: from the
 * central's System/Capabilities.json and its connection file's
 * FullStoreAndReadSupport. Everything counts as unsupported when the document
 * is missing, malformed, or its Etag is not the md5 of its bytes ("object
 * corrupt" to a BWS); a capability, once declared, stays declared (the spec's
 * promise), so a station remembers what it has seen.
 *
 * Clips, clip key files, Users, Devices and recording containers always go.
 * The rest waits ("held back") until the target declares what it needs.
 */
import { createHash } from 'node:crypto';
import { isTrack } from '../bws/key-files.ts';
import { DEVICES, isRejectedContentName, SYSTEM, USERS } from '../bws/names.ts';

/** The capabilities that decide what a station sends (a BWS reads ReadCategories too). */
export const GATING_CAPABILITIES = ['StoreBookmarks', 'StoreGNSSTrackRecording', 'StoreReadSystemID', 'StoreUserIDKey', 'StoreRejectedContent'] as const;
export type GatingCapability = (typeof GATING_CAPABILITIES)[number];

/** Every capability name the spec knows: what FullStoreAndReadSupport declares. */
const ALL_CAPABILITIES = [...GATING_CAPABILITIES, 'ReadCategories', 'StoreSignedVideo'] as const;

export type ObjectKind = 'clip' | 'key' | 'track' | 'track-key' | 'bookmark' | 'other' | 'system' | 'user' | 'device' | 'rejected-content';

/** The kinds `target check` reports on, with what each needs (the UserID key is metadata, not an object). */
export const KIND_PLAN: { kind: ObjectKind | 'user-id-key'; label: string; needs?: GatingCapability }[] = [
  { kind: 'clip', label: 'clips' },
  { kind: 'key', label: 'clip key files' },
  { kind: 'track', label: 'GNSS tracks', needs: 'StoreGNSSTrackRecording' },
  { kind: 'track-key', label: 'GNSS track key files', needs: 'StoreGNSSTrackRecording' },
  { kind: 'bookmark', label: 'bookmarks', needs: 'StoreBookmarks' },
  { kind: 'system', label: 'System/<SystemID>', needs: 'StoreReadSystemID' },
  { kind: 'user', label: 'Users/' },
  { kind: 'user-id-key', label: 'the UserID key of Users/ objects', needs: 'StoreUserIDKey' },
  { kind: 'device', label: 'Devices/' },
  { kind: 'rejected-content', label: 'rejected content', needs: 'StoreRejectedContent' },
];

/**
 * What an object in a recording (or registry) container is, by its name as
 * the spec gives it; `trackKeys` are the key files that pair with the
 * recording's GNSS track (bws/key-files.ts).
 */
export function objectKind(container: string, object: string, trackKeys: ReadonlySet<string> = new Set()): ObjectKind {
  if (container === SYSTEM) return 'system';
  if (container === USERS) return 'user';
  if (container === DEVICES) return 'device';
  if (object.startsWith('bookmark_')) return 'bookmark';
  if (isTrack(object)) return 'track';
  if (trackKeys.has(object)) return 'track-key';
  if (object.endsWith('.key')) return 'key';
  if (/\.(mkv|mp4)$/.test(object)) return 'clip';
  return 'other';
}

/** The capability an object of this kind needs at the target, if any. */
export function capabilityFor(kind: ObjectKind): GatingCapability | undefined {
  return KIND_PLAN.find((k) => k.kind === kind)?.needs;
}

/** The capability a whole container needs (rejected content), if any. */
export function containerCapability(container: string): GatingCapability | undefined {
  return isRejectedContentName(container) ? 'StoreRejectedContent' : undefined;
}

export interface ReadCapabilities {
  /** Capabilities declared to true in any group. */
  declared: Set<string>;
  /** Why nothing (or less) counts as declared, for the log and `target check`. */
  problem?: string;
}

/**
 * Reads Capabilities.json as a BWS does. `etag` is the answer's header; the
 * body must hash to it. Groups Read, Store and StoreAndRead are objects of
 * booleans; anything else makes the whole document count as missing.
 */
export function readCapabilities(status: number, body: Buffer, etag: string | undefined): ReadCapabilities {
  if (status === 404) return { declared: new Set(), problem: 'the target publishes no System/Capabilities.json' };
  if (status !== 200) return { declared: new Set(), problem: `System/Capabilities.json answered ${status}` };
  if (!etagMatches(body, etag)) return { declared: new Set(), problem: `System/Capabilities.json: object corrupt (Etag ${etag ?? 'missing'} is not the md5 of its bytes)` };
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return { declared: new Set(), problem: 'System/Capabilities.json is not JSON' };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { declared: new Set(), problem: 'System/Capabilities.json is not a JSON object' };
  const declared = new Set<string>();
  for (const group of ['Read', 'Store', 'StoreAndRead']) {
    const entries = (doc as Record<string, unknown>)[group];
    if (entries === undefined) continue;
    if (typeof entries !== 'object' || entries === null || Array.isArray(entries) || Object.values(entries).some((v) => typeof v !== 'boolean')) {
      return { declared: new Set(), problem: `System/Capabilities.json: ${group} is not an object of true/false` };
    }
    for (const [name, on] of Object.entries(entries)) if (on === true) declared.add(name);
  }
  return { declared };
}

/** A published document's Etag is the md5 of its bytes (a BWS says "object corrupt" otherwise). */
export function etagMatches(body: Buffer, etag: string | undefined): boolean {
  return etag?.replace(/^"(.*)"$/, '$1').toLowerCase() === createHash('md5').update(body).digest('hex');
}

/** What the target takes: its document's declarations, those seen before, or everything. */
export function effectiveCapabilities(read: Set<string>, rememberedBefore: Iterable<string>, fullStoreAndReadSupport: boolean): Set<string> {
  if (fullStoreAndReadSupport) return new Set(ALL_CAPABILITIES);
  return new Set([...read, ...rememberedBefore]);
}
