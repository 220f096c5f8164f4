// Runs the grammar-based fuzzer against real sidecars: one with the in-memory store and
// trusted-header identity, one on a real redis-server with HS256 tokens. Every request is
// judged as it is answered (no 5xx, no gRPC INTERNAL/UNKNOWN, no allow for a malformed
// request), and at the end each sidecar must still answer ordinary decisions correctly,
// over HTTP and gRPC, and say it is ready.
import { once } from 'node:events';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SignJWT } from 'jose';
import type { Config } from '../../src/config.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { random } from '../support/random.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, registerWorkspaces, testSidecar } from '../support/sidecar.ts';
import { APIS, gatewayProblem, generate, poolClaims, type Api, type Case, type GrpcCase, type HttpCase, type PoolToken } from './grammar.ts';

const PROTO = fileURLToPath(new URL('../../src/gateway/envoy/ext_authz.proto', import.meta.url));
const JWT_SECRET = 'portcullis-fuzz-secret-of-at-least-32-bytes!';
const KEY = new TextEncoder().encode(JWT_SECRET);
const REQUEST_TIMEOUT_MS = 30_000;
/** The workspaces the grammar's well-formed requests name, registered to the organization they name. */
export const WORKSPACES = { 'ws-1': 'org-1', 'ws-2': 'org-1' } as const;

export interface Violation {
  api: Api;
  target: string;
  invariant: string;
  status: string;
  input: string;
  answer: string;
}

export interface FuzzReport {
  requests: number;
  perApi: Record<string, number>;
  /** Total answer time per API, ms (a slow API shows up here). */
  msPerApi: Record<string, number>;
  statuses: Record<string, number>;
  /** Connections the server closed without an answer (e.g. after a 431), while it stayed healthy. */
  closed: number;
  violations: Violation[];
  seconds: number;
}

export interface Target {
  name: string;
  identity: 'headers' | 'jwt';
  url: URL;
  grpcPort: number;
  sidecar: Sidecar;
  server: Server;
  tokens: PoolToken[];
  client: grpc.Client & { Check: CheckMethod };
  serverSees: (request: GrpcCase['request']) => unknown;
}

type CheckMethod = (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: CheckResponse) => void) => void;
interface CheckResponse {
  status?: { code?: number } | null;
  httpResponse?: string;
}

const sign = (claims: Record<string, unknown>, key = KEY, alg = 'HS256') =>
  new SignJWT(claims).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime('1h').sign(key);

export async function tokenPool(seed: number): Promise<PoolToken[]> {
  const rng = random(seed ^ 0x5eed);
  const pool: PoolToken[] = [];
  for (const { claims, problem } of poolClaims(rng, 48)) pool.push(problem ? { token: await sign(claims), problem } : { token: await sign(claims) });
  const owner = { sub: 'u-owner', org_id: 'org-1', org_role: 'owner', workspace_roles: {} };
  pool.push({ token: await sign(owner, new TextEncoder().encode('another-secret-of-at-least-32-bytes-long')), problem: 'a token signed with another key' });
  pool.push({
    token: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(owner)).toString('base64url')}.`,
    problem: 'an unsigned token',
  });
  pool.push({ token: 'x.y.z', problem: 'a token that is not a JWT' });
  pool.push({ token: await new SignJWT(owner).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(1_000_000).sign(KEY), problem: 'an expired token' });
  return pool;
}

export async function startTarget(name: string, identity: 'headers' | 'jwt', overrides: Partial<Config>, tokens: PoolToken[]): Promise<Target> {
  const sidecar = await testSidecar({
    gatewayIdentity: identity,
    ...(identity === 'jwt' ? { gatewayJwtSecret: JWT_SECRET } : {}),
    bundleWatch: false,
    forwardAuthHeaders: 'envoy,original',
    ...overrides,
  });
  const server = createServer(sidecar.app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const grpcPort = await sidecar.grpc.listen('127.0.0.1', 0);
  const definition = protoLoader.loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
  const root = grpc.loadPackageDefinition(definition) as unknown as { envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } } };
  const client = new root.envoy.service.auth.v3.Authorization(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as unknown as Target['client'];
  const check = (definition['envoy.service.auth.v3.Authorization'] as grpc.ServiceDefinition).Check!;
  return {
    name,
    identity,
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    grpcPort,
    sidecar,
    server,
    tokens,
    client,
    serverSees: (request) => check.requestDeserialize(check.requestSerialize(request)),
  };
}

export async function stopTarget(target: Target): Promise<void> {
  target.client.close();
  target.server.closeAllConnections();
  await new Promise((resolve) => target.server.close(resolve));
  await target.sidecar.close();
}

export interface Answer {
  status: number;
  text: string;
}

export function send(agent: Agent, url: URL, c: Pick<HttpCase, 'method' | 'path' | 'headers' | 'body'>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: c.method, path: c.path, headers: c.headers, agent, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(c.body);
  });
}

export function check(target: Target, request: unknown): Promise<{ code: number; response?: CheckResponse }> {
  return new Promise((resolve) => {
    target.client.Check(request, { deadline: Date.now() + REQUEST_TIMEOUT_MS }, (error, response) =>
      resolve(error ? { code: error.code } : response ? { code: grpc.status.OK, response } : { code: grpc.status.OK }),
    );
  });
}

export const parse = (text: string): Record<string, any> | undefined => {
  try {
    return JSON.parse(text) as Record<string, any>;
  } catch {
    return undefined;
  }
};

/** Invariant violations of one HTTP answer. */
export function judgeHttp(c: HttpCase, answer: Answer): string[] {
  const found: string[] = [];
  if (answer.status >= 500) found.push('no 5xx');
  if (answer.status !== 200) return found;
  const { judge } = c;
  if (judge.kind === 'gateway' && c.malformed) found.push(`no allow for a malformed request (${c.malformed})`);
  if (judge.kind === 'decision' && c.malformed) {
    const body = parse(answer.text);
    const allowed = judge.result === 'allow' ? body?.result === true : judge.result === 'decision' ? body?.result?.allow === true : body?.allow === true;
    if (allowed) found.push(`no allow for a malformed request (${c.malformed})`);
  }
  if (judge.kind === 'batch') {
    const responses = parse(answer.text)?.responses as Record<string, { result?: any }> | undefined;
    for (const [key, problem] of Object.entries(judge.malformed)) {
      const result = responses && Object.getOwnPropertyDescriptor(responses, key)?.value?.result;
      if (result === true || result?.allow === true) found.push(`no allow for a malformed batch input (${JSON.stringify(key.slice(0, 40))}: ${problem})`);
    }
  }
  return found;
}

export function describe(c: Case): string {
  const text =
    c.transport === 'grpc'
      ? `gRPC Check ${JSON.stringify(c.request)}`
      : `${c.method} ${c.path} headers ${JSON.stringify(c.headers)}${c.body === undefined ? '' : ` body ${JSON.stringify(c.body)}`}`;
  return text.length > 600 ? `${text.slice(0, 600)}… (${text.length} chars)` : text;
}

export interface FuzzOptions {
  requests: number;
  seed: number;
  concurrency?: number;
  /** Called every `progressEvery` requests. */
  progress?: (done: number) => void;
}

export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = performance.now();
  const redis = await RedisServer.start();
  const tokens = await tokenPool(options.seed);
  const targets = [
    await startTarget('memory, trusted headers', 'headers', {}, tokens),
    await startTarget('redis, HS256 tokens', 'jwt', { redisUrl: redis.url, auditFlushMs: 10 }, tokens),
  ];
  // The workspaces of the grammar, as the example settings register them for the memory store.
  for (const target of targets) await registerWorkspaces(target.sidecar, WORKSPACES);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const report: FuzzReport = { requests: 0, perApi: {}, msPerApi: {}, statuses: {}, closed: 0, violations: [], seconds: 0 };
  const violation = (c: Case, target: Target, invariant: string, status: string, answer: string) =>
    report.violations.push({ api: c.api, target: target.name, invariant, status, input: describe(c), answer: answer.slice(0, 300) });
  try {
    const rng = random(options.seed);
    let issued = 0;
    const worker = async () => {
      while (issued < options.requests) {
        issued++;
        const target = rng.pick(targets);
        const api = rng.pick(APIS);
        const c = generate(api, { rng, identity: target.identity, tokens: target.tokens });
        report.perApi[api] = (report.perApi[api] ?? 0) + 1;
        const sent = performance.now();
        if (c.transport === 'grpc') {
          const seen = target.serverSees(c.request) as GrpcCase['request'];
          const http = seen.attributes.request.http;
          const headers: Record<string, string | string[]> = {};
          for (const { key, value } of [...http.headers, ...(http.headerMap?.headers ?? [])]) {
            const name = key.toLowerCase();
            const previous = headers[name];
            headers[name] = previous === undefined ? value : [previous, value].flat();
          }
          const malformed = gatewayProblem(c.original, headers, target.tokens);
          const { code, response } = await check(target, c.request);
          const status = code === grpc.status.OK ? `OK/${response?.status?.code ?? 0}` : (grpc.status[code] ?? String(code));
          report.statuses[`grpc ${status}`] = (report.statuses[`grpc ${status}`] ?? 0) + 1;
          if (code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN || code === grpc.status.DEADLINE_EXCEEDED)
            violation(c, target, 'no gRPC INTERNAL/UNKNOWN/no answer', status, '');
          if (code === grpc.status.OK && response?.httpResponse === 'okResponse' && malformed)
            violation(c, target, `no allow for a malformed request (${malformed})`, status, '');
        } else {
          let answer: Answer;
          try {
            answer = await send(agent, target.url, c);
          } catch (error) {
            // The server may close a connection after refusing an oversized head; only a server that then stops answering is a failure.
            const health = await send(agent, target.url, { method: 'GET', path: '/health', headers: {} }).catch(() => undefined);
            if (health?.status === 200) report.closed++;
            else violation(c, target, 'an answer for every request', 'none', String(error));
            continue;
          }
          report.statuses[answer.status] = (report.statuses[answer.status] ?? 0) + 1;
          for (const invariant of judgeHttp(c, answer)) violation(c, target, invariant, String(answer.status), answer.text);
        }
        report.msPerApi[api] = (report.msPerApi[api] ?? 0) + performance.now() - sent;
        report.requests++;
        if (options.progress && report.requests % 10_000 === 0) options.progress(report.requests);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
    for (const target of targets) await finalChecks(target, agent, report);
  } finally {
    agent.destroy();
    for (const target of targets) await stopTarget(target);
    await redis.stop();
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

/** After the storm: ordinary decisions are answered correctly on every API, and /health/ready is 200. */
async function finalChecks(target: Target, agent: Agent, report: FuzzReport): Promise<void> {
  const fail = (invariant: string, status: string, input: string, answer: string) =>
    report.violations.push({ api: 'authorize', target: target.name, invariant, status, input, answer: answer.slice(0, 300) });
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  // org-check is in no dictionary: the fuzzer never changed its settings. Registering its
  // workspace may be a 404 on a sidecar without the workspace directory.
  await send(agent, target.url, {
    method: 'PUT',
    path: '/v1/orgs/org-check/workspaces/ws-check',
    headers: { ...admin, 'content-type': 'application/json' },
    body: '{}',
  }).catch(() => undefined);
  const cases: Array<[string, unknown, boolean, string]> = [
    [
      'owner',
      {
        principal: { id: 'u-1', orgId: 'org-check', orgRole: 'owner' },
        action: 'delete',
        resource: { type: 'mcp_server', orgId: 'org-check', workspaceId: 'ws-check' },
      },
      true,
      'org_admin',
    ],
    [
      'manager',
      {
        principal: { id: 'u-2', orgId: 'org-check', orgRole: 'member', workspaceRoles: { 'ws-check': 'manager' } },
        action: 'create',
        resource: { type: 'integration', orgId: 'org-check', workspaceId: 'ws-check' },
      },
      true,
      'manager_write_enabled',
    ],
    [
      'member',
      {
        principal: { id: 'u-3', orgId: 'org-check', orgRole: 'member', workspaceRoles: { 'ws-check': 'member' } },
        action: 'update',
        resource: { type: 'mcp_server', orgId: 'org-check', workspaceId: 'ws-check' },
      },
      false,
      'read_only_role',
    ],
  ];
  for (const [who, input, allow, reason] of cases) {
    const body = JSON.stringify(input);
    const answer = await send(agent, target.url, { method: 'POST', path: '/v1/authorize', headers: {}, body }).catch((error: Error) => ({
      status: 0,
      text: error.message,
    }));
    const got = parse(answer.text);
    if (answer.status !== 200 || got?.allow !== allow || got?.reason !== reason)
      fail(`an ordinary decision (${who}) is answered ${allow ? 'allow' : 'deny'} ${reason}`, String(answer.status), body, answer.text);
  }
  const owner: Record<string, string> =
    target.identity === 'jwt'
      ? { authorization: `Bearer ${await sign({ sub: 'u-1', org_id: 'org-check', org_role: 'owner', workspace_roles: {} })}` }
      : { 'x-portkey-user-id': 'u-1', 'x-portkey-org-id': 'org-check', 'x-portkey-org-role': 'owner' };
  const headers = { ...owner, 'x-portkey-workspace-id': 'ws-check' };
  const http = await send(agent, target.url, { method: 'POST', path: '/ext_authz/v1/mcp-servers', headers }).catch((error: Error) => ({
    status: 0,
    text: error.message,
  }));
  if (http.status !== 200) fail('an ordinary gateway request (owner, HTTP) is allowed', String(http.status), JSON.stringify(headers), http.text);
  const grpcAnswer = await check(target, {
    attributes: {
      request: { http: { method: 'POST', path: '/v1/mcp-servers', headers: Object.entries(headers).map(([key, value]) => ({ key, value })), body: '' } },
    },
  });
  if (grpcAnswer.response?.httpResponse !== 'okResponse')
    fail(
      'an ordinary gateway request (owner, gRPC) is allowed',
      grpc.status[grpcAnswer.code] ?? String(grpcAnswer.code),
      JSON.stringify(headers),
      JSON.stringify(grpcAnswer.response ?? null),
    );
  const ready = await send(agent, target.url, { method: 'GET', path: '/health/ready', headers: {} }).catch((error: Error) => ({
    status: 0,
    text: error.message,
  }));
  if (ready.status !== 200) fail('/health/ready is 200', String(ready.status), 'GET /health/ready', ready.text);
}

/** Violations grouped by what failed, for a short summary. */
export function groups(violations: Violation[]): Array<{ key: string; count: number; example: Violation }> {
  const byKey = new Map<string, { key: string; count: number; example: Violation }>();
  for (const v of violations) {
    const key = `${v.api} | ${v.invariant.replace(/\(.*\)$/, '').trim()} | ${v.status} | ${parse(v.answer)?.code ?? ''}`;
    const group = byKey.get(key) ?? { key, count: 0, example: v };
    group.count++;
    byKey.set(key, group);
  }
  return [...byKey.values()].sort((a, b) => b.count - a.count);
}
