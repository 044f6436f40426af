/**
 * GNSS tracks uploaded with a recording (the spec's "Location file format",
 * object `<date>_<time>_<id>_<bwcid>_gpstrail.json`), and their export as
 * GeoJSON (RFC 7946) and GPX 1.1 for investigators' mapping tools.
 *
 *   {"CoordinateEntries": [{"LocationWKT": "POINT(13.221184 55.718409)",
 *                           "SecondsFromStart": 64.0, "Timestamp": "2022-08-23T11:48:10Z"}]}
 *
 * WKT is POINT(x y) with x = longitude, y = latitude. SecondsFromStart counts
 * from the recording's StartTime (which includes any pre-buffer, so it is not
 * TriggerOnTime).
 */

export interface TrackPoint {
  lon: number;
  lat: number;
  secondsFromStart?: number;
  /** ISO 8601, UTC ("Z"). */
  time?: string;
}

const NUM = String.raw`[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?`;
// The spec's prose writes "Point(x, y)" while its example (and WKT itself) uses
// "POINT(x y)": accept either separator rather than reject a camera's track over it.
const POINT_WKT = new RegExp(String.raw`^\s*POINT\s*\(\s*(${NUM})(?:\s*,\s*|\s+)(${NUM})\s*\)\s*$`, 'i');
// RFC 3339 date-time (offset mandatory; "T"/"Z" case-insensitive as §5.6 allows).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** The largest location file edgecd takes (a day of fixes every second is about 10 MiB). */
export const MAX_TRACK_BYTES = 16 * 1024 * 1024;
/** How deep a location file may nest: the format needs 3 ({"CoordinateEntries": [{…}]}); the rest is room for extensions. */
export const MAX_TRACK_DEPTH = 16;

/** Why a location file is not a track, and how many CoordinateEntries it has (0 if it has no readable list). */
export class TrackError extends Error {
  readonly entries: number;
  constructor(message: string, entries = 0) {
    super(message);
    this.name = 'TrackError';
    this.entries = entries;
  }
}

/**
 * Parses the spec's location file; throws a TrackError naming the first bad
 * entry (index and why). Nesting is bounded before JSON.parse sees the text:
 * a deeply nested file costs a parser seconds, a linear scan milliseconds.
 */
export function parseTrack(json: string): TrackPoint[] {
  if (deeperThan(json, MAX_TRACK_DEPTH)) throw new TrackError(`location file nests deeper than ${MAX_TRACK_DEPTH} levels`);
  let doc: unknown;
  try {
    doc = JSON.parse(json.replace(/^\uFEFF/, '')); // tolerate a UTF-8 BOM
  } catch (err) {
    throw new TrackError(`location file is not JSON: ${(err as Error).message}`);
  }
  const entries = isObject(doc) ? doc.CoordinateEntries : undefined;
  if (!Array.isArray(entries)) throw new TrackError('location file has no CoordinateEntries list');
  try {
    return entries.map(trackPoint);
  } catch (err) {
    throw new TrackError((err as Error).message, entries.length);
  }
}

/** One CoordinateEntries item; points keep file order: the export shows what the camera recorded, not a re-sorted version. */
function trackPoint(entry: unknown, i: number): TrackPoint {
  const where = `CoordinateEntries[${i}]`;
  if (!isObject(entry)) throw new Error(`${where}: not an object`);
  const wkt = entry.LocationWKT;
  if (typeof wkt !== 'string') throw new Error(`${where}: LocationWKT missing or not a string`);
  const m = POINT_WKT.exec(wkt);
  if (!m) throw new Error(`${where}: LocationWKT ${JSON.stringify(wkt)} is not POINT(lon lat)`);
  const lon = Number(m[1]);
  const lat = Number(m[2]);
  if (!(lon >= -180 && lon <= 180)) throw new Error(`${where}: longitude ${lon} outside [-180, 180]`);
  if (!(lat >= -90 && lat <= 90)) throw new Error(`${where}: latitude ${lat} outside [-90, 90] (is the WKT lat lon instead of lon lat?)`);
  const point: TrackPoint = { lon, lat };

  const seconds = entry.SecondsFromStart;
  if (seconds !== undefined && seconds !== null) {
    if (typeof seconds !== 'number' || !Number.isFinite(seconds)) throw new Error(`${where}: SecondsFromStart ${JSON.stringify(seconds)} is not a number`);
    point.secondsFromStart = seconds;
  }

  const stamp = entry.Timestamp;
  if (stamp !== undefined && stamp !== null && stamp !== '') {
    const ms = timestampMs(stamp);
    if (ms === undefined) throw new Error(`${where}: Timestamp ${JSON.stringify(stamp)} is neither RFC 3339 nor epoch seconds`);
    point.time = iso(ms);
  }
  return point;
}

/** Whether the JSON text nests arrays and objects deeper than `max` (strings skipped; malformed text is JSON.parse's to judge). */
function deeperThan(json: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth -= 1;
  }
  return false;
}

/** A place as metadata gives it (TriggerOnLocation, a bookmark's Location). */
export interface MetaLocation {
  lat: number;
  lon: number;
  /** Metres, when given. */
  accuracy?: number;
  /** When the fix was taken (ISO), when given. */
  time?: string;
}

const LOCATION_NUMBER = /[+-]?\d+(?:\.\d+)?/g;

/**
 * The spec's `<lat><long><accuracy><epoch>` (TriggerOnLocation, and a
 * bookmark's Location since v1.6.11). Written ISO 6709 style, each number
 * with its sign ("+55.718409+013.221184+5.0+1661255290"); separators and
 * angle brackets are tolerated. Undefined when it is not a place on Earth:
 * the raw text is then shown as it came.
 */
export function parseLocation(text: string): MetaLocation | undefined {
  const numbers = text.match(LOCATION_NUMBER) ?? [];
  if (numbers.length < 2 || numbers.length > 4 || text.replace(LOCATION_NUMBER, '').replace(/[\s,;<>()/]/g, '') !== '') return undefined;
  const [lat, lon, accuracy, epoch] = numbers.map(Number) as [number, number, number?, number?];
  if (!(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180)) return undefined;
  const at = epoch === undefined ? undefined : timestampMs(epoch);
  return { lat, lon, ...(accuracy !== undefined && accuracy >= 0 ? { accuracy } : {}), ...(at !== undefined && epoch! > 0 ? { time: iso(at) } : {}) };
}

/** A named place to mark beside the track (a bookmark with a Location). */
export interface Waypoint extends MetaLocation {
  name: string;
}

/**
 * Fills `time` from startTime (ms since epoch) + secondsFromStart where the entry has no
 * Timestamp of its own. The entry's own Timestamp wins: it is what the camera stamped.
 * Returns new objects; without a start time (metadata may lack StartTime) points stay as they are.
 */
export function withTimes(points: TrackPoint[], startTimeMs?: number): TrackPoint[] {
  return points.map((p) => {
    if (p.time !== undefined || p.secondsFromStart === undefined || startTimeMs === undefined || !Number.isFinite(startTimeMs)) return { ...p };
    const ms = startTimeMs + Math.round(p.secondsFromStart * 1000);
    return Math.abs(ms) <= 8.64e15 ? { ...p, time: iso(ms) } : { ...p }; // beyond Date's range: leave untimed
  });
}

/**
 * GeoJSON (RFC 7946): a FeatureCollection holding one Feature — a LineString of the
 * track, or a Point when there is a single fix, or no Feature at all for an empty track
 * (a LineString needs two positions, and a null-geometry Feature would show nothing).
 * Per-point times and offsets ride along as arrays parallel to the coordinates (null where unknown).
 * Positions are [lon, lat] WGS 84, which is RFC 7946's only CRS, so no "crs" member.
 * Tracks crossing the antimeridian are not split (§3.1.9 says "should"); not expected for body cameras.
 */
export function toGeoJson(points: TrackPoint[], properties: { recording: string; source?: string }, waypoints: Waypoint[] = []): string {
  const features: object[] = [];
  if (points.length > 0) {
    const coordinates = points.map((p) => [p.lon, p.lat]);
    features.push({
      type: 'Feature',
      geometry: coordinates.length === 1 ? { type: 'Point', coordinates: coordinates[0] } : { type: 'LineString', coordinates },
      properties: {
        recording: properties.recording,
        ...(properties.source === undefined ? {} : { source: properties.source }),
        times: points.map((p) => p.time ?? null),
        secondsFromStart: points.map((p) => p.secondsFromStart ?? null),
      },
    });
  }
  for (const w of waypoints) {
    features.push({
      type: 'Feature',
      geometry: { type: 'Point', coordinates: [w.lon, w.lat] },
      properties: { name: w.name, recording: properties.recording, time: w.time ?? null, accuracy: w.accuracy ?? null },
    });
  }
  return JSON.stringify({ type: 'FeatureCollection', features });
}

/**
 * GPX 1.1: one <trk> named after the recording with one <trkseg>. An empty track still
 * yields the <trk>/<trkseg> (the schema allows zero trkpt) so the recording name survives.
 * <time> is written only where known: GPX makes it optional, and a guessed time is worse than none.
 */
export function toGpx(points: TrackPoint[], properties: { recording: string }, waypoints: Waypoint[] = []): string {
  const trkpts = points.map((p) => {
    const time = p.time === undefined ? '' : `<time>${xml(p.time)}</time>`;
    return `      <trkpt lat="${decimal(p.lat)}" lon="${decimal(p.lon)}">${time}</trkpt>\n`;
  });
  // GPX wants <wpt> before <trk>.
  const wpts = waypoints.map(
    (w) => `  <wpt lat="${decimal(w.lat)}" lon="${decimal(w.lon)}">${w.time === undefined ? '' : `<time>${xml(w.time)}</time>`}<name>${xml(w.name)}</name></wpt>\n`,
  );
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<gpx version="1.1" creator="edgecd" xmlns="http://www.topografix.com/GPX/1/1">\n' +
    wpts.join('') +
    '  <trk>\n' +
    `    <name>${xml(properties.recording)}</name>\n` +
    '    <trkseg>\n' +
    trkpts.join('') +
    '    </trkseg>\n' +
    '  </trk>\n' +
    '</gpx>\n'
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 3339 string, or epoch seconds as a number or digit string (the spec's "epoch UTC" is seconds). */
function timestampMs(v: unknown): number | undefined {
  let ms = NaN;
  if (typeof v === 'number') ms = v * 1000;
  else if (typeof v === 'string' && /^\s*\d+(?:\.\d+)?\s*$/.test(v)) ms = Number(v) * 1000;
  else if (typeof v === 'string') {
    const m = RFC3339.exec(v.trim());
    if (!m) return undefined;
    const [y, mo, d, h] = m.slice(1, 5).map(Number) as [number, number, number, number];
    // Date.parse rejects month 13 or minute 60 but rolls Feb 30 over to March and takes 24:00.
    if (d > new Date(Date.UTC(y, mo, 0)).getUTCDate() || h > 23) return undefined;
    ms = Date.parse(v.trim().toUpperCase().replace(' ', 'T'));
  }
  // The range check keeps the value within what Date can represent.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? Math.round(ms) : undefined;
}

/** ISO 8601 UTC, without ".000" when whole seconds (as the spec's own examples are written). */
function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** xsd:decimal has no exponent form, which String(1e-7) would produce. */
function decimal(n: number): string {
  const s = String(n === 0 ? 0 : n); // also folds -0
  return /e/i.test(s) ? n.toFixed(12).replace(/\.?0+$/, '') : s;
}

/** Escapes text and attribute values; replaces characters XML 1.0 cannot carry at all with U+FFFD. */
function xml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD')
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD') // lone surrogates
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
