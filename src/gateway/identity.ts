// Who is asking: the principal of a gateway request, from a bearer JWT verified with
// jose (HS256 shared secret, or asymmetric keys from a JWKS file or URL), or from
// headers set by a gateway that already authenticated the caller. Nothing here decides;
// a failure is a 401 with a reason, and unverified claims never leave this module.
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors as jose, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ConfigError, settingName, type Config } from '../config.ts';
import { ApiError, CODE, type ErrorCode } from '../errors.ts';
import { BodySyntaxError, JsonEntries, parseBody, type JsonNode } from './body.ts';

export type Headers = Record<string, string | undefined>;

/** Principal fields as found, not yet validated; `names` says where each came from, for messages. */
export interface Claimed {
  principal: Record<string, unknown>;
  names: Record<PrincipalField, string>;
}

export interface Identity {
  identify(headers: Headers): Promise<Claimed>;
}

export const PRINCIPAL_FIELDS = ['id', 'orgId', 'orgRole', 'workspaceRoles'] as const;
export type PrincipalField = (typeof PRINCIPAL_FIELDS)[number];

export const DEFAULT_CLAIMS = 'id=sub,orgId=org_id,orgRole=org_role,workspaceRoles=workspace_roles';

export const TRUSTED_HEADERS: Record<PrincipalField, string> = {
  id: 'x-portkey-user-id',
  orgId: 'x-portkey-org-id',
  orgRole: 'x-portkey-org-role',
  workspaceRoles: 'x-portkey-workspace-roles',
};

export interface IdentityConfig {
  gatewayIdentity: string;
  gatewayJwtSecret: string;
  gatewayJwksFile: string;
  gatewayJwksUrl: string;
  gatewayJwtAlgorithms: string;
  gatewayJwtIssuer: string;
  gatewayJwtAudience: string;
  gatewayJwtClaims: string;
  fromFile?: Config['fromFile'];
}

const SYMMETRIC = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const MIN_SECRET_BYTES = 32;
/** Real tokens are a few kB; anything far larger is refused before any parsing. */
const MAX_TOKEN_LENGTH = 8192;
const JWKS_TIMEOUT_MS = 2000;

const unauthorized = (reason: ErrorCode, message: string) => new ApiError(401, reason, message);

export async function createIdentity(config: IdentityConfig): Promise<Identity> {
  if (config.gatewayIdentity === 'headers') return new HeaderIdentity();
  if (config.gatewayIdentity !== 'jwt')
    throw new ConfigError(`${settingName('gatewayIdentity', config)} must be jwt or headers, got ${JSON.stringify(config.gatewayIdentity)}`);

  const claims = parseClaimsMapping(config.gatewayJwtClaims);
  const sources = (['gatewayJwtSecret', 'gatewayJwksFile', 'gatewayJwksUrl'] as const).filter((key) => config[key]).map((key) => settingName(key, config));
  if (sources.length > 1) throw new ConfigError(`set only one of ${sources.join(', ')}: a token is verified with one kind of key`);
  if (sources.length === 0) return new UnconfiguredIdentity();

  const symmetric = Boolean(config.gatewayJwtSecret);
  const allowed = symmetric ? SYMMETRIC : ASYMMETRIC;
  const algorithms = config.gatewayJwtAlgorithms ? config.gatewayJwtAlgorithms.split(',').map((a) => a.trim()) : symmetric ? ['HS256'] : ['RS256', 'ES256'];
  const refused = algorithms.filter((a) => !allowed.includes(a));
  if (refused.length > 0) {
    throw new ConfigError(
      `${settingName('gatewayJwtAlgorithms', config)}: ${refused.join(', ')} cannot be used with ${sources[0]}; choose from ${allowed.join(', ')}`,
    );
  }

  let key: Uint8Array | JWTVerifyGetKey;
  if (symmetric) {
    key = new TextEncoder().encode(config.gatewayJwtSecret);
    if (key.byteLength < MIN_SECRET_BYTES)
      throw new ConfigError(`${settingName('gatewayJwtSecret', config)} must be at least ${MIN_SECRET_BYTES} bytes for HS256`);
  } else if (config.gatewayJwksFile) {
    try {
      key = createLocalJWKSet(JSON.parse(await readFile(config.gatewayJwksFile, 'utf8')));
    } catch (error) {
      throw new ConfigError(`${settingName('gatewayJwksFile', config)} ${config.gatewayJwksFile}: ${(error as Error).message}`);
    }
  } else {
    let url: URL;
    try {
      url = new URL(config.gatewayJwksUrl);
    } catch {
      throw new ConfigError(`${settingName('gatewayJwksUrl', config)} must be a URL, got ${JSON.stringify(config.gatewayJwksUrl)}`);
    }
    key = createRemoteJWKSet(url, { timeoutDuration: JWKS_TIMEOUT_MS });
  }
  return new JwtIdentity(key, algorithms, config.gatewayJwtIssuer, config.gatewayJwtAudience, claims);
}

/** `id=sub,orgId=org_id,...` -> principal field to claim name; fields left out keep their default. */
export function parseClaimsMapping(spec: string): Record<PrincipalField, string> {
  const mapping = Object.fromEntries(DEFAULT_CLAIMS.split(',').map((pair) => pair.split('='))) as Record<PrincipalField, string>;
  for (const pair of spec.split(',').filter((p) => p.trim() !== '')) {
    const [field, claim, ...rest] = pair.split('=').map((s) => s.trim());
    if (!(PRINCIPAL_FIELDS as readonly string[]).includes(field!) || !claim || rest.length > 0) {
      throw new ConfigError(`${settingName('gatewayJwtClaims')}: "${pair}" must be <field>=<claim> with field one of ${PRINCIPAL_FIELDS.join(', ')}`);
    }
    mapping[field as PrincipalField] = claim;
  }
  return mapping;
}

function bearerToken(headers: Headers): string {
  const header = headers.authorization;
  if (!header) throw unauthorized(CODE.missing_token, 'no bearer token: send Authorization: Bearer <JWT>');
  const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  if (!match) throw unauthorized(CODE.malformed_token, 'the Authorization header must be "Bearer <JWT>"');
  if (match[1]!.length > MAX_TOKEN_LENGTH) throw unauthorized(CODE.malformed_token, `the bearer token is longer than ${MAX_TOKEN_LENGTH} characters`);
  return match[1]!;
}

class JwtIdentity implements Identity {
  constructor(
    private readonly key: Uint8Array | JWTVerifyGetKey,
    private readonly algorithms: string[],
    private readonly issuer: string,
    private readonly audience: string,
    private readonly claims: Record<PrincipalField, string>,
  ) {}

  async identify(headers: Headers): Promise<Claimed> {
    const token = bearerToken(headers);
    let payload: Record<string, unknown>;
    try {
      const options = {
        algorithms: this.algorithms,
        requiredClaims: ['exp'],
        ...(this.issuer ? { issuer: this.issuer } : {}),
        ...(this.audience ? { audience: this.audience } : {}),
      };
      // Two calls so TypeScript picks the overload for each kind of key.
      const verified = this.key instanceof Uint8Array ? await jwtVerify(token, this.key, options) : await jwtVerify(token, this.key, options);
      payload = verified.payload;
    } catch (error) {
      throw tokenRejection(error);
    }
    const principal: Record<string, unknown> = {};
    for (const field of PRINCIPAL_FIELDS) principal[field] = payload[this.claims[field]];
    const names = Object.fromEntries(PRINCIPAL_FIELDS.map((f) => [f, `claim ${this.claims[f]}`])) as Record<PrincipalField, string>;
    return { principal, names };
  }
}

/** A jose failure as a 401 (or 503 when the key set cannot be fetched) with a reason. */
function tokenRejection(error: unknown): ApiError {
  if (error instanceof jose.JWTExpired) return unauthorized(CODE.token_expired, 'the bearer token has expired');
  if (error instanceof jose.JWTClaimValidationFailed)
    return unauthorized(CODE.invalid_claims, `the bearer token's ${error.claim} claim ${error.reason === 'missing' ? 'is missing' : 'is not accepted'}`);
  if (error instanceof jose.JWSSignatureVerificationFailed) return unauthorized(CODE.bad_signature, 'the bearer token signature does not verify');
  if (error instanceof jose.JOSEAlgNotAllowed)
    return unauthorized(CODE.alg_not_allowed, 'the bearer token is signed with an algorithm this sidecar does not accept');
  if (error instanceof jose.JWKSNoMatchingKey) return unauthorized(CODE.unknown_key, 'no key in the key set matches the bearer token');
  if (error instanceof jose.JWKSTimeout) return new ApiError(503, CODE.jwks_unavailable, 'the key set could not be fetched in time');
  if (
    error instanceof jose.JWSInvalid ||
    error instanceof jose.JWTInvalid ||
    error instanceof jose.JOSENotSupported ||
    error instanceof jose.JWKSMultipleMatchingKeys
  ) {
    return unauthorized(CODE.malformed_token, 'the bearer token is not a well-formed signed JWT');
  }
  if (error instanceof jose.JWKSInvalid) return new ApiError(503, CODE.jwks_unavailable, 'the key set could not be read');
  // Anything else (e.g. the JWKS URL refused the connection) is the key source failing, not the token.
  return new ApiError(503, CODE.jwks_unavailable, 'the key set could not be fetched');
}

/** jwt mode with no key: every request is refused rather than decided on unverified claims. */
class UnconfiguredIdentity implements Identity {
  async identify(): Promise<Claimed> {
    throw unauthorized(
      CODE.jwt_not_configured,
      'this sidecar has no key to verify bearer tokens (set GATEWAY_JWT_SECRET, GATEWAY_JWKS_FILE or GATEWAY_JWKS_URL)',
    );
  }
}

/** For a gateway that authenticated the caller itself and sets these headers (and strips any the client sent). */
class HeaderIdentity implements Identity {
  async identify(headers: Headers): Promise<Claimed> {
    if (headers[TRUSTED_HEADERS.id] === undefined) throw unauthorized(CODE.missing_identity, `no ${TRUSTED_HEADERS.id} header from the gateway`);
    const rolesHeader = headers[TRUSTED_HEADERS.workspaceRoles];
    const names = Object.fromEntries(PRINCIPAL_FIELDS.map((f) => [f, `header ${TRUSTED_HEADERS[f]}`])) as Record<PrincipalField, string>;
    return {
      principal: {
        id: headers[TRUSTED_HEADERS.id],
        orgId: headers[TRUSTED_HEADERS.orgId],
        orgRole: headers[TRUSTED_HEADERS.orgRole],
        workspaceRoles: rolesHeader === undefined ? {} : parseWorkspaceRoles(rolesHeader),
      },
      names,
    };
  }
}

/**
 * `{"ws-1":"manager"}` or `ws-1:manager,ws-2:member`. A workspace named twice is refused:
 * which role would count depends on the parser (JSON.parse keeps the last).
 */
export function parseWorkspaceRoles(value: string): unknown {
  const text = value.trim();
  const pairs: [string, unknown][] = [];
  if (text.startsWith('{')) {
    let parsed: JsonNode;
    try {
      parsed = parseBody(text, 2);
    } catch (error) {
      if (!(error instanceof BodySyntaxError)) throw error;
      throw unauthorized(CODE.invalid_claims, `header ${TRUSTED_HEADERS.workspaceRoles} is not valid JSON`);
    }
    // Text that starts with "{" and parses is an object.
    if (parsed instanceof JsonEntries) pairs.push(...parsed.entries);
  } else {
    for (const entry of text
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const colon = entry.lastIndexOf(':');
      if (colon <= 0) throw unauthorized(CODE.invalid_claims, `header ${TRUSTED_HEADERS.workspaceRoles}: "${entry}" must be <workspace>:<role>`);
      pairs.push([entry.slice(0, colon), entry.slice(colon + 1)]);
    }
  }
  const roles: Record<string, unknown> = Object.create(null);
  for (const [workspaceId, role] of pairs) {
    if (Object.hasOwn(roles, workspaceId))
      throw unauthorized(CODE.invalid_claims, `header ${TRUSTED_HEADERS.workspaceRoles} names workspace ${JSON.stringify(workspaceId)} more than once`);
    roles[workspaceId] = role;
  }
  return roles;
}
