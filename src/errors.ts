// Every error a client can see: a stable code, a human message, an HTTP status,
// and, for bad input, one entry per offending field. Routes throw these; the
// error middleware (http/errors.ts) is the only place that turns them into JSON.

/** Where a problem sits in the request text, as OPA's error items locate one (rows and columns from 1). */
export interface ErrorLocation {
  /** The part of the request: "request body", or "input query parameter". */
  file: string;
  row: number;
  col: number;
}

/**
 * One item of `errors`: OPA's {code, message, location?} (OPA clients such as @styra/opa
 * refuse an item without a code) plus the field at fault. A producer that leaves the code
 * out gets FIELD_CODE.invalid, so every item on the wire has one.
 */
export interface FieldError {
  field: string;
  message: string;
  code?: FieldCode;
  location?: ErrorLocation;
}

/** The codes of error items: what is wrong with the field. */
export const FIELD_CODE = {
  missing: 'missing_field',
  type: 'invalid_type',
  invalid: 'invalid_value',
  unknown: 'unknown_field',
  json: 'invalid_json',
} as const;
export type FieldCode = (typeof FIELD_CODE)[keyof typeof FIELD_CODE];

type WireFieldError = FieldError & { code: FieldCode };

/** Where an error code is answered: the groups of docs/errors.md. */
export type ErrorArea = 'request' | 'callers' | 'admin' | 'decision' | 'gateway' | 'identity';

interface ErrorCodeEntry {
  area: ErrorArea;
  /** The HTTP statuses it is answered with (the gateway refuses what http/ calls bad input with 403). */
  statuses: readonly number[];
  /** One line: what the caller did or what went wrong. */
  meaning: string;
}

/**
 * Every code an ApiError can carry, written once: its area, statuses and meaning. Routes name
 * a code as CODE.<code>; docs/errors.md is generated from this table (`make docs`) and a test fails
 * when a `new ApiError(` site spells a code as a string, or an entry is never used.
 */
export const ERROR_CODES = {
  invalid_parameter: {
    area: 'request',
    statuses: [400],
    meaning: 'A body field or parameter is missing, of the wrong type or out of range; `errors` names each.',
  },
  invalid_json: {
    area: 'request',
    statuses: [400],
    meaning: 'The body (or the input query parameter) is not JSON; the error item locates the mistake when the parser says where.',
  },
  request_too_large: { area: 'request', statuses: [400], meaning: 'The body is larger than the limit.' },
  invalid_request: {
    area: 'request',
    statuses: [400, 403],
    meaning:
      'The request cannot be read: an unreadable or undecodable body, an unsupported Content-Encoding, a forward-auth request without the original method and URI.',
  },
  invalid_path: {
    area: 'request',
    statuses: [400, 403],
    meaning: 'The path cannot be decoded, or (gateway) has empty, dot, encoded-separator or malformed percent-encoded segments.',
  },
  method_not_allowed: { area: 'request', statuses: [405], meaning: 'The path exists but does not take this method; Allow names the ones it does.' },
  undefined_document: { area: 'request', statuses: [404], meaning: "OPA's default decision (POST /) was asked for; Portcullis has none." },
  resource_not_found: { area: 'request', statuses: [404], meaning: 'The named thing (organization settings, workspace, audit record, path) does not exist.' },
  rate_limited: { area: 'request', statuses: [429], meaning: "More requests per second than the caller's rate; Retry-After says when the next one fits." },
  unavailable: { area: 'request', statuses: [503], meaning: 'A store the answer needs (Redis, the bundle) cannot be reached now; retry.' },
  replication_unconfirmed: {
    area: 'request',
    statuses: [503],
    meaning: 'A write was made but not confirmed on enough replicas; repeating the same request is safe.',
  },
  internal_error: { area: 'request', statuses: [500], meaning: 'A fault in the sidecar; the log has the details.' },
  host_not_allowed: { area: 'callers', statuses: [403], meaning: 'The Host header is not one of ALLOWED_HOSTS.' },
  origin_not_allowed: { area: 'callers', statuses: [403], meaning: 'A web page of another origin called the API (ALLOWED_ORIGINS).' },
  caller_token_missing: { area: 'callers', statuses: [401], meaning: 'DECIDE_AUTH=required and no caller token was sent.' },
  caller_token_invalid: { area: 'callers', statuses: [401], meaning: 'The caller token is not valid, or is sent more than once.' },
  unauthorized: { area: 'admin', statuses: [401], meaning: 'No admin token, or one the sidecar does not know.' },
  insufficient_scope: { area: 'admin', statuses: [403], meaning: 'The admin token lacks the scope the route needs.' },
  org_not_allowed: { area: 'admin', statuses: [403], meaning: 'The admin token is limited to other organizations.' },
  workspace_owned: { area: 'admin', statuses: [409], meaning: 'The workspace is registered to another organization.' },
  workspace_not_registered: {
    area: 'admin',
    statuses: [403],
    meaning: 'The workspace is not registered to the organization, and the token may not register it.',
  },
  precondition_failed: {
    area: 'admin',
    statuses: [412],
    meaning: 'If-Match does not match: the settings changed since they were read; the answer carries the current ETag.',
  },
  api_key_revoked: { area: 'admin', statuses: [409], meaning: 'The API key is revoked: it cannot be rotated back to life (register a new one).' },
  unknown_family: { area: 'admin', statuses: [404], meaning: 'The active bundle has no settings family of that name (with a did-you-mean).' },
  no_workspace_overrides: { area: 'admin', statuses: [404], meaning: "The family's settings are the organization's only; it has no workspace path." },
  not_supported_by_bundle: { area: 'admin', statuses: [501], meaning: 'The active bundle lacks the entrypoint the route needs (effective settings).' },
  replay_in_progress: { area: 'admin', statuses: [409], meaning: 'A replay of the organization is already running.' },
  replay_too_large: { area: 'admin', statuses: [400], meaning: 'The replay filter selects more recorded decisions than one replay takes.' },
  settings_stale: {
    area: 'decision',
    statuses: [503],
    meaning: 'The cached settings are older than the caller requires and Redis cannot be read; not decided from them.',
  },
  evaluation_failed: {
    area: 'decision',
    statuses: [500],
    meaning: 'The policy could not be evaluated; the decision is recorded as denied and its id returned.',
  },
  forged_original_request: {
    area: 'gateway',
    statuses: [403],
    meaning: "A forward-auth header the deployment's gateway does not set was sent, so a client set it.",
  },
  ext_authz_form_refused: {
    area: 'gateway',
    statuses: [403],
    meaning: '/ext_authz was asked in a form (Envoy path form or forward-auth header form) that FORWARD_AUTH_HEADERS does not accept for this deployment.',
  },
  conflicting_original_request: { area: 'gateway', statuses: [403], meaning: "The original request's method or URI is given twice in ways that disagree." },
  no_route: { area: 'gateway', statuses: [403], meaning: 'No route of the gateway table matches the method and path.' },
  ambiguous_org_id: { area: 'gateway', statuses: [403], meaning: 'The request names more than one organization.' },
  ambiguous_workspace_id: { area: 'gateway', statuses: [403], meaning: 'The request names more than one workspace.' },
  ambiguous_resource_id: { area: 'gateway', statuses: [403], meaning: 'The request names more than one resource id.' },
  missing_org_id: { area: 'gateway', statuses: [403], meaning: 'The route needs an organization and the request names none.' },
  missing_workspace_id: { area: 'gateway', statuses: [403], meaning: 'The route needs a workspace and the request names none.' },
  missing_resource_id: { area: 'gateway', statuses: [403], meaning: 'A route that requires a resource id finds none (no committed route requires one).' },
  invalid_body: { area: 'gateway', statuses: [403], meaning: 'A body field a route reads is not a string, or the body is not JSON.' },
  headers_too_large: { area: 'gateway', statuses: [431], meaning: 'Too many request headers, or too many bytes of them.' },
  forbidden_header: {
    area: 'gateway',
    statuses: [403],
    meaning: 'The request carries a header only the sidecar may set, or one that changes the method upstream.',
  },
  duplicate_identity_header: { area: 'gateway', statuses: [401], meaning: 'A trusted identity header appears more than once.' },
  missing_token: { area: 'identity', statuses: [401], meaning: 'No bearer token.' },
  malformed_token: { area: 'identity', statuses: [401], meaning: 'The Authorization header is not "Bearer <JWT>", the token is too long or not a signed JWT.' },
  token_expired: { area: 'identity', statuses: [401], meaning: 'The bearer token has expired.' },
  invalid_claims: { area: 'identity', statuses: [401], meaning: 'A claim (or trusted identity header) is missing, not accepted or malformed.' },
  bad_signature: { area: 'identity', statuses: [401], meaning: "The bearer token's signature does not verify." },
  alg_not_allowed: { area: 'identity', statuses: [401], meaning: 'The token is signed with an algorithm the sidecar does not accept.' },
  unknown_key: { area: 'identity', statuses: [401], meaning: 'No key of the key set matches the token.' },
  jwt_not_configured: { area: 'identity', statuses: [401], meaning: 'The sidecar has no key to verify bearer tokens.' },
  missing_identity: { area: 'identity', statuses: [401], meaning: 'Trusted-header identity is configured and the gateway sent no principal header.' },
  malformed_api_key: {
    area: 'identity',
    statuses: [401],
    meaning: 'The x-portkey-api-key header is not a key this sidecar issues (`<key id>.<secret>`), or is sent more than once.',
  },
  unknown_api_key: { area: 'identity', statuses: [401], meaning: 'The API key is not registered, or was rotated away.' },
  revoked_api_key: { area: 'identity', statuses: [401], meaning: 'The API key was revoked.' },
  ambiguous_identity: {
    area: 'identity',
    statuses: [401],
    meaning: 'The request carries an API key and a session (a bearer token or trusted identity headers): which one acts is not guessed.',
  },
  api_keys_unavailable: { area: 'identity', statuses: [503], meaning: 'The API-key registry (Redis) cannot be read now: the key is refused; retry.' },
  jwks_unavailable: { area: 'identity', statuses: [503], meaning: 'The JWKS key set could not be fetched or read in time.' },
} as const satisfies Record<string, ErrorCodeEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes by name, for call sites: `new ApiError(404, CODE.unknown_family, ...)`. */
export const CODE = Object.fromEntries(Object.keys(ERROR_CODES).map((code) => [code, code])) as { readonly [K in ErrorCode]: K };

export class ApiError extends Error {
  readonly errors: WireFieldError[];

  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    errors: FieldError[] = [],
    /** Fields the answer carries beside code and message, e.g. the decision id of a failed decision. */
    readonly details: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.errors = errors.map((error) => ({ ...error, code: error.code ?? FIELD_CODE.invalid }));
  }

  toJSON(): { code: string; message: string; errors?: WireFieldError[] } & Record<string, unknown> {
    return this.errors.length > 0
      ? { ...this.details, code: this.code, message: this.message, errors: this.errors }
      : { ...this.details, code: this.code, message: this.message };
  }
}

/** 429: the caller asked more often than its rate; Retry-After says when the next request fits. */
export class RateLimitedError extends ApiError {
  constructor(
    readonly retryAfterSeconds: number,
    perSecond: number,
  ) {
    super(429, CODE.rate_limited, `more than ${perSecond} requests per second from this caller; retry after ${retryAfterSeconds} s`);
    this.name = 'RateLimitedError';
  }
}

/** 400: the request body or parameters are not what the API takes. Names every bad field. */
export function invalidInput(errors: FieldError[]): ApiError {
  const message = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return new ApiError(400, CODE.invalid_parameter, message, errors);
}

/**
 * 400: the text is not JSON. When the parser names a position (V8 does for some
 * mistakes), the error item locates it by row and column, as OPA's parse errors do.
 */
function malformedJson(detail: string, text?: string, file = 'request body'): ApiError {
  const position = /at position (\d+)/.exec(detail);
  const item: FieldError = { field: file === 'request body' ? 'body' : 'input', code: FIELD_CODE.json, message: detail };
  if (position && text !== undefined) {
    const before = text.slice(0, Number(position[1])).split('\n');
    item.location = { file, row: before.length, col: before.at(-1)!.length + 1 };
  }
  return new ApiError(400, CODE.invalid_json, `${file} is not valid JSON: ${detail}`, [item]);
}

export const errors = {
  invalidInput,
  malformedJson,
  tooLarge: (limit: string) => new ApiError(400, CODE.request_too_large, `request body is larger than ${limit}`),
  unauthorized: (message: string) => new ApiError(401, CODE.unauthorized, message),
  insufficientScope: (tokenName: string, scope: string) => new ApiError(403, CODE.insufficient_scope, `admin token "${tokenName}" lacks the scope ${scope}`),
  orgNotAllowed: (tokenName: string, orgId: string) =>
    new ApiError(403, CODE.org_not_allowed, `admin token "${tokenName}" may not touch organization ${JSON.stringify(orgId)}`),
  workspaceOwned: (workspaceId: string) => new ApiError(409, CODE.workspace_owned, `workspace ${JSON.stringify(workspaceId)} belongs to another organization`),
  /** A forward-auth header that the deployment's gateway does not set, so a client did (src/gateway/forwardauth.ts). */
  forgedOriginalRequest: (detail: string) =>
    new ApiError(403, CODE.forged_original_request, `the original request is described by a header a client can set: ${detail}`),
  /** /ext_authz asked in a form (Envoy path form, forward-auth header form) that FORWARD_AUTH_HEADERS does not accept (src/gateway/forwardauth.ts). */
  extAuthzFormRefused: (detail: string) =>
    new ApiError(403, CODE.ext_authz_form_refused, `this deployment does not accept the request in this form: ${detail}`),
  /** The original request's method or URI given twice (two headers, or a header and the request itself) in ways that disagree. */
  conflictingOriginalRequest: (detail: string) =>
    new ApiError(403, CODE.conflicting_original_request, `the original request is described in two ways that disagree: ${detail}`),
  invalidPath: (detail: string) => new ApiError(400, CODE.invalid_path, `request path cannot be decoded: ${detail}`),
  notFound: (what: string) => new ApiError(404, CODE.resource_not_found, `${what} not found`),
  unavailable: (message: string) => new ApiError(503, CODE.unavailable, message),
  replicationUnconfirmed: (detail: string) =>
    new ApiError(
      503,
      CODE.replication_unconfirmed,
      `the write was made but Redis did not confirm it on enough replicas (${detail}): it may or may not survive a failover; repeating the same request is safe`,
    ),
  internal: () => new ApiError(500, CODE.internal_error, 'internal error; see the sidecar log'),
};
