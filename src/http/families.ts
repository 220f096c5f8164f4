// The permission families of the active bundle (GET /v1/families, public like the decision
// request's schema: it holds no settings, only which exist), the policy's sentence for each
// reason code (GET /v1/reasons, public too: audit records store only the code), and a
// workspace's effective settings (GET .../effective-settings), which the live engine computes
// with the policy's own rules (the effective_settings entrypoint), so no client re-implements them.
import { Router, type Request } from 'express';
import { OUTSIDE_POLICY_MESSAGES } from '../decision/decider.ts';
import type { ActivePolicy } from '../engine/active.ts';
import { ApiError, CODE } from '../errors.ts';
import type { Family } from '../engine/families.ts';
import type { SettingsSnapshots } from '../settings/types.ts';
import { ADMIN_PATHS, methodsOf } from './admin-routes.ts';
import { allow } from './auth.ts';
import { methodNotAllowed } from './directory.ts';
import { pathIds } from './params.ts';

export const FAMILIES_PATH = '/v1/families';
export const REASONS_PATH = '/v1/reasons';
const EFFECTIVE_PATH = ADMIN_PATHS.effectiveSettings;
export const EFFECTIVE_SETTINGS_ENTRYPOINT = 'portkey/authz/effective_settings';

/** A family as the API shows it: the bundle's table in the API's camelCase. */
function wireFamily(family: Family) {
  return {
    name: family.name,
    label: family.label,
    resourceTypes: family.resourceTypes,
    actions: family.actions,
    workspaceOverrides: family.workspaceOverrides,
    settings: family.settings.map((s) => ({
      name: s.name,
      label: s.label,
      default: s.default,
      role: s.role,
      access: s.access,
      resourceTypes: s.resourceTypes,
    })),
  };
}

/** Public: the families and reasons routes (mounted before the admin token check). */
export function familiesRoutes(policy: ActivePolicy): Router {
  const router = Router();
  router.get(FAMILIES_PATH, (_req, res) => {
    const engine = policy.require();
    res.json({ bundleRevision: engine.revision, families: engine.families.list.map(wireFamily) });
  });
  router.all(FAMILIES_PATH, methodNotAllowed(['GET', 'HEAD']));
  router.get(REASONS_PATH, (_req, res) => {
    const engine = policy.require();
    // The policy's reasons, and those of the decisions made before or instead of it.
    res.json({ bundleRevision: engine.revision, reasons: { ...engine.reasons, ...OUTSIDE_POLICY_MESSAGES } });
  });
  router.all(REASONS_PATH, methodNotAllowed(['GET', 'HEAD']));
  return router;
}

/** Behind the admin tokens (settings:read and the organization). */
export function effectiveSettingsRoutes(store: SettingsSnapshots, policy: ActivePolicy): Router {
  const router = Router();
  router.get(EFFECTIVE_PATH, allow('GET', EFFECTIVE_PATH), async (req: Request, res) => {
    const { orgId, workspaceId } = pathIds(req);
    const engine = policy.require();
    if (!engine.entrypoints.includes(EFFECTIVE_SETTINGS_ENTRYPOINT)) {
      throw new ApiError(
        501,
        CODE.not_supported_by_bundle,
        `the active bundle (${engine.revision}) has no ${EFFECTIVE_SETTINGS_ENTRYPOINT} entrypoint: build it with make bundle`,
      );
    }
    const { org, workspace, version } = await store.snapshot(orgId, workspaceId);
    const families = engine.evaluate(EFFECTIVE_SETTINGS_ENTRYPOINT, { settings: { org, workspace } }) ?? {};
    res.set('ETag', `"${version}"`).set('X-Settings-Version', String(version)).json({ orgId, workspaceId, version, bundleRevision: engine.revision, families });
  });
  router.all(EFFECTIVE_PATH, methodNotAllowed(methodsOf(EFFECTIVE_PATH)));
  return router;
}
