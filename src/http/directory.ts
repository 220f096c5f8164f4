// The workspace directory's admin API: which organization a workspace
// belongs to, which gateways trust over the caller's token. A workspace belongs to one
// organization at a time; registering it under another is a 409 that does not say whose
// it is. Changes are recorded in the settings audit trail like settings changes.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { ApiError, errors, invalidInput, type FieldError, CODE } from '../errors.ts';
import { idProblem } from '../ids.ts';
import type { WorkspaceDirectory, WorkspacePage } from '../settings/types.ts';
import { ADMIN_PATHS, methodsOf } from './admin-routes.ts';
import { allow, tokenOf } from './auth.ts';
import type { ChangeRecorder } from './changes.ts';
import { pathIds } from './params.ts';

const WORKSPACE_PATH = ADMIN_PATHS.workspace;
const LIST_PATH = ADMIN_PATHS.workspaces;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

// The cursor is the last workspace id of the page, base64url-encoded: opaque to callers
// (they pass it back as it came), and checked by the id rule when it comes back.
const encodeCursor = (workspaceId: string) => Buffer.from(workspaceId, 'utf8').toString('base64url');

function decodeCursor(cursor: string): string | undefined {
  const workspaceId = Buffer.from(cursor, 'base64url').toString('utf8');
  return encodeCursor(workspaceId) === cursor && idProblem(workspaceId) === undefined ? workspaceId : undefined;
}

function listPage(query: Request['query']): WorkspacePage {
  const problems: FieldError[] = [];
  for (const name of Object.keys(query))
    if (name !== 'limit' && name !== 'cursor' && name !== 'prefix') problems.push({ field: name, message: 'is not a parameter of this query' });
  const { limit = String(DEFAULT_LIMIT), cursor, prefix } = query;
  const n = typeof limit === 'string' && /^\d{1,4}$/.test(limit) ? Number(limit) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) problems.push({ field: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}, given once` });
  const after = typeof cursor === 'string' ? decodeCursor(cursor) : undefined;
  if (cursor !== undefined && after === undefined)
    problems.push({ field: 'cursor', message: 'is not a cursor this API gave (pass nextCursor back as it came)' });
  // A prefix is the start of a workspace id: the id rule, or nothing.
  if (prefix !== undefined && (typeof prefix !== 'string' || (prefix !== '' && idProblem(prefix) !== undefined)))
    problems.push({ field: 'prefix', message: 'must be the start of a workspace id (the id rule), given once' });
  if (problems.length > 0) throw invalidInput(problems);
  return { limit: n, ...(after === undefined ? {} : { after }), ...(typeof prefix === 'string' && prefix !== '' ? { prefix } : {}) };
}

/**
 * Registers the workspace under the organization for the request's token; true when it
 * was new. Only a token that may touch every organization (the control plane's) claims a
 * new workspace id: a token limited to some organizations may use only workspaces already
 * registered to them, or one tenant could claim another's workspace id before its owner
 * does and be decided in it as that organization.
 */
export async function registerFor(res: Response, store: WorkspaceDirectory, orgId: string, workspaceId: string): Promise<boolean> {
  if (tokenOf(res).orgs === null) return (await store.registerWorkspace(orgId, workspaceId)).created;
  if ((await store.workspaceOrg(workspaceId)) === orgId) return false;
  throw new ApiError(
    403,
    CODE.workspace_not_registered,
    `workspace ${JSON.stringify(workspaceId)} is not registered to organization ${JSON.stringify(orgId)}, and a token limited to some organizations cannot register workspaces`,
  );
}

/** The answer to a method a known admin path does not take: 405 naming the ones it does (Allow). */
export function methodNotAllowed(methods: string[]): RequestHandler {
  return (_req, res) => {
    res.set('Allow', methods.join(', '));
    throw new ApiError(405, CODE.method_not_allowed, `this path takes ${methods.join(', ')}`);
  };
}

export function directoryRoutes(store: WorkspaceDirectory, record: ChangeRecorder): Router {
  const router = Router();

  router.put(WORKSPACE_PATH, allow('PUT', WORKSPACE_PATH), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const created = await registerFor(res, store, orgId, workspaceId);
    if (created) record(req, res, { orgId, workspaceId, operation: 'register_workspace', before: null, after: null, version: null });
    res.status(created ? 201 : 200).json({ orgId, workspaceId });
  });

  router.delete(WORKSPACE_PATH, allow('DELETE', WORKSPACE_PATH), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    if (!(await store.unregisterWorkspace(orgId, workspaceId)))
      throw errors.notFound(`workspace ${JSON.stringify(workspaceId)} of organization ${JSON.stringify(orgId)}`);
    record(req, res, { orgId, workspaceId, operation: 'unregister_workspace', before: null, after: null, version: null });
    res.status(204).end();
  });

  router.all(WORKSPACE_PATH, methodNotAllowed(methodsOf(WORKSPACE_PATH)));

  router.get(LIST_PATH, allow('GET', LIST_PATH), async (req, res) => {
    const { orgId } = pathIds(req);
    const { workspaces, next } = await store.listWorkspaces(orgId, listPage(req.query));
    res.json({ workspaces, nextCursor: next === null ? null : encodeCursor(next) });
  });

  router.all(LIST_PATH, methodNotAllowed(methodsOf(LIST_PATH)));

  return router;
}
