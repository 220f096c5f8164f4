// The Express app: public decision and health routes, the admin API behind its tokens
// (each route asks for a scope, see auth.ts), the web console, and one error handler. Everything it uses is passed in, so tests build it with a
// real Redis and a real bundle and nothing is patched.
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { AuditLog } from '../decision/record.ts';
import type { ActivePolicy } from '../engine/active.ts';
import type { Gateway } from '../gateway/gateway.ts';
import { EXT_AUTHZ_PREFIX, extAuthzRoutes } from '../gateway/http.ts';
import type { Metrics } from '../metrics.ts';
import { observeExpress, type RequestObserver } from './observe.ts';
import type { SettingsStore } from '../settings/types.ts';
import { consoleRoutes } from '../console/serve.ts';
import { accessRoutes } from './access.ts';
import { auditRoutes } from './audit.ts';
import { ADMIN_PREFIXES } from './admin-routes.ts';
import { auditAccess, authenticate } from './auth.ts';
import type { Callers } from '../access/callers.ts';
import { changeRecorder } from './changes.ts';
import { directoryRoutes } from './directory.ts';
import { errorHandler, notFound } from './errors.ts';
import { effectiveSettingsRoutes, familiesRoutes } from './families.ts';
import { healthRoutes, statusRoutes } from './health.ts';
import { openApiRoutes } from './openapi.ts';
import { jsonDepthLimit } from './limits.ts';
import { replayRoutes } from './replay.ts';
import { sessionRoutes } from './session.ts';
import { settingsRoutes } from './settings.ts';
import type { AdminTokens } from '../access/tokens.ts';
import type { StartupWarning } from '../warnings.ts';

/**
 * Which routes an app serves: all of them on one listener, or one side of the two when
 * ADMIN_PORT separates the decision surface (decision APIs, gateways, health) from the
 * admin surface (admin API, console, audit API, status, metrics).
 */
export type Surface = 'all' | 'decisions' | 'admin';

export interface AppDeps {
  policy: ActivePolicy;
  store: SettingsStore;
  storeKind: string;
  /** Whether the workspace directory decides a resource's organization (WORKSPACE_DIRECTORY), for /v1/status. */
  workspaceDirectory: boolean;
  audit: AuditLog;
  metrics: Metrics;
  log: Logger;
  /** The admin API's tokens (tokens.ts loadAdminTokens). */
  adminTokens: AdminTokens;
  bodyLimit: string;
  /** Deepest JSON nesting accepted in a request body. */
  jsonMaxDepth: number;
  /** Serves the web console at /console (CONSOLE_ENABLED). */
  consoleEnabled: boolean;
  /** Serves Envoy HTTP ext_authz and nginx auth_request under /ext_authz when given. */
  gateway?: Gateway;
  /** The Host and Origin rules of everything a web page could drive (callers.ts). */
  callers: Callers;
  /** Listed in /v1/status. */
  warnings: readonly StartupWarning[];
  surface: Surface;
  /** Counts and times every answered request per route, and writes the access log when on. */
  observer: RequestObserver;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(observeExpress(deps.observer));
  // Before the JSON parser: a gateway request's body is the original request's, read raw.
  const decisions = deps.surface !== 'admin';
  const admin = deps.surface !== 'decisions';
  if (decisions && deps.gateway) app.use(EXT_AUTHZ_PREFIX, extAuthzRoutes(deps.gateway, deps.bodyLimit));
  // Every body is read as JSON whatever its Content-Type, as OPA does.
  app.use(express.json({ limit: deps.bodyLimit, type: () => true, strict: false }));
  app.use(jsonDepthLimit(deps.jsonMaxDepth));

  app.use(healthRoutes(deps.policy, deps.store));
  if (admin) adminRoutes(app, deps);

  app.use(notFound);
  app.use(errorHandler(deps.log, deps.bodyLimit));
  return app;
}

function adminRoutes(app: Express, deps: AppDeps): void {
  // Before the admin API and the console: another site's page must not drive them.
  app.use((req, _res, next) => {
    deps.callers.checkBrowser(req.headers);
    next();
  });
  app.use(
    statusRoutes(deps.policy, deps.store, deps.metrics, {
      storeKind: deps.storeKind,
      workspaceDirectory: deps.workspaceDirectory,
      callers: deps.callers.status,
      warnings: deps.warnings,
    }),
  );
  app.use(familiesRoutes(deps.policy));
  app.use(openApiRoutes(deps.policy));
  const record = changeRecorder(deps.audit, deps.adminTokens);
  // Every request under an admin prefix of ADMIN_ROUTES (/v1/orgs, /v1/token, /v1/audit) needs a token.
  for (const prefix of ADMIN_PREFIXES) app.use(prefix, authenticate(deps.adminTokens));
  app.use(settingsRoutes(deps.store, deps.policy, record));
  app.use(effectiveSettingsRoutes(deps.store, deps.policy));
  app.use(accessRoutes(deps.store, deps.policy));
  app.use(directoryRoutes(deps.store, record));
  app.use(sessionRoutes());
  app.use('/v1/audit', auditAccess(deps.audit));
  app.use(auditRoutes(deps.audit, deps.policy));
  app.use(replayRoutes(deps.audit, deps.policy, deps.store));
  if (deps.consoleEnabled) app.use(consoleRoutes());
}
