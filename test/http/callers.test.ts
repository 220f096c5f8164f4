// Callers who must be known: decide-scope tokens on the decision APIs (Bearer) and the
// gateway endpoints (x-portcullis-caller-token, gRPC metadata), rate limits per caller,
// and the Origin and Host allow-lists. Real sockets, a real bundle; refused requests are
// neither decided nor recorded, and no token text reaches a log line or a record.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { pino } from 'pino';
import { ConfigError, loadConfig, type Config } from '../../src/config.ts';
import { Callers } from '../../src/access/callers.ts';
import { AdminTokens } from '../../src/access/tokens.ts';
import { Metrics } from '../../src/metrics.ts';
import { createSidecar, type Sidecar } from '../../src/sidecar.ts';
import { JWT_SECRET, PRINCIPALS, signToken, WORKSPACES } from '../gateway/support.ts';
import { ADMIN_TOKEN, decisionRequest, serve, testConfig } from '../support/sidecar.ts';

const hex = (token: string) => createHash('sha256').update(token).digest('hex');
const DECIDER = 'decider-secret-5b1e7c9a3f';
const READER = 'reader-secret-0d2c4e6a8b';
const PROTO = 'src/gateway/envoy/ext_authz.proto';

interface Running {
  sidecar: Sidecar;
  url: string;
  port: number;
  grpcPort: number;
  logs: () => string;
  close(): Promise<void>;
}

let dir: string;
let tokensFile: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-callers-'));
  tokensFile = join(dir, 'tokens.yaml');
  await writeFile(
    tokensFile,
    `tokens:\n  - {name: decider, sha256: ${hex(DECIDER)}, scopes: [decide]}\n  - {name: reader, sha256: ${hex(READER)}, scopes: [settings:read]}\n`,
  );
});
after(() => rm(dir, { recursive: true, force: true }));

/** A sidecar with every log line kept (debug level), its workspaces registered, HTTP and gRPC on free ports. */
async function running(overrides: Partial<Config>): Promise<Running> {
  let logs = '';
  const sink = new Writable({ write: (chunk: Buffer, _e, done) => ((logs += chunk.toString()), done()) });
  const config = testConfig({ gatewayJwtSecret: JWT_SECRET, adminTokensFile: tokensFile, grpcPort: 0, ...overrides });
  const sidecar = await createSidecar(config, pino({ level: 'debug' }, sink));
  for (const [workspaceId, orgId] of Object.entries(WORKSPACES)) await sidecar.store.registerWorkspace(orgId, workspaceId);
  const served = await serve(sidecar, config);
  const grpcPort = await sidecar.grpc.listen('127.0.0.1', 0);
  return { sidecar, url: served.url, port: Number(new URL(served.url).port), grpcPort, logs: () => logs, close: served.close };
}

/** A raw HTTP request: node:http sends Host and Origin exactly as given. */
function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body = '',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode!, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const DECISION = JSON.stringify(decisionRequest({ orgRole: 'owner', workspaceRoles: {} }));
const authorize = (r: Running, headers: Record<string, string> = {}) =>
  send(r.port, 'POST', '/v1/authorize', { 'content-type': 'application/json', host: `127.0.0.1:${r.port}`, ...headers }, DECISION);

async function recordedCount(r: Running): Promise<number> {
  const res = await send(r.port, 'GET', '/v1/audit/decisions?orgId=org-1&limit=1000', { authorization: `Bearer ${ADMIN_TOKEN}`, host: `127.0.0.1:${r.port}` });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body.decisions as unknown[]).length;
}

async function refusals(r: Running, reason: string): Promise<number> {
  const metric = await r.sidecar.metrics.callerRefusals.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

type CheckClient = grpc.Client & { Check(request: unknown, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response: any) => void): void };
function grpcClient(port: number): CheckClient {
  const definition = protoLoader.loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
  const root = grpc.loadPackageDefinition(definition) as unknown as { envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } } };
  return new root.envoy.service.auth.v3.Authorization(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as CheckClient;
}
function grpcCheck(
  client: CheckClient,
  headers: Record<string, string>,
  metadata: Record<string, string> = {},
): Promise<{ code: number; httpStatus?: string; reason?: string; error?: number }> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.add(k, v);
  const request = {
    attributes: {
      request: {
        http: { method: 'POST', path: '/v1/mcp-servers?workspace_id=ws-1', headers: Object.entries(headers).map(([key, value]) => ({ key, value })) },
      },
    },
  };
  return new Promise((resolve) =>
    client.Check(request, md, (error, response) => {
      if (error) return resolve({ code: -1, error: error.code });
      const denied = response.deniedResponse;
      const answerHeaders = Object.fromEntries(((denied ?? response.okResponse)?.headers ?? []).map(({ header }: any) => [header.key, header.value]));
      resolve({ code: response.status.code, ...(denied ? { httpStatus: denied.status.code } : {}), reason: answerHeaders['x-portcullis-reason'] });
    }),
  );
}

describe('DECIDE_AUTH=required', () => {
  let r: Running;
  let owner: string;
  let client: CheckClient;
  before(async () => {
    r = await running({ decideAuth: 'required' });
    owner = await signToken(PRINCIPALS.owner);
    client = grpcClient(r.grpcPort);
  });
  after(async () => {
    client?.close();
    await r?.close();
  });

  test('/v1/authorize: no token 401 caller_token_missing, a wrong one 401 caller_token_invalid, one without decide 403; none of them decided or recorded', async () => {
    const before = await recordedCount(r);
    const missing = await authorize(r);
    assert.equal(missing.status, 401);
    assert.equal(missing.body.code, 'caller_token_missing');
    const wrong = await authorize(r, { authorization: 'Bearer not-a-token' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, 'caller_token_invalid');
    const reader = await authorize(r, { authorization: `Bearer ${READER}` });
    assert.equal(reader.status, 403);
    assert.equal(reader.body.code, 'insufficient_scope');
    assert.match(reader.body.message, /decide/);
    assert.equal(await recordedCount(r), before, 'a refused caller was recorded');
    assert.ok((await refusals(r, 'caller_token_missing')) >= 1);
  });

  test('a decide-scope token and ADMIN_TOKEN are answered, on /v1/authorize, the OPA data API and the batch API', async () => {
    for (const token of [DECIDER, ADMIN_TOKEN]) {
      const auth = { authorization: `Bearer ${token}`, host: `127.0.0.1:${r.port}` };
      const res = await authorize(r, auth);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.allow, true);
      const data = await send(r.port, 'POST', '/v1/data/portkey/authz/allow', auth, JSON.stringify({ input: JSON.parse(DECISION) }));
      assert.equal(data.status, 200);
      assert.equal(data.body.result, true);
      const batch = await send(r.port, 'POST', '/v1/batch/data/portkey/authz/allow', auth, JSON.stringify({ inputs: { a: JSON.parse(DECISION) } }));
      assert.equal(batch.status, 200);
    }
    for (const path of ['/v1/data/portkey/authz/allow', '/v1/batch/data/portkey/authz/allow', '/v1/permissions', '/v1/data/portkey/authz/permissions']) {
      const res = await send(r.port, 'POST', path, { host: `127.0.0.1:${r.port}` }, '{}');
      assert.equal(res.status, 401, path);
      assert.equal(res.body.code, 'caller_token_missing');
    }
  });

  test('/v1/status says so', async () => {
    const res = await send(r.port, 'GET', '/v1/status', { host: `127.0.0.1:${r.port}` });
    assert.equal(res.body.callers.decideAuth, 'required');
    assert.equal(res.body.callers.rateLimit, null);
  });

  test('nginx /ext_authz: without x-portcullis-caller-token denied 401; with it decided; sent twice denied; the token is never recorded or logged', async () => {
    const original = { authorization: `Bearer ${owner}`, 'x-original-method': 'POST', 'x-original-uri': '/v1/mcp-servers?workspace_id=ws-1' };
    const without = await send(r.port, 'GET', '/ext_authz', original);
    assert.equal(without.status, 401);
    assert.equal(without.headers['x-portcullis-reason'], 'caller_token_missing');
    const withToken = await send(r.port, 'GET', '/ext_authz', { ...original, 'x-portcullis-caller-token': DECIDER });
    assert.equal(withToken.status, 200, JSON.stringify(withToken.body));
    const recorded = await r.sidecar.audit.getDecision(withToken.headers['x-portcullis-decision-id'] as string);
    assert.ok(recorded, 'the allowed request is recorded');
    assert.doesNotMatch(JSON.stringify(recorded), /decider-secret|caller-token/);
    // Two copies: a client's appended to the gateway's.
    const twice = await send(r.port, 'GET', '/ext_authz', { ...original, 'x-portcullis-caller-token': [DECIDER, 'forged'] as unknown as string });
    assert.equal(twice.headers['x-portcullis-reason'], 'caller_token_invalid');
    assert.equal(twice.status, 401);
    for (const secret of [DECIDER, READER, ADMIN_TOKEN]) assert.ok(!r.logs().includes(secret), 'a token reached the log');
  });

  test('gRPC Check: a refused caller is a DENIED CheckResponse (401 in denied_response), never a gRPC error; the metadata token is decided', async () => {
    const headers = { authorization: `Bearer ${owner}`, ':method': 'POST', ':path': '/v1/mcp-servers?workspace_id=ws-1' };
    const refused = await grpcCheck(client, headers);
    assert.equal(refused.error, undefined, 'answered with a gRPC error');
    assert.notEqual(refused.code, 0);
    assert.equal(refused.httpStatus, 'Unauthorized');
    assert.equal(refused.reason, 'caller_token_missing');
    const wrong = await grpcCheck(client, headers, { 'x-portcullis-caller-token': 'forged' });
    assert.equal(wrong.httpStatus, 'Unauthorized');
    assert.equal(wrong.reason, 'caller_token_invalid');
    // A client's copy inside the original request authenticates nothing.
    const inRequest = await grpcCheck(client, { ...headers, 'x-portcullis-caller-token': DECIDER });
    assert.notEqual(inRequest.code, 0);
    const allowed = await grpcCheck(client, headers, { 'x-portcullis-caller-token': DECIDER });
    assert.equal(allowed.code, 0, JSON.stringify(allowed));
    assert.ok(!r.logs().includes(DECIDER));
  });
});

describe('rate limits', () => {
  let r: Running;
  let owner: string;
  before(async () => {
    r = await running({ decideAuth: 'required', rateLimitPerSecond: 1, rateLimitBurst: 3 });
    owner = await signToken(PRINCIPALS.owner);
  });
  after(() => r?.close());

  test('a caller beyond its burst gets 429 rate_limited with Retry-After; another caller (token) is not held up; refusals are counted', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, () => authorize(r, { authorization: `Bearer ${ADMIN_TOKEN}` })));
    const limited = answers.filter((a) => a.status === 429);
    assert.ok(limited.length >= 1, `statuses ${answers.map((a) => a.status)}`);
    assert.ok(answers.filter((a) => a.status === 200).length >= 3);
    for (const a of limited) {
      assert.equal(a.body.code, 'rate_limited');
      assert.ok(Number(a.headers['retry-after']) >= 1, `Retry-After ${a.headers['retry-after']}`);
    }
    const other = await authorize(r, { authorization: `Bearer ${DECIDER}` });
    assert.equal(other.status, 200);
    assert.ok((await refusals(r, 'rate_limited')) >= limited.length);
    const status = await send(r.port, 'GET', '/v1/status', { host: `127.0.0.1:${r.port}` });
    assert.deepEqual(status.body.callers.rateLimit, { perSecond: 1, burst: 3, maxCallers: 10_000 });
  });

  test('a gateway beyond its rate is a denial (reason rate_limited, Retry-After), not an error', async () => {
    const original = {
      authorization: `Bearer ${owner}`,
      'x-original-method': 'POST',
      'x-original-uri': '/v1/mcp-servers?workspace_id=ws-1',
      'x-portcullis-caller-token': DECIDER,
    };
    const answers = await Promise.all(Array.from({ length: 10 }, () => send(r.port, 'GET', '/ext_authz', original)));
    const limited = answers.filter((a) => a.headers['x-portcullis-reason'] === 'rate_limited');
    assert.ok(limited.length >= 1);
    for (const a of limited) {
      assert.equal(a.status, 429);
      assert.ok(Number(a.headers['retry-after']) >= 1);
    }
  });
});

describe('the limiter (a clock of its own)', () => {
  const config = { decideAuth: 'off', rateLimitPerSecond: 2, rateLimitBurst: 2, rateLimitMaxCallers: 2, allowedOrigins: '', allowedHosts: '' } as const;
  const limiter = (now: () => number) => new Callers({ config, tokens: new AdminTokens([]), metrics: new Metrics(), now });

  test('refills at its rate, with Retry-After the wait until the next request fits', () => {
    let now = 0;
    const callers = limiter(() => now);
    callers.admitBearer(undefined, 'a');
    callers.admitBearer(undefined, 'a');
    assert.throws(
      () => callers.admitBearer(undefined, 'a'),
      (e: any) => e.code === 'rate_limited' && e.retryAfterSeconds === 1,
    );
    now = 500;
    callers.admitBearer(undefined, 'a');
    assert.throws(() => callers.admitBearer(undefined, 'a'));
  });

  test('remembers at most rateLimitMaxCallers callers: new ones displace the least recently seen', () => {
    const callers = limiter(() => 0);
    for (const caller of ['a', 'a']) callers.admitBearer(undefined, caller);
    assert.throws(() => callers.admitBearer(undefined, 'a'));
    callers.admitBearer(undefined, 'b');
    callers.admitBearer(undefined, 'c');
    // "a" was forgotten: a full burst again.
    callers.admitBearer(undefined, 'a');
  });
});

describe('Origin and Host', () => {
  let r: Running;
  before(async () => {
    r = await running({ allowedOrigins: 'https://console.example.com', allowedHosts: 'localhost' });
  });
  after(() => r?.close());
  const host = () => `localhost:${r.port}`;

  test('a cross-origin text/plain POST (no preflight needed) is refused 403 origin_not_allowed, neither decided nor recorded', async () => {
    const before = await recordedCount2();
    const res = await send(r.port, 'POST', '/v1/authorize', { host: host(), origin: 'https://evil.example', 'content-type': 'text/plain' }, DECISION);
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'origin_not_allowed');
    const data = await send(
      r.port,
      'POST',
      '/v1/data/portkey/authz/allow',
      { host: host(), origin: 'null', 'content-type': 'text/plain' },
      JSON.stringify({ input: JSON.parse(DECISION) }),
    );
    assert.equal(data.status, 403);
    const permissions = await send(
      r.port,
      'POST',
      '/v1/permissions',
      { host: host(), origin: 'https://evil.example', 'content-type': 'text/plain' },
      JSON.stringify({ principal: JSON.parse(DECISION).principal }),
    );
    assert.equal(permissions.status, 403);
    assert.equal(permissions.body.code, 'origin_not_allowed');
    assert.equal(await recordedCount2(), before);
  });

  test('malformed and look-alike origins are refused 403, never a 5xx', async () => {
    for (const origin of [
      'http://[',
      'javascript:alert(1)',
      `http://${host()}.evil.example`,
      `http://evil.example/${host()}`,
      `ftp://${host()}`,
      'HTTPS://EVIL.EXAMPLE',
      ' ',
    ]) {
      const res = await send(r.port, 'POST', '/v1/authorize', { host: host(), origin }, DECISION);
      assert.equal(res.status, 403, `${JSON.stringify(origin)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'origin_not_allowed');
    }
    // Origins compare without regard to case, as browsers serialize them in lower case.
    assert.equal((await send(r.port, 'POST', '/v1/authorize', { host: host(), origin: 'HTTPS://Console.Example.com' }, DECISION)).status, 200);
  });

  async function recordedCount2(): Promise<number> {
    const res = await send(r.port, 'GET', '/v1/audit/decisions?orgId=org-1&limit=1000', { authorization: `Bearer ${ADMIN_TOKEN}`, host: host() });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return (res.body.decisions as unknown[]).length;
  }

  test("the sidecar's own origin (the console) and a listed origin are answered; no Origin at all is answered", async () => {
    for (const origin of [`http://${host()}`, 'https://console.example.com', undefined]) {
      const res = await send(r.port, 'POST', '/v1/authorize', { host: host(), ...(origin ? { origin } : {}) }, DECISION);
      assert.equal(res.status, 200, `${origin}: ${JSON.stringify(res.body)}`);
    }
  });

  test("the admin API refuses another site's page: the write is not made", async () => {
    const path = '/v1/orgs/org-1/settings/integration-access';
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const own = await send(r.port, 'PUT', path, { ...auth, host: host(), origin: `http://${host()}` }, JSON.stringify({ managersWriteMcpServers: false }));
    assert.equal(own.status, 200, JSON.stringify(own.body));
    const res = await send(r.port, 'PUT', path, { ...auth, host: host(), origin: 'https://evil.example' }, JSON.stringify({ managersWriteMcpServers: true }));
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'origin_not_allowed');
    const now = await send(r.port, 'GET', path, { ...auth, host: host() });
    assert.equal(now.status, 200);
    assert.equal(JSON.stringify(now.body), JSON.stringify(own.body), 'the refused write changed the settings');
  });

  test('a Host not in ALLOWED_HOSTS is refused 403 host_not_allowed; health probes answer under any host', async () => {
    const res = await authorize(r, { host: `127.0.0.1:${r.port}` });
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'host_not_allowed');
    const admin = await send(r.port, 'GET', '/v1/orgs/org-1/workspaces', { authorization: `Bearer ${ADMIN_TOKEN}`, host: 'rebound.example' });
    assert.equal(admin.status, 403);
    assert.equal((await send(r.port, 'GET', '/health', { host: 'rebound.example' })).status, 200);
    assert.equal((await authorize(r, { host: host() })).status, 200);
  });
});

test('bad caller settings stop the sidecar at start, naming the setting', () => {
  const build = (over: Partial<Config>) => new Callers({ config: { ...testConfig(), ...over }, tokens: new AdminTokens([]), metrics: new Metrics() });
  assert.throws(
    () => build({ allowedOrigins: 'console.example.com' }),
    (e) => e instanceof ConfigError && /ALLOWED_ORIGINS/.test(e.message),
  );
  assert.throws(
    () => build({ allowedOrigins: 'https://console.example.com/path' }),
    (e) => e instanceof ConfigError && /scheme:\/\/host/.test(e.message),
  );
  assert.throws(
    () => loadConfig({ ADMIN_TOKEN, DECIDE_AUTH: 'maybe' }),
    (e) => e instanceof ConfigError && /DECIDE_AUTH/.test(e.message),
  );
});
