/** The station page (admins): is this box healthy, and is evidence leaving it? */
import { html } from 'hono/html';
import type { StationHealth } from '../../../health/station.ts';
import type { MinuteCounts } from '../../../health/request-stats.ts';
import { requestChart, usageGauge } from './charts.ts';
import { formatBytes, formatDuration, page, time, type Html, type PageOptions, type Viewer } from './layout.ts';

export interface StationView {
  health: StationHealth;
  lastHour: MinuteCounts[];
  refused503: number;
  refused507: number;
  siteName: string;
}

export function stationPage(assets: PageOptions['assets'], viewer: Viewer, view: StationView, notice?: string): Html {
  return page(
    { title: 'Station', viewer, section: 'station', assets, ...(notice ? { notice } : {}) },
    html`
<h1>${view.siteName} <span class="subtitle">station status</span></h1>
<div id="live" data-refresh="/console/station/live">${stationLive(view)}</div>
<section aria-labelledby="actions-h">
  <h2 id="actions-h">Actions</h2>
  <div class="actions">
    <a class="button" href="/console/connection.json" download>Download connection.json</a>
    ${
      view.health.replication?.targets.some((t) => t.enabled)
        ? html`<form method="post" action="/console/replication/run">
          <input type="hidden" name="csrf" value="${viewer.csrf}">
          <button type="submit">Run a replication pass now</button>
        </form>`
        : html`<p>No replication target is enabled.</p>`
    }
  </div>
  <p class="hint">connection.json holds the body-worn system's key: upload it in the Body Worn Manager and do not keep copies. Each download is in the audit trail.</p>
</section>`,
  );
}

/** The part of the page the script refreshes. */
export function stationLive(view: StationView): Html {
  const h = view.health;
  const s = h.storage;
  const label = s.quotaBytes > 0 ? 'Quota' : 'Disk';
  return html`
<div class="cards">
  <section class="card" aria-labelledby="storage-h">
    <h2 id="storage-h">Storage</h2>
    ${usageGauge(s.usedPercent, label)}
    <dl>
      <dt>Used</dt><dd data-figure="used-percent">${s.usedPercent} % of the ${label.toLowerCase()}</dd>
      <dt>Evidence stored</dt><dd>${formatBytes(s.usedBytes)}</dd>
      ${s.quotaBytes > 0 ? html`<dt>Quota</dt><dd>${formatBytes(s.quotaBytes)}</dd>` : ''}
      <dt>Disk free</dt><dd>${formatBytes(s.freeBytes)} of ${formatBytes(s.totalBytes)}</dd>
      ${s.readOnly ? html`<dt>Filesystem</dt><dd class="bad">read-only: uploads fail</dd>` : ''}
    </dl>
  </section>
  <section class="card" aria-labelledby="uploads-h">
    <h2 id="uploads-h">Uploads</h2>
    <dl>
      <dt>Uploads in flight</dt><dd data-figure="uploads">${h.load.uploads}</dd>
      <dt>Requests in flight</dt><dd>${h.load.requests} (${h.load.waiting} waiting)</dd>
      <dt>Refused busy (503)</dt><dd data-figure="refused-503" class="${view.refused503 > 0 ? 'warn' : ''}">${view.refused503}</dd>
      <dt>Refused full (507)</dt><dd data-figure="refused-507" class="${view.refused507 > 0 ? 'bad' : ''}">${view.refused507}</dd>
      <dt>Received since start</dt><dd>${formatBytes(h.requests.uploadBytes)}</dd>
    </dl>
    ${requestChart(view.lastHour)}
  </section>
  <section class="card wide" aria-labelledby="replication-h">
    <h2 id="replication-h">Replication</h2>
    ${
      h.replication === null
        ? html`<p>No replication target is configured.</p>`
        : html`<div class="scroll"><table>
          <caption class="sr-only">Replication targets</caption>
          <thead><tr><th scope="col">Target</th><th scope="col">Backlog</th><th scope="col">Confirmation</th><th scope="col">Last success</th><th scope="col">Last pass</th><th scope="col">State</th></tr></thead>
          <tbody>${h.replication.targets.map(
            (t) => html`<tr>
            <th scope="row">${t.name}</th>
            <td data-figure="backlog-${t.name}">${t.backlog.recordings} recordings, ${t.backlog.objects} objects, ${formatBytes(t.backlog.bytes)}${t.backlog.failed > 0 ? html`; <span class="bad">${t.backlog.failed} refused</span>` : ''}${heldBackWords(t.heldBack)}</td>
            <td data-figure="confirmation-${t.name}">${t.confirmation.level ?? '—'}${t.confirmation.warning ? html`<br><span class="bad">${t.confirmation.warning}</span>` : ''}</td>
            <td>${t.lastSuccess ? time(t.lastSuccess) : 'never'}</td>
            <td>${t.lastPass ? html`${time(t.lastPass.finishedAt)}: ${t.lastPass.outcome}` : '—'}</td>
            <td>${t.alarm ? html`<span class="bad">${t.alarm.message}</span>` : t.running ? 'running' : t.enabled ? html`scheduled ${t.nextRun ? html`(next ${time(t.nextRun)})` : ''}` : 'disabled'}</td>
          </tr>`,
          )}</tbody>
        </table></div>
        <p>${h.replication.heldByAllTargets} recordings are held by every enabled target, confirmed as eviction needs.</p>`
    }
  </section>
  <section class="card" aria-labelledby="video-h">
    <h2 id="video-h">Signed video, last 24 hours</h2>
    ${
      h.video.last24h.alarms.length > 0
        ? html`<p class="bad" data-figure="video-alarms">ALARM: ${h.video.last24h.alarms.length} recordings are tampered or disputed:</p>
          <ul>${h.video.last24h.alarms.map((id) => html`<li><a href="/console/recordings/${encodeURIComponent(id.slice(id.indexOf('/') + 1))}">${id.slice(id.indexOf('/') + 1)}</a></li>`)}</ul>`
        : html`<p class="good" data-figure="video-alarms">No tampered recording.</p>`
    }
    <dl>
      ${(['authentic', 'tampered', 'unsigned', 'incomplete', 'unsupported', 'encrypted'] as const).map(
        (v) => html`<dt>${v}</dt><dd data-figure="video-${v}">${h.video.last24h.recordings[v] ?? 0} recordings</dd>`,
      )}
      <dt>Waiting for the check</dt><dd data-figure="video-queued">${h.video.queued} recordings</dd>
    </dl>
  </section>
  <section class="card" aria-labelledby="clock-h">
    <h2 id="clock-h">Time</h2>
    <dl>
      <dt>Clock</dt><dd data-figure="clock" class="${h.clock.synchronised ? 'good' : 'warn'}">${h.clock.synchronised ? 'synchronised' : 'not synchronised'} (${h.clock.source})</dd>
      <dt>NTP server</dt><dd>${h.clock.ntp ? `${h.clock.ntp.mode}` : 'off'}</dd>
      <dt>NTP answers served</dt><dd data-figure="ntp-served">${h.clock.ntp ? h.clock.ntp.served : '—'}</dd>
    </dl>
  </section>
  <section class="card" aria-labelledby="bws-h">
    <h2 id="bws-h">Body-worn system</h2>
    <dl>
      <dt>Categories</dt><dd data-figure="categories">${h.bws.categories.kind === 'station' ? "this station's own (edgecd categories set)" : h.bws.categories.kind === 'central' ? `central ${h.bws.categories.target}'s, fetched ${time(h.bws.categories.fetchedAt)}` : 'none: cameras use their built-in categories'}</dd>
      <dt>Capabilities declared</dt><dd data-figure="capabilities">${Object.keys(h.bws.capabilities).sort().join(', ') || 'none'}</dd>
      <dt>Unrecognised containers</dt><dd data-figure="unrecognised">${h.containers.unrecognisedName.count === 0 ? 'none' : html`<span class="warn">${h.containers.unrecognisedName.count}</span>: kept and replicated as they are`}</dd>
    </dl>
    ${h.bws.notes.map((n) => html`<p class="hint">${n}</p>`)}
  </section>
  <section class="card" aria-labelledby="system-h">
    <h2 id="system-h">System</h2>
    <dl>
      <dt>CPU temperature</dt><dd data-figure="cpu-temperature">${h.system.cpuTemperatureC === null ? 'not reported by this hardware' : `${h.system.cpuTemperatureC} °C`}</dd>
      <dt>Throttling</dt><dd>${h.system.throttled === null ? 'not reported by this hardware' : h.system.throttled === '0x0' ? 'none' : html`<span class="bad">${h.system.throttled}</span>`}</dd>
      <dt>Load</dt><dd>${h.system.load.map((l) => l.toFixed(2)).join(' ')}</dd>
      <dt>Memory available</dt><dd>${formatBytes(h.system.memory.availableBytes)} of ${formatBytes(h.system.memory.totalBytes)}</dd>
      <dt>edgecd memory</dt><dd>${formatBytes(h.system.memory.processRssBytes)}</dd>
    </dl>
  </section>
  <section class="card" aria-labelledby="about-h">
    <h2 id="about-h">Service</h2>
    <dl>
      <dt>Version</dt><dd data-figure="version">edgecd ${h.version}</dd>
      <dt>Uptime</dt><dd data-figure="uptime">${formatDuration(h.uptimeSeconds)}</dd>
      <dt>Certificate</dt><dd data-figure="certificate">${h.tls.daysUntilExpiry === null ? 'plain HTTP (development)' : html`<span class="${h.tls.daysUntilExpiry < 30 ? 'warn' : ''}">expires in ${h.tls.daysUntilExpiry} days</span>`}</dd>
      ${h.tls.endpoints.map((e) => html`<dt>${e.name}</dt><dd>valid until ${time(e.notAfter)}</dd>`)}
    </dl>
  </section>
</div>`;
}

/** Objects a target cannot take yet, in words. */
function heldBackWords(heldBack: Partial<Record<string, number>>): string {
  const parts = Object.entries(heldBack).map(([capability, n]) => `${n} until it declares ${capability}`);
  return parts.length === 0 ? '' : `; held back: ${parts.join(', ')}`;
}
