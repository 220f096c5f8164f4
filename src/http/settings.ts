// The settings admin API (DESIGN.md §2). Behind the admin token; every write bumps the
// organization's settings version, which the next decision on every instance sees.
import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import type { AuditLog, SettingsOperation } from '../audit/record.ts';
import { invalidInput, type FieldError } from '../errors.ts';
import { withDefaults, type SettingsStore } from '../settings/types.ts';
import { parseOrgSettings, parseWorkspaceSettings } from '../settings/validate.ts';

const ORG_PATH = '/v1/orgs/:orgId/settings/integration-access';
const WORKSPACE_PATH = '/v1/orgs/:orgId/workspaces/:workspaceId/settings/integration-access';
const MAX_ID_LENGTH = 256;

function ids(req: Request): { orgId: string; workspaceId: string } {
  const { orgId = '', workspaceId = '' } = req.params as Record<string, string | undefined>;
  const problems: FieldError[] = [];
  if (orgId.length > MAX_ID_LENGTH) problems.push({ field: 'orgId', message: `must be at most ${MAX_ID_LENGTH} characters` });
  if (workspaceId.length > MAX_ID_LENGTH) problems.push({ field: 'workspaceId', message: `must be at most ${MAX_ID_LENGTH} characters` });
  if (problems.length > 0) throw invalidInput(problems);
  return { orgId, workspaceId };
}

/** Who changed settings: the X-Actor header set by the calling service. */
function actorOf(req: Request): string {
  const actor = req.get('x-actor')?.trim();
  return actor ? actor.slice(0, MAX_ID_LENGTH) : 'unknown';
}

export function settingsRoutes(store: SettingsStore, audit: Pick<AuditLog, 'recordSettingsChange'>): Router {
  const router = Router();
  const recordChange = (req: Request, operation: SettingsOperation, before: object | null, after: object | null, version: number | null) => {
    const { orgId, workspaceId } = ids(req);
    audit.recordSettingsChange({
      changeId: randomUUID(),
      timestamp: new Date().toISOString(),
      actor: actorOf(req),
      orgId,
      ...(workspaceId ? { workspaceId } : {}),
      operation,
      before,
      after,
      version,
    });
  };

  router.get(ORG_PATH, async (req, res) => {
    res.json(withDefaults(await store.getOrg(ids(req).orgId)));
  });

  router.put(ORG_PATH, async (req, res) => {
    const settings = parseOrgSettings(req.body);
    const before = await store.getOrg(ids(req).orgId);
    const version = await store.putOrg(ids(req).orgId, settings);
    recordChange(req, 'put_org', before, settings, version);
    res.set('X-Settings-Version', String(version)).json(withDefaults(settings));
  });

  router.get(WORKSPACE_PATH, async (req, res) => {
    const { orgId, workspaceId } = ids(req);
    res.json((await store.getWorkspace(orgId, workspaceId)) ?? {});
  });

  router.put(WORKSPACE_PATH, async (req, res) => {
    const { orgId, workspaceId } = ids(req);
    const settings = parseWorkspaceSettings(req.body);
    const before = await store.getWorkspace(orgId, workspaceId);
    const version = await store.putWorkspace(orgId, workspaceId, settings);
    recordChange(req, 'put_workspace', before, settings, version);
    res.set('X-Settings-Version', String(version)).json(settings);
  });

  router.delete(WORKSPACE_PATH, async (req, res) => {
    const { orgId, workspaceId } = ids(req);
    const before = await store.getWorkspace(orgId, workspaceId);
    if (await store.deleteWorkspace(orgId, workspaceId)) recordChange(req, 'delete_workspace', before, null, null);
    res.status(204).end();
  });

  return router;
}
