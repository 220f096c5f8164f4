// Who may call the admin API: the bearer token is identified (401 otherwise), then each
// route asks for one scope and, where it names an organization, that the token may touch
// it (403 naming what is missing). The token itself is never logged (the logger redacts
// the authorization header too), stored or echoed.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { AuditLog } from '../decision/record.ts';
import { errors } from '../errors.ts';
import { isId } from '../ids.ts';
import { adminRoute, scopeUnder, type AdminMethod } from './admin-routes.ts';
import { pathIds } from './params.ts';
import { mayTouch, type AdminToken, type AdminTokens, type Scope } from '../access/tokens.ts';

/** The scope of every route under /v1/audit, from ADMIN_ROUTES. */
const AUDIT_SCOPE = scopeUnder('/v1/audit');

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Identifies the bearer token; the routes behind it find it with tokenOf(res). */
export function authenticate(tokens: AdminTokens): RequestHandler {
  return (req, res, next) => {
    const header = req.get('authorization');
    const match = header ? BEARER.exec(header) : null;
    if (!match) return next(errors.unauthorized('the admin API needs Authorization: Bearer <admin token>'));
    const token = tokens.identify(match[1]!);
    if (!token) return next(errors.unauthorized('admin token is not valid'));
    res.locals.adminToken = token;
    next();
  };
}

/** The token authenticate() identified; a route mounted without it answers 401, never runs open. */
export function tokenOf(res: Response): AdminToken {
  const token = res.locals.adminToken as AdminToken | undefined;
  if (!token) throw errors.unauthorized('the admin API needs Authorization: Bearer <admin token>');
  return token;
}

function checkScope(token: AdminToken, scope: Scope): void {
  if (!token.scopes.has(scope)) throw errors.insufficientScope(token.name, scope);
}

function checkOrg(token: AdminToken, orgId: string): void {
  if (!mayTouch(token, orgId)) throw errors.orgNotAllowed(token.name, orgId);
}

/**
 * For a route under /v1/orgs/{orgId}: the scope ADMIN_ROUTES gives it (a route missing from the
 * table fails when mounted), then the path's ids (400), then the organization.
 */
export function allow(method: AdminMethod, path: string): RequestHandler {
  const { scope } = adminRoute(method, path);
  if (scope === null) throw new Error(`${method} ${path} names an organization: it needs a scope in ADMIN_ROUTES`);
  return (req, res, next) => {
    const token = tokenOf(res);
    checkScope(token, scope);
    checkOrg(token, pathIds(req).orgId);
    next();
  };
}

/**
 * The audit scope (audit:read) for everything under /v1/audit, and the organization a query names (its
 * orgId parameter). A record asked for by id is read first and, if it belongs to an
 * organization the token may not touch, answered 404 as if it did not exist, so a token
 * cannot learn which ids other organizations' decisions have.
 */
export function auditAccess(audit: Pick<AuditLog, 'getDecision'>): Router {
  const router = Router();
  router.use((req, res, next) => {
    checkScope(tokenOf(res), AUDIT_SCOPE);
    next();
  });
  router.get('/decisions/:decisionId', async (req: Request<{ decisionId: string }>, res, next) => {
    const token = tokenOf(res);
    const { decisionId } = req.params;
    // Not an id: no record has it, and the audit routes answer it as they do for everyone.
    if (token.orgs === null || !isId(decisionId)) return next();
    const record = await audit.getDecision(decisionId);
    if (!record || !mayTouch(token, record.orgId)) throw errors.notFound(`decision ${decisionId}`);
    next();
  });
  router.use((req, res, next) => {
    const { orgId } = req.query;
    // Missing or repeated: the audit routes answer 400 for it.
    if (typeof orgId === 'string' && orgId !== '') checkOrg(tokenOf(res), orgId);
    next();
  });
  return router;
}
