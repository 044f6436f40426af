// edgecd web console: the little that needs a script. Every page works without it.
'use strict';

// The station's live figures refresh every 10 s while the page is visible.
const live = document.querySelector('[data-refresh]');
if (live) {
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const res = await fetch(live.dataset.refresh, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
      if (res.redirected) location.reload(); // the session ended: show the login page
      else if (res.ok) live.innerHTML = await res.text();
    } catch {
      // offline for a moment: the next tick tries again
    }
  }, 10_000);
}

// A clip the browser cannot play says so instead of showing a dead player.
for (const video of document.querySelectorAll('video[data-type]')) {
  if (video.canPlayType(video.dataset.type) === '') {
    video.hidden = true;
    const note = video.parentElement.querySelector('.unplayable');
    if (note) note.hidden = false;
  }
}

// Times are printed in UTC; hovering shows the viewer's local time.
for (const t of document.querySelectorAll('time[datetime]')) {
  const d = new Date(t.getAttribute('datetime'));
  if (!Number.isNaN(d.getTime())) t.title = `${d.toLocaleString()} (local time)`;
}
