// The conflict view: a save refused with 412 because the settings changed since they were
// read. Shows what changed (as read then, as stored now) and offers to reload.
import { diff, html, show } from '../lib.js';

export function ConflictView({ conflict, onReload }) {
  if (!conflict) return null;
  const changes = [
    ...Object.keys(conflict.now.org).flatMap((family) => diff(conflict.then.org[family], conflict.now.org[family], family)),
    ...[...new Set([...Object.keys(conflict.then.stored), ...Object.keys(conflict.now.stored)])].flatMap((ws) =>
      diff(conflict.then.stored[ws] ?? {}, conflict.now.stored[ws] ?? {}, `workspace ${ws}`),
    ),
  ];
  return html`
    <section class="conflict" role="alert" aria-labelledby="conflict-title">
      <h2 id="conflict-title">These settings changed since you loaded them</h2>
      <p>Your change (${conflict.attempted}) was not saved: someone else saved first (version ${conflict.now.etag}).</p>
      ${
        changes.length
          ? html`<ul class="diff">${changes.map((d) => html`<li><code>${d.path}</code>: ${show(d.before)} → ${show(d.after)}</li>`)}</ul>`
          : html`<p>The change was to the organization's directory or to a workspace not shown here.</p>`
      }
      <button type="button" onClick=${onReload}>Reload</button>
    </section>
  `;
}
