// GET /v1/admin-api: the admin API's route table (ADMIN_PATHS by name, ADMIN_ROUTES with their
// scopes) and the words a request or a filter may use (roles, actions, the active bundle's
// resource types, the decision APIs), so that the console and the command line build their
// requests from what this sidecar serves instead of keeping copies.
import { Router } from 'express';
import { DECISION_APIS } from '../decision/record.ts';
import { ACTIONS, ORG_ROLES, WORKSPACE_ROLES } from '../decision/request.ts';
import type { ActivePolicy } from '../engine/active.ts';
import { ADMIN_PATHS, ADMIN_ROUTES, methodsOf } from './admin-routes.ts';
import { methodNotAllowed } from './directory.ts';

export function adminApiRoutes(policy: ActivePolicy): Router {
  const router = Router();
  router.get(ADMIN_PATHS.adminApi, (_req, res) => {
    const engine = policy.require();
    res.json({
      paths: ADMIN_PATHS,
      routes: ADMIN_ROUTES,
      enums: {
        orgRoles: ORG_ROLES,
        workspaceRoles: WORKSPACE_ROLES,
        actions: ACTIONS,
        resourceTypes: engine.families.resourceTypes,
        apis: DECISION_APIS,
      },
      bundleRevision: engine.revision,
    });
  });
  router.all(ADMIN_PATHS.adminApi, methodNotAllowed(methodsOf(ADMIN_PATHS.adminApi)));
  return router;
}
