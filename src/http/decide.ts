// The decision APIs — Portcullis's own (POST /v1/authorize) and OPA's data and batch
// APIs, so OPA clients (e.g. @styra/opa) work unchanged — served on plain node:http
// ahead of the Express app. They are every caller's hot path and Express's routing,
// body parsing and response helpers cost several times what deciding does, so these
// routes read the body, parse it once into a typed request and write the JSON themselves.
// Everything else falls through to Express. Errors have the one shape of src/errors.ts,
// which is OPA's, so an OPA client reads them as its own typed errors.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Logger } from 'pino';
import type { DecisionApi } from '../decision/record.ts';
import type { DecideOptions, DecisionAnswer, Decider } from '../decision/decider.ts';
import { minSettingsVersion, MIN_SETTINGS_VERSION_FIELD, MIN_SETTINGS_VERSION_HEADER } from '../decision/freshness.ts';
import { parsePermissionsRequest } from '../decision/permissions.ts';
import { parseAuthorizeRequest, type AuthorizeRequest } from '../decision/request.ts';
import type { DecisionLogSink } from '../decisionlogs/sink.ts';
import { decisionRequestSchema, DECISION_REQUEST_SCHEMA_PATH } from '../decision/schema.ts';
import type { PolicyDecision } from '../engine/engine.ts';
import { ApiError, CODE, errors, FIELD_CODE, invalidInput, RateLimitedError } from '../errors.ts';
import type { Callers } from '../access/callers.ts';
import { isId, quoted } from '../ids.ts';
import { depthExceeds } from './limits.ts';
import { UNMATCHED } from './observe.ts';
import type { RequestObserver } from './observe.ts';
import { isJsonObject } from '../json.ts';
import { stageClock, stageEnd, stagesOn } from '../stages.ts';

export interface DecisionApiOptions {
  /** Largest body accepted, in bytes, before and after decompression. */
  bodyLimitBytes: number;
  /** As written in the configuration, for error messages. */
  bodyLimit: string;
  jsonMaxDepth: number;
  log: Logger;
  /** Who may ask: checked before a deciding request's body is read. */
  callers: Callers;
  /** Where a question about a data path that defines nothing is logged, as OPA logs it; absent without decision logs. */
  decisionLog?: Pick<DecisionLogSink, 'recordUndefined'>;
  observer: RequestObserver;
}

/** The data paths served, and how each turns a decision into the rule's value. */
const DOCUMENTS: Record<string, (answer: DecisionAnswer) => unknown> = {
  'portkey/authz/allow': (answer) => answer.allow,
  'portkey/authz/decision': ({ decisionId: _id, bundleRevision: _revision, settingsVersion: _version, ...decision }): PolicyDecision => decision,
};

export const PERMISSIONS_PATH = '/v1/permissions';
/** The permissions call as an OPA data path: {"input": <permissions request>} -> {"result": <answer>}. */
const PERMISSIONS_DOCUMENT = 'portkey/authz/permissions';
const DATA_PREFIX = '/v1/data/';
const DATA_ROUTE = '/v1/data/:path';
const BATCH_ROUTE = '/v1/batch/data/:path';
const BATCH_PREFIX = '/v1/batch/data/';
const MAX_BATCH = 1000;
const INPUT_REQUIRED = () =>
  invalidInput([
    { field: 'input', code: FIELD_CODE.missing, message: 'is required: POST {"input": <decision request>}, or GET with ?input=<URL-encoded JSON>' },
  ]);

type Reply = { status: number; body: unknown; headers?: Record<string, string> };
type Query = URLSearchParams;
/** The query of a URL without one (most requests): read, never written. */
const NO_QUERY: Query = new URLSearchParams();
/** Who asked, the trace they are in, the request's number and the settings version it asks for: the DecideOptions every decision of a request shares. */
type Asked = Pick<DecideOptions, 'trace' | 'requestedBy' | 'reqId' | 'minSettingsVersion'>;

/** A request parsed into a typed one, with the time it took (the decision log's timer_rego_input_parse_ns). */
function timedParse(input: unknown, resourceTypes: readonly string[], prefix?: string): { request: AuthorizeRequest; inputParseNs: number } {
  const clock = stagesOn ? stageClock() : 0;
  const started = performance.now();
  const request = parseAuthorizeRequest(input, resourceTypes, prefix);
  if (stagesOn) stageEnd('validation', clock);
  return { request, inputParseNs: Math.round((performance.now() - started) * 1e6) };
}

export function decisionApi(decider: Decider, options: DecisionApiOptions, fallback: RequestListener): RequestListener {
  const authorize = async (body: unknown, _query: Query, asked: Asked): Promise<Reply> => {
    const { rest, options: fresh } = freshness(body, asked);
    const { request, inputParseNs } = timedParse(rest, decider.resourceTypes());
    return { status: 200, body: await decider.decide(request, 'authorize', { ...fresh, inputParseNs }) };
  };

  /** As OPA 1.x answers a path with no rule: 200 with a decision id and nothing else, and an event in the decision log. */
  const undefinedDocument = (path: string, body: unknown, asked: Asked): Reply => {
    const started = performance.now();
    const decisionId = randomUUID();
    if (options.decisionLog) {
      const input = isJsonObject(body) ? body.input : undefined;
      options.decisionLog.recordUndefined({
        decisionId,
        path,
        ...(input !== undefined ? { input } : {}),
        bundleRevision: decider.bundleRevision(),
        ...(asked.requestedBy !== undefined ? { requestedBy: asked.requestedBy } : {}),
        ...(asked.reqId !== undefined ? { reqId: asked.reqId } : {}),
        epochMicros: Math.round((performance.timeOrigin + started) * 1000),
        handlerNs: Math.round((performance.now() - started) * 1e6),
      });
    }
    return { status: 200, body: { decision_id: decisionId } };
  };

  const permissions = async (body: unknown, asked: Asked, at = '') => {
    const request = parsePermissionsRequest(body, decider.resourceTypes(), at);
    const stricter = minSettingsVersion(request.minSettingsVersion, asked.minSettingsVersion === undefined ? undefined : String(asked.minSettingsVersion));
    return decider.permissions(request, { ...asked, ...(stricter === undefined ? {} : { minSettingsVersion: stricter }) });
  };

  const data = async (path: string, body: unknown, query: Query, asked: Asked): Promise<Reply> => {
    if (path === PERMISSIONS_DOCUMENT) {
      if (!isJsonObject(body) || body.input === undefined) throw INPUT_REQUIRED();
      const { decisionId, ...result } = await permissions(body.input, freshness(body, asked).options, 'input.');
      return { status: 200, body: { result, decision_id: decisionId } };
    }
    const document = Object.hasOwn(DOCUMENTS, path) ? DOCUMENTS[path] : undefined;
    if (!document) return undefinedDocument(path, body, asked);
    if (!isJsonObject(body) || body.input === undefined) throw INPUT_REQUIRED();
    const { request, inputParseNs } = timedParse(body.input, decider.resourceTypes(), 'input.');
    const answer = await decider.decide(request, 'opa_data', { ...freshness(body, asked).options, path, inputParseNs });
    const reply: Record<string, unknown> = { result: document(answer), decision_id: answer.decisionId };
    if (query.has('provenance')) reply.provenance = { bundles: { portkey: { revision: answer.bundleRevision } } };
    return { status: 200, body: reply };
  };

  const batch = async (path: string, body: unknown, asked: Asked): Promise<Reply> => {
    const document = Object.hasOwn(DOCUMENTS, path) ? DOCUMENTS[path] : undefined;
    const inputs = isJsonObject(body) ? body.inputs : undefined;
    if (!isJsonObject(inputs)) throw invalidInput([{ field: 'inputs', message: 'is required: an object of id to input' }]);
    const ids = Object.keys(inputs);
    if (ids.length > MAX_BATCH) throw invalidInput([{ field: 'inputs', message: `must have at most ${MAX_BATCH} entries` }]);
    const common = (body as Record<string, unknown>).common_input;
    const fresh = freshness(body, asked).options;
    // Every item counts against the body limit as it is once common_input is merged into
    // it: otherwise one small request could make a thousand large decisions and records.
    if (common !== undefined) {
      const commonBytes = Buffer.byteLength(JSON.stringify(common));
      const expanded = ids.reduce((sum, id) => sum + commonBytes + Buffer.byteLength(JSON.stringify(inputs[id]) ?? ''), 0);
      if (expanded > options.bodyLimitBytes) {
        throw invalidInput([
          { field: 'common_input', message: `merged into each of the ${ids.length} inputs exceeds ${options.bodyLimit}; send fewer inputs per batch` },
        ]);
      }
    }
    const responses: Record<string, unknown> = Object.create(null);
    const batchDecisionId = randomUUID();
    if (!document) {
      for (const id of ids)
        responses[id] = {
          decision_id: (undefinedDocument(path, { input: mergeInput(common, inputs[id]) }, asked).body as { decision_id: string }).decision_id,
          http_status_code: '200',
        };
      return { status: 200, body: { batch_decision_id: batchDecisionId, responses } };
    }
    let failed = 0;
    let serverFailed = 0;
    await Promise.all(
      ids.map(async (id) => {
        try {
          const { request, inputParseNs } = timedParse(
            mergeInput(common, inputs[id]),
            decider.resourceTypes(),
            isId(id) ? `inputs.${id}.` : `inputs[${quoted(id)}].`,
          );
          const answer = await decider.decide(request, 'opa_batch' satisfies DecisionApi, { ...fresh, path, batchDecisionId, inputParseNs });
          responses[id] = { result: document(answer), decision_id: answer.decisionId, http_status_code: '200' };
        } catch (error) {
          failed++;
          const apiError = error instanceof ApiError ? error : errors.internal();
          if (apiError.status >= 500) serverFailed++;
          // The Enterprise-OPA batch API defines "200" and "500" only (OPA clients refuse
          // any other value); the item's `code` (invalid_parameter, ...) tells a bad input.
          responses[id] = { ...apiError.toJSON(), http_status_code: '500' };
        }
      }),
    );
    // 500 only when the server failed every item; bad inputs are never a 5xx, however many.
    const status = failed === 0 ? 200 : serverFailed === ids.length ? 500 : 207;
    return { status, body: { batch_decision_id: batchDecisionId, responses } };
  };

  /** Whether a request to `path` is a decision (the caller rules apply), not a document about them. */
  const decides = (path: string) => path === '/v1/authorize' || path === PERMISSIONS_PATH || path.startsWith(BATCH_PREFIX) || path.startsWith(DATA_PREFIX);

  /** The handler for a request, or undefined when the request is not for these APIs. */
  const route = (method: string, path: string): ((body: unknown, query: Query, asked: Asked) => Promise<Reply>) | undefined => {
    if (path === '/v1/authorize') return method === 'POST' ? authorize : methodNotAllowed('POST');
    if (path === PERMISSIONS_PATH)
      return method === 'POST' ? async (body, _query, asked) => ({ status: 200, body: await permissions(body, asked) }) : methodNotAllowed('POST');
    if (path === DECISION_REQUEST_SCHEMA_PATH)
      return method === 'GET' ? async () => ({ status: 200, body: decisionRequestSchema(decider.resourceTypes()) }) : methodNotAllowed('GET');
    // OPA's default decision (POST / with the raw input) is data.system.main, which
    // Portcullis does not define: answered as OPA answers when none is configured.
    if (path === '/' && method === 'POST') return noDefaultDecision;
    if (path.startsWith(BATCH_PREFIX))
      return method === 'POST' ? (body, _query, asked) => batch(path.slice(BATCH_PREFIX.length), body, asked) : methodNotAllowed('POST');
    if (path.startsWith(DATA_PREFIX)) {
      const document = path.slice(DATA_PREFIX.length);
      if (method === 'POST') return (body, query, asked) => data(document, body, query, asked);
      // As OPA, GET takes the input as a query parameter (URL-encoded JSON).
      if (method === 'GET') return (_body, query, asked) => data(document, inputFromQuery(query, options.jsonMaxDepth), query, asked);
      return methodNotAllowed('GET', 'POST');
    }
    return undefined;
  };

  /** The route label of a path these APIs serve: one of a few constants, so counting allocates nothing. */
  const template = (path: string): string => {
    if (path.startsWith(DATA_PREFIX)) return DATA_ROUTE;
    if (path.startsWith(BATCH_PREFIX)) return BATCH_ROUTE;
    return path === '/v1/authorize' || path === PERMISSIONS_PATH || path === DECISION_REQUEST_SCHEMA_PATH || path === '/' ? path : UNMATCHED;
  };

  // OPA numbers every HTTP request its server takes (req_id in the decision log), answered by it or not.
  let requests = 0;
  const { observer } = options;
  return (req, res) => {
    const started = performance.now();
    const reqId = ++requests;
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const handler = route(req.method ?? 'GET', path);
    if (!handler) return fallback(req, res);
    const routeLabel = template(path);
    const fail = (error: unknown) => {
      if (!(error instanceof ApiError)) options.log.error({ err: error, method: req.method, path }, 'unhandled error');
      const apiError = error instanceof ApiError ? error : errors.internal();
      // A body refused unread is not drained: close the connection after the answer.
      if (apiError.code === 'request_too_large') res.setHeader('Connection', 'close');
      const bytes = send(
        res,
        apiError.status,
        apiError.toJSON(),
        error instanceof RateLimitedError ? { 'Retry-After': String(error.retryAfterSeconds) } : undefined,
      );
      observer.answered(req, routeLabel, apiError.status, started, bytes);
    };
    if (decides(path)) {
      try {
        // Before the body is read: a refused caller's request is neither decided nor recorded.
        options.callers.checkBrowser(req.headers);
        options.callers.admitBearer(req.headers.authorization, req.socket.remoteAddress);
      } catch (error) {
        req.resume();
        return fail(error);
      }
    }
    readJson(req, options)
      .then((body) => handler(body, queryAt === -1 ? NO_QUERY : new URLSearchParams(url.slice(queryAt + 1)), askedBy(req, reqId)))
      .then((reply) => {
        let clock = stagesOn ? stageClock() : 0;
        const bytes = send(res, reply.status, reply.body, reply.headers);
        if (stagesOn) clock = stageEnd('answer', clock);
        observer.answered(req, routeLabel, reply.status, started, bytes);
        if (stagesOn) stageEnd('metrics', clock);
      }, fail);
  };
}

/**
 * The request's minSettingsVersion, from its body's top-level field (taken out, so that the
 * strict request parser does not see it) and its header, the stricter of the two.
 */
function freshness(body: unknown, asked: Asked): { rest: unknown; options: Asked } {
  if (!isJsonObject(body) || !Object.hasOwn(body, MIN_SETTINGS_VERSION_FIELD)) return { rest: body, options: asked };
  const { [MIN_SETTINGS_VERSION_FIELD]: field, ...rest } = body;
  const header = asked.minSettingsVersion === undefined ? undefined : String(asked.minSettingsVersion);
  const version = minSettingsVersion(field, header);
  return { rest, options: version === undefined ? asked : { ...asked, minSettingsVersion: version } };
}

/** The client's address (host:port, OPA's requested_by), its W3C trace context and the settings version it asks for, if any. */
function askedBy(req: IncomingMessage, reqId: number): Asked {
  const asked: Asked = { reqId };
  const version = minSettingsVersion(undefined, req.headers[MIN_SETTINGS_VERSION_HEADER.toLowerCase()]);
  if (version !== undefined) asked.minSettingsVersion = version;
  const { remoteAddress, remotePort } = req.socket;
  if (remoteAddress) asked.requestedBy = `${remoteAddress}:${remotePort}`;
  const { traceparent, tracestate } = req.headers;
  if (typeof traceparent === 'string') asked.trace = { traceparent, ...(typeof tracestate === 'string' ? { tracestate } : {}) };
  return asked;
}

/** A 405 that says, in Allow and in words, which methods the path takes. */
function methodNotAllowed(...allowed: string[]): () => Promise<Reply> {
  const error = new ApiError(405, CODE.method_not_allowed, `this path takes ${allowed.join(' or ')}`);
  return async () => ({ status: 405, body: error.toJSON(), headers: { Allow: allowed.join(', ') } });
}

async function noDefaultDecision(): Promise<Reply> {
  throw new ApiError(
    404,
    CODE.undefined_document,
    'document missing: data.system.main; Portcullis has no default decision: POST /v1/data/portkey/authz/decision',
  );
}

/** A GET's `?input=` as the body a POST would carry; no input when the parameter is absent. */
function inputFromQuery(query: Query, maxDepth: number): unknown {
  const text = query.get('input');
  if (text === null) return {};
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    throw errors.malformedJson((error as Error).message, text, 'input query parameter');
  }
  return { input: withinDepth(input, maxDepth, 'input') };
}

function withinDepth(value: unknown, maxDepth: number, field: string): unknown {
  if (depthExceeds(value, maxDepth)) throw invalidInput([{ field, message: `is nested deeper than ${maxDepth} levels` }]);
  return value;
}

/** Deep merge for the batch API's common_input: the item's own fields win. */
function mergeInput(common: unknown, own: unknown): unknown {
  if (!isJsonObject(common) || !isJsonObject(own)) return own === undefined ? common : own;
  const merged: Record<string, unknown> = Object.create(null);
  for (const key of new Set([...Object.keys(common), ...Object.keys(own)])) merged[key] = mergeInput(common[key], own[key]);
  return merged;
}

/** Writes the answer; its bytes (undefined when an answer had already been written). */
function send(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): number | undefined {
  if (res.headersSent) return undefined;
  const json = JSON.stringify(body);
  // Headers as one flat list: node:http takes it as is, without walking an object.
  const bytes = Buffer.byteLength(json);
  const list: Array<string | number> = ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', bytes];
  if (headers) for (const [name, value] of Object.entries(headers)) list.push(name, value);
  res.writeHead(status, list);
  res.end(json);
  return bytes;
}

/** The request body as JSON, whatever its Content-Type (as OPA reads it); {} when empty. */
function readJson(req: IncomingMessage, options: DecisionApiOptions): Promise<unknown> {
  const limit = options.bodyLimitBytes;
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume();
      return reject(errors.tooLarge(options.bodyLimit));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(errors.tooLarge(options.bodyLimit));
      } else chunks.push(chunk);
    });
    req.on('error', () => reject(new ApiError(400, CODE.invalid_request, 'the request body could not be read')));
    req.on('end', () => {
      if (size > limit) return;
      let text = '';
      try {
        let clock = stagesOn ? stageClock() : 0;
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        text = decode(body, req.headers['content-encoding'], options).toString('utf8');
        if (stagesOn) clock = stageEnd('body read', clock);
        const parsed = withinDepth(text.trim() === '' ? {} : JSON.parse(text), options.jsonMaxDepth, 'body');
        if (stagesOn) stageEnd('parse', clock);
        resolve(parsed);
      } catch (error) {
        reject(error instanceof ApiError ? error : errors.malformedJson((error as Error).message, text));
      }
    });
  });
}

const INFLATE: Record<string, (body: Buffer, options: { maxOutputLength: number }) => Buffer> = {
  gzip: gunzipSync,
  deflate: inflateSync,
  br: brotliDecompressSync,
};

function decode(body: Buffer, encoding: string | undefined, options: DecisionApiOptions): Buffer {
  if (encoding === undefined) return body;
  const name = encoding.trim().toLowerCase();
  if (name === 'identity') return body;
  const inflate = INFLATE[name];
  if (!inflate) throw new ApiError(400, CODE.invalid_request, `unsupported Content-Encoding "${name}"`);
  try {
    return inflate(body, { maxOutputLength: options.bodyLimitBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw errors.tooLarge(options.bodyLimit);
    throw new ApiError(400, CODE.invalid_request, `the ${name} body does not decompress: ${(error as Error).message}`);
  }
}
