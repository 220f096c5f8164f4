// The settings-changes feed of an organization: who changed what, when, before → after.
import { api } from '../api.js';
import { diff, formatTime, html, show, useEffect, useState } from '../lib.js';
import { ErrorNote } from './notes.js';

export function HistoryPanel({ orgId, refresh }) {
  const [changes, setChanges] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);

  const load = async (more) => {
    try {
      const page = await api.settingsChanges(orgId, more ? cursor : undefined);
      setChanges((before) => (more ? [...before, ...page.changes] : page.changes));
      setCursor(page.nextCursor);
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    load(false);
  }, [orgId, refresh]);

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
      ${cursor && html`<button type="button" class="secondary" onClick=${() => load(true)}>More history</button>`}
    </section>
  `;
}
