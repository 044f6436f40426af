/** One recording's story: who, when, what was recorded, where, and who has touched it. */
import { recordingHoldForm, releaseForm } from './lifecycle.ts';
import { html } from 'hono/html';
import type { MetaLocation, TrackPoint } from '../../../bws/gnss.ts';
import type { Authenticity, GopOutcome } from '../../../media/verdict.ts';
import { timeline, trackMap } from './charts.ts';
import { formatBytes, formatTime, page, time, type Html, type PageOptions, type Viewer } from './layout.ts';

export interface ClipView {
  name: string;
  bytes: number;
  start?: number;
  stop?: number;
  /** The MIME type a <video> should be told. */
  type: string;
  /** The signed-video check: 'pending' until the station has run it. */
  video: ClipVideoView | 'pending';
}

export interface ClipVideoView {
  verdict: Authenticity;
  headline: string;
  facts: string[];
  /** Groups of pictures in stream order, for the strip coloured by result. */
  gops: { firstFrame: number; frames: number; outcome: GopOutcome }[];
  checkedAt: number;
  /** On a central: what the sending station recorded, and whether it agrees. */
  sender?: { station?: string; verdict: Authenticity; agrees: boolean };
}

export interface BookmarkView {
  name: string;
  at?: number;
  end?: number;
  categoryId?: string;
  categoryName?: string;
  tags: Record<string, string>;
  /** Where it was set (v1.6.11 Location), parsed, or the raw value when it could not be read. */
  location?: MetaLocation | { unreadable: string };
  /** The note (the object's body): readers only. */
  text?: string;
}

export interface ObjectView {
  name: string;
  bytes: number;
  sha256: string;
  md5: string;
  contentType: string;
  /** ms */
  lastModified: number;
}

export interface ReplicaView {
  target: string;
  enabled: boolean;
  completeAt?: number;
  /** The weakest confirmation among the recording's objects on the target. */
  level?: string;
  /** Objects confirmed, by level. */
  confirmed: Record<string, number>;
  sent: number;
  failed: number;
  heldBack: number;
  rejected: number;
  queued: boolean;
  /** Per object: its state on the target, in words. */
  objects: Record<string, string>;
}

export interface CustodyLine {
  at?: string;
  actor?: string;
  role?: string;
  action?: string;
  target?: string;
  result?: string;
  source?: string;
}

export interface RecordingView {
  container: string;
  kind: 'recording' | 'rejected';
  status: string;
  user: string;
  device: string;
  triggerOn?: number;
  startTime?: number;
  stopTime?: number;
  completedAt?: string;
  /** Decoded container metadata, labelled. */
  metadata: [string, string][];
  clips: ClipView[];
  bookmarks: BookmarkView[];
  track?: { name: string; points?: TrackPoint[]; problem?: string };
  objects: ObjectView[];
  replication: ReplicaView[] | null;
  custody: CustodyLine[];
  custodyTotal: number;
  /** Readers see content (video, notes, track) and may download; admins see the record around it. */
  canReadContent: boolean;
  /** The recording's signed-video verdict: its worst clip's ('pending' while clips wait; undefined without clips). */
  video?: Authenticity | 'pending';
  /** Legal holds in force that cover it: it is never evicted or deleted while any does. */
  holds: { id: string; caseNumber: string; placedBy: string; placedAt: number; reason: string }[];
  /** Until when retention keeps it (null: for ever, or counted from a seal not yet made), and the rule. */
  retention: { keepUntil: number | null; rule: string };
}

export function recordingPage(assets: PageOptions['assets'], viewer: Viewer, r: RecordingView): Html {
  const base = `/console/recordings/${encodeURIComponent(r.container)}`;
  const objectUrl = (name: string, download = false) => `${base}/object?${new URLSearchParams({ name, ...(download ? { download: '1' } : {}) })}`;
  const span = spanOf(r);
  return page(
    { title: r.container, viewer, section: 'recordings', assets },
    html`
<p class="crumbs"><a href="/console/recordings">← Recordings</a></p>
<h1>${r.kind === 'rejected' ? 'Rejected content' : 'Recording'} <span class="container-name">${r.container}</span></h1>
<section aria-labelledby="summary-h">
  <h2 id="summary-h" class="sr-only">Summary</h2>
  <dl class="summary">
    <dt>User</dt><dd data-field="user">${r.user}</dd>
    <dt>Camera</dt><dd data-field="device">${r.device}</dd>
    <dt>Triggered</dt><dd>${time(r.triggerOn)}</dd>
    <dt>Recorded</dt><dd>${time(r.startTime)} – ${time(r.stopTime)}</dd>
    <dt>Status</dt><dd><span class="status status-${r.status.toLowerCase()}">${r.status}</span>${r.completedAt ? html` since ${time(r.completedAt)}` : ''}</dd>
    <dt>Objects</dt><dd>${r.objects.length} (${formatBytes(r.objects.reduce((n, o) => n + o.bytes, 0))})</dd>
    ${r.video ? html`<dt>Signed video</dt><dd data-field="video">${videoBadge(r.video)}</dd>` : ''}
    <dt>Retention</dt><dd data-field="retention">${r.retention.keepUntil === null ? 'kept for ever' : html`kept until ${time(r.retention.keepUntil)}`} <small>(${r.retention.rule})</small>${r.holds.length > 0 && r.retention.keepUntil !== null ? html`; held, so not deleted then` : ''}</dd>
    <dt>Legal holds</dt><dd data-field="holds">${
      r.holds.length === 0
        ? 'none'
        : html`<ul class="holds">${r.holds.map(
            (h) =>
              html`<li data-hold="${h.id}"><strong>${h.id}</strong>, case ${h.caseNumber}: ${h.reason} <small>(placed by ${h.placedBy}, ${time(h.placedAt)})</small>${
                viewer.role === 'custodian' ? releaseForm(viewer, h) : ''
              }</li>`,
          )}</ul>`
    }${viewer.role === 'custodian' ? recordingHoldForm(viewer, r.container) : ''}</dd>
  </dl>
  ${
    r.canReadContent
      ? html`<p class="actions"><a class="button" href="${base}/download" download>Download the recording (.tar)</a></p>
      <p class="hint">The archive holds the folder <code>edgecd pull</code> writes: the objects byte for byte, metadata.json, manifest.sha256 (check with <code>sha256sum -c manifest.sha256</code>), custody.json and, when there is a readable track, track.geojson. Each download is in the audit trail.</p>`
      : html`<p class="hint">Video, notes, the GNSS track and downloads are shown to reader accounts only.</p>`
  }
</section>

${
  span
    ? html`<section aria-labelledby="timeline-h"><h2 id="timeline-h">Timeline</h2>
      ${timeline(
        span,
        r.clips.filter((c) => c.start !== undefined && c.stop !== undefined).map((c) => ({ name: c.name, start: c.start!, stop: c.stop! })),
        r.bookmarks
          .filter((b) => b.at !== undefined)
          .map((b) => ({ label: b.name, at: b.at!, ...((b.categoryName ?? b.categoryId) ? { category: b.categoryName ?? b.categoryId } : {}) })),
        formatTime,
      )}
    </section>`
    : ''
}

<section aria-labelledby="clips-h">
  <h2 id="clips-h">Clips (${r.clips.length})</h2>
  ${r.clips.length === 0 ? html`<p>No clips.</p>` : ''}
  <ol class="clips">${r.clips.map(
    (c) => html`<li class="clip-item">
    <h3>${c.name}</h3>
    <p>${time(c.start)} – ${time(c.stop)} · ${formatBytes(c.bytes)} · ${videoBadge(c.video === 'pending' ? 'pending' : c.video.verdict)}</p>
    ${c.video === 'pending' ? '' : clipVideo(c.video)}
    ${
      r.canReadContent
        ? html`<video controls preload="none" data-type="${c.type}" aria-label="Clip ${c.name}"><source src="${objectUrl(c.name)}" type="${c.type}"></video>
        <p class="unplayable" hidden>This browser cannot play ${c.type} video: download the clip and use a player such as VLC.</p>
        <p><a href="${objectUrl(c.name, true)}" download data-download="clip">Download ${c.name}</a></p>`
        : ''
    }
  </li>`,
  )}</ol>
</section>

<section aria-labelledby="bookmarks-h">
  <h2 id="bookmarks-h">Bookmarks (${r.bookmarks.length})</h2>
  ${
    r.bookmarks.length === 0
      ? html`<p>No bookmarks.</p>`
      : html`<ul class="bookmarks">${r.bookmarks.map(
          (b) => html`<li class="bookmark-item">
    <strong>${b.categoryName ?? b.categoryId ?? 'No category'}</strong>${b.categoryId && b.categoryName ? html` <small>(${b.categoryId})</small>` : ''}
    at ${time(b.at)}${b.end !== undefined ? html` – ${time(b.end)}` : ''}
    ${b.location ? html`<br><span class="place">${'lat' in b.location ? `at ${b.location.lat}, ${b.location.lon}${b.location.accuracy !== undefined ? ` (±${b.location.accuracy} m)` : ''}${b.location.time ? `, fix ${formatTime(b.location.time)}` : ''}` : `location (unreadable): ${b.location.unreadable}`}</span>` : ''}
    ${Object.keys(b.tags).length > 0 ? html`<br><span class="tags">${Object.entries(b.tags).map(([k, v]) => html`<span class="tag">${k}${v ? `: ${v}` : ''}</span> `)}</span>` : ''}
    ${b.text !== undefined ? html`<blockquote>${b.text}</blockquote>` : ''}
  </li>`,
        )}</ul>`
  }
</section>

${
  r.track
    ? html`<section aria-labelledby="track-h"><h2 id="track-h">GNSS track</h2>
      ${
        r.track.points && r.track.points.length > 0
          ? trackMap(
              r.track.points,
              formatTime,
              r.bookmarks.flatMap((b) => (b.location && 'lat' in b.location ? [{ ...b.location, name: b.categoryName ?? b.categoryId ?? b.name }] : [])),
            )
          : html`<p>${r.track.name}: ${r.track.problem ?? 'shown to reader accounts only'}</p>`
      }
    </section>`
    : ''
}

<section aria-labelledby="manifest-h">
  <h2 id="manifest-h">SHA-256 manifest</h2>
  <p class="hint">Recorded as each object arrived. A pulled or downloaded copy must match.</p>
  <div class="scroll"><table class="manifest">
    <caption class="sr-only">Objects and their SHA-256</caption>
    <thead><tr><th scope="col">Object</th><th scope="col">Size</th><th scope="col">SHA-256</th><th scope="col">Stored</th></tr></thead>
    <tbody>${r.objects.map((o) => html`<tr><th scope="row">${o.name}</th><td>${formatBytes(o.bytes)}</td><td><code class="hash">${o.sha256}</code></td><td>${time(o.lastModified)}</td></tr>`)}</tbody>
  </table></div>
</section>

<section aria-labelledby="replication-h">
  <h2 id="replication-h">Replication</h2>
  ${
    r.replication === null
      ? html`<p>No replication target is configured.</p>`
      : html`<div class="scroll"><table>
        <thead><tr><th scope="col">Target</th><th scope="col">State</th><th scope="col">Confirmation</th><th scope="col">Objects</th></tr></thead>
        <tbody>${r.replication.map(
          (t) => html`<tr><th scope="row">${t.target}${t.enabled ? '' : ' (disabled)'}</th>
          <td>${t.completeAt ? html`held, Complete, confirmed ${time(t.completeAt)}` : t.failed > 0 ? html`<span class="bad">refused by the target (${t.failed} objects)</span>` : t.queued ? 'queued' : r.status === 'Complete' ? 'not yet' : 'waits for the recording to be Complete'}</td>
          <td>${t.level ? html`${LEVEL_WORDS[t.level] ?? t.level}${t.level === 'acknowledged' ? html` <span class="bad">(not verified)</span>` : ''}` : '—'}</td>
          <td>${
            Object.entries(t.confirmed)
              .map(([level, n]) => `${n} ${LEVEL_WORDS[level] ?? level}`)
              .join(', ') || '0 confirmed'
          } of ${r.objects.length}${t.sent > 0 ? `, ${t.sent} sent unconfirmed` : ''}${t.heldBack > 0 ? `, ${t.heldBack} held back (the target does not take them yet)` : ''}${t.rejected > 0 ? `, ${t.rejected} taken as rejected content` : ''}</td></tr>`,
        )}</tbody>
      </table></div>
      <div class="scroll"><table class="replicas">
        <caption>Each object on each target</caption>
        <thead><tr><th scope="col">Object</th>${r.replication.map((t) => html`<th scope="col">${t.target}</th>`)}</tr></thead>
        <tbody>${r.objects.map((o) => html`<tr><th scope="row">${o.name}</th>${r.replication!.map((t) => html`<td>${t.objects[o.name] ?? '—'}</td>`)}</tr>`)}</tbody>
      </table></div>`
  }
</section>

<section aria-labelledby="custody-h">
  <h2 id="custody-h">Chain of custody</h2>
  <p class="hint">The station's audit trail for this recording${r.custodyTotal > r.custody.length ? `: the latest ${r.custody.length} of ${r.custodyTotal} entries` : ''}.</p>
  <div class="scroll"><table class="custody">
    <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Object</th><th scope="col">Result</th></tr></thead>
    <tbody>${r.custody.map((l) => html`<tr><td>${time(l.at)}</td><td>${l.actor}${l.role ? html` <small>${l.role}</small>` : ''}</td><td>${l.action}</td><td>${l.target?.split('/').slice(2).join('/') || '—'}</td><td>${l.result}</td></tr>`)}</tbody>
  </table></div>
</section>

<section aria-labelledby="metadata-h">
  <h2 id="metadata-h">Metadata</h2>
  <dl class="metadata">${r.metadata.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>
</section>`,
  );
}

const BADGE_WORDS: Record<Authenticity | 'pending', string> = {
  authentic: 'authentic',
  tampered: 'TAMPERED',
  unsigned: 'unsigned',
  incomplete: 'incomplete',
  unsupported: 'not checked',
  encrypted: 'encrypted',
  pending: 'check pending',
};

export function videoBadge(verdict: Authenticity | 'pending'): Html {
  return html`<span class="video-badge video-${verdict}" data-video="${verdict}">${BADGE_WORDS[verdict]}</span>`;
}

/** What the check found for one clip: the headline, the GOP strip, the facts (signer, attestation) in words. */
function clipVideo(v: ClipVideoView): Html {
  const total = v.gops.reduce((n, g) => n + g.frames, 0);
  return html`<div class="clip-video" data-verdict="${v.verdict}">
    <p><strong>${v.headline}</strong> <small>(checked ${time(v.checkedAt)})</small></p>
    ${
      total > 0
        ? html`<svg class="gop-strip" viewBox="0 0 ${total} 10" preserveAspectRatio="none" role="img" aria-label="${v.gops.length} groups of pictures, ${v.gops.filter((g) => g.outcome === 'ok').length} verified">${gopRects(v.gops)}</svg>`
        : ''
    }
    <ul class="facts">${v.facts.map((f) => html`<li>${f}</li>`)}</ul>
    ${
      v.sender
        ? html`<p class="${v.sender.agrees ? '' : 'bad'}" data-field="sender-verdict">${v.sender.station ?? 'The sending station'} recorded: ${v.sender.verdict}${v.sender.agrees ? ' (agrees)' : ' — DISAGREES with this station: an alarm'}</p>`
        : ''
    }
  </div>`;
}

/** One rectangle per GOP, as wide as its frames (SVG: the console's CSP allows no inline styles). */
function gopRects(gops: ClipVideoView['gops']): Html[] {
  let x = 0;
  return gops.map((g) => {
    const rect = html`<rect class="gop gop-${g.outcome}" data-gop-outcome="${g.outcome}" x="${x}" y="0" width="${g.frames}" height="10"><title>frames ${g.firstFrame}–${g.firstFrame + g.frames - 1}: ${GOP_WORDS[g.outcome]}</title></rect>`;
    x += g.frames;
    return rect;
  });
}

const GOP_WORDS: Record<GopOutcome, string> = {
  ok: 'verified',
  tampered: 'does not verify',
  'missing-info': 'verified, with frames missing',
  unsigned: 'not signed',
  pending: 'not yet covered by a signature (end of clip)',
};

const LEVEL_WORDS: Record<string, string> = { verified: 'verified', 'read-back': 'read back', acknowledged: 'acknowledged only' };

/** The timeline's extent: the recording's own times, else its clips' and bookmarks'. */
function spanOf(r: RecordingView): { start: number; stop: number } | undefined {
  const times = [r.startTime, r.stopTime, ...r.clips.flatMap((c) => [c.start, c.stop]), ...r.bookmarks.map((b) => b.at)].filter((t): t is number => t !== undefined);
  if (times.length === 0) return undefined;
  return { start: Math.min(...times), stop: Math.max(...times) };
}
