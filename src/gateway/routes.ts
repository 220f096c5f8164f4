// The gateway route table: method + path pattern of the original request -> action,
// resource type, and where the workspace id (and resource/org id) is found. Loaded from
// YAML and validated once at start; an invalid table stops the sidecar with the list of
// problems, each naming its entry.
//
// How a request path is matched (the gateway refuses with reason invalid_path before any
// of this when the path does not start with "/", has an empty, "." or ".." segment, a
// backslash, a ";" (path parameters, which Tomcat and Spring strip), an encoded "/", "\"
// or "." (%2F, %5C, %2E), an encoded space or control character (%00-%1F, %20, %7F), or
// malformed percent-encoding):
//   - the query string is not part of the path; one trailing "/" is ignored;
//   - the method is compared upper-cased;
//   - segments are compared as sent: literals exactly (case-sensitive, still
//     percent-encoded, no Unicode normalisation), a :param matches any one segment and
//     its value is percent-decoded once;
//   - a path that matches no route but equals a route's path once every segment is
//     percent-decoded (repeatedly) and folded (see lookalike.ts: NFKC, case), whatever the
//     method, is refused invalid_path, also with GATEWAY_PASS_UNMATCHED=true:
//     /v1/MCP-SERVERS, /V1/mcp-servers and /v1/mcp%2Dservers are not /v1/mcp-servers
//     here, but many upstream routers would route them there. So a literal segment is
//     only ever accepted spelled exactly as in the table, never percent-encoded.
import { readFile } from 'node:fs/promises';
import { load as loadYaml } from 'js-yaml';
import { ConfigError } from '../config.ts';
import { ACTIONS, type Action, type ResourceType } from '../decision/request.ts';
import { RESOURCE_TYPE_PATTERN, type Families } from '../engine/families.ts';
import { isJsonObject } from '../json.ts';
import { decodeSegment, fold } from './lookalike.ts';

export const SOURCE_KINDS = ['path', 'query', 'header', 'body'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** Where a value is read from: `path:id`, `query:workspace_id`, `header:x-portkey-workspace-id`, `body:workspace_id`. */
export interface Source {
  kind: SourceKind;
  /** Path parameter, query parameter, lower-cased header name, or dotted JSON path. */
  name: string;
}

export interface Route {
  methods: string[];
  pattern: string;
  /** Literal segments as strings; parameters as `{param}`. */
  segments: (string | { param: string })[];
  action: Action;
  type: ResourceType;
  workspaceId: Source[];
  orgId: Source[];
  resourceId: Source[];
}

export interface RouteTable {
  routes: Route[];
}

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

/** Used when the table sets no `workspaceId` of its own. */
export const DEFAULT_WORKSPACE_SOURCES = ['header:x-portkey-workspace-id', 'query:workspace_id', 'body:workspace_id'];

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const PARAM = /^:([A-Za-z_][A-Za-z0-9_]*)$/;
const LITERAL = /^[A-Za-z0-9._~!$&'()*+,;=@-]+$/;
const ROUTE_KEYS = new Set(['method', 'path', 'action', 'resource', 'workspaceId', 'orgId', 'resourceId']);
const TABLE_KEYS = new Set(['workspaceId', 'routes']);

/** Parses a route table document; throws a ConfigError listing every problem. */
export function parseRouteTable(document: unknown, origin = 'route table'): RouteTable {
  const problems: string[] = [];
  if (!isJsonObject(document)) throw new ConfigError(`${origin}: must be a mapping with a "routes" list`);
  for (const key of Object.keys(document)) if (!TABLE_KEYS.has(key)) problems.push(`${key}: unknown key; known: ${[...TABLE_KEYS].join(', ')}`);

  const defaultWorkspace = parseSources(document.workspaceId ?? DEFAULT_WORKSPACE_SOURCES, 'workspaceId', new Set(), problems);
  if (!Array.isArray(document.routes) || document.routes.length === 0) problems.push('routes: must be a non-empty list');

  const routes: Route[] = [];
  const seen = new Map<string, number>();
  (Array.isArray(document.routes) ? document.routes : []).forEach((raw: unknown, index) => {
    const at = `routes[${index}]`;
    if (!isJsonObject(raw)) return problems.push(`${at}: must be a mapping`);
    for (const key of Object.keys(raw)) if (!ROUTE_KEYS.has(key)) problems.push(`${at}.${key}: unknown key; known: ${[...ROUTE_KEYS].join(', ')}`);

    const methods = (Array.isArray(raw.method) ? raw.method : [raw.method]).map((m) => (typeof m === 'string' ? m.toUpperCase() : m));
    if (methods.length === 0 || !methods.every((m) => typeof m === 'string' && METHODS.has(m))) {
      problems.push(`${at}.method: must be one of ${[...METHODS].join(', ')}, or a list of them`);
    }
    const pattern = raw.path;
    const segments: Route['segments'] = [];
    if (typeof pattern !== 'string' || !pattern.startsWith('/')) {
      problems.push(`${at}.path: must be a path starting with "/", e.g. /v1/mcp-servers/:id`);
    } else {
      for (const segment of pattern.split('/').slice(1)) {
        const param = PARAM.exec(segment);
        if (param) {
          if (segments.some((s) => typeof s === 'object' && s.param === param[1])) problems.push(`${at}.path: parameter :${param[1]} appears twice`);
          segments.push({ param: param[1]! });
        } else if (LITERAL.test(segment) && segment !== '.' && segment !== '..') {
          segments.push(segment);
        } else {
          problems.push(`${at}.path: segment "${segment}" must be a literal or :name`);
        }
      }
    }
    const params = new Set(segments.flatMap((s) => (typeof s === 'object' ? [s.param] : [])));
    const action = oneOf(raw.action, ACTIONS, `${at}.action`, problems);
    // Checked against the bundle's resource types once one is active (unknownResourceTypes).
    const type = typeof raw.resource === 'string' && RESOURCE_TYPE_PATTERN.test(raw.resource) ? raw.resource : '';
    if (type === '') problems.push(`${at}.resource: must be a resource type of the policy bundle (GET /v1/families)`);
    const workspaceId = raw.workspaceId === undefined ? defaultWorkspace : parseSources(raw.workspaceId, `${at}.workspaceId`, params, problems);
    const orgId = raw.orgId === undefined ? [] : parseSources(raw.orgId, `${at}.orgId`, params, problems);
    // A path with :id names the resource unless the entry says otherwise.
    const resourceId =
      raw.resourceId !== undefined
        ? parseSources(raw.resourceId, `${at}.resourceId`, params, problems)
        : params.has('id')
          ? [{ kind: 'path' as const, name: 'id' }]
          : [];

    if (typeof pattern === 'string') {
      const shape = segments.map((s) => (typeof s === 'object' ? ':' : s)).join('/');
      for (const method of methods) {
        const key = `${String(method)} ${shape}`;
        const earlier = seen.get(key);
        if (earlier !== undefined) problems.push(`${at}: ${String(method)} ${pattern} is already matched by routes[${earlier}]`);
        else seen.set(key, index);
      }
    }
    routes.push({ methods: methods as string[], pattern: String(pattern), segments, action, type, workspaceId, orgId, resourceId });
  });

  if (problems.length > 0) throw new ConfigError(`${origin} is invalid:\n  ${problems.join('\n  ')}`);
  return { routes };
}

export async function loadRouteTable(path: string): Promise<RouteTable> {
  let document: unknown;
  try {
    document = loadYaml(await readFile(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`route table ${path}: ${(error as Error).message}`);
  }
  return parseRouteTable(document, path);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string, problems: string[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  problems.push(`${field}: must be one of ${allowed.join(', ')}`);
  return allowed[0]!;
}

function parseSources(value: unknown, field: string, params: Set<string>, problems: string[]): Source[] {
  const list = Array.isArray(value) ? value : [value];
  const sources: Source[] = [];
  for (const item of list) {
    const match = typeof item === 'string' ? /^(path|query|header|body):(.+)$/.exec(item) : null;
    if (!match) {
      problems.push(`${field}: "${String(item)}" must be ${SOURCE_KINDS.map((k) => `${k}:<name>`).join(', ')}`);
      continue;
    }
    const kind = match[1] as SourceKind;
    const name = kind === 'header' ? match[2]!.toLowerCase() : match[2]!;
    if (kind === 'path' && !params.has(name)) problems.push(`${field}: path:${name} is not a parameter of this route's path`);
    sources.push({ kind, name });
  }
  if (sources.length === 0 && list.length === 0) problems.push(`${field}: must name at least one source`);
  return sources;
}

/**
 * The first route whose method and path match. `segments` are the raw (still
 * percent-encoded) path segments; literals must match exactly, so an encoded variant
 * of a route's path matches nothing here (and is caught by `lookAlikeRoute`).
 */
export function matchRoute(table: RouteTable, method: string, segments: string[]): RouteMatch | undefined {
  // Frameworks answer HEAD with their GET handler: a HEAD no route names is decided as the GET.
  return matchMethod(table, method, segments) ?? (method === 'HEAD' ? matchMethod(table, 'GET', segments) : undefined);
}

function matchMethod(table: RouteTable, method: string, segments: string[]): RouteMatch | undefined {
  for (const route of table.routes) {
    if (!route.methods.includes(method) || route.segments.length !== segments.length) continue;
    const params: Record<string, string> = Object.create(null);
    const matched = route.segments.every((expected, i) => {
      if (typeof expected === 'string') return expected === segments[i];
      params[expected.param] = segments[i]!;
      return true;
    });
    if (matched) return { route, params };
  }
  return undefined;
}

/** Suffix pattern matching (older Spring) routes /v1/mcp-servers.json to /v1/mcp-servers. */
const FILE_EXTENSION = /\.[a-z0-9]{1,10}$/;
const canonical = (segment: string) => fold(segment).replace(FILE_EXTENSION, '');

/**
 * A route whose path the request's path spells differently: equal once decoded, folded
 * and without a file extension, not equal as sent. Any method: an upstream that routes
 * the variant to the protected path would apply its own method table.
 */
export function lookAlikeRoute(table: RouteTable, segments: string[]): Route | undefined {
  const folded = segments.map((s) => canonical(decodeSegment(s)));
  return table.routes.find(
    (route) =>
      route.segments.length === segments.length &&
      route.segments.every((expected, i) => typeof expected !== 'string' || canonical(expected) === folded[i]) &&
      !route.segments.every((expected, i) => typeof expected !== 'string' || expected === segments[i]),
  );
}

/**
 * The scope an API key needs for a route: the bundle's scope table's for the route's resource
 * type and action (Families.scopeOf), never a list of the route table's own; undefined when
 * the table names none, and then no key can be allowed there.
 */
export function routeScope(route: Route, families: Pick<Families, 'scopeOf'>): string | undefined {
  return families.scopeOf(route.type, route.action);
}
