// The settings admin API (DESIGN.md §2). Every route asks for its scope and its
// organization (auth.ts); every write bumps the organization's settings version, which
// the next decision on every instance sees, and is recorded under the token's name.
// A workspace's settings are written only for a workspace of the organization: the write
// registers it in the workspace directory, and is refused (409) if another org holds it.
import { registerFor } from './directory.ts';
import { Router } from 'express';
import { withDefaults, type SettingsStore } from '../settings/types.ts';
import { parseOrgSettings, parseWorkspaceSettings } from '../settings/validate.ts';
import { allow } from './auth.ts';
import type { ChangeRecorder } from './changes.ts';
import { pathIds } from './params.ts';

const ORG_PATH = '/v1/orgs/:orgId/settings/integration-access';
const WORKSPACE_PATH = '/v1/orgs/:orgId/workspaces/:workspaceId/settings/integration-access';

export function settingsRoutes(store: SettingsStore, record: ChangeRecorder): Router {
  const router = Router();

  router.get(ORG_PATH, allow('settings:read'), async (req, res) => {
    res.json(withDefaults(await store.getOrg(pathIds(req).orgId)));
  });

  router.put(ORG_PATH, allow('settings:write'), async (req, res) => {
    const { orgId } = pathIds(req);
    const settings = parseOrgSettings(req.body);
    const before = await store.getOrg(orgId);
    const version = await store.putOrg(orgId, settings);
    record(req, res, { orgId, operation: 'put_org', before, after: settings, version });
    res.set('X-Settings-Version', String(version)).json(withDefaults(settings));
  });

  router.get(WORKSPACE_PATH, allow('settings:read'), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    res.json((await store.getWorkspace(orgId, workspaceId)) ?? {});
  });

  router.put(WORKSPACE_PATH, allow('settings:write'), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const settings = parseWorkspaceSettings(req.body);
    const created = await registerFor(res, store, orgId, workspaceId);
    if (created) record(req, res, { orgId, workspaceId, operation: 'register_workspace', before: null, after: null, version: null });
    const before = await store.getWorkspace(orgId, workspaceId);
    const version = await store.putWorkspace(orgId, workspaceId, settings);
    record(req, res, { orgId, workspaceId, operation: 'put_workspace', before, after: settings, version });
    res.set('X-Settings-Version', String(version)).json(settings);
  });

  router.delete(WORKSPACE_PATH, allow('settings:write'), async (req, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const before = await store.getWorkspace(orgId, workspaceId);
    if (await store.deleteWorkspace(orgId, workspaceId)) record(req, res, { orgId, workspaceId, operation: 'delete_workspace', before, after: null, version: null });
    res.status(204).end();
  });

  return router;
}
