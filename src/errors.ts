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

export class ApiError extends Error {
  readonly errors: WireFieldError[];

  constructor(
    readonly status: number,
    readonly code: string,
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
    super(429, 'rate_limited', `more than ${perSecond} requests per second from this caller; retry after ${retryAfterSeconds} s`);
    this.name = 'RateLimitedError';
  }
}

/** 400: the request body or parameters are not what the API takes. Names every bad field. */
export function invalidInput(errors: FieldError[]): ApiError {
  const message = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return new ApiError(400, 'invalid_parameter', message, errors);
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
  return new ApiError(400, 'invalid_json', `${file} is not valid JSON: ${detail}`, [item]);
}

export const errors = {
  invalidInput,
  malformedJson,
  tooLarge: (limit: string) => new ApiError(400, 'request_too_large', `request body is larger than ${limit}`),
  unauthorized: (message: string) => new ApiError(401, 'unauthorized', message),
  insufficientScope: (tokenName: string, scope: string) => new ApiError(403, 'insufficient_scope', `admin token "${tokenName}" lacks the scope ${scope}`),
  orgNotAllowed: (tokenName: string, orgId: string) => new ApiError(403, 'org_not_allowed', `admin token "${tokenName}" may not touch organization ${JSON.stringify(orgId)}`),
  workspaceOwned: (workspaceId: string) => new ApiError(409, 'workspace_owned', `workspace ${JSON.stringify(workspaceId)} belongs to another organization`),
  /** A forward-auth header that the deployment's gateway does not set, so a client did (src/gateway/forwardauth.ts). */
  forgedOriginalRequest: (detail: string) => new ApiError(403, 'forged_original_request', `the original request is described by a header a client can set: ${detail}`),
  /** /ext_authz asked in a form (Envoy path form, forward-auth header form) that FORWARD_AUTH_HEADERS does not accept (src/gateway/forwardauth.ts). */
  extAuthzFormRefused: (detail: string) => new ApiError(403, 'ext_authz_form_refused', `this deployment does not accept the request in this form: ${detail}`),
  /** The original request's method or URI given twice (two headers, or a header and the request itself) in ways that disagree. */
  conflictingOriginalRequest: (detail: string) => new ApiError(403, 'conflicting_original_request', `the original request is described in two ways that disagree: ${detail}`),
  invalidPath: (detail: string) => new ApiError(400, 'invalid_path', `request path cannot be decoded: ${detail}`),
  notFound: (what: string) => new ApiError(404, 'resource_not_found', `${what} not found`),
  unavailable: (message: string) => new ApiError(503, 'unavailable', message),
  replicationUnconfirmed: (detail: string) =>
    new ApiError(503, 'replication_unconfirmed', `the write was made but Redis did not confirm it on enough replicas (${detail}): it may or may not survive a failover; repeating the same request is safe`),
  internal: () => new ApiError(500, 'internal_error', 'internal error; see the sidecar log'),
};
