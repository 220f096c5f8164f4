// The organization's workspaces from the directory (GET .../workspaces), a page at a time
// with its cursor, searched by the start of their id (?prefix=): an organization may have
// thousands, so the page never lists them all. Choosing one opens it.
import { api } from '../api.js';
import { html, useEffect, useState } from '../lib.js';
import { ErrorNote } from './notes.js';

const WORKSPACES_PAGE = 20;

/** `onLoaded(count)`: how many the first page without a search found (0: the directory knows none). */
export function WorkspaceList({ orgId, selected, onOpen, onLoaded }) {
  const [search, setSearch] = useState('');
  const [prefix, setPrefix] = useState('');
  // The cursors of the pages before this one: "Previous" goes back without keeping every page.
  const [trail, setTrail] = useState([]);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const cursor = trail.at(-1);

  useEffect(() => {
    let stale = false;
    api.workspaces(orgId, { prefix: prefix || undefined, cursor, limit: WORKSPACES_PAGE }).then(
      (body) => {
        if (stale) return;
        setPage(body);
        setError(null);
        if (!prefix && trail.length === 0) onLoaded?.(body.workspaces.length);
      },
      (e) => !stale && setError(e),
    );
    return () => {
      stale = true;
    };
  }, [orgId, prefix, cursor]);

  const find = (event) => {
    event.preventDefault();
    setTrail([]);
    setPrefix(search.trim());
  };
  const number = trail.length + 1;
  return html`
    <section class="workspaces" aria-labelledby="workspaces-title">
      <h2 id="workspaces-title">Workspaces</h2>
      <form class="search" role="search" onSubmit=${find}>
        <label for="ws-search">Find a workspace (start of its id)</label>
        <input id="ws-search" value=${search} onInput=${(e) => setSearch(e.target.value)} autocomplete="off" spellcheck="false" />
        <button type="submit">Find</button>
      </form>
      <${ErrorNote} error=${error} />
      ${
        page &&
        html`
        ${page.workspaces.length === 0 && html`<p class="muted">${prefix ? `No workspace of ${orgId} starts with "${prefix}".` : `No workspace of ${orgId} is registered.`}</p>`}
        <ul class="workspace-list" aria-label=${`Workspaces of ${orgId}, page ${number}`}>
          ${page.workspaces.map(
            (ws) =>
              html`<li><button type="button" class=${ws === selected ? '' : 'secondary'} aria-pressed=${ws === selected ? 'true' : 'false'} onClick=${() => onOpen(ws)}>${ws}</button></li>`,
          )}
        </ul>
        <nav class="pager" aria-label="Workspace pages">
          <button type="button" class="secondary" disabled=${trail.length === 0} onClick=${() => setTrail(trail.slice(0, -1))}>Previous workspaces</button>
          <span>Page ${number}${prefix ? `, ids starting with "${prefix}"` : ''}</span>
          <button type="button" class="secondary" disabled=${!page.nextCursor} onClick=${() => setTrail([...trail, page.nextCursor])}>Next workspaces</button>
        </nav>`
      }
    </section>
  `;
}
