// The decision request of DESIGN.md §2, parsed once at the edge into a typed value.
// Strict: a field the request does not define (a typo such as `workspaceRole`, or
// `__proto__`) is a 400 naming it and the nearest known name, so a typo is never a
// silent deny. The one exception is `settings`: callers may send it and it is discarded
// (DESIGN.md §2), so it is accepted and never copied. Only the known fields are copied,
// into fresh objects. The published JSON Schema (schema.ts) is built from these constants.
// The resource types are the active bundle's (its families table), passed in by the caller.
import { FIELD_CODE, invalidInput, type FieldError } from '../errors.ts';
import { idProblem, quoted } from '../ids.ts';
import { isJsonObject } from '../json.ts';
import { nearest } from '../suggest.ts';

export const ORG_ROLES = ['owner', 'admin', 'member'] as const;
export const WORKSPACE_ROLES = ['admin', 'manager', 'member'] as const;
export const ACTIONS = ['create', 'update', 'delete', 'read'] as const;

/** The fields of each object of a request; `id` of a resource and `workspaceRoles` are optional. */
export const REQUEST_FIELDS = ['principal', 'action', 'resource'] as const;
export const PRINCIPAL_FIELDS = ['id', 'orgId', 'orgRole', 'workspaceRoles'] as const;
export const RESOURCE_FIELDS = ['type', 'orgId', 'workspaceId', 'id'] as const;
/** Top-level fields callers may send that are accepted and discarded (DESIGN.md §2: callers never supply settings). */
export const DISCARDED_FIELDS = ['settings'] as const;

export type OrgRole = (typeof ORG_ROLES)[number];
export type WorkspaceRole = (typeof WORKSPACE_ROLES)[number];
export type Action = (typeof ACTIONS)[number];
/** One of the active bundle's resource types (GET /v1/families). */
export type ResourceType = string;

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

export const MAX_WORKSPACE_ROLES = 10_000;

type Raw = Record<string, unknown>;

class Reader {
  readonly errors: FieldError[] = [];

  object(value: unknown, field: string): Raw {
    if (isJsonObject(value)) return value;
    this.errors.push(value === undefined ? { field, code: FIELD_CODE.missing, message: 'is required' } : { field, code: FIELD_CODE.type, message: 'must be an object' });
    return {};
  }

  /** Refuses the keys of `raw` that are not `known` (nor `discarded`), suggesting the nearest known name. */
  onlyKnown(raw: Raw, at: string, known: readonly string[], discarded: readonly string[] = []): void {
    for (const key of Object.keys(raw)) {
      if (known.includes(key) || discarded.includes(key)) continue;
      const suggestion = nearest(key, known);
      this.errors.push({
        field: /^[A-Za-z_$][\w$-]*$/.test(key) ? `${at}${key}` : `${at.replace(/\.$/, '')}[${quoted(key)}]`,
        code: FIELD_CODE.unknown,
        message: suggestion ? `is not a field here; did you mean \`${suggestion}\`?` : `is not a field here; expected one of ${known.join(', ')}`,
      });
    }
  }

  id(value: unknown, field: string): string {
    const problem = idProblem(value);
    if (problem === undefined) return value as string;
    this.errors.push({ field, code: value === undefined ? FIELD_CODE.missing : typeof value === 'string' ? FIELD_CODE.invalid : FIELD_CODE.type, message: problem });
    return '';
  }

  oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    this.errors.push(
      value === undefined
        ? { field, code: FIELD_CODE.missing, message: `is required; one of ${allowed.join(', ')}` }
        : { field, code: FIELD_CODE.invalid, message: `must be one of ${allowed.join(', ')}` },
    );
    return allowed[0]!;
  }
}

/** A resource type as a route table or a query may name one before a bundle says which exist. */
export const RESOURCE_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * Parses a decision request or throws a 400 naming every bad field. `resourceTypes`: the
 * active bundle's (Families.resourceTypes). `at` prefixes field names.
 */
export function parseAuthorizeRequest(body: unknown, resourceTypes: readonly string[], at = ''): AuthorizeRequest {
  if (!isJsonObject(body)) throw invalidInput([{ field: at ? at.slice(0, -1) : 'body', code: FIELD_CODE.type, message: 'must be a JSON object' }]);
  const read = new Reader();
  const raw = body;
  read.onlyKnown(raw, at, REQUEST_FIELDS, DISCARDED_FIELDS);
  const rawPrincipal = read.object(raw.principal, `${at}principal`);
  const rawResource = read.object(raw.resource, `${at}resource`);
  read.onlyKnown(rawPrincipal, `${at}principal.`, PRINCIPAL_FIELDS);
  read.onlyKnown(rawResource, `${at}resource.`, RESOURCE_FIELDS);

  const workspaceRoles: Record<string, WorkspaceRole> = Object.create(null);
  const rawRoles = rawPrincipal.workspaceRoles ?? {};
  if (!isJsonObject(rawRoles)) {
    read.errors.push({ field: `${at}principal.workspaceRoles`, code: FIELD_CODE.type, message: 'must be an object of workspace id to role' });
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
      type: read.oneOf(rawResource.type, `${at}resource.type`, resourceTypes),
      orgId: read.id(rawResource.orgId, `${at}resource.orgId`),
      workspaceId: read.id(rawResource.workspaceId, `${at}resource.workspaceId`),
    },
  };
  if (rawResource.id !== undefined) request.resource.id = read.id(rawResource.id, `${at}resource.id`);
  if (read.errors.length > 0) throw invalidInput(read.errors);
  return request;
}

