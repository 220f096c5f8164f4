// Hostile input over a real socket: thousands of generated malformed bodies, paths and
// headers sent to every endpoint. Zero 5xx, zero crashes (no unhandled error logged, the
// process still answers), zero allows for malformed input; __proto__ / constructor keys
// change nothing; the head size, JSON depth and time limits hold.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createLimitedServer } from '../../src/http/limits.ts';
import { createSidecar, type Sidecar } from '../../src/sidecar.ts';
import { random } from '../support/random.ts';
import { ADMIN_TOKEN, decisionRequest, testConfig } from '../support/sidecar.ts';

const LIMITS = { maxHeaderBytes: 8_192, requestTimeoutMs: 1_500, headersTimeoutMs: 1_000 };
let sidecar: Sidecar;
let server: Server;
let port: number;
const errorLogs: string[] = [];

before(async () => {
  // Error-level log lines are kept: an unhandled error is a crash the client did not see.
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      errorLogs.push(chunk.toString());
      done();
    },
  });
  const config = testConfig({ ...LIMITS, bundleWatch: false, grpcPort: 0 });
  sidecar = await createSidecar(config, pino({ level: 'error' }, sink));
  server = createLimitedServer(sidecar.app, config).listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.closeAllConnections();
  server.close();
  await sidecar.close();
});

const rng = random(Number(process.env.FUZZ_SEED ?? 20240601));

const junkValues = (): unknown[] => [
  null,
  true,
  0,
  -1,
  1e308,
  '',
  ' ',
  'x'.repeat(300),
  '\u0000',
  '\ud800',
  [],
  [1, 2],
  {},
  { a: 1 },
  { __proto__: { allow: true } },
  'owner',
  'admin',
  'ws-1',
  'create',
  NaN,
];

/** A decision request that is malformed in one generated way. */
function malformedDecision(): unknown {
  const body = JSON.parse(JSON.stringify(decisionRequest({ orgRole: rng.pick(['owner', 'admin', 'member']) }))) as Record<string, any>;
  const paths = [
    ['principal'],
    ['principal', 'id'],
    ['principal', 'orgId'],
    ['principal', 'orgRole'],
    ['principal', 'workspaceRoles'],
    ['principal', 'workspaceRoles', 'ws-1'],
    ['action'],
    ['resource'],
    ['resource', 'type'],
    ['resource', 'orgId'],
    ['resource', 'workspaceId'],
  ];
  const path = rng.pick(paths);
  const parent = path.slice(0, -1).reduce((o, k) => o[k], body);
  const key = path.at(-1)!;
  const valid = parent[key];
  const replacement = rng.int(4) === 0 ? undefined : rng.pick(junkValues().filter((v) => JSON.stringify(v) !== JSON.stringify(valid) && typeof v !== 'object'));
  if (replacement === undefined) delete parent[key];
  else parent[key] = replacement;
  // Some swaps leave a valid request (another role, another org's id, no workspace
  // roles): make those invalid.
  const validEnum = ['owner', 'admin', 'member', 'manager', 'create', 'read', 'update', 'delete'].includes(replacement as string);
  const validId = ['id', 'orgId', 'workspaceId'].includes(key) && typeof replacement === 'string' && replacement.length > 0 && replacement.length <= 256;
  const optional = ['workspaceRoles', 'ws-1'].includes(key) && (replacement === undefined || typeof replacement === 'object');
  if (validEnum || validId || optional) parent[key] = 42;
  return rng.int(3) === 0 ? [body] : body;
}

function rawJunk(): string {
  const kinds = [
    () => '',
    () => '{',
    () => '{"principal":',
    () => JSON.stringify(decisionRequest()).slice(0, rng.int(120)),
    () => '['.repeat(5_000) + ']'.repeat(5_000),
    () => '{"a":'.repeat(2_000) + '1' + '}'.repeat(2_000),
    () => Array.from({ length: 200 }, () => String.fromCharCode(rng.int(0x10000))).join(''),
    () => '"' + 'x'.repeat(70_000) + '"',
    () => 'null',
    () => '12345',
    () => '\u00ff\u00fe{}',
  ];
  return rng.pick(kinds)();
}

const DECISION_PATHS = ['/v1/authorize', '/v1/data/portkey/authz/allow', '/v1/data/portkey/authz/decision'];
const OTHER_PATHS = [
  '/v1/batch/data/portkey/authz/allow',
  '/v1/orgs/org-1/settings/integration-access',
  '/v1/orgs/org-1/workspaces/ws-1/settings/integration-access',
  '/health',
  '/health/ready',
  '/v1/status',
  '/metrics',
  '/v1/audit/decisions',
  '/v1/audit/decisions?limit=-1&cursor=%ff',
  '/ext_authz/v1/x',
  '/v1/data/',
  '/v1/data/%00',
  '/v1/data/portkey/authz/../../x',
  '//v1//authorize',
  '/v1/orgs/%2e%2e/settings/integration-access',
  `/v1/orgs/${'o'.repeat(3000)}/settings/integration-access`,
  '/v1/authorize?__proto__[allow]=true',
  '/%ff%fe',
  '/v1/audit/decisions?from=yesterday&allow=maybe',
];

interface Sent {
  method: string;
  path: string;
  body: string | undefined;
  headers: Record<string, string>;
  malformedDecision: boolean;
}

function generate(): Sent {
  const method = rng.pick(['POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
  const decision = rng.int(2) === 0;
  const path = decision ? rng.pick(DECISION_PATHS) : rng.pick(OTHER_PATHS);
  const headers: Record<string, string> = {};
  if (rng.int(2))
    headers['content-type'] = rng.pick([
      'application/json',
      'text/plain',
      'application/json; charset=utf-16',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      '',
    ]);
  if (rng.int(4) === 0)
    headers.authorization = rng.pick([`Bearer ${ADMIN_TOKEN}`, 'Bearer ', 'Basic Zm9vOmJhcg==', `Bearer ${ADMIN_TOKEN}x`, 'Bearer ' + 'a'.repeat(4000)]);
  if (rng.int(8) === 0) headers['content-encoding'] = rng.pick(['gzip', 'deflate', 'br', 'identity', 'bogus']);
  if (rng.int(8) === 0) headers['x-portkey-user-id'] = rng.pick(['', 'u-1', '\u00e9']);
  let body: string | undefined;
  let malformed = false;
  if (method !== 'GET' && method !== 'OPTIONS') {
    if (rng.int(2) === 0) {
      const input = malformedDecision();
      malformed = decision;
      body = JSON.stringify(path.startsWith('/v1/data') ? { input } : input);
    } else {
      body = rawJunk();
      malformed = decision;
    }
  }
  return { method, path, body, headers, malformedDecision: malformed && method === 'POST' };
}

test('thousands of malformed requests to every endpoint: no 5xx, no crash, no allow', async (t) => {
  const total = 3_000;
  const statuses = new Map<number, number>();
  const problems: string[] = [];
  let i = 0;
  const worker = async () => {
    while (i < total) {
      i++;
      const sent = generate();
      let status: number;
      let text = '';
      try {
        const response = await fetch(`http://127.0.0.1:${port}${sent.path}`, { method: sent.method, headers: sent.headers, body: sent.body });
        status = response.status;
        text = await response.text();
      } catch (error) {
        problems.push(`${sent.method} ${sent.path}: request failed: ${String(error)}`);
        continue;
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status >= 500) problems.push(`${sent.method} ${sent.path} -> ${status} ${text.slice(0, 200)} body ${String(sent.body).slice(0, 200)}`);
      if (sent.malformedDecision && status === 200)
        problems.push(`${sent.method} ${sent.path} decided malformed input: ${text.slice(0, 200)} body ${String(sent.body).slice(0, 300)}`);
      if (/"allow":true|"result":true/.test(text) && sent.malformedDecision) problems.push(`allowed malformed input: ${String(sent.body).slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  for (const line of errorLogs.slice(0, 3)) t.diagnostic(line.slice(0, 500));
  t.diagnostic(`fuzz: ${total} requests; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; problems ${problems.length}`);
  assert.deepEqual(problems.slice(0, 10), []);
  assert.deepEqual(
    errorLogs.filter((line) => line.includes('unhandled')),
    [],
  );
  assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
});

test('__proto__ and constructor keys change nothing', async () => {
  const plain = decisionRequest({ workspaceRoles: { 'ws-1': 'member' } });
  const ask = async (body: string) =>
    (await fetch(`http://127.0.0.1:${port}/v1/authorize`, { method: 'POST', body })).json() as Promise<Record<string, unknown>>;
  const expected = await ask(JSON.stringify(plain));
  assert.equal(expected.allow, false);
  const hostile = [
    `{"__proto__":{"allow":true,"orgRole":"owner"},${JSON.stringify(plain).slice(1)}`,
    JSON.stringify({ ...plain, constructor: { prototype: { allow: true } } }),
    JSON.stringify({ ...plain, principal: { ...plain.principal, __proto__: null, constructor: 'owner' } }),
    JSON.stringify(plain).replace('"workspaceRoles":{', '"workspaceRoles":{"__proto__":"manager","constructor":"manager",'),
    JSON.stringify({ ...plain, settings: { org: { managersWriteMcpServers: true } } }),
  ];
  for (const body of hostile) {
    const answer = await ask(body);
    // Refused as an unknown field (400) or decided as the plain request: never allowed.
    assert.ok(answer.allow === false || answer.code === 'invalid_parameter', `${body}: ${JSON.stringify(answer)}`);
    assert.equal(({} as Record<string, unknown>).allow, undefined, 'Object.prototype untouched');
  }
  const batch = await fetch(`http://127.0.0.1:${port}/v1/batch/data/portkey/authz/allow`, {
    method: 'POST',
    body: `{"common_input":{"__proto__":{"action":"read"}},"inputs":{"__proto__":${JSON.stringify(plain)},"a":${JSON.stringify(plain)}}}`,
  });
  assert.ok(batch.status < 500);
  assert.equal(({} as Record<string, unknown>).action, undefined);
});

test('limits: JSON depth, head size, body size, slow clients', async () => {
  const deep = '{"input":' + '['.repeat(100) + ']'.repeat(100) + '}';
  const tooDeep = await fetch(`http://127.0.0.1:${port}/v1/data/portkey/authz/allow`, { method: 'POST', body: deep });
  assert.equal(tooDeep.status, 400);
  assert.match(await tooDeep.text(), /nested deeper than 32/);

  const bigHead = await rawRequest(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(LIMITS.maxHeaderBytes)}\r\n\r\n`);
  assert.match(bigHead, /^HTTP\/1\.1 431/);
  const bigBody = await fetch(`http://127.0.0.1:${port}/v1/authorize`, { method: 'POST', body: JSON.stringify({ pad: 'x'.repeat(70_000) }) });
  assert.equal(bigBody.status, 400);
  assert.equal(((await bigBody.json()) as { code: string }).code, 'request_too_large');
  const garbage = await rawRequest('\u0001\u0002 not http at all\r\n\r\n');
  assert.match(garbage, /^HTTP\/1\.1 400/);

  // A client that never finishes its head, or its body, is cut off.
  const started = performance.now();
  const slowHead = await rawRequest('POST /v1/authorize HTTP/1.1\r\nHost: x\r\n', { keepOpen: true });
  assert.ok(performance.now() - started < LIMITS.requestTimeoutMs + 2_000, 'slow head cut in time');
  assert.ok(slowHead === '' || /^HTTP\/1\.1 408/.test(slowHead), slowHead);
  const slowBody = await rawRequest('POST /v1/authorize HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"pr', { keepOpen: true });
  assert.ok(slowBody === '' || /^HTTP\/1\.1 (408|400)/.test(slowBody), slowBody);
  assert.ok(performance.now() - started < 2 * (LIMITS.requestTimeoutMs + 2_000), 'slow body cut in time');
});

/** Sends raw bytes; resolves with whatever came back when the server closes (or after 10 s). */
function rawRequest(data: string, options: { keepOpen?: boolean } = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(received);
    }, 10_000);
    socket.on('data', (chunk) => {
      received += chunk.toString();
      if (!options.keepOpen && /\r\n\r\n/.test(received)) socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.write(data);
  });
}
