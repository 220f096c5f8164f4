// The conflict view: a save refused with 412 because the settings changed since they were
// read. Shows what changed (as read then, as stored now, in the product's words) and offers to reload.
import { diff, html, show } from '../lib.js';
import { labelsOf } from '../labels.js';

export function ConflictView({ conflict, onReload }) {
  if (!conflict) return null;
  const labels = labelsOf(conflict.now.families);
  const named = (family) => (d) => ({ ...d, path: `${labels.family(family)} · ${labels.path(family, d.path)}` });
  const changes = [
    ...Object.keys(conflict.now.org).flatMap((family) => diff(conflict.then.org[family], conflict.now.org[family]).map(named(family))),
    ...[...new Set([...Object.keys(conflict.then.stored), ...Object.keys(conflict.now.stored)])].flatMap((ws) =>
      Object.keys({ ...conflict.then.stored[ws], ...conflict.now.stored[ws] }).flatMap((family) =>
        diff(conflict.then.stored[ws]?.[family], conflict.now.stored[ws]?.[family])
          .map(named(family))
          .map((d) => ({ ...d, path: `workspace ${ws}: ${d.path}` })),
      ),
    ),
  ];
  return html`
    <section class="conflict" role="alert" aria-labelledby="conflict-title">
      <h2 id="conflict-title">These settings changed since you loaded them</h2>
      <p>Your change (${conflict.attempted}) was not saved: someone else saved first (version ${conflict.now.etag}).</p>
      ${
        changes.length
          ? html`<ul class="diff">${changes.map((d) => html`<li>${d.path}: ${show(d.before)} → ${show(d.after)}</li>`)}</ul>`
          : html`<p>The change was to the organization's directory or to a workspace not shown here.</p>`
      }
      <button type="button" onClick=${onReload}>Reload</button>
    </section>
  `;
}
