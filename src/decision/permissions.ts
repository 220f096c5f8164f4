// The permissions request (POST /v1/permissions): what one principal may do in several
// workspaces, every resource type and action, in one call. Parsed once at the edge, as
// strictly as a decision request (request.ts), and bounded: the matrix it asks for
// (workspaces x types x actions) is evaluated and answered whole.
import { FIELD_CODE, invalidInput } from '../errors.ts';
import { idProblem, quoted } from '../ids.ts';
import { isJsonObject } from '../json.ts';
import { readMinSettingsVersion, MIN_SETTINGS_VERSION_FIELD } from './freshness.ts';
import { ACTIONS, Reader, readPrincipal, type Action, type Principal } from './request.ts';

export const PERMISSIONS_FIELDS = ['principal', 'workspaceIds', 'resourceTypes', 'actions', MIN_SETTINGS_VERSION_FIELD] as const;
/** Workspaces one request may ask about, given or defaulted from the principal's own. */
export const MAX_PERMISSION_WORKSPACES = 100;
/** Cells one answer may hold: workspaces x resource types x actions. */
export const MAX_PERMISSION_CELLS = 8_000;

export interface PermissionsRequest {
  principal: Principal;
  workspaceIds: string[];
  resourceTypes: string[];
  actions: Action[];
  minSettingsVersion?: number;
}

/** The cell of one workspace, type and action: the decision of the same request, without its message. */
export interface PermissionCell {
  allow: boolean;
  reason: string;
  setting?: string;
  source?: string;
  scope?: string;
  visibility?: string;
  visibleTo?: { userId: string; apiKeyIds?: string[] };
}

export type PermissionMatrix = Record<string, Record<string, Record<string, PermissionCell>>>;

/**
 * Parses a permissions request or throws a 400 naming every bad field. Without
 * workspaceIds, the principal's own workspaces (its workspaceRoles); without resourceTypes
 * or actions, all of the active bundle's (`resourceTypes`) and all actions.
 */
export function parsePermissionsRequest(body: unknown, resourceTypes: readonly string[], at = ''): PermissionsRequest {
  if (!isJsonObject(body)) throw invalidInput([{ field: at ? at.slice(0, -1) : 'body', code: FIELD_CODE.type, message: 'must be a JSON object' }]);
  const read = new Reader(at);
  read.onlyKnown(body, '', PERMISSIONS_FIELDS);
  const rawPrincipal = read.object(body.principal, 'principal');
  const principal = readPrincipal(read, rawPrincipal);
  const workspaceIds =
    list(read, body.workspaceIds, 'workspaceIds', MAX_PERMISSION_WORKSPACES, (value, field) => read.id(value, field)) ?? ownWorkspaces(read, principal);
  const types = list(read, body.resourceTypes, 'resourceTypes', resourceTypes.length, (value, field) => read.oneOf(value, field, resourceTypes)) ?? [
    ...resourceTypes,
  ];
  const actions = list(read, body.actions, 'actions', ACTIONS.length, (value, field) => read.oneOf(value, field, ACTIONS)) ?? [...ACTIONS];
  const cells = workspaceIds.length * types.length * actions.length;
  if (read.errors.length === 0 && cells > MAX_PERMISSION_CELLS) {
    read.problem(
      'workspaceIds',
      `asks for ${cells} cells (workspaces x resourceTypes x actions); at most ${MAX_PERMISSION_CELLS} per request: ask for fewer workspaces per call`,
    );
  }
  let minSettingsVersion: number | undefined;
  try {
    minSettingsVersion = readMinSettingsVersion(body[MIN_SETTINGS_VERSION_FIELD], at + MIN_SETTINGS_VERSION_FIELD);
  } catch {
    read.problem(MIN_SETTINGS_VERSION_FIELD, 'must be a settings version: a non-negative integer', FIELD_CODE.invalid);
  }
  if (read.errors.length > 0) throw invalidInput(read.errors);
  const request: PermissionsRequest = { principal, workspaceIds, resourceTypes: types, actions };
  if (minSettingsVersion !== undefined) request.minSettingsVersion = minSettingsVersion;
  return request;
}

/** A list of distinct items (a repeated one is a mistake, named), or undefined when the field is absent. */
function list<T>(read: Reader, raw: unknown, field: string, max: number, item: (value: unknown, field: string) => T): T[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw)) {
    read.problem(field, 'must be an array', FIELD_CODE.type);
    return [];
  }
  if (raw.length === 0 || raw.length > max) {
    read.problem(field, `must have 1 to ${max} entries (it has ${raw.length})`);
    return [];
  }
  const seen = new Set<unknown>();
  return raw.map((value, i) => {
    if (seen.has(value)) read.problem(`${field}[${i}]`, `repeats ${typeof value === 'string' ? quoted(value) : 'an earlier entry'}`);
    seen.add(value);
    return item(value, `${field}[${i}]`);
  });
}

/**
 * The principal's own workspaces, in id order, when the request names none: a user's
 * workspaces, a workspace key's one workspace; an admin key (every workspace of its
 * organization) has to name them.
 */
function ownWorkspaces(read: Reader, principal: Principal): string[] {
  if (principal.type === 'api_key') {
    if (principal.workspaceId !== undefined) return [principal.workspaceId];
    read.problem('workspaceIds', 'is required for an organisation-service key: name the workspaces to ask about', FIELD_CODE.missing);
    return [];
  }
  const own = Object.keys(principal.workspaceRoles)
    .filter((id) => idProblem(id) === undefined)
    .sort();
  if (own.length > MAX_PERMISSION_WORKSPACES) {
    read.problem(
      'workspaceIds',
      `is required when the principal has more than ${MAX_PERMISSION_WORKSPACES} workspaces (it has ${own.length}): ask for at most ${MAX_PERMISSION_WORKSPACES} at a time`,
      FIELD_CODE.missing,
    );
    return [];
  }
  return own;
}
