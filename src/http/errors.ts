// The one place errors become responses: {code, message, errors?}. Body-parser's and the
// router's own errors are mapped to the same shape, a store that cannot answer (or a write
// its replicas did not confirm) is a 503;
// anything unexpected is a logged 500 with no detail.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ApiError, errors, CODE } from '../errors.ts';
import { errorSummary } from '../log.ts';
import { ReplicationUnconfirmedError } from '../redis/durable.ts';
import { isRedisUnavailable } from '../redis/errors.ts';
import { SettingsUnavailableError } from '../settings/redis.ts';
import { WorkspaceOwnedError } from '../settings/types.ts';

/** True for an error that means the store could not answer right now (a 503: try again), not a bug. */
function isStoreUnavailable(error: unknown): boolean {
  return error instanceof SettingsUnavailableError || isRedisUnavailable(error);
}

interface BodyParserError {
  type?: string;
  status?: number;
  message: string;
  limit?: number;
  /** The text that failed to parse (body-parser keeps it on entity.parse.failed). */
  body?: unknown;
}

export function toApiError(error: unknown, bodyLimit: string): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof WorkspaceOwnedError) return errors.workspaceOwned(error.workspaceId);
  if (error instanceof ReplicationUnconfirmedError) return errors.replicationUnconfirmed(error.message);
  // The router decoding a path parameter such as /v1/orgs/%ZZ/...
  if (error instanceof URIError) return errors.invalidPath(error.message);
  if (isStoreUnavailable(error)) return errors.unavailable('the store (Redis) cannot answer right now; try again');
  const e = error as BodyParserError;
  switch (e?.type) {
    case 'entity.parse.failed':
      return errors.malformedJson(e.message, typeof e.body === 'string' ? e.body : undefined);
    case 'entity.too.large':
      return errors.tooLarge(bodyLimit);
    case 'encoding.unsupported':
    case 'charset.unsupported':
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new ApiError(400, CODE.invalid_request, e.message);
  }
  // Body-parser passes a body that fails to decompress (Content-Encoding gzip/br/deflate
  // that is not) as the zlib error, marked as a client error but with no type.
  if ((e as { expose?: unknown })?.expose === true && e.status === 400)
    return new ApiError(400, CODE.invalid_request, `request body cannot be read: ${e.message}`);
  return undefined;
}

export function errorHandler(log: Logger, bodyLimit: string): ErrorRequestHandler {
  return (error, req, res, _next) => {
    let apiError = toApiError(error, bodyLimit);
    if (apiError?.status === 503) log.warn({ error: errorSummary(error), method: req.method, path: req.path }, 'store unavailable; answering 503');
    if (!apiError) {
      log.error({ err: error, method: req.method, path: req.path }, 'unhandled error');
      apiError = errors.internal();
    }
    if (res.headersSent) return;
    res.status(apiError.status).json(apiError.toJSON());
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(errors.notFound(`${req.method} ${req.path}`));
};
