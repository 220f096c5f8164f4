// Traefik's ForwardAuth in front of an upstream, with the sidecar deciding from the
// X-Forwarded-Method/-Uri/-Host/-Proto headers that Traefik sets itself
// (FORWARD_AUTH_HEADERS=forwarded). Traefik is the real binary (`make traefik`), configured
// by the file docs/forward-auth-traefik.md shows; nothing here imitates it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { JWT_SECRET, PRINCIPALS, signToken } from '../gateway/support.ts';
import { launchSidecar, stopProcess, type SidecarProcess } from '../support/launch.ts';
import { freePort } from '../support/redis.ts';

const TRAEFIK = process.env.TRAEFIK_BIN ?? '.cache/bin/traefik';
const ADMIN = 'traefik-test-admin-token-of-some-length';

let sidecar: SidecarProcess | undefined;
let traefik: ChildProcess | undefined;
let traefikOut = '';
let upstream: Server | undefined;
const reached: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
let entry: string;

/** The dynamic configuration docs/forward-auth-traefik.md documents, with this run's ports. */
function dynamicConfig(sidecarUrl: string, upstreamUrl: string): string {
  return `http:
  routers:
    api:
      rule: "PathPrefix(\`/v1/\`)"
      entryPoints: [web]
      middlewares: [portcullis]
      service: upstream
  middlewares:
    portcullis:
      forwardAuth:
        address: "${sidecarUrl}/ext_authz"
        # Traefik's own X-Forwarded-* replace whatever the client sent.
        trustForwardHeader: false
        # Only these client headers reach the sidecar: nothing else can pose as a gateway header.
        authRequestHeaders: [Authorization, X-Portkey-Workspace-Id, traceparent, tracestate]
        authResponseHeaders: [X-Portcullis-Principal, X-Portcullis-Decision-Id]
  services:
    upstream:
      loadBalancer:
        servers:
          - url: "${upstreamUrl}"
`;
}

before(async () => {
  upstream = createServer((req, res) => {
    reached.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"upstream": true}');
  }).listen(0, '127.0.0.1');
  await once(upstream, 'listening');

  sidecar = await launchSidecar({ GATEWAY_JWT_SECRET: JWT_SECRET, ADMIN_TOKEN: ADMIN, FORWARD_AUTH_HEADERS: 'forwarded' }, { readyPath: '/health/ready' });
  const registered = await fetch(`${sidecar.url}/v1/orgs/org-1/workspaces/ws-1`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN}` } });
  assert.ok(registered.ok, `register ws-1: ${registered.status}`);

  const port = await freePort();
  entry = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'traefik-'));
  const dynamic = join(dir, 'dynamic.yaml');
  writeFileSync(dynamic, dynamicConfig(sidecar.url, `http://127.0.0.1:${(upstream.address() as { port: number }).port}`));
  traefik = spawn(
    TRAEFIK,
    [`--entryPoints.web.address=127.0.0.1:${port}`, `--providers.file.filename=${dynamic}`, '--global.checkNewVersion=false', '--global.sendAnonymousUsage=false', '--log.level=INFO'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  traefik.stdout!.on('data', (chunk: Buffer) => (traefikOut += chunk.toString()));
  traefik.stderr!.on('data', (chunk: Buffer) => (traefikOut += chunk.toString()));
  // Ready once the router answers through the middleware (a 404 means the file is not loaded yet).
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await fetch(`${entry}/v1/mcp-servers`).then((r) => r.status, () => 0);
    if (status !== 0 && status !== 404) break;
    if (traefik.exitCode !== null || Date.now() > deadline) throw new Error(`traefik did not start:\n${traefikOut}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

after(async () => {
  if (traefik) await stopProcess(traefik);
  await sidecar?.stop();
  upstream?.close();
});

const through = async (method: string, path: string, headers: Record<string, string>) => {
  const seen = reached.length;
  const response = await fetch(`${entry}${path}`, { method, headers });
  return { status: response.status, reason: response.headers.get('x-portcullis-reason'), upstream: reached.slice(seen), body: await response.text() };
};

test('an owner\'s create passes to the upstream with the decision\'s headers; the method decided is the client\'s', async () => {
  const owner = `Bearer ${await signToken(PRINCIPALS.owner)}`;
  const answer = await through('POST', '/v1/mcp-servers', { authorization: owner, 'x-portkey-workspace-id': 'ws-1' });
  assert.equal(answer.status, 200, answer.body);
  assert.equal(answer.upstream.length, 1);
  assert.equal(answer.upstream[0]!.method, 'POST');
  assert.equal(answer.upstream[0]!.headers['x-portcullis-principal'], PRINCIPALS.owner.sub);
  assert.match(String(answer.upstream[0]!.headers['x-portcullis-decision-id']), /.+/);
});

test('a member\'s create is denied with the reason, and never reaches the upstream; a member\'s read passes', async () => {
  const member = `Bearer ${await signToken(PRINCIPALS.member)}`;
  const denied = await through('POST', '/v1/mcp-servers', { authorization: member, 'x-portkey-workspace-id': 'ws-1' });
  assert.equal(denied.status, 403);
  assert.equal(denied.reason, 'read_only_role');
  assert.equal(denied.upstream.length, 0);
  const read = await through('GET', '/v1/mcp-servers', { authorization: member, 'x-portkey-workspace-id': 'ws-1' });
  assert.equal(read.status, 200);
});

test('no token is a 401 from the sidecar, passed back by Traefik', async () => {
  const answer = await through('POST', '/v1/mcp-servers', { 'x-portkey-workspace-id': 'ws-1' });
  assert.equal(answer.status, 401);
  assert.equal(answer.upstream.length, 0);
});

test('a client cannot choose the method or path decided: its X-Forwarded-* are replaced and its X-Original-* never reach the sidecar', async () => {
  const member = `Bearer ${await signToken(PRINCIPALS.member)}`;
  const spoofed = await through('POST', '/v1/mcp-servers', {
    authorization: member,
    'x-portkey-workspace-id': 'ws-1',
    'x-forwarded-method': 'GET',
    'x-forwarded-uri': '/v1/mcp-servers',
    'x-original-method': 'GET',
    'x-original-uri': '/v1/mcp-servers',
  });
  assert.equal(spoofed.status, 403);
  assert.equal(spoofed.reason, 'read_only_role');
  assert.equal(spoofed.upstream.length, 0);
});
