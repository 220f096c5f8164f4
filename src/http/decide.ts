// The decision APIs — Portcullis's own (POST /v1/authorize) and OPA's data and batch
// APIs, so OPA clients (e.g. @styra/opa) work unchanged — served on plain node:http
// ahead of the Express app. They are every caller's hot path and Express's routing,
// body parsing and response helpers cost several times what deciding does, so these
// routes read the body, parse it once into a typed request and write the JSON themselves.
// Everything else falls through to Express. Errors have the one shape of src/errors.ts.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Logger } from 'pino';
import type { DecisionApi } from '../audit/record.ts';
import type { DecideOptions, DecisionAnswer, Decider } from '../decision/decider.ts';
import { parseAuthorizeRequest } from '../decision/request.ts';
import type { PolicyDecision } from '../engine/engine.ts';
import { ApiError, errors, invalidInput } from '../errors.ts';
import { isId, quoted } from '../ids.ts';
import { depthExceeds } from './limits.ts';
import { isJsonObject } from '../json.ts';

export interface DecisionApiOptions {
  /** Largest body accepted, in bytes, before and after decompression. */
  bodyLimitBytes: number;
  /** As written in the configuration, for error messages. */
  bodyLimit: string;
  jsonMaxDepth: number;
  log: Logger;
}

/** The data paths served, and how each turns a decision into the rule's value. */
const DOCUMENTS: Record<string, (answer: DecisionAnswer) => unknown> = {
  'portkey/authz/allow': (answer) => answer.allow,
  'portkey/authz/decision': ({ decisionId: _id, bundleRevision: _revision, ...decision }): PolicyDecision => decision,
};

const DATA_PREFIX = '/v1/data/';
const BATCH_PREFIX = '/v1/batch/data/';
const MAX_BATCH = 1000;
const INPUT_REQUIRED = () => invalidInput([{ field: 'input', message: 'is required: POST {"input": <decision request>}' }]);

type Reply = { status: number; body: unknown };
type Query = URLSearchParams;
/** Who asked and the trace they are in: the DecideOptions every decision of a request shares. */
type Asked = Pick<DecideOptions, 'trace' | 'requestedBy'>;

export function decisionApi(decider: Decider, options: DecisionApiOptions, fallback: RequestListener): RequestListener {
  const authorize = async (body: unknown, _query: Query, asked: Asked): Promise<Reply> => ({ status: 200, body: await decider.decide(parseAuthorizeRequest(body), 'authorize', asked) });

  const data = async (path: string, body: unknown, query: Query, asked: Asked): Promise<Reply> => {
    const document = documentFor(path);
    if (!isJsonObject(body) || body.input === undefined) throw INPUT_REQUIRED();
    const answer = await decider.decide(parseAuthorizeRequest(body.input, 'input.'), 'opa_data', { ...asked, path });
    const reply: Record<string, unknown> = { result: document(answer), decision_id: answer.decisionId };
    if (query.has('provenance')) reply.provenance = { bundles: { portkey: { revision: answer.bundleRevision } } };
    return { status: 200, body: reply };
  };

  const batch = async (path: string, body: unknown, asked: Asked): Promise<Reply> => {
    const document = documentFor(path);
    const inputs = isJsonObject(body) ? body.inputs : undefined;
    if (!isJsonObject(inputs)) throw invalidInput([{ field: 'inputs', message: 'is required: an object of id to input' }]);
    const ids = Object.keys(inputs);
    if (ids.length > MAX_BATCH) throw invalidInput([{ field: 'inputs', message: `must have at most ${MAX_BATCH} entries` }]);
    const common = (body as Record<string, unknown>).common_input;
    // Every item counts against the body limit as it is once common_input is merged into
    // it: otherwise one small request could make a thousand large decisions and records.
    if (common !== undefined) {
      const commonBytes = Buffer.byteLength(JSON.stringify(common));
      const expanded = ids.reduce((sum, id) => sum + commonBytes + Buffer.byteLength(JSON.stringify(inputs[id]) ?? ''), 0);
      if (expanded > options.bodyLimitBytes) {
        throw invalidInput([{ field: 'common_input', message: `merged into each of the ${ids.length} inputs exceeds ${options.bodyLimit}; send fewer inputs per batch` }]);
      }
    }
    const responses: Record<string, unknown> = Object.create(null);
    let failed = 0;
    await Promise.all(
      ids.map(async (id) => {
        try {
          const request = parseAuthorizeRequest(mergeInput(common, inputs[id]), isId(id) ? `inputs.${id}.` : `inputs[${quoted(id)}].`);
          const answer = await decider.decide(request, 'opa_batch' satisfies DecisionApi, { ...asked, path });
          responses[id] = { result: document(answer), decision_id: answer.decisionId, http_status_code: '200' };
        } catch (error) {
          failed++;
          const apiError = error instanceof ApiError ? error : errors.internal();
          responses[id] = { ...apiError.toJSON(), http_status_code: String(apiError.status) };
        }
      }),
    );
    return { status: failed === 0 ? 200 : 207, body: { batch_decision_id: randomUUID(), responses } };
  };

  /** The handler for a request, or undefined when the request is not for these APIs. */
  const route = (method: string, path: string): ((body: unknown, query: Query, asked: Asked) => Promise<Reply>) | undefined => {
    if (path === '/v1/authorize') return method === 'POST' ? authorize : methodNotAllowed;
    if (path.startsWith(BATCH_PREFIX)) return method === 'POST' ? (body, _query, asked) => batch(path.slice(BATCH_PREFIX.length), body, asked) : methodNotAllowed;
    if (path.startsWith(DATA_PREFIX)) {
      const document = path.slice(DATA_PREFIX.length);
      if (method === 'POST') return (body, query, asked) => data(document, body, query, asked);
      // OPA answers GET /v1/data/{path} with no input; these rules need one.
      if (method === 'GET') {
        return async () => {
          documentFor(document);
          throw INPUT_REQUIRED();
        };
      }
      return methodNotAllowed;
    }
    return undefined;
  };

  return (req, res) => {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const handler = route(req.method ?? 'GET', path);
    if (!handler) return fallback(req, res);
    readJson(req, options)
      .then((body) => handler(body, new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1)), askedBy(req)))
      .then(
        (reply) => send(res, reply.status, reply.body),
        (error: unknown) => {
          if (!(error instanceof ApiError)) options.log.error({ err: error, method: req.method, path }, 'unhandled error');
          const apiError = error instanceof ApiError ? error : errors.internal();
          // A body refused unread is not drained: close the connection after the answer.
          if (apiError.code === 'request_too_large') res.setHeader('Connection', 'close');
          send(res, apiError.status, apiError.toJSON());
        },
      );
  };
}

/** The client's address (host:port, OPA's requested_by) and its W3C trace context, if it sent one. */
function askedBy(req: IncomingMessage): Asked {
  const asked: Asked = {};
  const { remoteAddress, remotePort } = req.socket;
  if (remoteAddress) asked.requestedBy = `${remoteAddress}:${remotePort}`;
  const { traceparent, tracestate } = req.headers;
  if (typeof traceparent === 'string') asked.trace = { traceparent, ...(typeof tracestate === 'string' ? { tracestate } : {}) };
  return asked;
}

async function methodNotAllowed(): Promise<Reply> {
  throw new ApiError(405, 'method_not_allowed', 'this path takes POST');
}

function documentFor(path: string): (answer: DecisionAnswer) => unknown {
  const document = DOCUMENTS[path];
  if (!document) {
    throw new ApiError(404, 'undefined_document', `data path ${path} is not served; use one of ${Object.keys(DOCUMENTS).join(', ')}`);
  }
  return document;
}

/** Deep merge for the batch API's common_input: the item's own fields win. */
function mergeInput(common: unknown, own: unknown): unknown {
  if (!isJsonObject(common) || !isJsonObject(own)) return own === undefined ? common : own;
  const merged: Record<string, unknown> = Object.create(null);
  for (const key of new Set([...Object.keys(common), ...Object.keys(own)])) merged[key] = mergeInput(common[key], own[key]);
  return merged;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const json = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json) });
  res.end(json);
}

/** The request body as JSON, whatever its Content-Type (as OPA reads it); {} when empty. */
function readJson(req: IncomingMessage, options: DecisionApiOptions): Promise<unknown> {
  const limit = options.bodyLimitBytes;
  const tooLarge = () => errors.tooLarge(options.bodyLimit);
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume();
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge());
      } else chunks.push(chunk);
    });
    req.once('error', () => reject(new ApiError(400, 'invalid_request', 'the request body could not be read')));
    req.once('end', () => {
      if (size > limit) return;
      try {
        const text = decode(Buffer.concat(chunks, size), req.headers['content-encoding'], limit, tooLarge).toString('utf8');
        const body: unknown = text.trim() === '' ? {} : JSON.parse(text);
        if (depthExceeds(body, options.jsonMaxDepth)) {
          throw invalidInput([{ field: 'body', message: `is nested deeper than ${options.jsonMaxDepth} levels` }]);
        }
        resolve(body);
      } catch (error) {
        reject(error instanceof ApiError ? error : errors.malformedJson((error as Error).message));
      }
    });
  });
}

const INFLATE: Record<string, (body: Buffer, options: { maxOutputLength: number }) => Buffer> = {
  gzip: gunzipSync,
  deflate: inflateSync,
  br: brotliDecompressSync,
};

function decode(body: Buffer, encoding: string | undefined, limit: number, tooLarge: () => ApiError): Buffer {
  const name = (encoding ?? 'identity').trim().toLowerCase();
  if (name === 'identity') return body;
  const inflate = INFLATE[name];
  if (!inflate) throw new ApiError(400, 'invalid_request', `unsupported Content-Encoding "${name}"`);
  try {
    return inflate(body, { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
    throw new ApiError(400, 'invalid_request', `the ${name} body does not decompress: ${(error as Error).message}`);
  }
}
