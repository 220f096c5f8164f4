// Every error a client can see: a stable code, a human message, an HTTP status,
// and, for bad input, one entry per offending field. Routes throw these; the
// error middleware (http/errors.ts) is the only place that turns them into JSON.

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly errors: FieldError[] = [],
    /** Fields the answer carries beside code and message, e.g. the decision id of a failed decision. */
    readonly details: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): { code: string; message: string; errors?: FieldError[] } & Record<string, unknown> {
    return this.errors.length > 0
      ? { ...this.details, code: this.code, message: this.message, errors: this.errors }
      : { ...this.details, code: this.code, message: this.message };
  }
}

/** 400: the request body or parameters are not what the API takes. Names every bad field. */
export function invalidInput(errors: FieldError[]): ApiError {
  const message = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return new ApiError(400, 'invalid_parameter', message, errors);
}

export const errors = {
  invalidInput,
  malformedJson: (detail: string) => new ApiError(400, 'invalid_json', `request body is not valid JSON: ${detail}`),
  tooLarge: (limit: string) => new ApiError(400, 'request_too_large', `request body is larger than ${limit}`),
  unauthorized: (message: string) => new ApiError(401, 'unauthorized', message),
  insufficientScope: (tokenName: string, scope: string) => new ApiError(403, 'insufficient_scope', `admin token "${tokenName}" lacks the scope ${scope}`),
  orgNotAllowed: (tokenName: string, orgId: string) => new ApiError(403, 'org_not_allowed', `admin token "${tokenName}" may not touch organization ${JSON.stringify(orgId)}`),
  workspaceOwned: (workspaceId: string) => new ApiError(409, 'workspace_owned', `workspace ${JSON.stringify(workspaceId)} belongs to another organization`),
  invalidPath: (detail: string) => new ApiError(400, 'invalid_path', `request path cannot be decoded: ${detail}`),
  notFound: (what: string) => new ApiError(404, 'resource_not_found', `${what} not found`),
  unavailable: (message: string) => new ApiError(503, 'unavailable', message),
  internal: () => new ApiError(500, 'internal_error', 'internal error; see the sidecar log'),
};
