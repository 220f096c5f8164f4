// The gateway decision: an original HTTP request (method, path, headers, maybe body)
// -> route -> verified principal -> decision request -> Decider -> what the gateway
// should do. The HTTP (Envoy HTTP service, nginx auth_request) and gRPC (Envoy v3
// Check) front ends only translate their wire format to and from this.
import type { Logger } from 'pino';
import type { DecisionApi } from '../decision/record.ts';
import { ConfigError, type Config } from '../config.ts';
import type { DecideOptions, Decider } from '../decision/decider.ts';
import { parseAuthorizeRequest, type AuthorizeRequest } from '../decision/request.ts';
import { ApiError, errors, RateLimitedError, CODE, type ErrorCode } from '../errors.ts';
import type { Callers } from '../access/callers.ts';
import { quoted } from '../ids.ts';
import { BodySyntaxError, bodyField, parseBody, type JsonNode } from './body.ts';
import type { Metrics } from '../metrics.ts';
import type { Tracing } from '../decision/tracing.ts';
import { headerValue, type HeaderLimits } from './headers.ts';
import { visibilityHeaders } from './visibility.ts';
import { parseForwardAuthHeaders, type ForwardAuthHeaders } from './forwardauth.ts';
import { createIdentity, type Claimed, type Headers, type Identity } from './identity.ts';
import { keyIdentity, presentsKey } from './apikey.ts';
import type { KeyRegistry } from '../apikeys/registry.ts';
import { decodeSegment, fold } from './lookalike.ts';
import { loadRouteTable, lookAlikeRoute, matchRoute, routeScope, type Route, type RouteTable, type Source } from './routes.ts';
import type { Families } from '../engine/families.ts';

export type GatewayApi = Extract<DecisionApi, 'ext_authz_http' | 'ext_authz_grpc'>;

export interface GatewayRequest {
  method: string;
  /** The request target as received: path and query string, still percent-encoded. */
  path: string;
  /** Lower-case names, already checked and merged by mergeHeaders. */
  headers: Headers;
  /** Undefined when the gateway forwarded no body (nginx auth_request never does). */
  body?: string | Buffer;
  /** The address (host:port) of the gateway that asked, for the decision log's requested_by. */
  client?: string;
}

export interface GatewayAnswer {
  /** Whether the gateway lets the request through (always true in dry-run mode). */
  allow: boolean;
  /** The real outcome: differs from `allow` only in dry-run mode. */
  wouldAllow: boolean;
  dryRun: boolean;
  /** 200 when allowed; otherwise the status the client gets. */
  status: number;
  reason: string;
  /** On allow, for the upstream request; on deny, for the client's response. */
  headers: Record<string, string>;
  /** The client's response body on deny; empty on allow. */
  body: string;
  decisionId?: string;
}

export const HEADER = {
  decisionId: 'x-portcullis-decision-id',
  reason: 'x-portcullis-reason',
  principal: 'x-portcullis-principal',
  dryRun: 'x-portcullis-dry-run',
  allow: 'x-portcullis-allow',
} as const;

/** The control plane's own permission error, so its clients need no new handling. */
export const FORBIDDEN_BODY = JSON.stringify({
  success: false,
  data: { message: 'You do not have enough permissions to execute this request', errorCode: 'AB03' },
});

/** Path segments that an upstream might normalise into a different route than the one matched. */
// ";" starts path parameters that Tomcat and Spring strip (/v1/mcp-servers;x=1 is their
// /v1/mcp-servers); encoded spaces and control characters are trimmed by some routers.
const AMBIGUOUS_SEGMENT = /^\.{1,2}$|%2e|%2f|%5c|\\|;|%[01][0-9a-f]|%20|%7f/i;
/** A "%" that does not start a percent-encoded byte: upstreams disagree on what it means. */
const MALFORMED_PERCENT = /%(?![0-9a-f]{2})/i;

/** What one original request may cost; the gRPC server sizes its messages from these too. */
export interface GatewayLimits extends HeaderLimits {
  /** BODY_LIMIT in bytes, and as configured (for messages). */
  bodyLimitBytes: number;
  bodyLimit: string;
  /** JSON_MAX_DEPTH, for the body parser. */
  jsonMaxDepth: number;
}

export interface GatewayOptions {
  table: RouteTable;
  identity: Identity;
  /** Resolves the API keys requests present (apikey.ts). */
  keys: KeyRegistry;
  decider: Decider;
  log: Logger;
  passUnmatched: boolean;
  dryRun: boolean;
  limits: GatewayLimits;
  /** Which headers name the original request to /ext_authz (forwardauth.ts). */
  forwardAuthHeaders: ForwardAuthHeaders;
  /** Who may ask (DECIDE_AUTH, rate limits): checked before the request is read. */
  callers?: Callers;
  metrics: Metrics;
  /** Absent unless tracing is on. */
  tracing?: Tracing;
}

/** Who asked, as the front end saw it: the copies of the caller token the gateway set, and its address. */
export interface GatewayCaller {
  tokens: readonly string[];
  address?: string;
}

/** A request the gateway cannot turn into a decision request: denied with this reason. */
const refuse = (reason: ErrorCode, message: string, status = 403) => new ApiError(status, reason, message);

/** What a route source names, and the codes of a request that names it twice or not at all. */
type Subject = 'org_id' | 'workspace_id' | 'resource_id';
const AMBIGUOUS = { org_id: CODE.ambiguous_org_id, workspace_id: CODE.ambiguous_workspace_id, resource_id: CODE.ambiguous_resource_id } as const;
const MISSING = { org_id: CODE.missing_org_id, workspace_id: CODE.missing_workspace_id, resource_id: CODE.missing_resource_id } as const;

export class Gateway {
  readonly limits: GatewayLimits;
  readonly forwardAuthHeaders: ForwardAuthHeaders;

  constructor(private readonly options: GatewayOptions) {
    this.limits = options.limits;
    this.forwardAuthHeaders = options.forwardAuthHeaders;
  }

  /**
   * `describe` turns the front end's wire form into a GatewayRequest; what it refuses
   * (headers, see headers.ts) is answered like any other refusal, dry run included.
   */
  async check(describe: () => GatewayRequest, api: GatewayApi, caller: GatewayCaller = { tokens: [] }): Promise<GatewayAnswer> {
    let answer: GatewayAnswer;
    let request: GatewayRequest | undefined;
    try {
      // A refused caller is a denial like any other (never an error a gateway could fail open on).
      this.options.callers?.admitGateway(caller.tokens, caller.address);
      request = describe();
      answer = await this.decide(request, api);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      answer = rejection(error);
    }
    const { log, dryRun } = this.options;
    // No decision id: answered before the policy was asked, so no decision counts or traces it.
    if (!answer.decisionId) this.answeredBeforePolicy(answer, api, request);
    const logged = {
      api,
      method: request?.method,
      path: request?.path.split('?')[0],
      reason: answer.reason,
      status: answer.status,
      decisionId: answer.decisionId,
    };
    if (!answer.allow) log.info({ ...logged, dryRun }, dryRun ? 'gateway would deny (dry run: allowed)' : 'gateway denied');
    else log.debug(logged, 'gateway allowed');
    return dryRun ? asDryRun(answer) : answer;
  }

  private answeredBeforePolicy(answer: GatewayAnswer, api: GatewayApi, request: GatewayRequest | undefined): void {
    this.options.metrics.gatewayRefusals.labels(api, answer.reason).inc();
    if (!this.options.tracing) return;
    const traceparent = request?.headers.traceparent;
    const tracestate = request?.headers.tracestate;
    this.options.tracing.refusal(traceparent ? { traceparent, ...(tracestate ? { tracestate } : {}) } : undefined, {
      'portcullis.api': api,
      'portcullis.allow': answer.allow,
      'portcullis.reason': answer.reason,
      'http.response.status_code': answer.status,
    });
  }

  private async decide(request: GatewayRequest, api: GatewayApi): Promise<GatewayAnswer> {
    const { limits } = this.options;
    if (request.body !== undefined && Buffer.byteLength(request.body) > limits.bodyLimitBytes) throw errors.tooLarge(limits.bodyLimit);

    const [rawPath = '', query = ''] = splitOnce(request.path, '?');
    const segments = pathSegments(rawPath);
    const match = matchRoute(this.options.table, request.method.toUpperCase(), segments);
    if (!match) {
      const lookAlike = lookAlikeRoute(this.options.table, segments);
      if (lookAlike)
        throw refuse(
          CODE.invalid_path,
          `the path is spelled differently from the route ${lookAlike.pattern} (case or percent-encoding); send it as the route table spells it`,
        );
      if (!this.options.passUnmatched) throw refuse(CODE.no_route, `no route for ${request.method} ${rawPath}`);
      return { allow: true, wouldAllow: true, dryRun: false, status: 200, reason: 'no_route', headers: { [HEADER.reason]: 'no_route' }, body: '' };
    }

    const claimed = presentsKey(request.headers)
      ? await keyIdentity(this.options.keys, request.headers, this.options.log)
      : await this.options.identity.identify(request.headers);
    const values = new Values(request, match.params, query, limits.jsonMaxDepth);
    // A workspace key acts in its own workspace when the request names none — but only where
    // the sidecar sees every place the route reads a workspace from: a body it was not sent
    // could name another workspace, which the upstream would act on.
    const bodyUnseen = request.body === undefined && match.route.workspaceId.some((source) => source.kind === 'body');
    const keyWorkspace = claimed.principal.type === 'api_key' && !bodyUnseen ? (claimed.principal.workspaceId as string | undefined) : undefined;
    const raw = {
      principal: claimed.principal,
      action: match.route.action,
      resource: {
        type: match.route.type,
        // With the workspace directory on, the decider replaces this with the directory's answer.
        orgId: match.route.orgId.length > 0 ? values.one(match.route.orgId, 'org_id', true) : claimed.principal.orgId,
        workspaceId: values.one(match.route.workspaceId, 'workspace_id', keyWorkspace === undefined) ?? keyWorkspace,
        id: values.one(match.route.resourceId, 'resource_id', false),
      },
    };
    const decision = await this.options.decider.decide(toDecisionRequest(raw, claimed, match.route, this.options.decider.resourceTypes()), api, {
      dryRun: this.options.dryRun,
      ...requestContext(request, match.route),
    });
    const headers: Record<string, string> = { [HEADER.decisionId]: decision.decisionId, [HEADER.reason]: decision.reason };
    if (decision.allow) {
      headers[HEADER.principal] = headerValue(raw.principal.id as string);
      Object.assign(headers, visibilityHeaders(decision));
      return { allow: true, wouldAllow: true, dryRun: false, status: 200, reason: decision.reason, headers, body: '', decisionId: decision.decisionId };
    }
    headers['content-type'] = 'application/json';
    return {
      allow: false,
      wouldAllow: false,
      dryRun: false,
      status: 403,
      reason: decision.reason,
      headers,
      body: FORBIDDEN_BODY,
      decisionId: decision.decisionId,
    };
  }
}

/**
 * Reads the route table and the token keys, so that a bad one stops the sidecar before
 * anything has started; the result builds the gateway once the decider exists.
 */
export async function prepareGateway(
  config: Config,
  log: Logger,
): Promise<(decider: Decider, keys: KeyRegistry, families: Families, metrics: Metrics, callers?: Callers, tracing?: Tracing) => Gateway> {
  const table = await loadRouteTable(config.gatewayRoutesFile);
  const identity = await createIdentity(config);
  const forwardAuthHeaders = parseForwardAuthHeaders(config.forwardAuthHeaders);
  if (config.gatewayIdentity === 'jwt' && !config.gatewayJwtSecret && !config.gatewayJwksFile && !config.gatewayJwksUrl) {
    log.warn('gateway: no JWT key configured, so /ext_authz and gRPC Check answer 401 (set GATEWAY_JWT_SECRET, GATEWAY_JWKS_FILE or GATEWAY_JWKS_URL)');
  }
  return (decider, keys, families, metrics, callers, tracing) => {
    // The route table is read before the bundle; its types are checked once one is active.
    const known = decider.resourceTypes();
    const unknown = table.routes.filter((route) => !known.includes(route.type)).map((route) => `${route.pattern} (${route.type})`);
    if (unknown.length > 0)
      throw new ConfigError(`${config.gatewayRoutesFile}: resource types the policy bundle does not define (GET /v1/families): ${unknown.join(', ')}`);
    const unscoped = table.routes.filter((route) => routeScope(route, families) === undefined).map((route) => `${route.methods.join('|')} ${route.pattern}`);
    if (unscoped.length > 0)
      log.warn(
        { routes: unscoped },
        "gateway: the bundle's scope table names no scope for these routes' resource type and action, so no API key is allowed there",
      );
    return new Gateway({
      table,
      identity,
      keys,
      decider,
      log,
      passUnmatched: config.gatewayPassUnmatched,
      dryRun: config.gatewayDryRun,
      forwardAuthHeaders,
      limits: { maxHeaderBytes: config.maxHeaderBytes, bodyLimitBytes: config.bodyLimitBytes, bodyLimit: config.bodyLimit, jsonMaxDepth: config.jsonMaxDepth },
      ...(callers ? { callers } : {}),
      metrics,
      ...(tracing ? { tracing } : {}),
    });
  };
}

/**
 * Validation is the decision API's own; a bad principal field is the token's fault
 * (401, naming the claim or header), anything else the request's (403).
 */
function toDecisionRequest(raw: unknown, claimed: Claimed, route: Route, resourceTypes: readonly string[]): AuthorizeRequest {
  try {
    return parseAuthorizeRequest(raw, resourceTypes);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const principalErrors = error.errors.filter((e) => e.field.startsWith('principal.'));
    if (principalErrors.length > 0) {
      const described = principalErrors.map((e) => {
        const [, field = '', ...rest] = e.field.split('.');
        const name = claimed.names[field as keyof Claimed['names']] ?? e.field;
        return `${name}${rest.length > 0 ? ` (${rest.join('.')})` : ''}: ${e.message}`;
      });
      throw new ApiError(401, CODE.invalid_claims, `the identity cannot be used: ${described.join('; ')}`);
    }
    throw refuse(CODE.invalid_request, `${route.methods.join('|')} ${route.pattern}: ${error.message}`);
  }
}

function splitOnce(text: string, separator: string): [string, string?] {
  const at = text.indexOf(separator);
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + 1)];
}

function pathSegments(path: string): string[] {
  if (!path.startsWith('/')) throw refuse(CODE.invalid_path, 'the request path must start with "/"');
  const segments = path.split('/').slice(1);
  if (segments.length > 1 && segments.at(-1) === '') segments.pop();
  if (segments.some((s, i) => (s === '' && !(i === 0 && segments.length === 1)) || AMBIGUOUS_SEGMENT.test(s))) {
    throw refuse(CODE.invalid_path, 'the request path has empty, dot, ";", encoded-separator or encoded space or control segments');
  }
  if (segments.some((s) => MALFORMED_PERCENT.test(s))) throw refuse(CODE.invalid_path, 'the request path has malformed percent-encoding');
  return segments;
}

/** Reads route sources from one request; the body is parsed at most once, and only when a source needs it. */
class Values {
  private parsedBody: JsonNode | undefined;
  private bodyRead = false;

  constructor(
    private readonly request: GatewayRequest,
    private readonly params: Record<string, string>,
    private readonly query: string,
    private readonly jsonMaxDepth: number,
  ) {}

  /** The value the sources agree on; refused when they disagree, or when required and none is present. */
  one(sources: Source[], what: Subject, required: boolean): string | undefined {
    const found = new Set(sources.flatMap((source) => this.read(source, what)));
    if (found.size > 1) throw refuse(AMBIGUOUS[what], `the request names more than one ${what.replace('_', ' ')}: ${[...found].map(quoted).join(', ')}`);
    if (found.size === 0 && required) {
      throw refuse(MISSING[what], `no ${what.replace('_', ' ')} in the request; looked in ${sources.map((s) => `${s.kind}:${s.name}`).join(', ')}`);
    }
    return [...found][0];
  }

  private read(source: Source, what: Subject): string[] {
    switch (source.kind) {
      case 'path': {
        const value = this.params[source.name];
        try {
          return value ? [decodeURIComponent(value)] : [];
        } catch {
          throw refuse(CODE.invalid_path, `path parameter ${source.name} is not valid percent-encoding`);
        }
      }
      case 'query': {
        // A key that is this one to another parser (workspaceId, WORKSPACE_ID, workspace-id,
        // workspace_id[] or workspace_id[0] to a binder that reads brackets, a double
        // encoding) could be the one an upstream reads: refused, as body keys are.
        const lookAlikes = [...new URLSearchParams(this.query).keys()].filter(
          (key) => key !== source.name && fold(decodeSegment(key).replace(/\[[^\]]*\]/g, '')) === fold(source.name),
        );
        if (lookAlikes.length > 0) {
          throw refuse(
            AMBIGUOUS[what],
            `query parameter ${source.name} is also sent as ${lookAlikes.map((k) => JSON.stringify(k)).join(', ')}; parsers disagree on which one counts`,
          );
        }
        const values = new URLSearchParams(this.query).getAll(source.name);
        // Frameworks disagree on a repeated parameter (the first, the last, a list): an
        // upstream could act on a value other than the one decided on.
        if (new Set(values).size > 1) throw refuse(AMBIGUOUS[what], `query parameter ${source.name} is sent ${values.length} times with different values`);
        return values.filter((v) => v !== '');
      }
      case 'header': {
        const value = this.request.headers[source.name];
        return value ? [value] : [];
      }
      case 'body': {
        const body = this.body();
        if (body === undefined) return [];
        const field = bodyField(body, source.name.split('.'));
        if (field.found === 'ambiguous') {
          throw refuse(
            AMBIGUOUS[what],
            `body field ${source.name} is sent as ${field.keys.map((k) => JSON.stringify(k)).join(', ')}; parsers disagree on which one counts`,
          );
        }
        if (!field.found || field.value === '') return [];
        if (typeof field.value !== 'string') throw refuse(CODE.invalid_body, `body field ${source.name} must be a string`);
        return [field.value];
      }
    }
  }

  private body(): JsonNode | undefined {
    if (!this.bodyRead) {
      this.bodyRead = true;
      const text = this.request.body === undefined ? '' : this.request.body.toString();
      if (text.trim() !== '') {
        try {
          this.parsedBody = parseBody(text, this.jsonMaxDepth);
        } catch (error) {
          if (!(error instanceof BodySyntaxError)) throw error;
          throw refuse(CODE.invalid_body, `the request body is not valid JSON: ${error.message}`);
        }
      }
    }
    return this.parsedBody;
  }
}

/**
 * The headers a record keeps: an allow-list, since a credential can travel under any name
 * (x-amz-security-token, x-csrf, a vendor's key header). Headers that carry the request
 * URI are kept without their query string, which can carry keys too.
 */
const RECORDED_HEADERS = new Set([
  ':method',
  ':scheme',
  ':authority',
  'host',
  'content-type',
  'content-length',
  'accept',
  'user-agent',
  'x-request-id',
  'traceparent',
  'tracestate',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-real-ip',
  'x-original-method',
  'x-forwarded-method',
]);
const URI_HEADERS = new Set([':path', 'x-original-uri', 'x-forwarded-uri', 'x-envoy-original-path', 'referer']);

/** What the decision log says about the original request, and the trace context it carries (so the span joins Envoy's trace). */
function requestContext(request: GatewayRequest, route: Route): Pick<DecideOptions, 'trace' | 'requestedBy' | 'gatewayRequest'> {
  // The route's own header sources (the workspace id header) are kept: they decided.
  const sources = new Set([...route.workspaceId, ...route.orgId, ...route.resourceId].filter((s) => s.kind === 'header').map((s) => s.name));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    if (URI_HEADERS.has(name)) headers[name] = splitOnce(value, '?')[0];
    else if (RECORDED_HEADERS.has(name) || sources.has(name)) headers[name] = value;
  }
  const { traceparent, tracestate } = request.headers;
  return {
    ...(traceparent ? { trace: { traceparent, ...(tracestate ? { tracestate } : {}) } } : {}),
    ...(request.client ? { requestedBy: request.client } : {}),
    gatewayRequest: { method: request.method, path: splitOnce(request.path, '?')[0], route: route.pattern, headers },
  };
}

/** No decision was made: a 401 for the identity, or a refusal with its own status. */
function rejection(error: ApiError): GatewayAnswer {
  const headers: Record<string, string> = { [HEADER.reason]: error.code, 'content-type': 'application/json' };
  // A decision that was made and recorded but failed (the policy could not be evaluated)
  // is a denial, never a 5xx: a gateway configured to fail open on errors would allow it.
  const decisionId = error.details.decisionId;
  const status = decisionId ? 403 : error.status;
  if (decisionId) headers[HEADER.decisionId] = decisionId;
  if (error instanceof RateLimitedError) headers['retry-after'] = String(error.retryAfterSeconds);
  if (status === 401) {
    // A fixed description: the message can quote claim text (any Unicode, CR/LF), which a
    // header cannot carry; the body has the full message.
    headers['www-authenticate'] =
      error.code === 'missing_token' ? 'Bearer' : `Bearer error="invalid_token", error_description="${error.code}; see the response body"`;
  }
  const body = status === 403 ? FORBIDDEN_BODY : JSON.stringify(error.toJSON());
  return { allow: false, wouldAllow: false, dryRun: false, status, reason: error.code, headers, body, ...(decisionId ? { decisionId } : {}) };
}

/** Let it through, saying what would have happened. */
function asDryRun(answer: GatewayAnswer): GatewayAnswer {
  const headers: Record<string, string> = { [HEADER.dryRun]: 'true', [HEADER.allow]: String(answer.allow), [HEADER.reason]: answer.reason };
  if (answer.decisionId) headers[HEADER.decisionId] = answer.decisionId;
  const principal = answer.headers[HEADER.principal];
  if (principal) headers[HEADER.principal] = principal;
  return { ...answer, allow: true, dryRun: true, status: 200, headers, body: '' };
}
