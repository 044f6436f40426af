import { html } from 'hono/html';
import { page, type Html, type PageOptions } from './layout.ts';

export function loginPage(assets: PageOptions['assets'], problem?: string, user = ''): Html {
  return page(
    { title: 'Log in', assets },
    html`<section class="login">
  <h1>Log in to the station</h1>
  <p>Use an <strong>admin</strong> account (station status) or a <strong>reader</strong> account (recordings).</p>
  ${problem ? html`<p class="problem" role="alert" id="login-problem">${problem}</p>` : ''}
  <form method="post" action="/console/login">
    <label for="user">User</label>
    <input id="user" name="user" autocomplete="username" required value="${user}" autofocus ${problem ? html`aria-describedby="login-problem"` : ''}>
    <label for="key">Key</label>
    <input id="key" name="key" type="password" autocomplete="current-password" required>
    <button type="submit">Log in</button>
  </form>
</section>`,
  );
}
