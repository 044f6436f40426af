/** The recordings list: a search form and a page of results, newest first. */
import { html } from 'hono/html';
import { formatBytes, page, time, type Html, type PageOptions, type Viewer } from './layout.ts';

export interface RecordingSearch {
  user: string;
  device: string;
  from: string;
  to: string;
  category: string;
  status: string;
  replicated: string;
}

export interface RecordingRow {
  container: string;
  kind: 'recording' | 'rejected';
  at: number;
  user: string;
  device: string;
  status: string;
  objects: number;
  bytes: number;
  /** null: no replication target. */
  replicated: boolean | null;
}

export interface RecordingsView {
  search: RecordingSearch;
  rows: RecordingRow[];
  categories: Map<string, string>;
  replicationTargets: number;
  older?: string;
  newer?: string;
  problems: string[];
  /** Containers whose names are not a recording's: kept, replicated as they are, listed here. */
  unrecognised: { count: number; names: string[] };
}

const STATUSES = ['Complete', 'Transferring', 'Rejected'];

export function recordingsPage(assets: PageOptions['assets'], viewer: Viewer, view: RecordingsView): Html {
  const s = view.search;
  const query = (cursor: Record<string, string>) => '?' + new URLSearchParams({ ...Object.fromEntries(Object.entries(s).filter(([, v]) => v !== '')), ...cursor }).toString();
  const option = (value: string, label: string, selected: string) => html`<option value="${value}" ${value === selected ? 'selected' : ''}>${label}</option>`;
  return page(
    { title: 'Recordings', viewer, section: 'recordings', assets },
    html`
<h1>Recordings</h1>
<form class="search" method="get" action="/console/recordings" role="search" aria-label="Find recordings">
  <div class="field"><label for="q-user">User name or UserID</label><input id="q-user" name="user" value="${s.user}" autocomplete="off"></div>
  <div class="field"><label for="q-device">Camera (serial or name)</label><input id="q-device" name="device" value="${s.device}" autocomplete="off"></div>
  <div class="field"><label for="q-from">Triggered from</label><input id="q-from" name="from" type="date" value="${s.from}"></div>
  <div class="field"><label for="q-to">to (inclusive)</label><input id="q-to" name="to" type="date" value="${s.to}"></div>
  <div class="field"><label for="q-category">Category</label><select id="q-category" name="category">
    ${option('', 'Any', s.category)}
    ${[...view.categories].map(([id, name]) => option(id, name === id ? id : `${name} (${id})`, s.category))}
  </select></div>
  <div class="field"><label for="q-status">Status</label><select id="q-status" name="status">
    ${option('', 'Any', s.status)}${STATUSES.map((st) => option(st, st, s.status))}
  </select></div>
  <div class="field"><label for="q-replicated">Replicated</label><select id="q-replicated" name="replicated" ${view.replicationTargets === 0 ? 'disabled' : ''}>
    ${option('', 'Either', s.replicated)}${option('yes', 'Yes, by every target', s.replicated)}${option('no', 'Not yet', s.replicated)}
  </select></div>
  <div class="field buttons"><button type="submit">Search</button> <a href="/console/recordings">Clear</a></div>
</form>
${view.problems.length > 0 ? html`<p class="problem" role="alert">${view.problems.join('; ')}</p>` : ''}
${view.unrecognised.count > 0 ? html`<p class="problem" data-figure="unrecognised">${view.unrecognised.count} container${view.unrecognised.count === 1 ? ' has an unrecognised name' : 's have unrecognised names'} (not a recording this station can read; kept and replicated as they are): ${view.unrecognised.names.join(', ')}${view.unrecognised.count > view.unrecognised.names.length ? ', …' : ''}</p>` : ''}
<p role="status" class="result-count">${view.rows.length === 0 ? 'No recordings match.' : `Showing ${view.rows.length} recordings, newest first.`}</p>
${
  view.rows.length > 0
    ? html`<div class="scroll"><table class="recordings">
      <caption class="sr-only">Recordings found</caption>
      <thead><tr><th scope="col">Triggered</th><th scope="col">User</th><th scope="col">Camera</th><th scope="col">Status</th><th scope="col">Objects</th><th scope="col">Replicated</th></tr></thead>
      <tbody>${view.rows.map(
        (r) => html`<tr>
        <td><a href="/console/recordings/${encodeURIComponent(r.container)}">${time(r.at)}</a>${r.kind === 'rejected' ? html`<br><small>${r.container}</small>` : ''}</td>
        <td>${r.user}</td>
        <td>${r.device}</td>
        <td><span class="status status-${r.status.toLowerCase()}">${r.status}</span></td>
        <td>${r.objects} (${formatBytes(r.bytes)})</td>
        <td>${r.replicated === null ? '—' : r.replicated ? 'yes' : 'not yet'}</td>
      </tr>`,
      )}</tbody>
    </table></div>`
    : ''
}
<nav class="pager" aria-label="Pages">
  ${view.newer ? html`<a rel="prev" href="${query({ after: view.newer })}">← Newer</a>` : html`<span></span>`}
  ${view.older ? html`<a rel="next" href="${query({ before: view.older })}">Older →</a>` : ''}
</nav>`,
  );
}
