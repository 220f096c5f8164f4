// The access review of a workspace (GET /v1/orgs/{orgId}/workspaces/{workspaceId}/access):
// for each role — organization owner, admin, member (no role in the workspace), and the
// workspace roles admin, manager, member — every resource type and action, allowed or not
// and why, under the current settings; POST the same path with a draft (candidate settings
// of some families) to see the same under the draft and what it changes, nothing written.
// The cells come from the policy's permissions entrypoint, the one POST /v1/permissions
// uses, so a review cannot say other than a decision would.
import { Router, type Request } from 'express';
import { PERMISSIONS_ENTRYPOINT } from '../decision/decider.ts';
import type { PermissionCell, PermissionMatrix } from '../decision/permissions.ts';
import { ACTIONS, type Principal } from '../decision/request.ts';
import type { ActivePolicy } from '../engine/active.ts';
import type { PolicyEngine } from '../engine/engine.ts';
import { invalidInput } from '../errors.ts';
import { isJsonObject } from '../json.ts';
import { flattenOrg, flattenWorkspace, type FamilyDocument, type SettingValues, type SettingsStore } from '../settings/types.ts';
import { parseOrgDocument, parseWorkspaceDocument } from '../settings/validate.ts';
import { nearest } from '../suggest.ts';
import { ADMIN_PATHS, methodsOf } from './admin-routes.ts';
import { allow } from './auth.ts';
import { methodNotAllowed } from './directory.ts';
import { pathIds } from './params.ts';

const ACCESS_PATH = ADMIN_PATHS.access;

/** The roles reviewed, each as the principal a decision would see. */
const ROLES: Record<string, (orgId: string, workspaceId: string) => Principal> = {
  owner: (orgId) => ({ id: 'access-review', orgId, orgRole: 'owner', workspaceRoles: {} }),
  admin: (orgId) => ({ id: 'access-review', orgId, orgRole: 'admin', workspaceRoles: {} }),
  member: (orgId) => ({ id: 'access-review', orgId, orgRole: 'member', workspaceRoles: {} }),
  workspace_admin: (orgId, ws) => ({ id: 'access-review', orgId, orgRole: 'member', workspaceRoles: { [ws]: 'admin' } }),
  workspace_manager: (orgId, ws) => ({ id: 'access-review', orgId, orgRole: 'member', workspaceRoles: { [ws]: 'manager' } }),
  workspace_member: (orgId, ws) => ({ id: 'access-review', orgId, orgRole: 'member', workspaceRoles: { [ws]: 'member' } }),
};

type Settings = { org: object; workspace: object };
type Review = Record<string, PermissionMatrix[string]>;

function review(engine: PolicyEngine, orgId: string, workspaceId: string, settings: Settings): Review {
  const roles: Review = {};
  for (const [role, principalOf] of Object.entries(ROLES)) {
    const matrix = engine.evaluate(PERMISSIONS_ENTRYPOINT, {
      principal: principalOf(orgId, workspaceId),
      resourceTypes: engine.families.resourceTypes,
      actions: ACTIONS,
      workspaces: { [workspaceId]: { orgId, settings } },
    }) as PermissionMatrix;
    // In the table's order (the bundle's types, then create, update, delete, read), not the WASM's sorted keys.
    const cells = matrix[workspaceId]!;
    roles[role] = Object.fromEntries(
      engine.families.resourceTypes.map((type) => [type, Object.fromEntries(ACTIONS.map((action) => [action, cells[type]![action]!]))]),
    );
  }
  return roles;
}

/** The cells a draft turns from allowed to denied or back. */
function changes(before: Review, after: Review) {
  const changed: Array<{ role: string; type: string; action: string; before: PermissionCell; after: PermissionCell }> = [];
  for (const [role, types] of Object.entries(after))
    for (const [type, actions] of Object.entries(types))
      for (const [action, cell] of Object.entries(actions)) {
        const was = before[role]![type]![action]!;
        if (was.allow !== cell.allow) changed.push({ role, type, action, before: was, after: cell });
      }
  return changed;
}

export function accessRoutes(store: SettingsStore, policy: ActivePolicy): Router {
  const router = Router();
  router.get(ACCESS_PATH, allow('GET', ACCESS_PATH), async (req: Request, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const { org, workspace, version } = await store.snapshot(orgId, workspaceId);
    const engine = policy.require();
    res.json({ orgId, workspaceId, settingsVersion: version, bundleRevision: engine.revision, roles: review(engine, orgId, workspaceId, { org, workspace }) });
  });
  router.post(ACCESS_PATH, allow('POST', ACCESS_PATH), async (req: Request, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const engine = policy.require();
    const draft = parseDraft(
      req.body,
      engine.families.list.map((f) => f.name),
    );
    const current = await store.snapshot(orgId, workspaceId);
    // The draft replaces whole family documents, as a PUT of them would.
    const orgDocuments: Array<[string, FamilyDocument]> = [];
    const workspaceDocuments: SettingValues[] = [];
    for (const family of engine.families.list) {
      const proposed = draft[family.name];
      const orgDoc =
        proposed?.org !== undefined ? parseOrgDocument(family, proposed.org, `${family.name}.org.`) : (await store.readOrg(orgId, family.name)).settings;
      if (orgDoc) orgDocuments.push([family.name, orgDoc]);
      if (family.workspaceOverrides === 'none') continue;
      const wsDoc =
        proposed?.workspace !== undefined
          ? parseWorkspaceDocument(family, proposed.workspace, `${family.name}.workspace.`)
          : (await store.readWorkspace(orgId, workspaceId, family.name)).settings;
      if (wsDoc) workspaceDocuments.push(wsDoc);
    }
    const before = review(engine, orgId, workspaceId, { org: current.org, workspace: current.workspace });
    const after = review(engine, orgId, workspaceId, { org: flattenOrg(orgDocuments), workspace: flattenWorkspace(workspaceDocuments) });
    res.json({
      orgId,
      workspaceId,
      settingsVersion: current.version,
      bundleRevision: engine.revision,
      draft: true,
      roles: after,
      changes: changes(before, after),
    });
  });
  router.all(ACCESS_PATH, methodNotAllowed(methodsOf(ACCESS_PATH)));
  return router;
}

/** {<family>: {org?, workspace?}}: a family or a level the bundle does not have is a 400 naming it. */
function parseDraft(body: unknown, families: string[]): Record<string, { org?: unknown; workspace?: unknown }> {
  if (!isJsonObject(body)) throw invalidInput([{ field: 'body', message: 'must be a JSON object: {<family>: {org?, workspace?}}' }]);
  const draft: Record<string, { org?: unknown; workspace?: unknown }> = Object.create(null);
  for (const [name, levels] of Object.entries(body)) {
    if (!families.includes(name)) {
      const suggestion = nearest(name, families);
      throw invalidInput([
        { field: name, message: suggestion ? `is not a family; did you mean \`${suggestion}\`?` : `is not a family; expected one of ${families.join(', ')}` },
      ]);
    }
    if (!isJsonObject(levels)) throw invalidInput([{ field: name, message: 'must be an object {org?, workspace?}' }]);
    for (const level of Object.keys(levels))
      if (level !== 'org' && level !== 'workspace') throw invalidInput([{ field: `${name}.${level}`, message: 'is not a level; expected org or workspace' }]);
    draft[name] = levels;
  }
  return draft;
}
