// The one module that talks to the sidecar's HTTP API: the token (kept in sessionStorage
// for this tab only, never in localStorage or a URL), the requests, and the errors.
const TOKEN_KEY = 'portcullis.console.token';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? 'http_error';
    this.body = body;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

const enc = encodeURIComponent;

/**
 * One request; answers {body, etag}. `auth` false for the public APIs (decisions, families, reasons).
 * @param {string} method
 * @param {string} path
 * @param {{ body?: unknown, ifMatch?: string, auth?: boolean }} [options]
 */
async function call(method, path, { body, ifMatch, auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (auth && session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (ifMatch) headers['If-Match'] = ifMatch;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { message: text };
    }
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return { body: parsed, etag: response.headers.get('ETag') };
}

const query = (params) => {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '');
  return entries.length ? `?${new URLSearchParams(entries)}` : '';
};

const orgPath = (orgId) => `/v1/orgs/${enc(orgId)}`;

export const api = {
  whoami: async () => (await call('GET', '/v1/token')).body,
  families: async () => (await call('GET', '/v1/families', { auth: false })).body,
  reasons: async () => (await call('GET', '/v1/reasons', { auth: false })).body,

  orgSettings: (orgId, family) => call('GET', `${orgPath(orgId)}/settings/${enc(family)}`),
  patchOrgSettings: (orgId, family, patch, etag) => call('PATCH', `${orgPath(orgId)}/settings/${enc(family)}`, { body: patch, ifMatch: etag }),
  putOrgSettings: (orgId, family, body, etag) => call('PUT', `${orgPath(orgId)}/settings/${enc(family)}`, { body, ifMatch: etag }),
  workspaces: async (orgId, { cursor, prefix, limit }) => (await call('GET', `${orgPath(orgId)}/workspaces${query({ cursor, prefix, limit })}`)).body,
  workspaceSettings: (orgId, workspaceId, family) => call('GET', `${orgPath(orgId)}/workspaces/${enc(workspaceId)}/settings/${enc(family)}`),
  patchWorkspaceSettings: (orgId, workspaceId, family, patch, etag) =>
    call('PATCH', `${orgPath(orgId)}/workspaces/${enc(workspaceId)}/settings/${enc(family)}`, { body: patch, ifMatch: etag }),
  putWorkspaceSettings: (orgId, workspaceId, family, body, etag) =>
    call('PUT', `${orgPath(orgId)}/workspaces/${enc(workspaceId)}/settings/${enc(family)}`, { body, ifMatch: etag }),
  access: async (orgId, workspaceId) => (await call('GET', `${orgPath(orgId)}/workspaces/${enc(workspaceId)}/access`)).body,
  accessDraft: async (orgId, workspaceId, draft) => (await call('POST', `${orgPath(orgId)}/workspaces/${enc(workspaceId)}/access`, { body: draft })).body,
  effectiveSettings: (orgId, workspaceId) => call('GET', `${orgPath(orgId)}/workspaces/${enc(workspaceId)}/effective-settings`),

  decisions: async (filter, cursor, limit = 50) => (await call('GET', `/v1/audit/decisions${query({ ...filter, cursor, limit })}`)).body,
  decision: async (decisionId) => (await call('GET', `/v1/audit/decisions/${enc(decisionId)}`)).body,
  summary: async (params) => (await call('GET', `/v1/audit/summary${query(params)}`)).body,
  settingsChanges: async (orgId, cursor) => (await call('GET', `/v1/audit/settings-changes${query({ orgId, cursor, limit: 50 })}`)).body,
  replay: async (request) => (await call('POST', '/v1/audit/replay', { body: request })).body,

  authorize: async (input) => (await call('POST', '/v1/authorize', { body: input, auth: false })).body,
};
