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
  input: unknown;
  result: unknown;
  /** JSON pointers (/input/...) of removed and of replaced input values; absent when none. */
  erased?: string[];
  masked?: string[];
  requested_by: string;
  timestamp: string;
  metrics: Record<string, number>;
  req_id: number;
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

export function createEventBuilder(options: EventOptions): EventBuilder {
  // OPA numbers the requests of a server in req_id; an event's number is its place in this instance's log.
  let requests = 0;
  return (record) => {
    const masked = options.mask(record);
    const path = record.path ?? DEFAULT_PATH[record.api];
    const event: DecisionEvent = {
      labels: options.labels,
      decision_id: record.decisionId,
      bundles: { [BUNDLE_NAME]: { revision: record.bundleRevision } },
      path,
      input: masked.input,
      result: path === ALLOW_PATH ? record.allow : decisionDocument(record),
      requested_by: record.requestedBy ?? '',
      // Go's RFC 3339 with nanoseconds drops trailing zeros: a millisecond instant prints as JavaScript prints it.
      timestamp: record.timestamp,
      metrics: { timer_server_handler_ns: Math.round(record.latencyMs * 1e6) },
      req_id: ++requests,
    };
    if (masked !== record) {
      const changes = { erased: [] as string[], masked: [] as string[] };
      diff(record.input, masked.input, '/input', changes);
      if (changes.erased.length > 0) event.erased = changes.erased;
      if (changes.masked.length > 0) event.masked = changes.masked;
    }
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

/** The `decision` rule's value as far as the record keeps it (the message follows from the reason). */
function decisionDocument(record: DecisionRecord): Record<string, unknown> {
  const document: Record<string, unknown> = { allow: record.allow, reason: record.reason };
  if (record.setting) document.setting = record.setting;
  if (record.source) document.source = record.source;
  return document;
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
