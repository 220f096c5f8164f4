// The one place errors become responses: {code, message, errors?}. Body-parser's own
// errors are mapped to the same shape; anything unexpected is a logged 500 with no detail.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ApiError, errors } from '../errors.ts';

interface BodyParserError {
  type?: string;
  status?: number;
  message: string;
  limit?: number;
}

export function toApiError(error: unknown, bodyLimit: string): ApiError | undefined {
  if (error instanceof ApiError) return error;
  const e = error as BodyParserError;
  switch (e?.type) {
    case 'entity.parse.failed':
      return errors.malformedJson(e.message);
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
