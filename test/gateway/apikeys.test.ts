// API keys at the gateway, on every front (Envoy HTTP path form, the forward-auth header
// form nginx, Caddy and Traefik use, and Envoy gRPC Check): an unknown, rotated, revoked or
// malformed key, a key sent twice and a key beside a session are refused with a 401 and a
// reason, and no decision is made; a key is never in the log, the audit record or a header of
// the answer.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import request from 'supertest';
import { createSidecar, type Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN, registerWorkspaces, serve, testConfig } from '../support/sidecar.ts';
import { envoy, grpcCheck, grpcClient, nginx, type Answer, type CheckClient } from './clients.ts';
import { JWT_SECRET, PRINCIPALS, signToken, WORKSPACES } from './support.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };

let sidecar: Sidecar;
let served: { url: string; close(): Promise<void> };
let client: CheckClient;
let log = '';
const keys: Record<string, string> = {};
let bearer = '';

before(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      log += chunk.toString();
      done();
    },
  });
  const config = testConfig({ gatewayJwtSecret: JWT_SECRET, forwardAuthHeaders: 'envoy,original', logLevel: 'debug' });
  sidecar = await createSidecar(config, pino({ level: 'debug' }, sink));
  await registerWorkspaces(sidecar, WORKSPACES);
  served = await serve(sidecar, config);
  client = grpcClient(await sidecar.grpc.listen('127.0.0.1', 0));
  const register = async (body: object) => (await request(sidecar.app).post('/v1/orgs/org-1/api-keys').set(auth).send(body).expect(201)).body;
  keys.live = (await register({ type: 'workspace-service', workspaceId: 'ws-1', scopes: ['mcp_servers.create'] })).key;
  const revoked = await register({ type: 'organisation-service', scopes: ['mcp_servers.create'] });
  keys.revoked = revoked.key;
  await request(sidecar.app).delete(`/v1/orgs/org-1/api-keys/${revoked.apiKey.id}`).set(auth).expect(200);
  const rotated = await register({ type: 'organisation-service', scopes: ['mcp_servers.create'] });
  keys.rotated = rotated.key;
  await request(sidecar.app).post(`/v1/orgs/org-1/api-keys/${rotated.apiKey.id}/rotate`).set(auth).expect(200);
  bearer = `Bearer ${await signToken(PRINCIPALS.manager)}`;
});

after(async () => {
  client?.close();
  await served?.close();
});

/** The same original request through the three fronts: Envoy HTTP, forward auth (nginx's headers), gRPC. */
async function throughEveryFront(headers: [string, string][]): Promise<Record<string, { status: number; reason: string | null; decisionId: string | null }>> {
  const withWorkspace: [string, string][] = [['x-portkey-workspace-id', 'ws-1'], ...headers];
  const http = (answer: Answer) => ({ status: answer.status, reason: answer.reason, decisionId: answer.decisionId });
  const grpc = await grpcCheck(client, { method: 'POST', path: '/v1/mcp-servers', headers: withWorkspace });
  assert.equal(grpc.grpcError, null);
  const g = grpc as Extract<typeof grpc, { grpcError: null }>;
  return {
    envoy: http(await envoy(served, 'POST', '/v1/mcp-servers', withWorkspace)),
    forwardAuth: http(await nginx(served, 'POST', '/v1/mcp-servers', withWorkspace)),
    // gRPC: 0 OK, 7 PERMISSION_DENIED and 16 UNAUTHENTICATED are what Envoy answers as 200, 403 and 401.
    grpc: { status: ({ 0: 200, 7: 403, 16: 401 } as Record<number, number>)[g.code] ?? g.code, reason: g.reason, decisionId: g.decisionId },
  };
}

describe('a refused API key is a 401 with a reason on every front, and never a decision', () => {
  const cases: [string, () => [string, string][], string][] = [
    ['an unknown key', () => [['x-portkey-api-key', `key-${'0'.repeat(24)}.${'A'.repeat(43)}`]], 'unknown_api_key'],
    ['a revoked key', () => [['x-portkey-api-key', keys.revoked!]], 'revoked_api_key'],
    ['a rotated-away key', () => [['x-portkey-api-key', keys.rotated!]], 'unknown_api_key'],
    ['a malformed key', () => [['x-portkey-api-key', 'sk-not-ours']], 'malformed_api_key'],
    ['an empty key header', () => [['x-portkey-api-key', '']], 'malformed_api_key'],
    ['a key wrapped in no-break spaces (only spaces and tabs are trimmed)', () => [['x-portkey-api-key', `\u00a0${keys.live!}\u00a0`]], 'malformed_api_key'],
    [
      'a key sent twice',
      () => [
        ['x-portkey-api-key', keys.live!],
        ['x-portkey-api-key', keys.live!],
      ],
      'duplicate_identity_header',
    ],
    [
      'a key beside a bearer token',
      () => [
        ['x-portkey-api-key', keys.live!],
        ['authorization', bearer],
      ],
      'ambiguous_identity',
    ],
    [
      'a key beside trusted identity headers',
      () => [
        ['x-portkey-api-key', keys.live!],
        ['x-portkey-user-id', 'u-1'],
      ],
      'ambiguous_identity',
    ],
  ];
  for (const [name, headers, reason] of cases) {
    test(`${name}: ${reason}`, async () => {
      for (const [front, answer] of Object.entries(await throughEveryFront(headers()))) {
        assert.deepEqual(answer, { status: 401, reason, decisionId: null }, front);
      }
    });
  }

  test('no decision was recorded for any of them, and no key is in the log, a record or an answer', async () => {
    await sidecar.audit.flush();
    const recorded = (await request(sidecar.app).get('/v1/audit/decisions?orgId=org-1').set(auth).expect(200)).body.decisions;
    assert.deepEqual(recorded, []);
    const changes = JSON.stringify((await request(sidecar.app).get('/v1/audit/settings-changes?orgId=org-1').set(auth).expect(200)).body);
    assert.ok(log.includes('gateway denied'), 'the refusals were logged');
    for (const key of Object.values(keys)) {
      const secret = key.split('.')[1]!;
      assert.ok(!log.includes(secret), 'the log has a key');
      assert.ok(!changes.includes(secret), 'a settings-change record has a key');
    }
  });
});

describe('the key principal reaches the decision', () => {
  test('a live key is resolved (not refused as a key) on every front', async () => {
    for (const [front, answer] of Object.entries(await throughEveryFront([['x-portkey-api-key', keys.live!]]))) {
      assert.ok(!['unknown_api_key', 'revoked_api_key', 'malformed_api_key', 'ambiguous_identity'].includes(answer.reason ?? ''), `${front}: ${answer.reason}`);
    }
    assert.ok(!log.includes(keys.live!.split('.')[1]!));
  });

  test('an identity header spelled with underscores (which CGI-style upstreams read as the dashed one) is refused', async () => {
    for (const headers of [
      [
        ['authorization', bearer],
        ['x_portkey_api_key', keys.live!],
      ],
      [
        ['x-portkey-api-key', keys.live!],
        ['x_portkey_org_id', 'org-2'],
      ],
    ] as [string, string][][]) {
      for (const [front, answer] of Object.entries(await throughEveryFront(headers)))
        assert.deepEqual([answer.status, answer.reason], [403, 'forbidden_header'], front);
    }
  });

  test('a scope no key principal may carry is refused at registration, not after', async () => {
    for (const scope of ['v2.read', `${'a'.repeat(64)}.${'b'.repeat(64)}`]) {
      const answer = await request(sidecar.app)
        .post('/v1/orgs/org-1/api-keys')
        .set(auth)
        .send({ type: 'workspace-service', workspaceId: 'ws-1', scopes: [scope] });
      assert.equal(answer.status, 400, scope);
      assert.match(JSON.stringify(answer.body), /scopes/);
    }
  });

  test("a workspace key's own workspace stands in for a missing one only where the sidecar sees every source the route reads", async () => {
    const key: [string, string] = ['x-portkey-api-key', keys.live!];
    // POST /v1/mcp-servers reads the workspace from a header, the query or the body. Forward
    // auth and a gRPC Check without the body cannot see a body naming another workspace.
    const unseen = [await nginx(served, 'POST', '/v1/mcp-servers', [key]), await envoy(served, 'POST', '/v1/mcp-servers', [key])];
    for (const answer of unseen) assert.deepEqual([answer.status, answer.reason], [403, 'missing_workspace_id']);
    const grpc = await grpcCheck(client, { method: 'POST', path: '/v1/mcp-servers', headers: [key] });
    assert.equal((grpc as { reason: string | null }).reason, 'missing_workspace_id');
    // With the body in view, the workspace it names is the one decided.
    const seen = await envoy(served, 'POST', '/v1/mcp-servers', [key, ['content-type', 'application/json']], JSON.stringify({ workspace_id: 'ws-2' }));
    assert.deepEqual([seen.status, seen.reason], [403, 'key_workspace_mismatch']);
    // A data-plane route reads the workspace from a header only: with none, the key's own is decided.
    const dataPlane = await nginx(served, 'POST', '/v1/chat/completions', [key]);
    assert.deepEqual([dataPlane.status, dataPlane.reason], [403, 'missing_scope']);
  });

  test('a client cannot send the visibility headers: they are the sidecar-only x-portcullis-* family', async () => {
    for (const name of [
      'x-portcullis-visibility',
      'x-portcullis-visible-user-id',
      'x-portcullis-visible-api-key-ids',
      'x_portcullis_visibility',
      'x-portcullis_visible-user-id',
    ]) {
      const answers = await throughEveryFront([
        ['x-portkey-api-key', keys.live!],
        [name, 'all'],
      ]);
      for (const [front, answer] of Object.entries(answers)) assert.deepEqual([answer.status, answer.reason], [403, 'forbidden_header'], `${front} ${name}`);
    }
  });
});
