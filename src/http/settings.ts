// The settings admin API, one document per permission family of the active
// bundle (/settings/{family}: integration-access, prompt-access, ...; an unknown family is
// a 404 naming the known ones). Every route asks for its scope and its
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
import { ApiError, invalidInput, CODE } from '../errors.ts';
import { isJsonObject } from '../json.ts';
import { mergePatch } from '../settings/patch.ts';
import type { ActivePolicy } from '../engine/active.ts';
import type { Family } from '../engine/families.ts';
import { VersionMismatchError, type FamilyDocument, type SettingsAdmin, type SettingValues, type WorkspaceDirectory } from '../settings/types.ts';
import { parseOrgDocument, parseWorkspaceDocument, withDefaults } from '../settings/validate.ts';
import { nearest } from '../suggest.ts';
import { ADMIN_PATHS, methodsOf } from './admin-routes.ts';
import { allow } from './auth.ts';
import type { ChangeRecorder } from './changes.ts';
import { pathIds } from './params.ts';

const ORG_PATH = ADMIN_PATHS.orgSettings;
const WORKSPACE_PATH = ADMIN_PATHS.workspaceSettings;
/** A PATCH without If-Match that keeps meeting concurrent writes gives up (412) after this many tries. */
const PATCH_ATTEMPTS = 5;
const STRONG_ETAG = /^\s*"(\d{1,15})"\s*$/;
const WEAK_ETAG = /^W\/"[^"]*"$/;

const etag = (version: number) => `"${version}"`;

function preconditionFailed(res: Response, current: number): ApiError {
  res.set('ETag', etag(current));
  return new ApiError(
    412,
    CODE.precondition_failed,
    `the settings changed since they were read: their ETag is now ${etag(current)}; GET them again and retry with If-Match: ${etag(current)}`,
    [],
    {
      etag: etag(current),
    },
  );
}

/** The versions If-Match names; undefined when it is absent or `*` (any). */
function ifMatch(req: Request): number[] | undefined {
  const header = req.get('if-match');
  if (header === undefined || header.trim() === '*') return undefined;
  const tags = header.split(',').map((tag) => tag.trim());
  // A weak ETag never matches under If-Match (RFC 9110, section 13.1.1): it is read, and counts for nothing.
  const versions = tags.filter((tag) => !WEAK_ETAG.test(tag)).map((tag) => STRONG_ETAG.exec(tag)?.[1]);
  if (versions.some((v) => v === undefined))
    throw invalidInput([{ field: 'If-Match', message: 'must be an ETag this API gave, quotes included (e.g. "12"), or *' }]);
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

/** The family the path names, from the active bundle; 404 naming the families when it is none of them. */
export function familyOf(policy: ActivePolicy, req: Request): Family {
  const name = (req.params as Record<string, string>).family!;
  const { families } = policy.require();
  const family = families.get(name);
  if (family) return family;
  const suggestion = nearest(name, families.names);
  throw new ApiError(
    404,
    CODE.unknown_family,
    `there is no settings family ${JSON.stringify(name)}${suggestion ? `; did you mean ${suggestion}?` : ''} (the families: ${families.names.join(', ') || 'none in the active bundle'})`,
  );
}

/** A workspace path's family: 404 when the family has no workspace overrides (its settings are the organization's only). */
function workspaceFamilyOf(policy: ActivePolicy, req: Request): Family {
  const family = familyOf(policy, req);
  if (family.workspaceOverrides === 'none') {
    throw new ApiError(
      404,
      CODE.no_workspace_overrides,
      `${family.name} has no workspace overrides: its settings are the organization's only (${ORG_PATH.replace(':orgId', encodeURIComponent(String(req.params.orgId))).replace(':family', family.name)})`,
    );
  }
  return family;
}

export function settingsRoutes(store: SettingsAdmin & WorkspaceDirectory, policy: ActivePolicy, record: ChangeRecorder): Router {
  const router = Router();

  router.get(ORG_PATH, allow('GET', ORG_PATH), async (req, res) => {
    const family = familyOf(policy, req);
    const { settings, version } = await store.readOrg(pathIds(req).orgId, family.name);
    versioned(res, version).json(settings === null ? { ...withDefaults(family, null), stored: false } : withDefaults(family, settings));
  });

  router.put(ORG_PATH, allow('PUT', ORG_PATH), async (req, res) => {
    const { orgId } = pathIds(req);
    const family = familyOf(policy, req);
    const settings = parseOrgDocument(family, req.body);
    const { settings: before, version: current } = await store.readOrg(orgId, family.name);
    const expected = precondition(req, res, current);
    const version = await guarded(res, () => store.putOrg(orgId, family.name, settings, expected));
    record(req, res, { orgId, family: family.name, operation: 'put_org', before, after: settings, version });
    versioned(res, version).json(withDefaults(family, settings));
  });

  router.patch(ORG_PATH, allow('PATCH', ORG_PATH), async (req, res) => {
    const { orgId } = pathIds(req);
    const family = familyOf(policy, req);
    const { before, after, version } = await applyPatch<FamilyDocument>(
      req,
      res,
      () => store.readOrg(orgId, family.name),
      (settings, at) => store.putOrg(orgId, family.name, settings, at),
      (raw) => parseOrgDocument(family, raw),
    );
    record(req, res, { orgId, family: family.name, operation: 'patch_org', before, after, version });
    versioned(res, version).json(withDefaults(family, after));
  });

  router.all(ORG_PATH, methodNotAllowed(methodsOf(ORG_PATH)));

  router.get(WORKSPACE_PATH, allow('GET', WORKSPACE_PATH), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const family = workspaceFamilyOf(policy, req);
    const { settings, version } = await store.readWorkspace(orgId, workspaceId, family.name);
    versioned(res, version).json(settings ?? { stored: false });
  });

  router.put(WORKSPACE_PATH, allow('PUT', WORKSPACE_PATH), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const family = workspaceFamilyOf(policy, req);
    const settings = parseWorkspaceDocument(family, req.body);
    const { settings: before, version: current } = await store.readWorkspace(orgId, workspaceId, family.name);
    const expected = precondition(req, res, current);
    await register(req, res, orgId, workspaceId);
    const version = await guarded(res, () => store.putWorkspace(orgId, workspaceId, family.name, settings, expected));
    record(req, res, { orgId, workspaceId, family: family.name, operation: 'put_workspace', before, after: settings, version });
    versioned(res, version).json(settings);
  });

  router.patch(WORKSPACE_PATH, allow('PATCH', WORKSPACE_PATH), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const family = workspaceFamilyOf(policy, req);
    const { before, after, version } = await applyPatch<SettingValues>(
      req,
      res,
      () => store.readWorkspace(orgId, workspaceId, family.name),
      // Registered only once the patch is valid and its precondition holds: a refused PATCH claims nothing.
      async (settings, at) => {
        await register(req, res, orgId, workspaceId);
        return store.putWorkspace(orgId, workspaceId, family.name, settings, at);
      },
      (raw) => parseWorkspaceDocument(family, raw),
    );
    record(req, res, { orgId, workspaceId, family: family.name, operation: 'patch_workspace', before, after, version });
    versioned(res, version).json(after);
  });

  router.delete(WORKSPACE_PATH, allow('DELETE', WORKSPACE_PATH), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const family = workspaceFamilyOf(policy, req);
    const { settings: before, version: current } = await store.readWorkspace(orgId, workspaceId, family.name);
    const expected = precondition(req, res, current);
    const version = await guarded(res, () => store.deleteWorkspace(orgId, workspaceId, family.name, expected));
    if (version !== null) record(req, res, { orgId, workspaceId, family: family.name, operation: 'delete_workspace', before, after: null, version });
    res.status(204).end();
  });

  router.all(WORKSPACE_PATH, methodNotAllowed(methodsOf(WORKSPACE_PATH)));

  /** Registers the workspace (recorded when new) before its settings are written. */
  async function register(req: Request, res: Response, orgId: string, workspaceId: string): Promise<void> {
    if (await registerFor(res, store, orgId, workspaceId))
      record(req, res, { orgId, workspaceId, operation: 'register_workspace', before: null, after: null, version: null });
  }

  return router;
}
