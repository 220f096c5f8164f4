// The settings-changes feed of an organization: who changed what, when, before → after.
import { api } from '../api.js';
import { diff, formatTime, html, show, usePages } from '../lib.js';
import { ErrorNote } from './notes.js';

export function HistoryPanel({ orgId, refresh }) {
  const pages = usePages(
    (cursor) => api.settingsChanges(orgId, cursor).then((page) => ({ items: page.changes, nextCursor: page.nextCursor })),
    `${orgId}\n${refresh}`,
  );
  const { items: changes, cursor, error } = pages;

  return html`
    <section class="history" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <${ErrorNote} error=${error} />
      ${changes.length === 0 && !error && html`<p class="muted">No settings changes recorded for ${orgId}.</p>`}
      <ol class="changes">
        ${changes.map(
          (c) => html`
            <li>
              <p><time datetime=${c.timestamp}>${formatTime(c.timestamp)}</time> · <strong>${c.actor}</strong>${c.note ? ` (${c.note})` : ''} ·
                ${c.operation.replace(/_/g, ' ')}${c.workspaceId ? ` · ${c.workspaceId}` : ''}${c.version !== null ? ` · version ${c.version}` : ''}</p>
              <ul class="diff">
                ${diff(c.before, c.after).map((d) => html`<li><code>${d.path}</code>: ${show(d.before)} → ${show(d.after)}</li>`)}
              </ul>
            </li>
          `,
        )}
      </ol>
      ${cursor && html`<button type="button" class="secondary" onClick=${pages.more}>More history</button>`}
    </section>
  `;
}
