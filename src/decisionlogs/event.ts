// A decision record as an event of OPA's decision log (the fields and JSON types the
// pinned `opa run --server` uploads; test/decisionlogs/opa-compat.test.ts holds us to it),
// with the input masked by the audit log's own masker.
import type { DecisionApi, DecisionRecord, GatewayRequestContext } from '../decision/record.ts';
import type { Masker } from '../audit/mask.ts';

/** OPA's decision-log event (EventV1), the fields Portcullis can fill. */
export interface DecisionEvent {
  labels: Record<string, string>;
  decision_id: string;
  bundles: Record<string, { revision: string }>;
  path: string;
  /** Absent when the request had none, as in OPA's event. */
  input?: unknown;
  /** Absent for a data path that defines nothing, as in OPA's event. */
  result?: unknown;
  /** JSON pointers (/input/...) of removed and of replaced input values; absent when none. */
  erased?: string[];
  masked?: string[];
  requested_by: string;
  timestamp: string;
  metrics: Record<string, number>;
  /** The number of the HTTP request that asked, as OPA numbers its server's requests; absent for gRPC (OPA omits a zero). */
  req_id?: number;
  /** The batch request a decision was one item of (the Enterprise-OPA batch API's field). */
  batch_decision_id?: string;
  /** The decision's span, when tracing is on and it was sampled (as OPA's, lower-case hex). */
  trace_id?: string;
  span_id?: string;
}

/** The bundle name in `bundles`: the one bundle Portcullis serves. */
export const BUNDLE_NAME = 'portkey';
export const ALLOW_PATH = 'portkey/authz/allow';
export const DECISION_PATH = 'portkey/authz/decision';

/**
 * The data path asked when the record does not say: Portcullis's own API answers the
 * decision document; gateways, like OPA-Envoy (`envoy/authz/allow`), ask the boolean.
 */
const DEFAULT_PATH: Record<DecisionApi, string> = {
  authorize: DECISION_PATH,
  opa_data: DECISION_PATH,
  opa_batch: DECISION_PATH,
  ext_authz_http: ALLOW_PATH,
  ext_authz_grpc: ALLOW_PATH,
  permissions: 'portkey/authz/permissions',
};

export interface EventOptions {
  /** id (this instance), version, and the configured extra labels. */
  labels: Record<string, string>;
  mask: Masker;
}

export type EventBuilder = (record: DecisionRecord) => DecisionEvent;

/** A question about a data path that defines nothing: no decision, but OPA logs it all the same. */
export interface UndefinedQuery {
  decisionId: string;
  path: string;
  /** Absent when the request had none. */
  input?: unknown;
  bundleRevision: string;
  requestedBy?: string;
  reqId?: number;
  /** When it was asked, in microseconds since the epoch, and how long the answer took. */
  epochMicros: number;
  handlerNs: number;
}

export function createEventBuilder(options: EventOptions): EventBuilder {
  return (record) => {
    const masked = options.mask(record);
    const path = record.path ?? DEFAULT_PATH[record.api];
    const details = record.log;
    const metrics: Record<string, number> = { timer_server_handler_ns: Math.round(record.latencyMs * 1e6) };
    if (details?.inputParseNs !== undefined) metrics.timer_rego_input_parse_ns = details.inputParseNs;
    if (details?.evalNs !== undefined) metrics.timer_rego_query_eval_ns = details.evalNs;
    const event: DecisionEvent = {
      labels: options.labels,
      decision_id: record.decisionId,
      bundles: { [BUNDLE_NAME]: { revision: record.bundleRevision } },
      path,
      input: masked.input,
      result: path === ALLOW_PATH ? record.allow : decisionDocument(record),
      requested_by: record.requestedBy ?? '',
      timestamp: details ? rfc3339Nano(details.epochMicros) : record.timestamp,
      metrics,
    };
    if (details?.reqId !== undefined) event.req_id = details.reqId;
    if (details?.batchDecisionId !== undefined) event.batch_decision_id = details.batchDecisionId;
    if (masked !== record) listChanges(record.input, masked.input, event);
    if (record.gatewayRequest) event.input = withRequestContext(event.input, record.gatewayRequest);
    if (record.traceId) {
      event.trace_id = record.traceId;
      event.span_id = record.spanId ?? '';
    }
    return event;
  };
}

/**
 * A gateway event's input also carries the original request where OPA-Envoy's input has
 * it (input.attributes.request.http: method, path, headers), so a pipeline's queries of
 * OPA-Envoy events read Portcullis's alike; the rest of the input is what the policy saw.
 */
function withRequestContext(input: unknown, request: GatewayRequestContext): unknown {
  return { ...(input as object), attributes: { request: { http: { method: request.method, path: request.path, headers: request.headers } } } };
}

/** The event of a question about a data path with no rule: OPA's, with no result. */
export function undefinedQueryEvent(query: UndefinedQuery, options: EventOptions): DecisionEvent {
  const event: DecisionEvent = {
    labels: options.labels,
    decision_id: query.decisionId,
    bundles: { [BUNDLE_NAME]: { revision: query.bundleRevision } },
    path: query.path,
    requested_by: query.requestedBy ?? '',
    timestamp: rfc3339Nano(query.epochMicros),
    metrics: { timer_server_handler_ns: query.handlerNs },
  };
  if (query.input !== undefined) {
    // The masker reads a record; a question with no decision is masked as one with only an input.
    const masked = options.mask({ input: query.input } as DecisionRecord);
    event.input = masked.input;
    listChanges(query.input, masked.input, event);
  }
  if (query.reqId !== undefined) event.req_id = query.reqId;
  return event;
}

/**
 * An instant as Go's time.RFC3339Nano prints it, which OPA's events use: UTC, the
 * fraction with trailing zeros dropped, and no fraction at all on a whole second.
 */
export function rfc3339Nano(epochMicros: number): string {
  const seconds = Math.floor(epochMicros / 1e6);
  const whole = new Date(seconds * 1000).toISOString().slice(0, 19);
  const fraction = String(epochMicros - seconds * 1e6)
    .padStart(6, '0')
    .replace(/0+$/, '');
  return fraction === '' ? `${whole}Z` : `${whole}.${fraction}Z`;
}

/** The `decision` rule's value, as the policy answered it. */
function decisionDocument(record: DecisionRecord): Record<string, unknown> {
  const document: Record<string, unknown> = { allow: record.allow, reason: record.reason };
  if (record.log) document.message = record.log.message;
  if (record.setting) document.setting = record.setting;
  if (record.source) document.source = record.source;
  return document;
}

/** OPA's erased and masked lists on the event, each only when not empty. */
function listChanges(input: unknown, maskedInput: unknown, event: DecisionEvent): void {
  const changes = { erased: [] as string[], masked: [] as string[] };
  diff(input, maskedInput, '/input', changes);
  if (changes.erased.length > 0) event.erased = changes.erased;
  if (changes.masked.length > 0) event.masked = changes.masked;
}

/**
 * What the masker did, read from its output rather than restated: a field missing from
 * the masked copy was erased, a value that differs was masked (OPA's two lists).
 */
function diff(original: unknown, masked: unknown, pointer: string, changes: { erased: string[]; masked: string[] }): void {
  if (typeof original !== 'object' || original === null) {
    if (original !== masked) changes.masked.push(pointer);
    return;
  }
  if (typeof masked !== 'object' || masked === null) {
    changes.masked.push(pointer);
    return;
  }
  for (const key of Object.keys(original)) {
    const at = `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (!Object.hasOwn(masked, key)) changes.erased.push(at);
    else diff((original as Record<string, unknown>)[key], (masked as Record<string, unknown>)[key], at, changes);
  }
}
