/** The console's page frame, and the formatting every page shares. */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Role } from '../../../auth/roles.ts';

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface Viewer {
  user: string;
  role: Role;
  csrf: string;
}

export interface PageOptions {
  title: string;
  viewer?: Viewer;
  /** Which navigation entry is this page. */
  section?: 'station' | 'recordings' | 'lifecycle';
  /** A message after an action (a pass started, …). */
  notice?: string;
  assets: { css: string; js: string };
}

export function page(o: PageOptions, body: Html): Html {
  const v = o.viewer;
  const current = (s: PageOptions['section']) => (o.section === s ? 'page' : undefined);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · edgecd</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${o.assets.css}">
<script src="${o.assets.js}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="brand">edgecd</span>
  ${
    v
      ? html`<nav aria-label="Console">
        <ul>
          ${v.role === 'admin' ? html`<li><a href="/console/station" aria-current="${current('station')}">Station</a></li>` : ''}
          <li><a href="/console/recordings" aria-current="${current('recordings')}">Recordings</a></li>
          ${v.role === 'admin' || v.role === 'custodian' ? html`<li><a href="/console/lifecycle" aria-current="${current('lifecycle')}">Holds and deletions</a></li>` : ''}
        </ul>
      </nav>
      <form class="logout" method="post" action="/console/logout">
        <input type="hidden" name="csrf" value="${v.csrf}">
        <span class="who">${v.user} <span class="role">${v.role}</span></span>
        <button type="submit">Log out</button>
      </form>`
      : ''
  }
</header>
<main id="main" tabindex="-1">
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
${body}
</main>
</body>
</html>`;
}

export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** A time as clerks read it, unambiguous: "2026-11-26 14:03:10 UTC". */
export function formatTime(at: number | string | undefined): string {
  if (at === undefined) return '—';
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return String(at);
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' UTC');
}

/** A <time> element: machine-readable, and the script may add the viewer's local time. */
export function time(at: number | string | undefined): Html {
  if (at === undefined) return html`—`;
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return html`${String(at)}`;
  return html`<time datetime="${d.toISOString()}">${formatTime(at)}</time>`;
}

export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return `${m} min ${Math.floor(seconds % 60)} s`;
}
