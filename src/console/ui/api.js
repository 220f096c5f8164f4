// The one module that talks to the sidecar's HTTP API: the token (kept in sessionStorage
// for this tab only, never in localStorage or a URL), the requests, and the errors. The
// admin routes' paths, and the enums requests use, come from the sidecar (GET /v1/admin-api),
// not from copies kept here.
const TOKEN_KEY = 'portcullis.console.token';
/** Where the sidecar serves its admin route table: the one admin path written here. */
const ADMIN_API = '/v1/admin-api';

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

/** The admin route table and enums the sidecar serves, asked once (again after a failure). */
let adminApi;
const served = () => {
  adminApi ??= call('GET', ADMIN_API).then(
    ({ body }) => body,
    (error) => {
      adminApi = undefined;
      throw error;
    },
  );
  return adminApi;
};

/**
 * An admin route's path by its name in the served table, its `:name` parameters filled in.
 * @param {string} name
 * @param {Record<string, string>} [params]
 */
async function route(name, params = {}) {
  const template = (await served()).paths[name];
  if (!template) throw new ApiError(0, { code: 'unknown_route', message: `the sidecar serves no admin route named ${name}` });
  return template.replace(/:(\w+)/g, (_, key) => enc(params[key]));
}

/** One call to the admin route of that name. */
const admin = async (method, name, params, options) => call(method, await route(name, params), options);

export const api = {
  whoami: async () => (await admin('GET', 'token')).body,
  /** The words requests use (orgRoles, workspaceRoles, actions, resourceTypes, apis), as the sidecar serves them. */
  enums: async () => (await served()).enums,
  families: async () => (await call('GET', '/v1/families', { auth: false })).body,
  reasons: async () => (await call('GET', '/v1/reasons', { auth: false })).body,

  orgSettings: (orgId, family) => admin('GET', 'orgSettings', { orgId, family }),
  patchOrgSettings: (orgId, family, patch, etag) => admin('PATCH', 'orgSettings', { orgId, family }, { body: patch, ifMatch: etag }),
  putOrgSettings: (orgId, family, body, etag) => admin('PUT', 'orgSettings', { orgId, family }, { body, ifMatch: etag }),
  workspaces: async (orgId, { cursor, prefix, limit }) =>
    (await call('GET', `${await route('workspaces', { orgId })}${query({ cursor, prefix, limit })}`)).body,
  workspaceSettings: (orgId, workspaceId, family) => admin('GET', 'workspaceSettings', { orgId, workspaceId, family }),
  patchWorkspaceSettings: (orgId, workspaceId, family, patch, etag) =>
    admin('PATCH', 'workspaceSettings', { orgId, workspaceId, family }, { body: patch, ifMatch: etag }),
  putWorkspaceSettings: (orgId, workspaceId, family, body, etag) => admin('PUT', 'workspaceSettings', { orgId, workspaceId, family }, { body, ifMatch: etag }),
  access: async (orgId, workspaceId) => (await admin('GET', 'access', { orgId, workspaceId })).body,
  accessDraft: async (orgId, workspaceId, draft) => (await admin('POST', 'access', { orgId, workspaceId }, { body: draft })).body,
  effectiveSettings: (orgId, workspaceId) => admin('GET', 'effectiveSettings', { orgId, workspaceId }),

  decisions: async (filter, cursor, limit = 50) => (await call('GET', `${await route('auditDecisions')}${query({ ...filter, cursor, limit })}`)).body,
  decision: async (decisionId) => (await admin('GET', 'auditDecision', { decisionId })).body,
  summary: async (params) => (await call('GET', `${await route('auditSummary')}${query(params)}`)).body,
  settingsChanges: async (orgId, cursor) => (await call('GET', `${await route('auditSettingsChanges')}${query({ orgId, cursor, limit: 50 })}`)).body,
  replay: async (request) => (await admin('POST', 'replay', {}, { body: request })).body,

  authorize: async (input) => (await call('POST', '/v1/authorize', { body: input, auth: false })).body,
};
