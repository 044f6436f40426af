/**
 * Legal holds, the retention preview, and what retention deleted: the state
 * admins and custodians watch. Custodians also place and release holds here
 * and on recording pages; admins see the same state without the forms.
 */
import { html } from 'hono/html';
import type { Tombstone } from '../../../lifecycle/tombstones.ts';
import type { Hold } from '../../../lifecycle/holds.ts';
import type { PlannedRecording, RetentionPlan } from '../../../lifecycle/plan.ts';
import { formatBytes, page, time, type Html, type PageOptions, type Viewer } from './layout.ts';

export interface LifecycleView {
  holds: Hold[];
  /** The newest tombstones (at most PREVIEW_ROWS), newest first. */
  deleted: Tombstone[];
  notice?: string;
}

/** Rows a preview page shows of each list; the whole plan is a download. */
export const PREVIEW_ROWS = 200;

export function lifecyclePage(assets: PageOptions['assets'], viewer: Viewer, v: LifecycleView): Html {
  const inForce = v.holds.filter((h) => !h.released);
  const released = v.holds.filter((h) => h.released);
  const custodian = viewer.role === 'custodian';
  return page(
    { title: 'Holds and deletions', viewer, section: 'lifecycle', assets, ...(v.notice ? { notice: v.notice } : {}) },
    html`
<h1>Holds and deletions</h1>
<p class="actions"><a class="button" href="/console/retention">Retention preview: what will be deleted, and why</a></p>
<section aria-labelledby="holds-h">
  <h2 id="holds-h">Legal holds in force (${inForce.length})</h2>
  <p class="hint">A held recording is never evicted or deleted. ${custodian ? 'Placing and releasing a hold are in the audit trail.' : 'Custodians place and release holds, here or with edgecd hold; each is in the audit trail.'}</p>
  ${inForce.length === 0 ? html`<p>None.</p>` : holdTable(inForce, { released: false, viewer })}
  ${custodian ? queryHoldForm(viewer) : ''}
  ${released.length > 0 ? html`<h3>Released (${released.length})</h3>${holdTable(released, { released: true, viewer })}` : ''}
</section>
<section aria-labelledby="deleted-h">
  <h2 id="deleted-h">Deleted by retention</h2>
  <p class="hint">Each deletion's tombstone, kept for ever: what was deleted, its hashes, the rule that let it go. Within the grace period <code>edgecd restore</code> brings a recording back.
    ${v.deleted.length === PREVIEW_ROWS ? `The newest ${PREVIEW_ROWS} are shown.` : ''} <a href="/console/tombstones.jsonl" download>Download every tombstone (JSON lines)</a></p>
  ${
    v.deleted.length === 0
      ? html`<p>Nothing.</p>`
      : html`<div class="scroll"><table class="deleted">
    <thead><tr><th scope="col">Recording</th><th scope="col">Deleted</th><th scope="col">Rule</th><th scope="col">Objects</th><th scope="col">State</th></tr></thead>
    <tbody>${v.deleted.map(
      (t) => html`<tr><th scope="row">${t.recording}</th><td>${time(t.deletedAt)}</td><td>${t.rule}</td><td>${Object.keys(t.manifest).length} (${formatBytes(t.bytes)})</td>
      <td>${
        t.cancelled
          ? html`not carried out: ${t.cancelled.reason}`
          : t.restored
            ? html`restored by ${t.restored.by}, ${time(t.restored.at)}`
            : t.restorableUntil
              ? html`restorable until ${time(t.restorableUntil)}`
              : 'removed'
      }</td></tr>`,
    )}</tbody></table></div>`
  }
</section>`,
  );
}

/** The retention preview: the list the deletion job will act on, for the next `days` days. */
export function retentionPage(assets: PageOptions['assets'], viewer: Viewer, plan: RetentionPlan, days: number): Html {
  const rows = (list: (PlannedRecording & { keptBecause?: string })[], why: boolean) =>
    html`<div class="scroll"><table class="plan">
    <thead><tr><th scope="col">Recording</th><th scope="col">Triggered</th><th scope="col">Retention ends</th><th scope="col">Rule</th>${why ? html`<th scope="col">Kept because</th>` : ''}</tr></thead>
    <tbody>${list
      .slice(0, PREVIEW_ROWS)
      .map(
        (r) =>
          html`<tr><th scope="row"><a href="/console/recordings/${encodeURIComponent(r.recording)}">${r.recording}</a></th><td>${time(r.triggeredAt)}</td><td>${time(r.keepUntil)}</td><td>${r.rule}</td>${why ? html`<td>${r.keptBecause}</td>` : ''}</tr>`,
      )}</tbody></table></div>${list.length > PREVIEW_ROWS ? html`<p class="hint">The first ${PREVIEW_ROWS} of ${list.length}, soonest first: download the whole plan for the rest.</p>` : ''}`;
  const choices = [0, 1, 7, 30, 90, 365];
  return page(
    { title: 'Retention preview', viewer, section: 'lifecycle', assets },
    html`
<p class="crumbs"><a href="/console/lifecycle">← Holds and deletions</a></p>
<h1>Retention preview</h1>
<form class="search" method="get" action="/console/retention" aria-label="Preview window">
  <div class="field"><label for="p-days">Due within</label><select id="p-days" name="days">${choices.map(
    (d) => html`<option value="${d}" ${d === days ? 'selected' : ''}>${d === 0 ? 'now (the next run)' : `${d} days`}</option>`,
  )}</select></div>
  <button type="submit">Show</button>
</form>
<p data-field="plan-summary">As of ${time(plan.asOf)}, up to ${time(plan.until)}: <strong>${plan.due.length}</strong> to delete, ${plan.kept.length} kept although due, of ${plan.scanned} recordings.
  <a href="/console/retention.json?days=${days}" download>Download the whole plan (JSON)</a></p>
${plan.unruledCategories.length > 0 ? html`<p class="warning">Categories with no rule (the default applies): ${plan.unruledCategories.join(', ')}</p>` : ''}
<section aria-labelledby="due-h">
  <h2 id="due-h">To be deleted (${plan.due.length})</h2>
  <p class="hint">What the deletion job will delete by then, if nothing changes: each first gets a tombstone and waits in the trash for the grace period. A hold placed before the run keeps it.</p>
  ${plan.due.length === 0 ? html`<p>Nothing.</p>` : rows(plan.due, false)}
</section>
<section aria-labelledby="kept-h">
  <h2 id="kept-h">Due, but kept (${plan.kept.length})</h2>
  ${plan.kept.length === 0 ? html`<p>Nothing.</p>` : rows(plan.kept, true)}
</section>`,
  );
}

/** A custodian's form to hold one recording (on its page). */
export function recordingHoldForm(viewer: Viewer, recording: string): Html {
  return html`<details class="hold-form"><summary>Place a legal hold on this recording</summary>
  <form method="post" action="/console/holds">
    <input type="hidden" name="csrf" value="${viewer.csrf}">
    <input type="hidden" name="recording" value="${recording}">
    ${caseFields('r')}
    <button type="submit">Place the hold</button>
  </form></details>`;
}

/** A custodian's release form for one hold. */
export function releaseForm(viewer: Viewer, hold: Pick<Hold, 'id'>): Html {
  return html`<form class="release" method="post" action="/console/holds/${encodeURIComponent(hold.id)}/release">
    <input type="hidden" name="csrf" value="${viewer.csrf}">
    <label for="release-${hold.id}">Why release ${hold.id}?</label>
    <input id="release-${hold.id}" name="reason" required maxlength="1000">
    <button type="submit">Release</button>
  </form>`;
}

function queryHoldForm(viewer: Viewer): Html {
  return html`<details class="hold-form"><summary>Place a hold by query (recordings that arrive later are held too)</summary>
  <form method="post" action="/console/holds">
    <input type="hidden" name="csrf" value="${viewer.csrf}">
    <div class="field"><label for="h-user">UserID (UUID)</label><input id="h-user" name="userId" autocomplete="off"></div>
    <div class="field"><label for="h-device">Camera serial</label><input id="h-device" name="device" autocomplete="off"></div>
    <div class="field"><label for="h-from">Triggered from</label><input id="h-from" name="from" type="date"></div>
    <div class="field"><label for="h-to">to (inclusive)</label><input id="h-to" name="to" type="date"></div>
    <div class="field"><label for="h-category">Category ID</label><input id="h-category" name="category" autocomplete="off"></div>
    ${caseFields('q')}
    <button type="submit">Place the hold</button>
  </form></details>`;
}

function caseFields(id: string): Html {
  return html`<div class="field"><label for="${id}-case">Case number</label><input id="${id}-case" name="caseNumber" required maxlength="1000"></div>
    <div class="field"><label for="${id}-reason">Reason</label><input id="${id}-reason" name="reason" required maxlength="1000"></div>`;
}

function holdTable(holds: Hold[], o: { released: boolean; viewer: Viewer }): Html {
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
  const act = !o.released && o.viewer.role === 'custodian';
  return html`<div class="scroll"><table class="holds">
    <thead><tr><th scope="col">Hold</th><th scope="col">Case</th><th scope="col">Covers</th><th scope="col">Placed</th>${o.released ? html`<th scope="col">Released</th>` : ''}${act ? html`<th scope="col">Release</th>` : ''}</tr></thead>
    <tbody>${holds.map(
      (h) =>
        html`<tr data-hold="${h.id}"><th scope="row">${h.id}</th><td>${h.caseNumber}</td><td>${covers(h)}</td><td>${h.placedBy}, ${time(h.placedAt)}: ${h.reason}</td>${
          o.released && h.released ? html`<td>${h.released.by}, ${time(h.released.at)}: ${h.released.reason}</td>` : ''
        }${act ? html`<td>${releaseForm(o.viewer, h)}</td>` : ''}</tr>`,
    )}</tbody></table></div>`;
}
