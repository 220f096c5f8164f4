// Status lines: an error as the API named it, a scope the token lacks, and an organization
// that nothing is known of (a mistyped id looks like a real organization with defaults).
import { ApiError } from '../api.js';
import { html } from '../lib.js';

function errorText(error) {
  if (error instanceof ApiError) return `${error.message} (HTTP ${error.status}, ${error.code})`;
  return String(error?.message ?? error);
}

export function ErrorNote({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${errorText(error)}</p>`;
}

export function ScopeNote({ who, scope, doing }) {
  if (!who || who.scopes.includes(scope)) return null;
  return html`<p class="note" role="status">The token "${who.name}" cannot ${doing}: it lacks the scope <code>${scope}</code>.</p>`;
}

export const has = (who, scope) => Boolean(who?.scopes.includes(scope));

/** Shown when the organization has nothing stored and the directory lists no workspace of it (workspaceCount 0; null: not read yet). */
export function EmptyOrgNote({ orgId, nothingStored, workspaceCount }) {
  if (!nothingStored || workspaceCount !== 0) return null;
  return html`<p class="note" role="status">${orgId}: nothing is stored for this organization and the directory knows no workspace of it — these are the defaults. Check the organization id.</p>`;
}
