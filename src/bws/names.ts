/**
 * The names a BWS gives what it stores (spec: "File Upload API", "Rejected
 * content storage"). Pure parsing; the rules that use them are in
 * content-destination.ts.
 */
import { anchorContainerKeyId } from '../audit/anchors.ts';

export interface RecordingName {
  /** UUID of the user the camera was assigned to. */
  userId: string;
  deviceSerial: string;
  /** TriggerOnTime, whole seconds (ms since the epoch); undefined when not a real date. */
  triggerOn: number | undefined;
  /** `current`: …_YYYYMMDDTHHMMSSZ; `legacy`: …_YYYYMMDD_HHMMSS, as firmware before 10.11 named them. */
  form: 'current' | 'legacy';
}

/** What a container is to a body-worn system, by its name alone. */
export type ContainerClass = 'recording' | 'rejected' | 'registry' | 'station-records' | 'unrecognised';

export interface ClipName {
  /** StartTime in ms since the epoch. */
  start: number;
  recordingId: string;
  extension: 'mkv' | 'mp4';
}

/** ms → YYYYMMDDTHHMMSSZ, as the spec writes times in names (the inverse of parseCompactTime, to the second). */
export function formatCompactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '');
}

/** YYYYMMDDTHHMMSSZ → ms, or undefined unless it is a real UTC date and time. */
export function parseCompactTime(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  // Date.UTC rolls 2024-02-30 over into March: a real date survives the round trip.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  return ms;
}

/**
 * `<UserID>_<BWCSerialNumber>_<YYYYMMDDTHHMMSSZ>`, or as firmware before
 * 10.11 wrote it, `<UserID>_<BWCSerialNumber>_<YYYYMMDD>_<HHMMSS>` (UTC as
 * well): anything of either shape is a recording. The name is kept as sent.
 */
export function parseRecordingName(name: string): RecordingName | undefined {
  if (isRejectedContentName(name)) return undefined;
  const current = /^(.+)_([^_]+)_(\d{8}T\d{6}Z)$/.exec(name);
  if (current) return { userId: current[1]!, deviceSerial: current[2]!, triggerOn: parseCompactTime(current[3]!), form: 'current' };
  const legacy = /^(.+)_([^_]+)_(\d{8})_(\d{6})$/.exec(name);
  if (legacy) return { userId: legacy[1]!, deviceSerial: legacy[2]!, triggerOn: parseCompactTime(`${legacy[3]}T${legacy[4]}Z`), form: 'legacy' };
  return undefined;
}

export const USERS = 'Users';
export const DEVICES = 'Devices';
export const SYSTEM = 'System';
/** The registry containers a BWS keeps: users, cameras, its system id. */
export const REGISTRY_CONTAINERS: ReadonlySet<string> = new Set([USERS, DEVICES, SYSTEM]);
/** Where replicating stations put the tombstones of what their retention deleted (lifecycle/tombstones.ts). */
export const TOMBSTONE_CONTAINER = 'edgecd-tombstones';

/**
 * A container by its name: a recording (either form), rejected content, a
 * registry container, records replicating stations keep here, or a name this station does not recognise (a future
 * firmware's, a Swift client's). Unrecognised containers are kept, flagged,
 * and replicated as they are.
 */
export function classifyContainer(name: string): ContainerClass {
  if (REGISTRY_CONTAINERS.has(name)) return 'registry';
  if (isRejectedContentName(name)) return 'rejected';
  if (parseRecordingName(name)) return 'recording';
  // What replicating edgecd stations keep at a central: their audit anchors and tombstones.
  if (name === TOMBSTONE_CONTAINER || anchorContainerKeyId(name) !== undefined) return 'station-records';
  return 'unrecognised';
}

/** `RejectedContent_<YYYYMMDDTHHMMSSZ|UnknownTime>_<uuid>`. */
export function isRejectedContentName(name: string): boolean {
  return /^RejectedContent_(\d{8}T\d{6}Z|UnknownTime)_.+$/.test(name);
}

/**
 * `<StartTime>_<RecordingID>.<mkv|mp4>`, StartTime as YYYYMMDDTHHMMSSZ or, as
 * the spec's tree writes it, `<date>_<time>` (YYYYMMDD_HHMMSS).
 */
export function parseClipName(name: string): ClipName | undefined {
  const m = /^(\d{8}T\d{6}Z|\d{8}_\d{6})_([^_/]+)\.(mkv|mp4)$/.exec(name);
  if (!m) return undefined;
  const compact = m[1]!.includes('_') ? `${m[1]!.replace('_', 'T')}Z` : m[1]!;
  const start = parseCompactTime(compact);
  if (start === undefined) return undefined;
  return { start, recordingId: m[2]!, extension: m[3] as 'mkv' | 'mp4' };
}

/** An epoch time from metadata, in seconds or milliseconds (with or without a fraction) → ms. */
export function parseEpoch(text: string): number | undefined {
  if (!/^\d+(\.\d+)?$/.test(text.trim())) return undefined;
  const value = Number(text);
  return value > 1e11 ? value : value * 1000;
}
