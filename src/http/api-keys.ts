// The API-key registry's admin API: register (the key is in this answer and nowhere else,
// ever), list, read, rotate and revoke an organization's keys. A key of another organization
// is answered 404 as if it did not exist, so a token limited to one organization cannot
// learn, see or change another's keys. Every change is a settings-audit record whose
// before/after is the key's record: its id, never the key or its hash.
import { Router, type Request } from 'express';
import { isKeyId, KeyRevokedError, parseNewKey, type ApiKey, type KeyRegistry } from '../apikeys/registry.ts';
import { ApiError, CODE, errors, invalidInput, type FieldError } from '../errors.ts';
import type { SettingsStore } from '../settings/types.ts';
import { ADMIN_PATHS, methodsOf } from './admin-routes.ts';
import { allow, tokenOf } from './auth.ts';
import type { ChangeRecorder } from './changes.ts';
import { methodNotAllowed } from './directory.ts';
import { pathIds } from './params.ts';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

function keyIdOf(req: Request): string {
  const keyId = (req.params as Record<string, string>).keyId ?? '';
  if (!isKeyId(keyId)) throw invalidInput([{ field: 'keyId', message: 'is not an API key id (key- and 24 hexadecimal digits)' }]);
  return keyId;
}

function listPage(query: Request['query']): { limit: number; after?: string } {
  const problems: FieldError[] = [];
  for (const name of Object.keys(query)) if (name !== 'limit' && name !== 'cursor') problems.push({ field: name, message: 'is not a parameter of this query' });
  const { limit = String(DEFAULT_LIMIT), cursor } = query;
  const n = typeof limit === 'string' && /^\d{1,4}$/.test(limit) ? Number(limit) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) problems.push({ field: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}, given once` });
  // The cursor is the last key id of the page: not a secret, and checked like a path's key id.
  if (cursor !== undefined && !(typeof cursor === 'string' && isKeyId(cursor)))
    problems.push({ field: 'cursor', message: 'is not a cursor this API gave (pass nextCursor back as it came)' });
  if (problems.length > 0) throw invalidInput(problems);
  return cursor === undefined ? { limit: n } : { limit: n, after: cursor as string };
}

const notFound = (orgId: string, keyId: string) => errors.notFound(`API key ${keyId} of organization ${JSON.stringify(orgId)}`);

export interface ApiKeyRoutesOptions {
  /** Whether a workspace key's workspace must be the organization's in the workspace directory (WORKSPACE_DIRECTORY). */
  workspaceDirectory: boolean;
}

export function apiKeyRoutes(keys: KeyRegistry, store: SettingsStore, record: ChangeRecorder, options: ApiKeyRoutesOptions): Router {
  const router = Router();
  const P = ADMIN_PATHS;
  const recordChange = (
    req: Request,
    res: Parameters<ChangeRecorder>[1],
    operation: 'register_api_key' | 'rotate_api_key' | 'revoke_api_key',
    before: ApiKey | null,
    after: ApiKey,
  ) =>
    record(req, res, {
      orgId: after.orgId,
      ...(after.workspaceId !== undefined ? { workspaceId: after.workspaceId } : {}),
      operation,
      before,
      after,
      version: null,
    });

  router.post(P.apiKeys, allow('POST', P.apiKeys), async (req, res) => {
    const { orgId } = pathIds(req);
    const request = parseNewKey(req.body, orgId);
    if (request.workspaceId !== undefined && options.workspaceDirectory && (await store.workspaceOrg(request.workspaceId)) !== orgId) {
      throw new ApiError(
        403,
        CODE.workspace_not_registered,
        `workspace ${JSON.stringify(request.workspaceId)} is not registered to organization ${JSON.stringify(orgId)}: register it first (PUT ${P.workspace})`,
      );
    }
    const issued = await keys.register(request, tokenOf(res).name);
    recordChange(req, res, 'register_api_key', null, issued.apiKey);
    res.status(201).set('Cache-Control', 'no-store').json(issued);
  });

  router.get(P.apiKeys, allow('GET', P.apiKeys), async (req, res) => {
    const { orgId } = pathIds(req);
    const { apiKeys, next } = await keys.list(orgId, listPage(req.query));
    res.json({ apiKeys, nextCursor: next });
  });
  router.all(P.apiKeys, methodNotAllowed(methodsOf(P.apiKeys)));

  router.get(P.apiKey, allow('GET', P.apiKey), async (req, res) => {
    const { orgId } = pathIds(req);
    const keyId = keyIdOf(req);
    const apiKey = await keys.get(orgId, keyId);
    if (!apiKey) throw notFound(orgId, keyId);
    res.json(apiKey);
  });

  router.delete(P.apiKey, allow('DELETE', P.apiKey), async (req, res) => {
    const { orgId } = pathIds(req);
    const keyId = keyIdOf(req);
    const before = await keys.get(orgId, keyId);
    const revoked = await keys.revoke(orgId, keyId, tokenOf(res).name);
    if (!revoked || !before) throw notFound(orgId, keyId);
    if (revoked.revoked) recordChange(req, res, 'revoke_api_key', before, revoked.apiKey);
    res.json(revoked.apiKey);
  });
  router.all(P.apiKey, methodNotAllowed(methodsOf(P.apiKey)));

  router.post(P.rotateApiKey, allow('POST', P.rotateApiKey), async (req, res) => {
    const { orgId } = pathIds(req);
    const keyId = keyIdOf(req);
    const before = await keys.get(orgId, keyId);
    let issued: Awaited<ReturnType<KeyRegistry['rotate']>>;
    try {
      issued = await keys.rotate(orgId, keyId, tokenOf(res).name);
    } catch (error) {
      if (error instanceof KeyRevokedError) throw new ApiError(409, CODE.api_key_revoked, `API key ${keyId} is revoked; register a new key instead`);
      throw error;
    }
    if (!issued || !before) throw notFound(orgId, keyId);
    recordChange(req, res, 'rotate_api_key', before, issued.apiKey);
    res.set('Cache-Control', 'no-store').json(issued);
  });
  router.all(P.rotateApiKey, methodNotAllowed(methodsOf(P.rotateApiKey)));

  return router;
}
