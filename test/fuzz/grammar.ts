// The fuzzer's grammar: structurally valid requests for every API of the sidecar, whose
// strings come from the hostile dictionary and whose values and types are mutated. Bodies
// are built as JSON trees that can hold duplicated keys and raw number text, so the
// generator knows exactly what the server will parse, and says when a request is malformed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { familiesFromData } from '../../src/engine/families.ts';
import { ADMIN_TOKEN } from '../support/sidecar.ts';
import type { Random } from '../support/random.ts';
import { HOSTILE_STRINGS, LOOKALIKE_KEYS, MUTATED_VALUES, PROTO_KEYS } from './dictionary.ts';
import { idProblem, inputProblem, principalProblem, withCommonInput } from './oracle.ts';

// ---- JSON trees ----

/** A JSON object as written: its entries in order, a key possibly more than once. */
export class Obj {
  constructor(readonly entries: Array<[string, Json]>) {}
}
/** JSON text written as is (e.g. 1e309, which no JS number writes). */
export class Raw {
  constructor(readonly text: string) {}
}
export type Json = null | boolean | number | string | Json[] | Obj | Raw;

export function write(value: Json): string {
  if (value instanceof Raw) return value.text;
  if (value instanceof Obj) return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${write(v)}`).join(',')}}`;
  if (Array.isArray(value)) return `[${value.map(write).join(',')}]`;
  return JSON.stringify(value);
}

const obj = (entries: Array<[string, Json]>) => new Obj(entries);

function objectsIn(value: Json, out: Obj[] = []): Obj[] {
  if (value instanceof Obj) {
    out.push(value);
    for (const [, v] of value.entries) objectsIn(v, out);
  } else if (Array.isArray(value)) for (const v of value) objectsIn(v, out);
  return out;
}

/** A hostile string, or now and then an ordinary one. */
const hostile = (rng: Random) => rng.pick(HOSTILE_STRINGS);

/** One random edit of one object in the tree: a hostile value, a mutated type, a missing, duplicated, look-alike or prototype key. */
function mutate(root: Json, rng: Random): void {
  const target = rng.pick(objectsIn(root));
  const entries = target.entries;
  const at = rng.int(Math.max(entries.length, 1));
  const entry = entries[at];
  switch (rng.int(8)) {
    case 0:
    case 1:
      if (entry) entry[1] = hostile(rng);
      break;
    case 2:
      if (entry) entry[1] = new Raw(rng.pick(MUTATED_VALUES));
      break;
    case 3:
      if (entry) entries.splice(at, 1);
      break;
    case 4: // the same key twice: JSON.parse keeps the last, other parsers the first
      if (entry) entries.splice(rng.int(2) ? at : at + 1, 0, [entry[0], rng.chance(0.5) ? hostile(rng) : new Raw(rng.pick(MUTATED_VALUES))]);
      break;
    case 5:
      entries.push([rng.pick(LOOKALIKE_KEYS), rng.chance(0.5) ? 'ws-2' : hostile(rng)]);
      break;
    case 6:
      entries.push([
        rng.pick(PROTO_KEYS),
        rng.pick([new Raw('{"allow":true,"orgRole":"owner"}'), 'owner', new Raw('null'), new Raw('{"org":{"managersWriteMcpServers":true}}')]),
      ]);
      break;
    default: // a hostile key (a workspace id in workspaceRoles, usually)
      if (entry) entries[at] = [hostile(rng), entry[1]];
  }
}

// ---- decision inputs ----

const ORG_ROLES = ['owner', 'owner', 'admin', 'member'];
const WS_ROLES = ['manager', 'admin', 'member'];
const ACTIONS = ['create', 'update', 'delete', 'read'];
const TYPES = ['integration', 'mcp_integration', 'mcp_server'];

function principalTree(rng: Random): Obj {
  return obj([
    ['id', 'u-1'],
    ['orgId', 'org-1'],
    ['orgRole', rng.pick(ORG_ROLES)],
    ['workspaceRoles', obj([['ws-1', rng.pick(WS_ROLES)]])],
  ]);
}

function resourceTree(rng: Random): Obj {
  const entries: Array<[string, Json]> = [
    ['type', rng.pick(TYPES)],
    ['orgId', 'org-1'],
    ['workspaceId', 'ws-1'],
  ];
  if (rng.chance(0.3)) entries.push(['id', 'r-1']);
  return obj(entries);
}

/** A decision input, mutated 0 to 3 times (mostly owners, so that a wrongly accepted input shows up as an allow). */
function decisionInput(rng: Random): Obj {
  const input = obj([
    ['principal', principalTree(rng)],
    ['action', rng.pick(ACTIONS)],
    ['resource', resourceTree(rng)],
  ]);
  const edits = rng.pick([0, 1, 1, 1, 2, 3]);
  for (let i = 0; i < edits; i++) mutate(input, rng);
  return input;
}

// ---- cases ----

export type Api =
  | 'authorize'
  | 'opa_allow'
  | 'opa_decision'
  | 'opa_batch'
  | 'gateway_envoy'
  | 'gateway_nginx'
  | 'gateway_grpc'
  | 'admin_settings'
  | 'admin_directory'
  | 'audit';

export const APIS: readonly Api[] = [
  'authorize',
  'opa_allow',
  'opa_decision',
  'opa_batch',
  'gateway_envoy',
  'gateway_nginx',
  'gateway_grpc',
  'admin_settings',
  'admin_directory',
  'audit',
];

/** How an answer is judged beyond "no 5xx". */
export type Judge =
  | { kind: 'none' }
  | { kind: 'decision'; result: 'authorize' | 'allow' | 'decision' }
  | { kind: 'batch'; result: 'allow' | 'decision'; malformed: Record<string, string> }
  | { kind: 'gateway' };

export interface HttpCase {
  api: Api;
  transport: 'http';
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: string;
  /** Why the request is malformed (it must not be allowed), or undefined: no claim. */
  malformed?: string;
  judge: Judge;
}

export interface GrpcCase {
  api: 'gateway_grpc';
  transport: 'grpc';
  /** The CheckRequest; what the server decodes from it is judged (see run.ts). */
  /** `headers` is Envoy's map<string, string>, which the proto declares as its repeated entries. */
  request: {
    attributes: {
      request: {
        http: {
          method: string;
          path: string;
          headers: Array<{ key: string; value: string }>;
          headerMap?: { headers: Array<{ key: string; value: string }> };
          body: string;
        };
      };
    };
  };
  /** The gateway request before transport, for the oracle. */
  original: GatewayOriginal;
  malformed?: string;
}

export type Case = HttpCase | GrpcCase;

/** A JWT of the pool the gateway cases draw from, and why it must be refused (if it must). */
export interface PoolToken {
  token: string;
  problem?: string;
}

export interface Context {
  rng: Random;
  /** Gateway identity of the sidecar the case goes to. */
  identity: 'headers' | 'jwt';
  tokens: PoolToken[];
}

const adminHeaders = (rng: Random): Record<string, string> => {
  const roll = rng.int(20);
  if (roll === 0) return {};
  if (roll === 1) return { authorization: `Bearer ${ADMIN_TOKEN}x` };
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` };
  if (rng.chance(0.2)) headers['x-actor'] = headerText(rng.chance(0.5) ? hostile(rng) : `Bearer ${ADMIN_TOKEN}`);
  return headers;
};

export function generate(api: Api, ctx: Context): Case {
  const { rng } = ctx;
  switch (api) {
    case 'authorize': {
      const input = decisionInput(rng);
      const text = write(input);
      return http(
        api,
        'POST',
        '/v1/authorize',
        {},
        text,
        problemOf(text, (v) => inputProblem(v)),
        { kind: 'decision', result: 'authorize' },
      );
    }
    case 'opa_allow':
    case 'opa_decision': {
      const result = api === 'opa_allow' ? 'allow' : 'decision';
      const body = obj([['input', decisionInput(rng)]]);
      if (rng.chance(0.1)) mutate(body, rng);
      const text = write(body);
      return http(
        api,
        'POST',
        `/v1/data/portkey/authz/${result}`,
        {},
        text,
        problemOf(text, (v) => inputProblem((v as { input?: unknown })?.input)),
        { kind: 'decision', result },
      );
    }
    case 'opa_batch':
      return batchCase(rng);
    case 'gateway_envoy':
    case 'gateway_nginx':
    case 'gateway_grpc':
      return gatewayCase(api, ctx);
    case 'admin_settings':
      return settingsCase(rng);
    case 'admin_directory':
      return directoryCase(rng);
    case 'audit':
      return auditCase(rng);
  }
}

function http(
  api: Api,
  method: string,
  path: string,
  headers: Record<string, string | string[]>,
  body: string | undefined,
  malformed: string | undefined,
  judge: Judge,
): HttpCase {
  const out: HttpCase = { api, transport: 'http', method, path, headers, judge };
  if (body !== undefined) out.body = body;
  if (malformed !== undefined) out.malformed = malformed;
  return out;
}

/** The oracle on what the server parses from `text` (a body that is not JSON is malformed). */
function problemOf(text: string, oracle: (value: unknown) => string | undefined): string | undefined {
  try {
    return oracle(JSON.parse(text));
  } catch {
    return 'not JSON';
  }
}

function batchCase(rng: Random): HttpCase {
  const result = rng.pick(['allow', 'decision'] as const);
  const keys = Array.from({ length: 1 + rng.int(5) }, (_, i) => (rng.chance(0.15) ? hostile(rng).slice(0, 300) : `k${i}`));
  const common = rng.chance(0.5);
  const items: Array<[string, Json]> = keys.map((key) => {
    const input = decisionInput(rng);
    // With common_input, the principal is sent once there.
    if (common) input.entries.splice(0, 1);
    return [key, input];
  });
  const body = obj([['inputs', obj(items)]]);
  if (common) {
    const principal = principalTree(rng);
    if (rng.chance(0.5)) mutate(principal, rng);
    body.entries.push(['common_input', obj([['principal', principal]])]);
  }
  if (rng.chance(0.05)) mutate(body, rng);
  const text = write(body);
  const malformed: Record<string, string> = {};
  try {
    const parsed = JSON.parse(text) as { inputs?: Record<string, unknown>; common_input?: unknown };
    if (parsed.inputs && typeof parsed.inputs === 'object') {
      for (const key of Object.keys(parsed.inputs)) {
        const problem = inputProblem(withCommonInput(parsed.common_input, Object.getOwnPropertyDescriptor(parsed.inputs, key)?.value));
        if (problem) malformed[key] = problem;
      }
    }
  } catch {
    // not JSON: a 400, nothing to judge per item
  }
  return http('opa_batch', 'POST', `/v1/batch/data/portkey/authz/${result}`, {}, text, undefined, { kind: 'batch', result, malformed });
}

// ---- gateways ----

const ROUTES: Array<[string, string]> = [
  ['GET', '/v1/mcp-servers'],
  ['POST', '/v1/mcp-servers'],
  ['PUT', '/v1/mcp-servers/r-1'],
  ['DELETE', '/v1/mcp-servers/r-1'],
  ['GET', '/v1/integrations/r-1'],
  ['POST', '/v1/integrations'],
  ['PATCH', '/v1/integrations/r-1'],
  ['GET', '/v1/mcp-integrations'],
  ['POST', '/v1/mcp-integrations'],
  ['DELETE', '/v1/mcp-integrations/r-1'],
];

/**
 * A protected path written another way: case, percent-encoding, dot segments, doubled
 * slashes. Only literal segments are rewritten: a parameter's value (r-1) may be encoded.
 */
const PATH_VARIANTS: Array<(path: string) => string> = [
  (p) => p.toUpperCase(),
  (p) => p.replace('/v1/', '/V1/'),
  (p) => p.replace(/^\/v1\/([a-z]+)/, (_, name: string) => `/v1/${name.replace(/^./, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`),
  (p) => p.replace(/^\/v1\/([a-z]+)/, (_, name: string) => `/v1/${name.replace(/^./, (c) => `%${c.charCodeAt(0).toString(16)}`)}`),
  (p) => p.replace('/v1/', '/v1//'),
  (p) => p.replace('/v1/', '/v1/./'),
  (p) => p.replace('/v1/', '/v1/x/../'),
  (p) => p.replace('/v1/', '/%76%31/'),
  (p) => `${p}%00`,
  (p) => `${p};x=1`,
  (p) => p.replace('/v1/', '/v1/%ZZ/'),
];

/** The original request a gateway asks about, before it is put on a wire. */
export interface GatewayOriginal {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: string;
  /** What the generator did that makes the request malformed whatever its transport. */
  problem?: string;
  /** A value whose decoding by the server the fuzzer does not model: no claim about the answer. */
  uncertain?: boolean;
  /** Where the workspace id is given, as the server will read it (header values are judged after transport). */
  workspaceQuery?: string[];
  workspaceBody?: { values: unknown[]; ambiguous?: string };
}

/** The text a header carries: what a client that sends UTF-8 puts on the wire, as Node reads it back (latin1, no CR/LF/NUL, trimmed). */
export function headerText(value: string): string {
  // eslint-disable-next-line no-control-regex
  return Buffer.from(value, 'utf8')
    .toString('latin1')
    .replace(/[^\t\x20-\x7e\x80-\xff]/g, '')
    .replace(/^[ \t]+|[ \t]+$/g, '');
}

/** A path segment or query value, percent-encoded; lone surrogates as their (invalid) UTF-8-like bytes. */
function encode(value: string): string {
  if (value.isWellFormed()) return encodeURIComponent(value);
  return [...value]
    .map((c) =>
      c.isWellFormed()
        ? encodeURIComponent(c)
        : `%${(0xed).toString(16).toUpperCase()}%${(0x80 | ((c.charCodeAt(0) >> 6) & 0x3f)).toString(16).toUpperCase()}%${(0x80 | (c.charCodeAt(0) & 0x3f)).toString(16).toUpperCase()}`,
    )
    .join('');
}

function gatewayCase(api: 'gateway_envoy' | 'gateway_nginx' | 'gateway_grpc', ctx: Context): Case {
  const { rng } = ctx;
  const [method, route] = rng.pick(ROUTES);
  const original: GatewayOriginal = { method, path: route, headers: {} };
  if (rng.chance(0.12)) {
    original.path = rng.pick(PATH_VARIANTS)(route);
    assert.notEqual(original.path, route, 'a path variant must change the path');
    original.problem = 'a protected path written another way';
  } else if (rng.chance(0.05)) {
    original.path = `${route}/`;
  }
  // A hostile resource id goes into the route as written (not into a variant, whose problem it would hide).
  if (rng.chance(0.08) && /r-1$/.test(route) && original.problem === undefined) {
    original.path = route.replace(/r-1$/, encode(hostile(rng).slice(0, 300)));
    original.uncertain = true;
  }
  identity(original, ctx);
  const workspace = () => (rng.chance(0.35) ? hostile(rng) : rng.chance(0.1) ? 'ws-2' : 'ws-1');
  const sources = rng.pick([['header'], ['header'], ['query'], ['body'], ['header', 'query'], ['header', 'body'], ['query', 'body'], []]);
  const value = workspace();
  const second = rng.chance(0.8) ? value : workspace();
  sources.forEach((source, i) => {
    const v = i === 0 ? value : second;
    if (source === 'header') original.headers['x-portkey-workspace-id'] = v;
    if (source === 'query') {
      if (!v.isWellFormed()) original.uncertain = true;
      const dup = rng.chance(0.05) ? `&workspace_id=${encode('ws-2')}` : '';
      original.path += `?workspace_id=${encode(v)}${dup}`;
      original.workspaceQuery = dup ? [v, 'ws-2'] : [v];
    }
    if (source === 'body' && api !== 'gateway_nginx') {
      const body = obj([
        ['name', 'x'],
        ['workspace_id', v],
      ]);
      let ambiguous: string | undefined;
      if (rng.chance(0.25)) {
        if (rng.chance(0.5)) {
          body.entries.splice(rng.int(3), 0, [rng.pick(LOOKALIKE_KEYS), rng.chance(0.5) ? 'ws-2' : v]);
          ambiguous = 'a look-alike workspace key in the body';
        } else {
          body.entries.splice(rng.int(2), 0, ['workspace_id', rng.chance(0.5) ? 'ws-2' : v]);
          ambiguous = 'the workspace key twice in the body';
        }
      }
      if (rng.chance(0.1)) mutate(body, rng);
      original.body = write(body);
      original.headers['content-type'] = 'application/json';
      try {
        const parsed = JSON.parse(original.body) as Record<string, unknown>;
        original.workspaceBody = { values: 'workspace_id' in parsed ? [parsed.workspace_id] : [] };
      } catch {
        original.uncertain = true;
      }
      if (ambiguous && original.workspaceBody) original.workspaceBody.ambiguous = ambiguous;
    }
  });
  if (rng.chance(0.1))
    original.headers[rng.pick(['x-portcullis-allow', 'x-portcullis-principal', 'x-portcullis-reason'])] = rng.pick(['true', 'admin', 'org_admin']);
  if (rng.chance(0.03)) original.headers['x-padding'] = 'p'.repeat(rng.pick([1_000, 20_000]));
  // A client describing another request in the forward-auth family the sidecars do not read
  // (they read nginx's X-Original-*): gRPC has no such headers.
  if (api !== 'gateway_grpc' && rng.chance(0.05)) {
    original.headers[rng.pick(['x-forwarded-method', 'X-Forwarded-Uri'])] = rng.pick(['GET', '/v1/mcp-servers?workspace_id=ws-1']);
    original.problem ??= 'a forward-auth header of the family this deployment does not read';
  }

  if (api === 'gateway_grpc') return grpcCase(original, rng);
  const headers = Object.fromEntries(Object.entries(original.headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(headerText) : headerText(v)]));
  const malformed = gatewayProblem(original, headers, ctx.tokens);
  const judge: Judge = { kind: 'gateway' };
  if (api === 'gateway_nginx') {
    return http(api, 'GET', '/ext_authz', { ...headers, 'x-original-method': method, 'x-original-uri': original.path }, undefined, malformed, judge);
  }
  return http(api, method, `/ext_authz${original.path}`, headers, original.body, malformed, judge);
}

const PRINCIPALS = {
  owner: { id: 'u-owner', orgId: 'org-1', orgRole: 'owner', workspaceRoles: {} as Record<string, string> },
  manager: { id: 'u-manager', orgId: 'org-1', orgRole: 'member', workspaceRoles: { 'ws-1': 'manager' } as Record<string, string> },
  member: { id: 'u-member', orgId: 'org-1', orgRole: 'member', workspaceRoles: { 'ws-1': 'member' } as Record<string, string> },
};

/** Identity headers (trusted-headers sidecar) or a bearer token from the pool (JWT sidecar). */
function identity(original: GatewayOriginal, ctx: Context): void {
  const { rng } = ctx;
  if (ctx.identity === 'jwt') {
    if (rng.chance(0.97)) original.headers.authorization = `Bearer ${rng.pick(ctx.tokens).token}`;
    else original.problem ??= 'no token';
    return;
  }
  const p = structuredClone(rng.pick([PRINCIPALS.owner, PRINCIPALS.owner, PRINCIPALS.manager, PRINCIPALS.member]));
  const fields: Record<string, unknown> = { ...p };
  if (rng.chance(0.3)) {
    const field = rng.pick(['id', 'orgId', 'orgRole', 'workspaceRoles']);
    fields[field] = field === 'workspaceRoles' ? { [hostile(rng)]: rng.pick(WS_ROLES) } : hostile(rng);
  }
  if (rng.chance(0.03)) delete fields.id;
  const h = original.headers;
  if (fields.id !== undefined) h['x-portkey-user-id'] = String(fields.id);
  h['x-portkey-org-id'] = String(fields.orgId);
  h['x-portkey-org-role'] = String(fields.orgRole);
  h['x-portkey-workspace-roles'] = JSON.stringify(fields.workspaceRoles);
  if (rng.chance(0.05)) {
    const name = rng.pick(['x-portkey-user-id', 'x-portkey-org-role', 'x-portkey-workspace-roles']);
    h[name] = [String(h[name] ?? 'u-1'), name === 'x-portkey-workspace-roles' ? '{"ws-1":"admin"}' : 'owner'];
    original.problem ??= `${name} twice`;
  }
}

/**
 * Why the gateway request, as the server reads it (`headers`: after transport), is
 * malformed; undefined when it is not, or when the fuzzer cannot tell.
 */
export function gatewayProblem(original: GatewayOriginal, headers: Record<string, string | string[] | undefined>, tokens: PoolToken[]): string | undefined {
  if (original.problem) return original.problem;
  if (original.uncertain) return undefined;
  const one = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(',') : value;
  };
  const auth = one('authorization');
  if (auth !== undefined) {
    const token = tokens.find((t) => `Bearer ${t.token}` === auth);
    if (!token) return 'a token not from the pool';
    if (token.problem) return token.problem;
  } else {
    const rolesText = one('x-portkey-workspace-roles');
    let workspaceRoles: unknown;
    try {
      workspaceRoles = rolesText === undefined ? undefined : JSON.parse(rolesText);
    } catch {
      return 'x-portkey-workspace-roles is not JSON';
    }
    const problem = principalProblem({ id: one('x-portkey-user-id'), orgId: one('x-portkey-org-id'), orgRole: one('x-portkey-org-role'), workspaceRoles });
    if (problem) return `trusted headers: ${problem}`;
  }
  const values: unknown[] = [];
  const header = one('x-portkey-workspace-id');
  if (header !== undefined) values.push(header);
  values.push(...(original.workspaceQuery ?? []));
  if (original.workspaceBody?.ambiguous) return original.workspaceBody.ambiguous;
  values.push(...(original.workspaceBody?.values ?? []));
  if (values.length === 0) return 'no workspace id';
  for (const value of values) {
    const problem = idProblem(value);
    if (problem) return `workspace id ${problem}`;
  }
  if (new Set(values).size > 1) return 'two different workspace ids';
  return undefined;
}

function grpcCase(original: GatewayOriginal, rng: Random): GrpcCase {
  const headers: Record<string, string> = {};
  const repeated: Array<{ key: string; value: string }> = [];
  for (const [name, value] of Object.entries(original.headers)) {
    if (Array.isArray(value)) for (const v of value) repeated.push({ key: name, value: v });
    else headers[name] = value;
  }
  // Envoy with encode_raw_headers sends every header in header_map instead.
  const raw = repeated.length > 0 || rng.chance(0.2);
  const http: GrpcCase['request']['attributes']['request']['http'] = {
    method: original.method,
    path: original.path,
    headers: raw ? [] : Object.entries(headers).map(([key, value]) => ({ key, value })),
    body: original.body ?? '',
  };
  if (raw) http.headerMap = { headers: [...Object.entries(headers).map(([key, value]) => ({ key, value })), ...repeated] };
  return { api: 'gateway_grpc', transport: 'grpc', request: { attributes: { request: { http } } }, original };
}

// ---- admin and audit ----

/** The families and settings of the bundle's table (policies/data.json), never a list of the fuzzer's own. */
const TABLE = familiesFromData(JSON.parse(readFileSync('policies/data.json', 'utf8')) as Record<string, unknown>);
export const FAMILIES: readonly string[] = TABLE.names;
const SETTINGS = [...TABLE.list.flatMap((family) => family.settings.map((setting) => setting.name)), 'allowWorkspaceOverrides'];

const orgSegment = (rng: Random) =>
  rng.chance(0.6) ? rng.pick(['org-1', 'org-2']) : rng.chance(0.1) ? rng.pick(['%ZZ', '%', '%E0%A4%A', '%ED%A0%80', '%c0%ae']) : encode(hostile(rng));
const wsSegment = (rng: Random) => (rng.chance(0.6) ? rng.pick(['ws-1', 'ws-2']) : rng.chance(0.1) ? rng.pick(['%ZZ', '%', '%FF%FE']) : encode(hostile(rng)));

function settingsBody(rng: Random): string {
  const body = obj(
    Array.from({ length: rng.int(4) }, (): [string, Json] =>
      rng.chance(0.15) ? ['allowWorkspaceOverrides', obj([[rng.pick(SETTINGS), rng.chance(0.7)]])] : [rng.pick(SETTINGS), rng.chance(0.8)],
    ),
  );
  const edits = rng.int(3);
  for (let i = 0; i < edits; i++) mutate(body, rng);
  return rng.chance(0.03) ? rng.pick(['', '{', 'null', '[]', '"x"']) : write(body);
}

function settingsCase(rng: Random): HttpCase {
  const method = rng.pick(['GET', 'PUT', 'PUT', 'DELETE', 'PATCH']);
  const workspace = rng.chance(0.5) ? `/workspaces/${wsSegment(rng)}` : '';
  const family = rng.chance(0.95) ? rng.pick(FAMILIES) : encode(hostile(rng));
  const path = `/v1/orgs/${orgSegment(rng)}${workspace}/settings/${family}`;
  return http('admin_settings', method, path, adminHeaders(rng), method === 'PUT' || method === 'PATCH' ? settingsBody(rng) : undefined, undefined, {
    kind: 'none',
  });
}

function directoryCase(rng: Random): HttpCase {
  const method = rng.pick(['GET', 'PUT', 'DELETE', 'POST']);
  if (method === 'GET' && rng.chance(0.5)) {
    const query = [
      `limit=${encode(rng.pick(['1', '100', '0', '-1', '1e9', 'x', hostile(rng)]))}`,
      `cursor=${encode(rng.chance(0.5) ? 'eyJpZCI6IjEtMCJ9' : hostile(rng))}`,
    ]
      .filter(() => rng.chance(0.5))
      .join('&');
    return http('admin_directory', 'GET', `/v1/orgs/${orgSegment(rng)}/workspaces${query ? `?${query}` : ''}`, adminHeaders(rng), undefined, undefined, {
      kind: 'none',
    });
  }
  const body = method === 'PUT' && rng.chance(0.3) ? settingsBody(rng) : undefined;
  return http('admin_directory', method, `/v1/orgs/${orgSegment(rng)}/workspaces/${wsSegment(rng)}`, adminHeaders(rng), body, undefined, { kind: 'none' });
}

const AUDIT_PARAMS: Record<string, (rng: Random) => string> = {
  orgId: (rng) => (rng.chance(0.6) ? 'org-1' : hostile(rng)),
  workspaceId: (rng) => (rng.chance(0.5) ? 'ws-1' : hostile(rng)),
  principalId: (rng) => (rng.chance(0.5) ? 'u-1' : hostile(rng)),
  allow: (rng) => rng.pick(['true', 'false', 'maybe', hostile(rng)]),
  reason: (rng) => rng.pick(['org_admin', hostile(rng)]),
  resourceType: (rng) => rng.pick(['mcp_server', 'database', hostile(rng)]),
  action: (rng) => rng.pick(['read', 'destroy', hostile(rng)]),
  from: (rng) =>
    rng.pick(['0000-01-01', '1969-12-31T23:59:59Z', '1970-01-01', '2025-01-01T00:00:00Z', '9999-12-31', '+275760-09-13', '2025-13-45', hostile(rng)]),
  to: (rng) => rng.pick(['0000-01-01', '9999-12-31T23:59:59-14:00', '2100-01-01', 'now', hostile(rng)]),
  limit: (rng) => rng.pick(['1', '1000', '1001', '0', '-1', '1.5', '1e3', hostile(rng)]),
  cursor: (rng) =>
    rng.pick([
      'not-a-cursor',
      Buffer.from('{"id":"99999999999999999999-0","h":"x"}').toString('base64url'),
      Buffer.from('{"id":"0-0"}').toString('base64url'),
      Buffer.from('{"__proto__":{"id":"1-0"}}').toString('base64url'),
      hostile(rng),
    ]),
};

function auditCase(rng: Random): HttpCase {
  const endpoint = rng.pick(['/v1/audit/decisions', '/v1/audit/decisions', '/v1/audit/summary', '/v1/audit/settings-changes', 'by-id']);
  if (endpoint === 'by-id') {
    return http('audit', 'GET', `/v1/audit/decisions/${rng.chance(0.2) ? '%ZZ' : encode(hostile(rng))}`, adminHeaders(rng), undefined, undefined, {
      kind: 'none',
    });
  }
  const names = Object.keys(AUDIT_PARAMS).filter((name) => (name === 'orgId' ? rng.chance(0.9) : rng.chance(0.25)));
  if (rng.chance(0.05)) names.push(rng.pick(['orgId', 'bogus', '__proto__']));
  const query = names.map((name) => `${encode(name)}=${encode((Object.hasOwn(AUDIT_PARAMS, name) ? AUDIT_PARAMS[name]! : hostile)(rng))}`).join('&');
  return http('audit', 'GET', `${endpoint}?${query}`, adminHeaders(rng), undefined, undefined, { kind: 'none' });
}

// ---- the token pool ----

/** Claims for the JWT sidecar's pool: ordinary principals, and principals with one hostile claim. */
export function poolClaims(rng: Random, count: number): Array<{ claims: Record<string, unknown>; problem?: string }> {
  const out: Array<{ claims: Record<string, unknown>; problem?: string }> = [];
  for (const p of Object.values(PRINCIPALS)) out.push({ claims: { sub: p.id, org_id: p.orgId, org_role: p.orgRole, workspace_roles: p.workspaceRoles } });
  while (out.length < count) {
    const p: Record<string, unknown> = structuredClone(rng.pick(Object.values(PRINCIPALS)));
    const field = rng.pick(['id', 'orgId', 'orgRole', 'workspaceRoles', 'workspaceRoles']);
    p[field] =
      field === 'workspaceRoles'
        ? { [hostile(rng)]: rng.chance(0.8) ? 'manager' : hostile(rng), 'ws-1': 'manager' }
        : rng.chance(0.8)
          ? hostile(rng)
          : JSON.parse(rng.pick(MUTATED_VALUES));
    const problem = principalProblem(p);
    const claims = { sub: p.id, org_id: p.orgId, org_role: p.orgRole, workspace_roles: p.workspaceRoles };
    out.push(problem ? { claims, problem: `token claims: ${problem}` } : { claims });
  }
  return out;
}
