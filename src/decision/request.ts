// The decision request (POST /v1/authorize and every API that decides), parsed once at the edge into a typed value.
// Strict: a field the request does not define (a typo such as `workspaceRole`, or
// `__proto__`) is a 400 naming it and the nearest known name, so a typo is never a
// silent deny. The one exception is `settings`: callers may send it and it is discarded
// (callers never supply settings), so it is accepted and never copied. Only the known fields are copied,
// into fresh objects. The published JSON Schema (schema.ts) is built from these constants.
// The resource types are the active bundle's (its families table), passed in by the caller.
import { FIELD_CODE, invalidInput, type FieldCode, type FieldError } from '../errors.ts';
import { idProblem, quoted } from '../ids.ts';
import { isJsonObject } from '../json.ts';
import { nearest } from '../suggest.ts';

export const ORG_ROLES = ['owner', 'admin', 'member'] as const;
export const WORKSPACE_ROLES = ['admin', 'manager', 'member'] as const;
export const ACTIONS = ['create', 'update', 'delete', 'read'] as const;
/** A principal is a user (`type` absent or "user") or an API key ("api_key"). */
export const PRINCIPAL_TYPES = ['user', 'api_key'] as const;
/** The product's API key types: an admin key, a workspace service key, a workspace user key. */
export const KEY_TYPES = ['organisation-service', 'workspace-service', 'workspace-user'] as const;

/** The fields of each object of a request; `id` of a resource and `workspaceRoles` are optional. */
export const REQUEST_FIELDS = ['principal', 'action', 'resource'] as const;
export const PRINCIPAL_FIELDS = ['type', 'id', 'orgId', 'orgRole', 'workspaceRoles'] as const;
/**
 * A key principal: its id (never the key itself), organization, workspace (workspace keys),
 * scopes and, for a workspace user key, the user it belongs to. There is no field for the
 * key's secret, so a `key` or `secret` field is refused like any unknown one.
 */
export const KEY_PRINCIPAL_FIELDS = ['type', 'keyType', 'id', 'orgId', 'workspaceId', 'scopes', 'user'] as const;
/** The user of a workspace user key: its organization is the key's. */
export const KEY_USER_FIELDS = ['id', 'orgRole', 'workspaceRoles'] as const;
export const RESOURCE_FIELDS = ['type', 'orgId', 'workspaceId', 'id', 'createdFor', 'createdByRole'] as const;
/**
 * Who created a resource (API keys: the limits of API Key Management): an organization
 * owner or admin, a workspace manager (a manager role) or a workspace member.
 */
export const CREATOR_ROLES = ['owner', 'org_admin', 'manager', 'member'] as const;
/** Top-level fields callers may send that are accepted and discarded (callers never supply settings). */
export const DISCARDED_FIELDS = ['settings'] as const;

export type OrgRole = (typeof ORG_ROLES)[number];
export type WorkspaceRole = (typeof WORKSPACE_ROLES)[number];
export type Action = (typeof ACTIONS)[number];
/** One of the active bundle's resource types (GET /v1/families). */
export type ResourceType = string;

export type KeyType = (typeof KEY_TYPES)[number];

export interface UserPrincipal {
  type?: 'user';
  id: string;
  orgId: string;
  orgRole: OrgRole;
  workspaceRoles: Record<string, WorkspaceRole>;
}

/** The user a workspace user key belongs to. */
export interface KeyUser {
  id: string;
  orgRole: OrgRole;
  workspaceRoles: Record<string, WorkspaceRole>;
}

export interface KeyPrincipal {
  type: 'api_key';
  keyType: KeyType;
  id: string;
  orgId: string;
  /** Workspace keys only. */
  workspaceId?: string;
  scopes: string[];
  /** Workspace user keys only. */
  user?: KeyUser;
}

export type Principal = UserPrincipal | KeyPrincipal;

export type CreatorRole = (typeof CREATOR_ROLES)[number];

export interface Resource {
  type: ResourceType;
  orgId: string;
  workspaceId: string;
  id?: string;
  /** The user the resource (an API key) was created for. */
  createdFor?: string;
  /** The role of who created the resource (an API key). */
  createdByRole?: CreatorRole;
}

export interface AuthorizeRequest {
  principal: Principal;
  action: Action;
  resource: Resource;
}

export const MAX_WORKSPACE_ROLES = 10_000;
/** Scopes one key principal may carry: the product has a few dozen. */
export const MAX_SCOPES = 256;
export const MAX_SCOPE_LENGTH = 128;
/** A scope is `<resource>.<verb>` in lower-case letters and underscores (the product's names). */
export const SCOPE_PATTERN = '^[a-z][a-z_]*\\.[a-z][a-z_]*$';
const SCOPE = new RegExp(SCOPE_PATTERN);

/** Whether `scope` is a scope name a key principal may carry (the key registry registers no other). */
export function isScope(scope: string): boolean {
  return scope.length <= MAX_SCOPE_LENGTH && SCOPE.test(scope);
}

type Raw = Record<string, unknown>;

/**
 * Collects the problems of one request. Field names are given without the request's
 * prefix (`at`, e.g. "input.") and joined to it only when a problem is reported: a valid
 * request, the hot path, builds no field names at all.
 */
export class Reader {
  readonly errors: FieldError[] = [];

  constructor(private readonly at: string) {}

  object(value: unknown, field: string): Raw {
    if (isJsonObject(value)) return value;
    this.errors.push(
      value === undefined
        ? { field: this.at + field, code: FIELD_CODE.missing, message: 'is required' }
        : { field: this.at + field, code: FIELD_CODE.type, message: 'must be an object' },
    );
    return {};
  }

  /** Refuses the keys of `raw` that are not `known` (nor `discarded`), suggesting the nearest known name. */
  onlyKnown(raw: Raw, within: string, known: readonly string[], discarded: readonly string[] = []): void {
    for (const key of Object.keys(raw)) {
      if (known.includes(key) || discarded.includes(key)) continue;
      const at = this.at + within;
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
    this.errors.push({
      field: this.at + field,
      code: value === undefined ? FIELD_CODE.missing : typeof value === 'string' ? FIELD_CODE.invalid : FIELD_CODE.type,
      message: problem,
    });
    return '';
  }

  oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    const name = this.at + field;
    this.errors.push(
      value === undefined
        ? { field: name, code: FIELD_CODE.missing, message: `is required; one of ${allowed.join(', ')}` }
        : { field: name, code: FIELD_CODE.invalid, message: `must be one of ${allowed.join(', ')}` },
    );
    return allowed[0]!;
  }

  /** A problem of its own, at `field`. */
  problem(field: string, message: string, code?: FieldCode): void {
    this.errors.push(code === undefined ? { field: this.at + field, message } : { field: this.at + field, code, message });
  }
}

/**
 * Parses a decision request or throws a 400 naming every bad field. `resourceTypes`: the
 * active bundle's (Families.resourceTypes). `at` prefixes field names.
 */
export function parseAuthorizeRequest(body: unknown, resourceTypes: readonly string[], at = ''): AuthorizeRequest {
  if (!isJsonObject(body)) throw invalidInput([{ field: at ? at.slice(0, -1) : 'body', code: FIELD_CODE.type, message: 'must be a JSON object' }]);
  const read = new Reader(at);
  const raw = body;
  read.onlyKnown(raw, '', REQUEST_FIELDS, DISCARDED_FIELDS);
  const rawPrincipal = read.object(raw.principal, 'principal');
  const rawResource = read.object(raw.resource, 'resource');
  read.onlyKnown(rawResource, 'resource.', RESOURCE_FIELDS);

  const request: AuthorizeRequest = {
    principal: readPrincipal(read, rawPrincipal),
    action: read.oneOf(raw.action, 'action', ACTIONS),
    resource: {
      type: read.oneOf(rawResource.type, 'resource.type', resourceTypes),
      orgId: read.id(rawResource.orgId, 'resource.orgId'),
      workspaceId: read.id(rawResource.workspaceId, 'resource.workspaceId'),
    },
  };
  if (rawResource.id !== undefined) request.resource.id = read.id(rawResource.id, 'resource.id');
  if (rawResource.createdFor !== undefined) request.resource.createdFor = read.id(rawResource.createdFor, 'resource.createdFor');
  if (rawResource.createdByRole !== undefined) request.resource.createdByRole = read.oneOf(rawResource.createdByRole, 'resource.createdByRole', CREATOR_ROLES);
  if (read.errors.length > 0) throw invalidInput(read.errors);
  return request;
}

/** The principal of a request (`principal.` fields, unknown ones refused): every API that takes one reads it here. */
export function readPrincipal(read: Reader, rawPrincipal: Raw): Principal {
  const type = rawPrincipal.type === undefined ? 'user' : read.oneOf(rawPrincipal.type, 'principal.type', PRINCIPAL_TYPES);
  if (type === 'api_key') return readKeyPrincipal(read, rawPrincipal);
  read.onlyKnown(rawPrincipal, 'principal.', PRINCIPAL_FIELDS);
  const principal: UserPrincipal = {
    id: read.id(rawPrincipal.id, 'principal.id'),
    orgId: read.id(rawPrincipal.orgId, 'principal.orgId'),
    orgRole: read.oneOf(rawPrincipal.orgRole, 'principal.orgRole', ORG_ROLES),
    workspaceRoles: readWorkspaceRoles(read, rawPrincipal.workspaceRoles, 'principal.workspaceRoles'),
  };
  if (rawPrincipal.type === 'user') principal.type = 'user';
  return principal;
}

function readKeyPrincipal(read: Reader, raw: Raw): KeyPrincipal {
  read.onlyKnown(raw, 'principal.', KEY_PRINCIPAL_FIELDS);
  const keyType = read.oneOf(raw.keyType, 'principal.keyType', KEY_TYPES);
  const key: KeyPrincipal = {
    type: 'api_key',
    keyType,
    id: read.id(raw.id, 'principal.id'),
    orgId: read.id(raw.orgId, 'principal.orgId'),
    scopes: readScopes(read, raw.scopes),
  };
  if (keyType === 'organisation-service') {
    if (raw.workspaceId !== undefined)
      read.problem('principal.workspaceId', 'is not a field of an organisation-service key (it reaches every workspace)', FIELD_CODE.unknown);
  } else {
    key.workspaceId = read.id(raw.workspaceId, 'principal.workspaceId');
  }
  if (keyType === 'workspace-user') {
    const rawUser = read.object(raw.user, 'principal.user');
    read.onlyKnown(rawUser, 'principal.user.', KEY_USER_FIELDS);
    key.user = {
      id: read.id(rawUser.id, 'principal.user.id'),
      orgRole: read.oneOf(rawUser.orgRole, 'principal.user.orgRole', ORG_ROLES),
      workspaceRoles: readWorkspaceRoles(read, rawUser.workspaceRoles, 'principal.user.workspaceRoles'),
    };
  } else if (raw.user !== undefined) {
    read.problem('principal.user', 'is a field of workspace-user keys only', FIELD_CODE.unknown);
  }
  return key;
}

/** The key's scopes: a list of distinct `<resource>.<verb>` names, at most MAX_SCOPES. */
function readScopes(read: Reader, raw: unknown): string[] {
  if (!Array.isArray(raw)) {
    read.problem('principal.scopes', 'must be a list of scopes such as "prompts.create"', raw === undefined ? FIELD_CODE.missing : FIELD_CODE.type);
    return [];
  }
  if (raw.length > MAX_SCOPES) {
    read.problem('principal.scopes', `must have at most ${MAX_SCOPES} scopes`);
    return [];
  }
  const seen = new Set<string>();
  raw.forEach((scope: unknown, i) => {
    if (typeof scope !== 'string') return read.problem(`principal.scopes[${i}]`, 'must be a string', FIELD_CODE.type);
    if (!isScope(scope))
      return read.problem(
        `principal.scopes[${i}]`,
        `must be <resource>.<verb> in lower-case letters and underscores, at most ${MAX_SCOPE_LENGTH} characters`,
        FIELD_CODE.invalid,
      );
    if (seen.has(scope)) return read.problem(`principal.scopes[${i}]`, `repeats ${quoted(scope)}`, FIELD_CODE.invalid);
    seen.add(scope);
  });
  return [...seen];
}

function readWorkspaceRoles(read: Reader, raw: unknown, field: string): Record<string, WorkspaceRole> {
  const workspaceRoles: Record<string, WorkspaceRole> = Object.create(null);
  const rawRoles = raw ?? {};
  if (!isJsonObject(rawRoles)) {
    read.problem(field, 'must be an object of workspace id to role', FIELD_CODE.type);
  } else if (Object.keys(rawRoles).length > MAX_WORKSPACE_ROLES) {
    read.problem(field, `must have at most ${MAX_WORKSPACE_ROLES} entries`);
  } else {
    for (const [workspaceId, role] of Object.entries(rawRoles)) {
      const problem = idProblem(workspaceId);
      if (problem !== undefined) {
        read.problem(`${field}[${quoted(workspaceId)}]`, `workspace id ${problem}`);
        continue;
      }
      // Checked here first so that a valid role does not build its field name.
      workspaceRoles[workspaceId] = (WORKSPACE_ROLES as readonly unknown[]).includes(role)
        ? (role as WorkspaceRole)
        : read.oneOf(role, `${field}.${workspaceId}`, WORKSPACE_ROLES);
    }
  }
  return workspaceRoles;
}
