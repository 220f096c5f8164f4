// The ids in admin API paths ({orgId}, {workspaceId}), checked by the one id rule
// (src/ids.ts) before they reach the store, a Redis key or an audit record.
import type { Request } from 'express';
import { invalidInput, type FieldError } from '../errors.ts';
import { idProblem } from '../ids.ts';

const PATH_IDS = ['orgId', 'workspaceId'] as const;

/** The route's path ids; a 400 naming each one that is not an id. `workspaceId` is '' where the path has none. */
export function pathIds(req: Request): { orgId: string; workspaceId: string } {
  const params = req.params as Record<string, string | undefined>;
  const problems: FieldError[] = [];
  for (const name of PATH_IDS) {
    if (!(name in params)) continue;
    const problem = idProblem(params[name]);
    if (problem) problems.push({ field: name, message: problem });
  }
  if (problems.length > 0) throw invalidInput(problems);
  return { orgId: params.orgId ?? '', workspaceId: params.workspaceId ?? '' };
}
