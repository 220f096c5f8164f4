// The API-key registry: which keys exist, what each may do, and whether the one a request
// presents is a current key. A key is made here (never chosen by a caller), shown once, and
// stored only as its SHA-256; a record names the key by its id, which is not a secret.
//
// A key reads `<id>.<secret>`: the id (`key-` and 24 hex digits) says where its record is,
// so a lookup is one read of one record (one slot of a cluster), and the secret (32 random
// bytes, base64url) is what the stored hash vouches for. 256 random bits need no slow hash
// and no pepper: nobody can guess a preimage, and a stolen hash does not give the key.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  isScope,
  KEY_TYPES,
  MAX_SCOPES,
  ORG_ROLES,
  WORKSPACE_ROLES,
  type KeyPrincipal,
  type KeyType,
  type KeyUser,
  type OrgRole,
  type WorkspaceRole,
} from '../decision/request.ts';
import { FIELD_CODE, invalidInput, type FieldError } from '../errors.ts';
import { idProblem, quoted } from '../ids.ts';
import { isJsonObject } from '../json.ts';

/** A scope is `<resource>.<verb>`, as the product names them (`mcp_servers.create`, `logs.view`). */
/** The workspaces a user key's user may have roles in, as stored with the key. */
export const MAX_USER_WORKSPACES = 256;

const KEY_ID = /^key-[0-9a-f]{24}$/;
const PRESENTED_KEY = /^(key-[0-9a-f]{24})\.([A-Za-z0-9_-]{43})$/;

/** A key as the admin API shows it: never the key, never its hash. */
export interface ApiKey {
  id: string;
  type: KeyType;
  orgId: string;
  /** Workspace keys only. */
  workspaceId?: string;
  scopes: string[];
  /** Workspace user keys only: the user, with the roles given when the key was registered. */
  user?: KeyUser;
  createdAt: string;
  createdBy: string;
  rotatedAt?: string;
  rotatedBy?: string;
  revokedAt?: string;
  revokedBy?: string;
}

/** What the registry stores: the record and the SHA-256 (hex) of the current key. */
export interface StoredKey extends ApiKey {
  sha256: string;
}

/** What a caller asks to register. */
export type NewKey = Pick<ApiKey, 'type' | 'orgId' | 'workspaceId' | 'scopes' | 'user'>;

/** The key, shown once, and its record. */
export interface IssuedKey {
  key: string;
  apiKey: ApiKey;
}

/** Why a presented key is refused. */
export type KeyRefusal = 'malformed' | 'unknown' | 'revoked';

export class KeyRefusedError extends Error {
  override name = 'KeyRefusedError';
  constructor(readonly refusal: KeyRefusal) {
    super(`the API key is ${refusal}`);
  }
}

/** A rotation of a revoked key: a revoked key stays dead. */
export class KeyRevokedError extends Error {
  override name = 'KeyRevokedError';
  constructor(readonly keyId: string) {
    super(`API key ${keyId} is revoked`);
  }
}

export interface KeyRegistry {
  register(key: NewKey, actor: string): Promise<IssuedKey>;
  /** The organization's key, or null (also when the id is another organization's). */
  get(orgId: string, keyId: string): Promise<ApiKey | null>;
  /** The organization's keys in id order, `limit` at a time after `after` (exclusive). */
  list(orgId: string, page: { limit: number; after?: string }): Promise<{ apiKeys: ApiKey[]; next: string | null }>;
  /** A new key for the record; the old one is refused from then on. Null when the organization has no such key; KeyRevokedError when it is revoked. */
  rotate(orgId: string, keyId: string, actor: string): Promise<IssuedKey | null>;
  /** Refuses the key from now on; the record stays. Null when the organization has no such key; a revoked key is answered as it is. */
  revoke(orgId: string, keyId: string, actor: string): Promise<{ apiKey: ApiKey; revoked: boolean } | null>;
  /** The record of a presented key; KeyRefusedError when it is malformed, unknown, rotated away or revoked. Read from the store every time. */
  resolve(presented: string): Promise<ApiKey>;
}

export function isKeyId(value: string): boolean {
  return KEY_ID.test(value);
}

/** A new key: its id and the key itself. */
export function newKey(keyId = `key-${randomBytes(12).toString('hex')}`): { keyId: string; key: string } {
  return { keyId, key: `${keyId}.${randomBytes(32).toString('base64url')}` };
}

export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The id a presented key names; KeyRefusedError('malformed') when it is not shaped as ours. */
export function presentedKeyId(presented: string): string {
  const match = PRESENTED_KEY.exec(presented);
  if (!match) throw new KeyRefusedError('malformed');
  return match[1]!;
}

/** The record when `presented` is its current, unrevoked key; otherwise KeyRefusedError. */
export function check(stored: StoredKey | null, presented: string): ApiKey {
  if (!stored || !timingSafeEqual(Buffer.from(keyHash(presented), 'hex'), Buffer.from(stored.sha256, 'hex'))) throw new KeyRefusedError('unknown');
  if (stored.revokedAt !== undefined) throw new KeyRefusedError('revoked');
  return shown(stored);
}

/** The record without its hash. */
export function shown(stored: StoredKey): ApiKey {
  const { sha256: _sha256, ...apiKey } = stored;
  return apiKey;
}

const NEW_KEY_FIELDS = ['type', 'workspaceId', 'scopes', 'user'];
const USER_FIELDS = ['id', 'orgRole', 'workspaceRoles'];

/** A register request's body for organization `orgId`; a 400 naming every bad field. */
export function parseNewKey(body: unknown, orgId: string): NewKey {
  if (!isJsonObject(body)) throw invalidInput([{ field: 'body', code: FIELD_CODE.type, message: 'must be a JSON object' }]);
  const problems: FieldError[] = [];
  for (const key of Object.keys(body))
    if (!NEW_KEY_FIELDS.includes(key))
      problems.push({ field: quoted(key), code: FIELD_CODE.unknown, message: `is not a field here; expected one of ${NEW_KEY_FIELDS.join(', ')}` });
  const type = body.type as KeyType;
  if (!(KEY_TYPES as readonly unknown[]).includes(type))
    problems.push({ field: 'type', code: FIELD_CODE.invalid, message: `must be one of ${KEY_TYPES.join(', ')}` });
  const key: NewKey = { type, orgId, scopes: [] };
  if (type === 'organisation-service') {
    if (body.workspaceId !== undefined) problems.push({ field: 'workspaceId', message: 'an organisation-service key reaches every workspace: leave it out' });
  } else if (type !== undefined) {
    const problem = idProblem(body.workspaceId);
    if (problem) problems.push({ field: 'workspaceId', message: `a workspace key names its workspace: ${problem}` });
    else key.workspaceId = body.workspaceId as string;
  }
  if (!Array.isArray(body.scopes) || body.scopes.length === 0 || body.scopes.length > MAX_SCOPES) {
    problems.push({ field: 'scopes', code: FIELD_CODE.type, message: `must be a list of 1 to ${MAX_SCOPES} scopes, each <resource>.<verb>` });
  } else {
    body.scopes.forEach((scope: unknown, i) => {
      if (typeof scope !== 'string' || !isScope(scope))
        problems.push({ field: `scopes[${i}]`, message: 'must be a scope <resource>.<verb>, e.g. mcp_servers.create' });
      else if (key.scopes.includes(scope)) problems.push({ field: `scopes[${i}]`, message: `repeats ${scope}` });
      else key.scopes.push(scope);
    });
  }
  if (type === 'workspace-user') {
    const user = parseUser(body.user, problems);
    if (user) key.user = user;
  } else if (body.user !== undefined) {
    problems.push({ field: 'user', message: 'only a workspace-user key belongs to a user: leave it out' });
  }
  if (problems.length > 0) throw invalidInput(problems);
  return key;
}

function parseUser(raw: unknown, problems: FieldError[]): KeyUser | undefined {
  if (!isJsonObject(raw)) {
    problems.push({
      field: 'user',
      code: raw === undefined ? FIELD_CODE.missing : FIELD_CODE.type,
      message: 'a workspace-user key needs its user: {id, orgRole, workspaceRoles}',
    });
    return undefined;
  }
  const before = problems.length;
  for (const key of Object.keys(raw))
    if (!USER_FIELDS.includes(key))
      problems.push({ field: `user[${quoted(key)}]`, code: FIELD_CODE.unknown, message: `is not a field here; expected one of ${USER_FIELDS.join(', ')}` });
  const idIssue = idProblem(raw.id);
  if (idIssue) problems.push({ field: 'user.id', message: idIssue });
  if (!(ORG_ROLES as readonly unknown[]).includes(raw.orgRole)) problems.push({ field: 'user.orgRole', message: `must be one of ${ORG_ROLES.join(', ')}` });
  const workspaceRoles: Record<string, WorkspaceRole> = Object.create(null);
  const rawRoles = raw.workspaceRoles ?? {};
  if (!isJsonObject(rawRoles) || Object.keys(rawRoles).length > MAX_USER_WORKSPACES) {
    problems.push({
      field: 'user.workspaceRoles',
      code: FIELD_CODE.type,
      message: `must be an object of at most ${MAX_USER_WORKSPACES} workspace ids to roles`,
    });
  } else {
    for (const [workspaceId, role] of Object.entries(rawRoles)) {
      const problem = idProblem(workspaceId);
      if (problem) problems.push({ field: `user.workspaceRoles[${quoted(workspaceId)}]`, message: `workspace id ${problem}` });
      else if (!(WORKSPACE_ROLES as readonly unknown[]).includes(role))
        problems.push({ field: `user.workspaceRoles[${quoted(workspaceId)}]`, message: `must be one of ${WORKSPACE_ROLES.join(', ')}` });
      else workspaceRoles[workspaceId] = role as WorkspaceRole;
    }
  }
  if (problems.length > before) return undefined;
  return { id: raw.id as string, orgRole: raw.orgRole as OrgRole, workspaceRoles: { ...workspaceRoles } };
}

/** A record made now for a new key. */
export function storedKey(keyId: string, key: string, request: NewKey, actor: string): StoredKey {
  return {
    id: keyId,
    type: request.type,
    orgId: request.orgId,
    ...(request.workspaceId !== undefined ? { workspaceId: request.workspaceId } : {}),
    scopes: [...request.scopes],
    ...(request.user ? { user: request.user } : {}),
    createdAt: new Date().toISOString(),
    createdBy: actor,
    sha256: keyHash(key),
  };
}

/** The decision request's principal for a key: its id, never the key (docs/api-keys.md). */
export function keyPrincipal(apiKey: ApiKey): KeyPrincipal {
  return {
    type: 'api_key',
    keyType: apiKey.type,
    id: apiKey.id,
    orgId: apiKey.orgId,
    ...(apiKey.workspaceId !== undefined ? { workspaceId: apiKey.workspaceId } : {}),
    scopes: [...apiKey.scopes],
    ...(apiKey.user ? { user: { id: apiKey.user.id, orgRole: apiKey.user.orgRole, workspaceRoles: { ...apiKey.user.workspaceRoles } } } : {}),
  };
}

/** The record with a new key; the old key's hash is gone with it. */
export function rotatedKey(stored: StoredKey, actor: string): { stored: StoredKey; key: string } {
  if (stored.revokedAt !== undefined) throw new KeyRevokedError(stored.id);
  const { key } = newKey(stored.id);
  return { stored: { ...stored, sha256: keyHash(key), rotatedAt: new Date().toISOString(), rotatedBy: actor }, key };
}

/** The record revoked now (as it is when it already was). */
export function revokedKey(stored: StoredKey, actor: string): StoredKey {
  return stored.revokedAt !== undefined ? stored : { ...stored, revokedAt: new Date().toISOString(), revokedBy: actor };
}
