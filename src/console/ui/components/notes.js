// Status lines: an error as the API named it, and a scope the token lacks.
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
