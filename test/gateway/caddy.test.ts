// End to end through a real Caddy (the pinned build, make caddy): client -> Caddy
// forward_auth (examples/Caddyfile, ports rewritten) -> Portcullis with
// FORWARD_AUTH_HEADERS=forwarded (real Redis) -> a small upstream that records what reaches
// it. Caddy asks with GET and sets X-Forwarded-Method/-Uri itself, passing every other
// client header through: the spoofs below are what a client can add.
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { FORBIDDEN_BODY } from '../../src/gateway/gateway.ts';
import { freePort, RedisServer } from '../support/redis.ts';
import {
  listeningSidecar,
  PRINCIPALS,
  recordingUpstream,
  signToken,
  startGatewayProcess,
  type GatewayProcess,
  type RunningSidecar,
  type Seen,
  setMcpServers,
} from './support.ts';

const CADDY = process.env.CADDY_BIN ?? '.cache/bin/caddy';

let redis: RedisServer;
let sidecar: RunningSidecar;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
let home: string;
const caddies: GatewayProcess[] = [];
/** Caddy with the example as written, and with the Envoy path form (`uri /ext_authz{uri}`). */
let base: string;
let pathFormBase: string;
let seen: Seen[];
const tokens: Record<string, string> = {};

/** The example with its three addresses moved to free ports; `edit` changes it further. */
async function caddyfile(port: number, edit: (text: string) => string = (text) => text): Promise<string> {
  const example = await readFile('examples/Caddyfile', 'utf8');
  const replacements: [string, string][] = [
    ['forward_auth 127.0.0.1:8181 {', `forward_auth ${new URL(sidecar.url).host} {`],
    ['reverse_proxy 127.0.0.1:8080 {', `reverse_proxy 127.0.0.1:${upstream.port} {`],
    ['http://:8000 {', `http://:${port} {`],
  ];
  let text = example;
  for (const [from, to] of replacements) {
    assert.ok(text.includes(from), `examples/Caddyfile no longer has ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return edit(text);
}

async function startCaddy(name: string, config: string, port: number): Promise<string> {
  const file = join(home, `${name}.Caddyfile`);
  await writeFile(file, config);
  // Caddy keeps its data and config (and would keep certificates) under these: the temp dir.
  const env = { PATH: process.env.PATH, HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config') };
  caddies.push(await startGatewayProcess(CADDY, ['run', '--config', file, '--adapter', 'caddyfile'], port, { env, signal: 'SIGTERM' }));
  return `http://127.0.0.1:${port}`;
}

before(async () => {
  await access(CADDY).catch(() => assert.fail(`${CADDY} is missing: make caddy builds it (the pinned version in tools/caddy/go.mod)`));
  redis = await RedisServer.start();
  sidecar = await listeningSidecar({ redisUrl: redis.url, forwardAuthHeaders: 'forwarded' });
  upstream = await recordingUpstream();
  seen = upstream.seen;
  home = await mkdtemp(join(tmpdir(), 'portcullis-caddy-'));

  const port = await freePort();
  base = await startCaddy('example', await caddyfile(port), port);
  const pathFormPort = await freePort();
  const pathForm = await caddyfile(pathFormPort, (text) => {
    assert.ok(text.includes('uri /ext_authz\n'));
    return text.replace('uri /ext_authz\n', 'uri /ext_authz{uri}\n');
  });
  pathFormBase = await startCaddy('path-form', pathForm, pathFormPort);

  for (const [name, claims] of Object.entries(PRINCIPALS)) tokens[name] = `Bearer ${await signToken(claims)}`;
});

after(async () => {
  await Promise.all(caddies.map((caddy) => caddy.stop()));
  await upstream?.close();
  await sidecar?.close();
  await redis?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

beforeEach(() => void upstream?.seen.splice(0));

function send(at: string, method: string, path: string, who: string | undefined, extra: Record<string, string> = {}): Promise<Response> {
  return fetch(`${at}${path}`, {
    method,
    headers: { 'x-portkey-workspace-id': 'ws-1', ...(who ? { authorization: tokens[who]! } : {}), ...extra },
    ...(method === 'POST' ? { body: JSON.stringify({ name: 'github' }) } : {}),
  });
}

async function recorded(res: Response) {
  await sidecar.sidecar.audit.flush();
  return sidecar.sidecar.audit.getDecision(res.headers.get('x-portcullis-decision-id')!);
}

async function assertRefused(res: Response, reason: string, what: string): Promise<void> {
  assert.equal(res.status, 403, what);
  assert.equal(res.headers.get('x-portcullis-reason'), reason, what);
  assert.equal(await res.text(), FORBIDDEN_BODY, what);
}

describe('client -> Caddy forward_auth (examples/Caddyfile) -> Portcullis -> upstream', () => {
  test('allowed: the write reaches the upstream with the decision id and principal Caddy copied from the answer', async () => {
    await setMcpServers(sidecar.url, true);
    const res = await send(base, 'POST', '/v1/mcp-servers', 'manager');
    assert.equal(res.status, 201);
    assert.equal(seen.length, 1);
    assert.deepEqual([seen[0]!.method, seen[0]!.url], ['POST', '/v1/mcp-servers']);
    assert.match(String(seen[0]!.headers['x-portcullis-decision-id']), /^[0-9a-f-]{36}$/);
    assert.equal(seen[0]!.headers['x-portcullis-principal'], 'u-manager');
    await sidecar.sidecar.audit.flush();
    const decision = await sidecar.sidecar.audit.getDecision(String(seen[0]!.headers['x-portcullis-decision-id']));
    assert.equal(decision?.api, 'ext_authz_http');
    assert.equal(decision?.action, 'create');
  });

  test('denied: 403 with the AB03 body, the reason and decision id as Portcullis answered, and the upstream never sees it', async () => {
    await setMcpServers(sidecar.url, false);
    const res = await send(base, 'POST', '/v1/mcp-servers', 'manager');
    assert.equal(res.headers.get('x-portcullis-reason'), 'manager_write_disabled');
    const decision = await recorded(res);
    assert.deepEqual([decision?.allow, decision?.action, decision?.gatewayRequest?.method], [false, 'create', 'POST']);
    await assertRefused(res, 'manager_write_disabled', 'manager');
    assert.equal(seen.length, 0);
  });

  test('a member reads (query workspace id), and is denied the write; no token is 401', async () => {
    const read = await fetch(`${base}/v1/mcp-servers?workspace_id=ws-1`, { headers: { authorization: tokens.member! } });
    assert.equal(read.status, 201);
    assert.equal(seen[0]?.url, '/v1/mcp-servers?workspace_id=ws-1');
    await assertRefused(await send(base, 'DELETE', '/v1/mcp-servers/s-1', 'member'), 'read_only_role', 'member delete');
    const anonymous = await send(base, 'POST', '/v1/mcp-servers', undefined);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('x-portcullis-reason'), 'missing_token');
    assert.equal(seen.length, 1);
  });

  test('the client adds X-Original-Method: GET and X-Original-URI naming a read to a POST or DELETE: forged_original_request, even for the owner', async () => {
    await setMcpServers(sidecar.url, true);
    const spoofs: Record<string, string>[] = [
      { 'X-Original-Method': 'GET', 'X-Original-URI': '/v1/mcp-servers?workspace_id=ws-1' },
      { 'x-original-method': 'GET' },
      { 'x-original-uri': '/v1/mcp-servers' },
    ];
    for (const who of ['member', 'owner']) {
      for (const spoof of spoofs) {
        for (const [method, path] of [
          ['POST', '/v1/mcp-servers'],
          ['DELETE', '/v1/mcp-servers/s-1'],
        ] as const) {
          await assertRefused(await send(base, method, path, who, spoof), 'forged_original_request', `${who} ${method} ${JSON.stringify(spoof)}`);
        }
      }
    }
    assert.equal(seen.length, 0);
  });

  test("the client sends X-Forwarded-Method/-Uri/-Host/-Proto: Caddy asks with its own, so the write is decided as the write, and the upstream gets none of the client's", async () => {
    await setMcpServers(sidecar.url, true);
    const spoof = {
      'X-Forwarded-Method': 'GET',
      'X-Forwarded-Uri': '/v1/mcp-servers?workspace_id=ws-1',
      'X-Forwarded-Host': 'evil.example',
      'X-Forwarded-Proto': 'gopher',
    };
    const denied = await send(base, 'POST', '/v1/mcp-servers', 'member', spoof);
    assert.equal(denied.headers.get('x-portcullis-reason'), 'read_only_role');
    const decision = await recorded(denied);
    assert.equal(decision?.gatewayRequest?.method, 'POST');
    assert.equal(decision?.gatewayRequest?.headers['x-forwarded-method'], 'POST');
    assert.equal(decision?.gatewayRequest?.headers['x-forwarded-uri'], '/v1/mcp-servers');
    assert.notEqual(decision?.gatewayRequest?.headers['x-forwarded-host'], 'evil.example');
    assert.equal(decision?.gatewayRequest?.headers['x-forwarded-proto'], 'http');
    await assertRefused(denied, 'read_only_role', 'member');
    assert.equal(seen.length, 0);

    const allowed = await send(base, 'DELETE', '/v1/mcp-servers/s-1', 'owner', spoof);
    assert.equal(allowed.status, 201);
    assert.equal(seen.length, 1);
    assert.deepEqual([seen[0]!.method, seen[0]!.url], ['DELETE', '/v1/mcp-servers/s-1']);
    assert.equal(seen[0]!.headers['x-forwarded-method'], undefined);
    assert.equal(seen[0]!.headers['x-forwarded-uri'], undefined);
    assert.notEqual(seen[0]!.headers['x-forwarded-host'], 'evil.example');
  });

  test('a client-sent X-Portcullis-* header is refused, so Caddy never copies it to the upstream beside the real one', async () => {
    await setMcpServers(sidecar.url, true);
    for (const name of ['X-Portcullis-Principal', 'X-Portcullis-Decision-Id']) {
      await assertRefused(await send(base, 'POST', '/v1/mcp-servers', 'owner', { [name]: 'spoofed' }), 'forbidden_header', name);
    }
    assert.equal(seen.length, 0);
  });

  test('a percent-encoded variant of a protected path is refused invalid_path, upstream untouched', async () => {
    await assertRefused(await send(base, 'POST', '/v1/mcp%2Dservers', 'owner'), 'invalid_path', '%2D');
    assert.equal(seen.length, 0);
  });
});

describe('Caddy with the Envoy path form (uri /ext_authz{uri}): Caddy asks with GET whatever the method', () => {
  test('FORWARD_AUTH_HEADERS=forwarded refuses the path form: a POST or DELETE is never decided as a read (ext_authz_form_refused, even for the owner), upstream untouched', async () => {
    await setMcpServers(sidecar.url, true);
    for (const who of ['member', 'owner']) {
      await assertRefused(await send(pathFormBase, 'POST', '/v1/mcp-servers', who), 'ext_authz_form_refused', `${who} POST`);
      await assertRefused(await send(pathFormBase, 'DELETE', '/v1/mcp-servers/s-1', who), 'ext_authz_form_refused', `${who} DELETE`);
    }
    assert.equal(seen.length, 0);
  });

  test("a GET through the path form is refused too: the form is not this deployment's", async () => {
    await assertRefused(
      await fetch(`${pathFormBase}/v1/mcp-servers?workspace_id=ws-1`, { headers: { authorization: tokens.member! } }),
      'ext_authz_form_refused',
      'GET',
    );
    assert.equal(seen.length, 0);
  });
});
