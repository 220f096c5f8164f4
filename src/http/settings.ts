// The settings admin API (DESIGN.md §2). Every route asks for its scope and its
// organization (auth.ts); every write bumps the organization's settings version, which
// the next decision on every instance sees, and is recorded under the token's name.
// A workspace's settings are written only for a workspace of the organization: the write
// registers it in the workspace directory, and is refused (409) if another org holds it.
//
// Lost updates: the ETag of a settings document is the organization's settings version
// ("12"), so a write to any of the organization's workspaces changes the organization's
// ETag too. PUT, PATCH and DELETE with If-Match are made only if the version is still one
// of those named (checked and written atomically by the store), else 412. PATCH is a JSON
// merge patch (RFC 7396) applied to the stored document; without If-Match it is still
// applied atomically to the version it read (re-read and re-applied if another write came
// between). A GET of a document that was never stored answers 200 with `"stored": false`.
import { methodNotAllowed, registerFor } from './directory.ts';
import { Router, type Request, type Response } from 'express';
import { ApiError, invalidInput } from '../errors.ts';
import { isJsonObject } from '../json.ts';
import { mergePatch } from '../settings/patch.ts';
import { VersionMismatchError, withDefaults, type OrgSettings, type SettingsStore, type WorkspaceSettings } from '../settings/types.ts';
import { parseOrgSettings, parseWorkspaceSettings } from '../settings/validate.ts';
import { allow } from './auth.ts';
import type { ChangeRecorder } from './changes.ts';
import { pathIds } from './params.ts';

const ORG_PATH = '/v1/orgs/:orgId/settings/integration-access';
const WORKSPACE_PATH = '/v1/orgs/:orgId/workspaces/:workspaceId/settings/integration-access';
/** A PATCH without If-Match that keeps meeting concurrent writes gives up (412) after this many tries. */
const PATCH_ATTEMPTS = 5;
const STRONG_ETAG = /^\s*"(\d{1,15})"\s*$/;
const WEAK_ETAG = /^W\/"[^"]*"$/;

const etag = (version: number) => `"${version}"`;

function preconditionFailed(res: Response, current: number): ApiError {
  res.set('ETag', etag(current));
  return new ApiError(412, 'precondition_failed', `the settings changed since they were read: their ETag is now ${etag(current)}; GET them again and retry with If-Match: ${etag(current)}`, [], {
    etag: etag(current),
  });
}

/** The versions If-Match names; undefined when it is absent or `*` (any). */
function ifMatch(req: Request): number[] | undefined {
  const header = req.get('if-match');
  if (header === undefined || header.trim() === '*') return undefined;
  const tags = header.split(',').map((tag) => tag.trim());
  // A weak ETag never matches under If-Match (RFC 9110 §13.1.1): it is read, and counts for nothing.
  const versions = tags.filter((tag) => !WEAK_ETAG.test(tag)).map((tag) => STRONG_ETAG.exec(tag)?.[1]);
  if (versions.some((v) => v === undefined)) throw invalidInput([{ field: 'If-Match', message: 'must be an ETag this API gave, quotes included (e.g. "12"), or *' }]);
  return versions.map(Number);
}

/** The version to write at: the one read, when If-Match names it (412 when it does not); undefined without If-Match. */
function precondition(req: Request, res: Response, current: number): number | undefined {
  const accepted = ifMatch(req);
  if (accepted === undefined) return undefined;
  if (!accepted.includes(current)) throw preconditionFailed(res, current);
  return current;
}

/** Runs a conditional write; a version mismatch is a 412 naming the current ETag. */
async function guarded<T>(res: Response, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof VersionMismatchError) throw preconditionFailed(res, error.current);
    throw error;
  }
}

function versioned(res: Response, version: number): Response {
  return res.set('ETag', etag(version)).set('X-Settings-Version', String(version));
}

function patchBody(req: Request): Record<string, unknown> {
  if (!isJsonObject(req.body)) throw invalidInput([{ field: 'body', message: 'must be a JSON object (a JSON merge patch: null removes a field)' }]);
  return req.body;
}

/**
 * Reads, merges and writes at the version read: with If-Match once, without it until no
 * other write comes between (a bounded number of times).
 */
async function applyPatch<T>(
  req: Request,
  res: Response,
  read: () => Promise<{ settings: T | null; version: number }>,
  write: (settings: T, atVersion: number) => Promise<number>,
  parse: (raw: unknown) => T,
): Promise<{ before: T | null; after: T; version: number }> {
  const patch = patchBody(req);
  for (let attempt = 1; ; attempt++) {
    const { settings: before, version: current } = await read();
    const conditional = precondition(req, res, current) !== undefined;
    const after = parse(mergePatch(before ?? {}, patch));
    try {
      return { before, after, version: await write(after, current) };
    } catch (error) {
      if (!(error instanceof VersionMismatchError)) throw error;
      if (conditional || attempt >= PATCH_ATTEMPTS) throw preconditionFailed(res, error.current);
    }
  }
}

export function settingsRoutes(store: SettingsStore, record: ChangeRecorder): Router {
  const router = Router();

  router.get(ORG_PATH, allow('settings:read'), async (req, res) => {
    const { settings, version } = await store.readOrg(pathIds(req).orgId);
    versioned(res, version).json(settings === null ? { ...withDefaults(null), stored: false } : withDefaults(settings));
  });

  router.put(ORG_PATH, allow('settings:write'), async (req, res) => {
    const { orgId } = pathIds(req);
    const settings = parseOrgSettings(req.body);
    const { settings: before, version: current } = await store.readOrg(orgId);
    const expected = precondition(req, res, current);
    const version = await guarded(res, () => store.putOrg(orgId, settings, expected));
    record(req, res, { orgId, operation: 'put_org', before, after: settings, version });
    versioned(res, version).json(withDefaults(settings));
  });

  router.patch(ORG_PATH, allow('settings:write'), async (req, res) => {
    const { orgId } = pathIds(req);
    const { before, after, version } = await applyPatch<OrgSettings>(
      req,
      res,
      () => store.readOrg(orgId),
      (settings, at) => store.putOrg(orgId, settings, at),
      (raw) => parseOrgSettings(raw),
    );
    record(req, res, { orgId, operation: 'patch_org', before, after, version });
    versioned(res, version).json(withDefaults(after));
  });

  router.all(ORG_PATH, methodNotAllowed(['GET', 'HEAD', 'PUT', 'PATCH']));

  router.get(WORKSPACE_PATH, allow('settings:read'), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const { settings, version } = await store.readWorkspace(orgId, workspaceId);
    versioned(res, version).json(settings ?? { stored: false });
  });

  router.put(WORKSPACE_PATH, allow('settings:write'), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const settings = parseWorkspaceSettings(req.body);
    const { settings: before, version: current } = await store.readWorkspace(orgId, workspaceId);
    const expected = precondition(req, res, current);
    await register(req, res, orgId, workspaceId);
    const version = await guarded(res, () => store.putWorkspace(orgId, workspaceId, settings, expected));
    record(req, res, { orgId, workspaceId, operation: 'put_workspace', before, after: settings, version });
    versioned(res, version).json(settings);
  });

  router.patch(WORKSPACE_PATH, allow('settings:write'), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const { before, after, version } = await applyPatch<WorkspaceSettings>(
      req,
      res,
      () => store.readWorkspace(orgId, workspaceId),
      // Registered only once the patch is valid and its precondition holds: a refused PATCH claims nothing.
      async (settings, at) => {
        await register(req, res, orgId, workspaceId);
        return store.putWorkspace(orgId, workspaceId, settings, at);
      },
      (raw) => parseWorkspaceSettings(raw),
    );
    record(req, res, { orgId, workspaceId, operation: 'patch_workspace', before, after, version });
    versioned(res, version).json(after);
  });

  router.delete(WORKSPACE_PATH, allow('settings:write'), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const { settings: before, version: current } = await store.readWorkspace(orgId, workspaceId);
    const expected = precondition(req, res, current);
    const version = await guarded(res, () => store.deleteWorkspace(orgId, workspaceId, expected));
    if (version !== null) record(req, res, { orgId, workspaceId, operation: 'delete_workspace', before, after: null, version });
    res.status(204).end();
  });

  router.all(WORKSPACE_PATH, methodNotAllowed(['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE']));

  /** Registers the workspace (recorded when new) before its settings are written. */
  async function register(req: Request, res: Response, orgId: string, workspaceId: string): Promise<void> {
    if (await registerFor(res, store, orgId, workspaceId)) record(req, res, { orgId, workspaceId, operation: 'register_workspace', before: null, after: null, version: null });
  }

  return router;
}
