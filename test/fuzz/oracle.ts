// What the fuzzer knows about an input without asking the sidecar: whether the request, as
// the sidecar will parse it, is malformed (and so must never be allowed). It judges the value
// the server sees (the JSON it parses, the header text it reads), not what the generator meant.
import { ACTIONS, ORG_ROLES, WORKSPACE_ROLES } from '../../src/decision/request.ts';
import { RESOURCE_TYPES } from '../support/sidecar.ts';
import { idProblem } from '../../src/ids.ts';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function oneOf(value: unknown, allowed: readonly string[]): boolean {
  return typeof value === 'string' && allowed.includes(value);
}

/** Why a principal is malformed, or undefined. */
export function principalProblem(principal: unknown): string | undefined {
  if (!isObject(principal)) return 'principal is not an object';
  const id = idProblem(principal.id) ?? idProblem(principal.orgId);
  if (id) return `principal id/orgId ${id}`;
  if (!oneOf(principal.orgRole, ORG_ROLES)) return 'principal.orgRole';
  const roles = principal.workspaceRoles;
  if (roles === undefined || roles === null) return undefined;
  if (!isObject(roles)) return 'principal.workspaceRoles is not an object';
  for (const [workspaceId, role] of Object.entries(roles)) {
    const problem = idProblem(workspaceId);
    if (problem) return `workspaceRoles key ${problem}`;
    if (!oneOf(role, WORKSPACE_ROLES)) return 'workspaceRoles role';
  }
  return undefined;
}

/** Why a decision input (as parsed by the sidecar) is malformed, or undefined. */
export function inputProblem(input: unknown): string | undefined {
  if (!isObject(input)) return 'input is not an object';
  const principal = principalProblem(input.principal);
  if (principal) return principal;
  if (!oneOf(input.action, ACTIONS)) return 'action';
  const resource = input.resource;
  if (!isObject(resource)) return 'resource is not an object';
  if (!oneOf(resource.type, RESOURCE_TYPES)) return 'resource.type';
  const id = idProblem(resource.orgId) ?? idProblem(resource.workspaceId) ?? (resource.id === undefined ? undefined : idProblem(resource.id));
  return id ? `resource id ${id}` : undefined;
}

/** The batch API's documented merge: common_input deep-merged into each input, the input's own fields winning. */
export function withCommonInput(common: unknown, own: unknown): unknown {
  if (!isObject(common) || !isObject(own)) return own === undefined ? common : own;
  const merged: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(common), ...Object.keys(own)])) {
    Object.defineProperty(merged, key, { value: withCommonInput(common[key], own[key]), enumerable: true, writable: true, configurable: true });
  }
  return merged;
}

export { idProblem };
