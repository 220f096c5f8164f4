// End to end through a real nginx: client -> nginx (examples/nginx.conf, ports
// rewritten) -> Portcullis (real Redis, admin API) -> a small upstream that records
// what reaches it. Tokens are real HS256 JWTs.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
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

let redis: RedisServer;
let sidecar: RunningSidecar;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
let nginx: GatewayProcess;
let prefix: string;
let base: string;
let seen: Seen[];
const tokens: Record<string, string> = {};

before(async () => {
  redis = await RedisServer.start();
  sidecar = await listeningSidecar({ redisUrl: redis.url });
  upstream = await recordingUpstream();
  seen = upstream.seen;

  const nginxPort = await freePort();
  prefix = await mkdtemp(join(tmpdir(), 'portcullis-nginx-'));
  const config = (await readFile('examples/nginx.conf', 'utf8'))
    .replace('server 127.0.0.1:8181;', `server ${new URL(sidecar.url).host};`)
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${upstream.port};`)
    .replace('listen 127.0.0.1:8000;', `listen 127.0.0.1:${nginxPort};`);
  await writeFile(join(prefix, 'nginx.conf'), config);
  // As root the workers would otherwise run as nobody, who cannot enter the private temp dir.
  const globals = `daemon off;${process.getuid?.() === 0 ? ' user root;' : ''}`;
  nginx = await startGatewayProcess('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', 'stderr', '-g', globals], nginxPort, { signal: 'SIGQUIT' });
  base = `http://127.0.0.1:${nginxPort}`;

  for (const [name, claims] of Object.entries(PRINCIPALS)) tokens[name] = `Bearer ${await signToken(claims)}`;
});

after(async () => {
  await nginx?.stop();
  await upstream?.close();
  await sidecar?.close();
  await redis?.stop();
  if (prefix) await rm(prefix, { recursive: true, force: true });
});

beforeEach(() => void upstream?.seen.splice(0));

const createServerAs = (who: string | undefined, extra: Record<string, string> = {}) =>
  fetch(`${base}/v1/mcp-servers`, {
    method: 'POST',
    headers: { 'x-portkey-workspace-id': 'ws-1', 'content-type': 'application/json', ...(who ? { authorization: tokens[who]! } : {}), ...extra },
    body: JSON.stringify({ name: 'github', url: 'https://mcp.example.com' }),
  });

describe('client -> nginx auth_request -> Portcullis -> upstream', () => {
  test('org turned managersWriteMcpServers off: the manager is blocked with 403, the decision id, and the upstream never sees it', async () => {
    await setMcpServers(sidecar.url, false);
    const res = await createServerAs('manager');
    assert.equal(res.status, 403);
    assert.equal(await res.text(), FORBIDDEN_BODY);
    assert.equal(res.headers.get('x-portcullis-reason'), 'manager_write_disabled');
    const decisionId = res.headers.get('x-portcullis-decision-id');
    assert.match(decisionId ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(seen.length, 0);

    await sidecar.sidecar.audit.flush();
    const audited = await sidecar.sidecar.audit.getDecision(decisionId!);
    assert.equal(audited?.api, 'ext_authz_http');
    assert.equal(audited?.allow, false);
    assert.equal(audited?.principal.id, 'u-manager');
  });

  test('org turned it on: the manager is allowed, and the upstream gets the decision id and principal', async () => {
    await setMcpServers(sidecar.url, true);
    const res = await createServerAs('manager');
    assert.equal(res.status, 201);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.method, 'POST');
    assert.equal(seen[0]!.url, '/v1/mcp-servers');
    assert.match(String(seen[0]!.headers['x-portcullis-decision-id']), /^[0-9a-f-]{36}$/);
    assert.equal(seen[0]!.headers['x-portcullis-principal'], 'u-manager');
  });

  for (const setting of [false, true]) {
    test(`the org owner is allowed with the setting ${setting ? 'on' : 'off'}`, async () => {
      await setMcpServers(sidecar.url, setting);
      const res = await createServerAs('owner');
      assert.equal(res.status, 201);
      assert.equal(seen.length, 1);
    });
  }

  test('a member is blocked even with the setting on', async () => {
    await setMcpServers(sidecar.url, true);
    const res = await createServerAs('member');
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('x-portcullis-reason'), 'read_only_role');
    assert.ok(res.headers.get('x-portcullis-decision-id'));
    assert.equal(seen.length, 0);
  });

  test('reads go through for a member; the workspace id may come from the query string', async () => {
    const res = await fetch(`${base}/v1/mcp-servers?workspace_id=ws-1`, { headers: { authorization: tokens.member! } });
    assert.equal(res.status, 201);
    assert.equal(seen[0]!.url, '/v1/mcp-servers?workspace_id=ws-1');
  });

  test('no token: 401 with the reason, upstream untouched', async () => {
    const res = await createServerAs(undefined);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('x-portcullis-reason'), 'missing_token');
    assert.equal((await res.json()).code, 'missing_token');
    assert.equal(seen.length, 0);
  });

  test('a client-sent x-portcullis-* header is refused (forbidden_header), not passed on next to the real one', async () => {
    await setMcpServers(sidecar.url, true);
    for (const name of ['x-portcullis-principal', 'x-portcullis-decision-id']) {
      const res = await createServerAs('manager', { [name]: 'spoofed' });
      assert.equal(res.status, 403, name);
      assert.equal(res.headers.get('x-portcullis-reason'), 'forbidden_header', name);
    }
    assert.equal(seen.length, 0);
  });

  test("a client's X-Original-Method/-URI are replaced by nginx's: a write described as a read is decided as the write", async () => {
    await setMcpServers(sidecar.url, true);
    for (const method of ['POST', 'DELETE']) {
      const path = method === 'POST' ? '/v1/mcp-servers' : '/v1/mcp-servers/s-1';
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: tokens.member!,
          'x-portkey-workspace-id': 'ws-1',
          'x-original-method': 'GET',
          'x-original-uri': '/v1/mcp-servers?workspace_id=ws-1',
        },
      });
      assert.equal(res.status, 403, method);
      assert.equal(res.headers.get('x-portcullis-reason'), 'read_only_role', method);
      await sidecar.sidecar.audit.flush();
      const recorded = await sidecar.sidecar.audit.getDecision(res.headers.get('x-portcullis-decision-id')!);
      assert.equal(recorded?.gatewayRequest?.method, method);
    }
    assert.equal(seen.length, 0);
  });

  test("a client's X-Forwarded-Method/-Uri (the other gateways' family) is refused forged_original_request, also for the owner", async () => {
    const spoofs: Record<string, string>[] = [
      { 'x-forwarded-method': 'GET' },
      { 'x-forwarded-uri': '/v1/mcp-servers?workspace_id=ws-1' },
      { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/v1/mcp-servers' },
    ];
    for (const spoof of spoofs) {
      const res = await createServerAs('owner', spoof);
      assert.equal(res.status, 403, JSON.stringify(spoof));
      assert.equal(res.headers.get('x-portcullis-reason'), 'forged_original_request');
      assert.equal(await res.text(), FORBIDDEN_BODY);
    }
    assert.equal(seen.length, 0);
    // The same request without them goes through: only the spoof was refused.
    assert.equal((await createServerAs('owner')).status, 201);
    assert.equal(seen.length, 1);
  });

  test('a case or percent-encoded variant of a protected path is refused, upstream untouched', async () => {
    for (const path of ['/v1/MCP-SERVERS', '/v1/mcp%2Dservers']) {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: tokens.owner!, 'x-portkey-workspace-id': 'ws-1' } });
      assert.equal(res.status, 403, path);
      assert.equal(res.headers.get('x-portcullis-reason'), 'invalid_path', path);
    }
    assert.equal(seen.length, 0);
  });

  test('an unknown route is denied, upstream untouched', async () => {
    const res = await fetch(`${base}/v1/secrets`, { method: 'POST', headers: { authorization: tokens.owner! } });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('x-portcullis-reason'), 'no_route');
    assert.equal(seen.length, 0);
  });

  test('oversized headers are refused by nginx before anyone is asked', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(base);
      const req = httpRequest(
        {
          hostname,
          port,
          method: 'POST',
          path: '/v1/mcp-servers',
          headers: { authorization: tokens.owner!, 'x-portkey-workspace-id': 'ws-1', 'x-padding': 'p'.repeat(20_000) },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.ok(status === 400 || status === 494 || status === 431, `status ${status}`);
    assert.equal(seen.length, 0);
  });
});
