// The admin API's routes, written once: method, path and the scope a token needs. The routers
// take each route's scope and its 405 Allow list from this table, the app authenticates every
// request under its prefixes, and tests iterate it (test/http/admin-tokens.test.ts calls every
// route with every token; test/http/admin-routes.test.ts fails when a mounted admin route is
// not in the table, or a route of the table is not mounted, and when the OpenAPI document's
// admin paths differ from it). The sidecar serves the table (GET /v1/admin-api, admin-api.ts),
// so the console and the command line build their requests from it.
import type { Scope } from '../access/tokens.ts';

export type AdminMethod = 'GET' | 'PUT' | 'PATCH' | 'POST' | 'DELETE';
/** The scopes of the admin API (decide is the decision APIs'). */
export type AdminScope = Exclude<Scope, 'decide'>;

export interface AdminRoute {
  method: AdminMethod;
  path: string;
  /** The scope a token needs; null: any admin token (the route describes the token itself). */
  scope: AdminScope | null;
}

export const ADMIN_PATHS = {
  orgSettings: '/v1/orgs/:orgId/settings/:family',
  workspaceSettings: '/v1/orgs/:orgId/workspaces/:workspaceId/settings/:family',
  effectiveSettings: '/v1/orgs/:orgId/workspaces/:workspaceId/effective-settings',
  access: '/v1/orgs/:orgId/workspaces/:workspaceId/access',
  workspace: '/v1/orgs/:orgId/workspaces/:workspaceId',
  workspaces: '/v1/orgs/:orgId/workspaces',
  apiKeys: '/v1/orgs/:orgId/api-keys',
  apiKey: '/v1/orgs/:orgId/api-keys/:keyId',
  rotateApiKey: '/v1/orgs/:orgId/api-keys/:keyId/rotate',
  token: '/v1/token',
  adminApi: '/v1/admin-api',
  auditDecisions: '/v1/audit/decisions',
  auditDecision: '/v1/audit/decisions/:decisionId',
  auditSummary: '/v1/audit/summary',
  auditSettingsChanges: '/v1/audit/settings-changes',
  replay: '/v1/audit/replay',
} as const;

const P = ADMIN_PATHS;

export const ADMIN_ROUTES: readonly AdminRoute[] = [
  { method: 'GET', path: P.orgSettings, scope: 'settings:read' },
  { method: 'PUT', path: P.orgSettings, scope: 'settings:write' },
  { method: 'PATCH', path: P.orgSettings, scope: 'settings:write' },
  { method: 'GET', path: P.workspaceSettings, scope: 'settings:read' },
  { method: 'PUT', path: P.workspaceSettings, scope: 'settings:write' },
  { method: 'PATCH', path: P.workspaceSettings, scope: 'settings:write' },
  { method: 'DELETE', path: P.workspaceSettings, scope: 'settings:write' },
  { method: 'GET', path: P.effectiveSettings, scope: 'settings:read' },
  { method: 'GET', path: P.access, scope: 'settings:read' },
  { method: 'POST', path: P.access, scope: 'settings:read' },
  { method: 'PUT', path: P.workspace, scope: 'settings:write' },
  { method: 'DELETE', path: P.workspace, scope: 'settings:write' },
  { method: 'GET', path: P.workspaces, scope: 'settings:read' },
  { method: 'POST', path: P.apiKeys, scope: 'keys:write' },
  { method: 'GET', path: P.apiKeys, scope: 'keys:read' },
  { method: 'GET', path: P.apiKey, scope: 'keys:read' },
  { method: 'DELETE', path: P.apiKey, scope: 'keys:write' },
  { method: 'POST', path: P.rotateApiKey, scope: 'keys:write' },
  { method: 'GET', path: P.token, scope: null },
  { method: 'GET', path: P.adminApi, scope: null },
  { method: 'GET', path: P.auditDecisions, scope: 'audit:read' },
  { method: 'GET', path: P.auditDecision, scope: 'audit:read' },
  { method: 'GET', path: P.auditSummary, scope: 'audit:read' },
  { method: 'GET', path: P.auditSettingsChanges, scope: 'audit:read' },
  { method: 'POST', path: P.replay, scope: 'audit:read' },
];

/** The path prefixes behind which every request needs an admin token. */
export const ADMIN_PREFIXES = [...new Set(ADMIN_ROUTES.map((route) => route.path.split('/').slice(0, 3).join('/')))];

/** The table's entry for a route; a router mounting a route the table lacks fails at start. */
export function adminRoute(method: AdminMethod, path: string): AdminRoute {
  const route = ADMIN_ROUTES.find((r) => r.method === method && r.path === path);
  if (!route) throw new Error(`${method} ${path} is not in ADMIN_ROUTES (src/http/admin-routes.ts)`);
  return route;
}

/** The methods a path takes, for its 405 answer's Allow (HEAD with GET, as Express answers it). */
export function methodsOf(path: string): string[] {
  const methods = ADMIN_ROUTES.filter((r) => r.path === path).flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method]));
  if (methods.length === 0) throw new Error(`${path} is not in ADMIN_ROUTES (src/http/admin-routes.ts)`);
  return methods;
}

/** The one scope every route under a prefix needs (the audit API checks it for the whole prefix). */
export function scopeUnder(prefix: string): AdminScope {
  const scopes = new Set(ADMIN_ROUTES.filter((r) => r.path.startsWith(`${prefix}/`)).map((r) => r.scope));
  const [scope] = [...scopes];
  if (scopes.size !== 1 || !scope) throw new Error(`the routes under ${prefix} need one scope, not ${[...scopes].join(', ')}`);
  return scope;
}
