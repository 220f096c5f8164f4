// The settings-changes feed of an organization: who changed what, when, before → after,
// settings named by their product labels.
import { api } from '../api.js';
import { diff, formatTime, html, show, usePages } from '../lib.js';
import { labelsOf } from '../labels.js';
import { ErrorNote } from './notes.js';

/** One change's heading: time · actor (note) · what · workspace · version. */
const summary = (c, labels) =>
  [
    `${c.actor}${c.note ? ` (${c.note})` : ''}`,
    `${c.operation.replace(/_/g, ' ')}${c.family ? ` (${labels.family(c.family)})` : ''}`,
    c.workspaceId,
    c.version !== null ? `version ${c.version}` : undefined,
  ]
    .filter(Boolean)
    .join(' · ');

export function HistoryPanel({ orgId, families, refresh }) {
  const labels = labelsOf(families);
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
              <p><time datetime=${c.timestamp}>${formatTime(c.timestamp)}</time>${` · ${summary(c, labels)}`}</p>
              <ul class="diff">
                ${diff(c.before, c.after).map((d) => html`<li>${labels.path(c.family, d.path)}: ${show(d.before)} → ${show(d.after)}</li>`)}
              </ul>
            </li>
          `,
        )}
      </ol>
      ${cursor && html`<button type="button" class="secondary" onClick=${pages.more}>More history</button>`}
    </section>
  `;
}
