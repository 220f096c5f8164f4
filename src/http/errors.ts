// The one place errors become responses: {code, message, errors?}. Body-parser's and the
// router's own errors are mapped to the same shape, a store that cannot answer (or a write
// its replicas did not confirm) is a 503;
// anything unexpected is a logged 500 with no detail.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ApiError, errors } from '../errors.ts';
import { errorSummary } from '../log.ts';
import { ReplicationUnconfirmedError } from '../redis/connection.ts';
import { SettingsUnavailableError } from '../settings/redis.ts';
import { WorkspaceOwnedError } from '../settings/types.ts';

// What ioredis (and the socket under it) say when Redis cannot answer now: paused, slow,
// away, failing over, loading. Plain Errors, so known by their messages.
const REDIS_AWAY = /^(Command timed out|Connection is closed|Stream isn't writeable|Reached the max retries per request limit|None of startup nodes is available|Cluster is disconnect|Cluster isn't ready|Node is disconnected|connect ETIMEDOUT)/;
const REDIS_BUSY_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|OOM)\b/;
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** True for an error that means the store could not answer right now (a 503: try again), not a bug. */
export function isStoreUnavailable(error: unknown): boolean {
  if (error instanceof SettingsUnavailableError) return true;
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return REDIS_BUSY_REPLY.test(error.message);
  const code = (error as NodeJS.ErrnoException).code;
  return (code !== undefined && SOCKET_CODES.has(code)) || REDIS_AWAY.test(error.message);
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
      return new ApiError(400, 'invalid_request', e.message);
  }
  // Body-parser passes a body that fails to decompress (Content-Encoding gzip/br/deflate
  // that is not) as the zlib error, marked as a client error but with no type.
  if ((e as { expose?: unknown })?.expose === true && e.status === 400) return new ApiError(400, 'invalid_request', `request body cannot be read: ${e.message}`);
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
