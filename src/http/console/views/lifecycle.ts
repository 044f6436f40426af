/** Legal holds and what retention deleted: the state admins and custodians watch (holds are placed with edgecd hold). */
import { html } from 'hono/html';
import type { Tombstone } from '../../../lifecycle/deletion.ts';
import type { Hold } from '../../../lifecycle/holds.ts';
import { formatBytes, page, time, type Html, type PageOptions, type Viewer } from './layout.ts';

export interface LifecycleView {
  holds: Hold[];
  /** Newest first. */
  deleted: Tombstone[];
}

export function lifecyclePage(assets: PageOptions['assets'], viewer: Viewer, v: LifecycleView): Html {
  const inForce = v.holds.filter((h) => !h.released);
  const released = v.holds.filter((h) => h.released);
  return page(
    { title: 'Holds and deletions', viewer, section: 'lifecycle', assets },
    html`
<h1>Holds and deletions</h1>
<section aria-labelledby="holds-h">
  <h2 id="holds-h">Legal holds in force (${inForce.length})</h2>
  <p class="hint">A held recording is never evicted or deleted. Custodians place and release holds with <code>edgecd hold</code> on the station; each is in the audit trail.</p>
  ${inForce.length === 0 ? html`<p>None.</p>` : holdTable(inForce, false)}
  ${released.length > 0 ? html`<h3>Released (${released.length})</h3>${holdTable(released, true)}` : ''}
</section>
<section aria-labelledby="deleted-h">
  <h2 id="deleted-h">Deleted by retention (${v.deleted.length})</h2>
  <p class="hint">Each deletion's tombstone, kept for ever: what was deleted, its hashes, the rule that let it go. Within the grace period <code>edgecd restore</code> brings a recording back.</p>
  ${
    v.deleted.length === 0
      ? html`<p>Nothing.</p>`
      : html`<div class="scroll"><table class="deleted">
    <thead><tr><th scope="col">Recording</th><th scope="col">Deleted</th><th scope="col">Rule</th><th scope="col">Objects</th><th scope="col">State</th></tr></thead>
    <tbody>${v.deleted.map(
      (t) => html`<tr><th scope="row">${t.recording}</th><td>${time(t.deletedAt)}</td><td>${t.rule}</td><td>${Object.keys(t.manifest).length} (${formatBytes(t.bytes)})</td>
      <td>${t.restored ? html`restored by ${t.restored.by}, ${time(t.restored.at)}` : t.restorableUntil ? html`restorable until ${time(t.restorableUntil)}` : 'removed'}</td></tr>`,
    )}</tbody></table></div>`
  }
</section>`,
  );
}

function holdTable(holds: Hold[], released: boolean): Html {
  const covers = (h: Hold) => {
    const s = h.scope;
    if (s.recording !== undefined) return html`<a href="/console/recordings/${encodeURIComponent(s.recording)}">${s.recording}</a>`;
    const parts = [
      s.userId && `user ${s.userId}`,
      s.device && `camera ${s.device}`,
      s.since !== undefined && `from ${new Date(s.since).toISOString().slice(0, 10)}`,
      s.until !== undefined && `until ${new Date(s.until).toISOString().slice(0, 10)}`,
      s.category && `category ${s.category}`,
    ];
    return html`${parts.filter(Boolean).join(', ')} <small>(and recordings that arrive later)</small>`;
  };
  return html`<div class="scroll"><table class="holds">
    <thead><tr><th scope="col">Hold</th><th scope="col">Case</th><th scope="col">Covers</th><th scope="col">Placed</th>${released ? html`<th scope="col">Released</th>` : ''}</tr></thead>
    <tbody>${holds.map(
      (h) =>
        html`<tr data-hold="${h.id}"><th scope="row">${h.id}</th><td>${h.caseNumber}</td><td>${covers(h)}</td><td>${h.placedBy}, ${time(h.placedAt)}: ${h.reason}</td>${
          released && h.released ? html`<td>${h.released.by}, ${time(h.released.at)}: ${h.released.reason}</td>` : ''
        }</tr>`,
    )}</tbody></table></div>`;
}
