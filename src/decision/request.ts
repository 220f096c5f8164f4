// The decision request of DESIGN.md §2, parsed once at the edge into a typed value.
// Only the known fields are copied, into fresh objects: a caller's `settings` (or any
// other extra field, `__proto__` included) never reaches the policy.
import { invalidInput, type FieldError } from '../errors.ts';
import { idProblem, quoted } from '../ids.ts';
import { isJsonObject } from '../json.ts';

export const ORG_ROLES = ['owner', 'admin', 'member'] as const;
export const WORKSPACE_ROLES = ['admin', 'manager', 'member'] as const;
export const ACTIONS = ['create', 'update', 'delete', 'read'] as const;
export const RESOURCE_TYPES = ['integration', 'mcp_integration', 'mcp_server'] as const;

export type OrgRole = (typeof ORG_ROLES)[number];
export type WorkspaceRole = (typeof WORKSPACE_ROLES)[number];
export type Action = (typeof ACTIONS)[number];
export type ResourceType = (typeof RESOURCE_TYPES)[number];

export interface Principal {
  id: string;
  orgId: string;
  orgRole: OrgRole;
  workspaceRoles: Record<string, WorkspaceRole>;
}

export interface Resource {
  type: ResourceType;
  orgId: string;
  workspaceId: string;
  id?: string;
}

export interface AuthorizeRequest {
  principal: Principal;
  action: Action;
  resource: Resource;
}

const MAX_WORKSPACE_ROLES = 10_000;

type Raw = Record<string, unknown>;

class Reader {
  readonly errors: FieldError[] = [];

  object(value: unknown, field: string): Raw {
    if (isJsonObject(value)) return value;
    this.errors.push({ field, message: value === undefined ? 'is required' : 'must be an object' });
    return {};
  }

  id(value: unknown, field: string): string {
    const problem = idProblem(value);
    if (problem === undefined) return value as string;
    this.errors.push({ field, message: problem });
    return '';
  }

  oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    this.errors.push({
      field,
      message: value === undefined ? `is required; one of ${allowed.join(', ')}` : `must be one of ${allowed.join(', ')}`,
    });
    return allowed[0]!;
  }
}

/** Parses a decision request or throws a 400 naming every bad field. `at` prefixes field names. */
export function parseAuthorizeRequest(body: unknown, at = ''): AuthorizeRequest {
  if (!isJsonObject(body)) throw invalidInput([{ field: at ? at.slice(0, -1) : 'body', message: 'must be a JSON object' }]);
  const read = new Reader();
  const raw = body;
  const rawPrincipal = read.object(raw.principal, `${at}principal`);
  const rawResource = read.object(raw.resource, `${at}resource`);

  const workspaceRoles: Record<string, WorkspaceRole> = Object.create(null);
  const rawRoles = rawPrincipal.workspaceRoles ?? {};
  if (!isJsonObject(rawRoles)) {
    read.errors.push({ field: `${at}principal.workspaceRoles`, message: 'must be an object of workspace id to role' });
  } else if (Object.keys(rawRoles).length > MAX_WORKSPACE_ROLES) {
    read.errors.push({ field: `${at}principal.workspaceRoles`, message: `must have at most ${MAX_WORKSPACE_ROLES} entries` });
  } else {
    for (const [workspaceId, role] of Object.entries(rawRoles)) {
      const problem = idProblem(workspaceId);
      if (problem !== undefined) {
        read.errors.push({ field: `${at}principal.workspaceRoles[${quoted(workspaceId)}]`, message: `workspace id ${problem}` });
        continue;
      }
      workspaceRoles[workspaceId] = read.oneOf(role, `${at}principal.workspaceRoles.${workspaceId}`, WORKSPACE_ROLES);
    }
  }

  const request: AuthorizeRequest = {
    principal: {
      id: read.id(rawPrincipal.id, `${at}principal.id`),
      orgId: read.id(rawPrincipal.orgId, `${at}principal.orgId`),
      orgRole: read.oneOf(rawPrincipal.orgRole, `${at}principal.orgRole`, ORG_ROLES),
      workspaceRoles,
    },
    action: read.oneOf(raw.action, `${at}action`, ACTIONS),
    resource: {
      type: read.oneOf(rawResource.type, `${at}resource.type`, RESOURCE_TYPES),
      orgId: read.id(rawResource.orgId, `${at}resource.orgId`),
      workspaceId: read.id(rawResource.workspaceId, `${at}resource.workspaceId`),
    },
  };
  if (rawResource.id !== undefined) request.resource.id = read.id(rawResource.id, `${at}resource.id`);
  if (read.errors.length > 0) throw invalidInput(read.errors);
  return request;
}

