// GET /v1/token: who the presented admin token is (name, scopes, organizations), so a
// client such as the console can show only what the token may do. Never the token itself.
import { Router } from 'express';
import { ADMIN_PATHS } from './admin-routes.ts';
import { tokenOf } from './auth.ts';
import { SCOPES } from '../access/tokens.ts';

export function sessionRoutes(): Router {
  const router = Router();
  router.get(ADMIN_PATHS.token, (_req, res) => {
    const token = tokenOf(res);
    res.set('Cache-Control', 'no-store').json({
      name: token.name,
      scopes: SCOPES.filter((scope) => token.scopes.has(scope)),
      orgs: token.orgs === null ? null : [...token.orgs].sort(),
    });
  });
  return router;
}
