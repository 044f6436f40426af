/**
 * The console's pictures, drawn on the server as SVG: no script, no
 * network, and each says in words (a title, a label) what it shows.
 */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { TrackPoint, Waypoint } from '../../../bws/gnss.ts';
import type { MinuteCounts } from '../../../health/request-stats.ts';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const MARKS = [80, 90, 95];
const round = (n: number) => Math.round(n * 10) / 10;

/** How full the store is, with the 80/90/95 % marks the station warns at. */
export function usageGauge(percent: number, label: string): Html {
  const level = percent >= 95 ? 'critical' : percent >= 90 ? 'high' : percent >= 80 ? 'warn' : 'ok';
  const x = (p: number) => round(Math.min(100, Math.max(0, p)) * 2);
  return html`<svg class="gauge gauge-${level}" viewBox="-6 0 212 34" role="img" aria-label="${label}: ${percent} % used; warnings at 80, 90 and 95 %">
    <title>${label}: ${percent} % used</title>
    <rect class="gauge-track" x="0" y="2" width="200" height="16"></rect>
    <rect class="gauge-fill" x="0" y="2" width="${x(percent)}" height="16"></rect>
    ${MARKS.map((m) => html`<line class="gauge-mark" x1="${x(m)}" x2="${x(m)}" y1="0" y2="20"></line><text class="gauge-label" x="${x(m)}" y="31" text-anchor="middle">${m}</text>`)}
  </svg>`;
}

/** Status classes the chart draws, each with its own colour and dash (readable without colour). */
export const SERIES = [
  { name: '2xx', match: (s: number) => s >= 200 && s < 300 },
  { name: '4xx', match: (s: number) => s >= 400 && s < 500 },
  { name: '503', match: (s: number) => s === 503 },
  { name: '507', match: (s: number) => s === 507 },
  { name: 'other 5xx', match: (s: number) => s >= 500 && s !== 503 && s !== 507 },
] as const;

/** Answers per minute over the last hour, one line per status class. */
export function requestChart(minutes: MinuteCounts[]): Html {
  const W = 300;
  const H = 100;
  const lines = SERIES.map((series, i) => ({
    i,
    name: series.name,
    values: minutes.map((m) => Object.entries(m.byStatus).reduce((n, [status, count]) => n + (series.match(Number(status)) ? count : 0), 0)),
  }));
  const max = Math.max(1, ...lines.flatMap((l) => l.values));
  const x = (i: number) => round((i / Math.max(1, minutes.length - 1)) * W);
  const y = (v: number) => round(H - (v / max) * (H - 4));
  const totals = lines.map((l) => `${l.name}: ${l.values.reduce((a, b) => a + b, 0)}`).join(', ');
  return html`<figure class="chart">
    <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Answers per minute, last hour. Totals: ${totals}. Peak ${max} per minute.">
      <title>Answers per minute over the last hour (peak ${max})</title>
      <line class="axis" x1="0" y1="${H}" x2="${W}" y2="${H}"></line>
      ${lines.map((l) => html`<polyline class="series series-${l.i}" fill="none" points="${l.values.map((v, i) => `${x(i)},${y(v)}`).join(' ')}"></polyline>`)}
    </svg>
    <figcaption>
      <span>last 60 minutes, peak ${max}/min</span>
      <ul class="legend">${lines.map((l) => html`<li><span class="swatch series-${l.i}" aria-hidden="true"></span>${l.name}: ${l.values.reduce((a, b) => a + b, 0)}</li>`)}</ul>
    </figcaption>
  </figure>`;
}

export interface TimelineClip {
  name: string;
  start: number;
  stop: number;
}

export interface TimelineMark {
  label: string;
  at: number;
  category?: string;
}

/** The recording from start to stop: clips as bars, bookmarks as flags. */
export function timeline(span: { start: number; stop: number }, clips: TimelineClip[], marks: TimelineMark[], format: (ms: number) => string): Html {
  const W = 600;
  const start = span.start;
  const length = Math.max(1, span.stop - span.start);
  const x = (ms: number) => round(Math.min(W, Math.max(0, ((ms - start) / length) * W)));
  return html`<figure class="timeline">
    <svg viewBox="-8 0 ${W + 16} 62" role="img" aria-label="Timeline from ${format(span.start)} to ${format(span.stop)}: ${clips.length} clips, ${marks.length} bookmarks">
      <title>Timeline: ${clips.length} clips, ${marks.length} bookmarks</title>
      <line class="axis" x1="0" y1="40" x2="${W}" y2="40"></line>
      ${clips.map((c) => html`<rect class="clip" x="${x(c.start)}" y="30" width="${Math.max(1, x(c.stop) - x(c.start))}" height="20"><title>${c.name}: ${format(c.start)} – ${format(c.stop)}</title></rect>`)}
      ${marks.map((m) => html`<g class="bookmark"><line x1="${x(m.at)}" x2="${x(m.at)}" y1="8" y2="54"></line><path d="M${x(m.at)} 8 l8 4 l-8 4 z"></path><title>${m.label}${m.category ? ` (${m.category})` : ''} at ${format(m.at)}</title></g>`)}
    </svg>
    <figcaption><span>${format(span.start)}</span><span>${format(span.stop)}</span></figcaption>
  </figure>`;
}

/**
 * The GNSS track as a path in its own bounding box. Longitude is scaled by
 * cos(latitude) so a street keeps its shape; north is up. No map tiles: the
 * station has no internet, and the shape, ends and times are what a clerk checks.
 */
export function trackMap(points: TrackPoint[], format: (iso: string) => string, flags: Waypoint[] = []): Html {
  const W = 400;
  const H = 300;
  const PAD = 24;
  const lat0 = (points.reduce((n, p) => n + p.lat, 0) / points.length) * (Math.PI / 180);
  // Bookmark flags share the box with the track, so one far away still shows.
  const all = [...points, ...flags];
  const xs = all.map((p) => p.lon * Math.cos(lat0));
  const ys = all.map((p) => p.lat);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = Math.min((W - 2 * PAD) / Math.max(maxX - minX, 1e-9), (H - 2 * PAD) / Math.max(maxY - minY, 1e-9));
  const px = (i: number) => round(PAD + (xs[i]! - minX) * scale + (W - 2 * PAD - (maxX - minX) * scale) / 2);
  const py = (i: number) => round(H - PAD - (ys[i]! - minY) * scale - (H - 2 * PAD - (maxY - minY) * scale) / 2);
  const d = points.map((_, i) => `${i === 0 ? 'M' : 'L'}${px(i)} ${py(i)}`).join(' ');
  const first = points[0]!;
  const last = points.at(-1)!;
  const end = points.length - 1;
  const when = (p: TrackPoint) => (p.time ? format(p.time) : p.secondsFromStart !== undefined ? `+${p.secondsFromStart} s` : '');
  const metres = Math.round(haversine(points));
  return html`<figure class="track">
    <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="GNSS track, ${points.length} points, about ${metres} m, from ${first.lat}, ${first.lon} to ${last.lat}, ${last.lon}">
      <title>GNSS track: ${points.length} points</title>
      <rect class="track-box" x="1" y="1" width="${W - 2}" height="${H - 2}"></rect>
      <path class="track-path" d="${d}"></path>
      <circle class="track-start" cx="${px(0)}" cy="${py(0)}" r="7"><title>Start ${when(first)}</title></circle>
      <rect class="track-end" x="${px(end) - 6}" y="${py(end) - 6}" width="12" height="12"><title>End ${when(last)}</title></rect>
      <text class="track-label" x="${px(0) + 10}" y="${py(0) + 4}">Start ${when(first)}</text>
      <text class="track-label" x="${px(end) + 10}" y="${py(end) + 4}" text-anchor="${px(end) > W / 2 ? 'end' : 'start'}" dx="${px(end) > W / 2 ? -20 : 0}">End ${when(last)}</text>
      ${flags.map((f, i) => html`<g class="track-flag"><path d="M${px(points.length + i)} ${py(points.length + i)} v-16 h10 l-4 4 l4 4 h-10"></path><title>Bookmark ${f.name}${f.time ? ` at ${format(f.time)}` : ''}</title></g>`)}
    </svg>
    <figcaption>${points.length} points, about ${metres} m; start (circle) ${first.lat}, ${first.lon}; end (square) ${last.lat}, ${last.lon}${flags.length > 0 ? `; ${flags.length} bookmark${flags.length === 1 ? '' : 's'} (flag${flags.length === 1 ? '' : 's'}) where set` : ''}. North is up.</figcaption>
  </figure>`;
}

function haversine(points: TrackPoint[]): number {
  const R = 6_371_000;
  const rad = (d: number) => (d * Math.PI) / 180;
  let sum = 0;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    const h = Math.sin(rad(b.lat - a.lat) / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(rad(b.lon - a.lon) / 2) ** 2;
    sum += 2 * R * Math.asin(Math.sqrt(h));
  }
  return sum;
}
