// The HTTP ext_authz endpoint as Envoy (path_prefix) and nginx (X-Original-*) call it,
// against a sidecar with the in-memory store, settings changed through the admin API.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { FORBIDDEN_BODY } from '../../src/gateway/gateway.ts';
import { ADMIN_TOKEN } from '../support/sidecar.ts';
import { listeningSidecar, PRINCIPALS, signToken, type RunningSidecar } from './support.ts';

let tokens: Record<keyof typeof PRINCIPALS, string>;
before(async () => {
  tokens = {
    manager: await signToken(PRINCIPALS.manager),
    member: await signToken(PRINCIPALS.member),
    owner: await signToken(PRINCIPALS.owner),
  };
});

async function setMcpServers(sidecar: RunningSidecar, value: boolean): Promise<void> {
  const res = await fetch(`${sidecar.url}/v1/orgs/org-1/settings/integration-access`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ managersWriteMcpServers: value }),
  });
  assert.equal(res.status, 200);
}

function envoy(sidecar: RunningSidecar, method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  return fetch(`${sidecar.url}/ext_authz${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
}

const reasonOf = (res: Response) => res.headers.get('x-portcullis-reason');

/** Like `envoy`, but the path is sent byte for byte (fetch would resolve dot segments first). */
function raw(sidecar: RunningSidecar, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Response> {
  const { hostname, port } = new URL(sidecar.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, method, path: `/ext_authz${path}`, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const out = new Headers();
        for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') out.set(name, value);
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode!, headers: out }));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('Envoy HTTP ext_authz and nginx auth_request', () => {
  let sidecar: RunningSidecar;
  before(async () => (sidecar = await listeningSidecar({ forwardAuthHeaders: 'envoy,original' })));
  after(() => sidecar.close());

  test('a manager may create an MCP server while the org allows it: 200 with the decision id and principal for the upstream', async () => {
    await setMcpServers(sidecar, true);
    const res = await envoy(sidecar, 'POST', '/v1/mcp-servers', { authorization: `Bearer ${tokens.manager}`, 'x-portkey-workspace-id': 'ws-1' });
    assert.equal(res.status, 200);
    assert.equal(reasonOf(res), 'manager_write_enabled');
    assert.match(res.headers.get('x-portcullis-decision-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get('x-portcullis-principal'), 'u-manager');
    assert.equal(await res.text(), '');
  });

  test('denied once the org turns managersWriteMcpServers off: 403 in the control plane style, decision id and reason in headers', async () => {
    await setMcpServers(sidecar, false);
    const res = await envoy(sidecar, 'POST', '/v1/mcp-servers?workspace_id=ws-1', { authorization: `Bearer ${tokens.manager}` });
    assert.equal(res.status, 403);
    assert.equal(reasonOf(res), 'manager_write_disabled');
    assert.match(res.headers.get('x-portcullis-decision-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(await res.text(), FORBIDDEN_BODY);
    const audited = await sidecar.sidecar.audit.getDecision(res.headers.get('x-portcullis-decision-id')!);
    assert.equal(audited?.api, 'ext_authz_http');
    assert.equal(audited?.action, 'create');
    assert.equal(audited?.resource.type, 'mcp_server');
    // The original request: method, path without the query, the route that matched, the client.
    assert.equal(audited?.gatewayRequest?.method, 'POST');
    assert.equal(audited?.gatewayRequest?.path, '/v1/mcp-servers');
    assert.equal(audited?.gatewayRequest?.route, '/v1/mcp-servers');
    assert.match(audited?.requestedBy ?? '', /^127\.0\.0\.1:\d+$/);
  });

  test('the owner is allowed and the member denied whatever the setting', async () => {
    await setMcpServers(sidecar, false);
    const owner = await envoy(sidecar, 'DELETE', '/v1/mcp-servers/s-1', { authorization: `Bearer ${tokens.owner}`, 'x-portkey-workspace-id': 'ws-1' });
    assert.equal(owner.status, 200);
    assert.equal(reasonOf(owner), 'org_admin');
    const member = await envoy(sidecar, 'PATCH', '/v1/mcp-servers/s-1', { authorization: `Bearer ${tokens.member}`, 'x-portkey-workspace-id': 'ws-1' });
    assert.equal(member.status, 403);
    assert.equal(reasonOf(member), 'read_only_role');
    const read = await envoy(sidecar, 'GET', '/v1/mcp-servers', { authorization: `Bearer ${tokens.member}`, 'x-portkey-workspace-id': 'ws-1' });
    assert.equal(read.status, 200);
  });

  test('the workspace id from a JSON body field (Envoy with_request_body)', async () => {
    await setMcpServers(sidecar, false);
    const res = await envoy(
      sidecar,
      'POST',
      '/v1/mcp-servers',
      { authorization: `Bearer ${tokens.manager}`, 'content-type': 'application/json' },
      JSON.stringify({ workspace_id: 'ws-1', name: 'x' }),
    );
    assert.equal(res.status, 403);
    assert.equal(reasonOf(res), 'manager_write_disabled');
  });

  test('nginx: a bodiless GET to /ext_authz describing the original request in X-Original-Method / X-Original-URI', async () => {
    await setMcpServers(sidecar, false);
    const res = await fetch(`${sidecar.url}/ext_authz`, {
      headers: { authorization: `Bearer ${tokens.manager}`, 'x-original-method': 'POST', 'x-original-uri': '/v1/mcp-servers?workspace_id=ws-1' },
    });
    assert.equal(res.status, 403);
    assert.equal(reasonOf(res), 'manager_write_disabled');
  });

  test('the recorded request keeps no credential: not in a query string, not under a header name nobody listed', async () => {
    const res = await fetch(`${sidecar.url}/ext_authz`, {
      headers: {
        authorization: `Bearer ${tokens.owner}`,
        'x-original-method': 'POST',
        'x-original-uri': '/v1/mcp-servers?workspace_id=ws-1&api_key=QS-SECRET-1',
        referer: 'https://app.example/?token=REF-SECRET-2',
        'x-amz-security-tk': 'HDR-SECRET-3',
        'x-request-id': 'req-9',
      },
    });
    const recorded = await sidecar.sidecar.audit.getDecision(res.headers.get('x-portcullis-decision-id')!);
    assert.ok(recorded?.gatewayRequest, 'recorded with its request');
    assert.doesNotMatch(JSON.stringify(recorded), /SECRET/);
    assert.equal(recorded.gatewayRequest.headers['x-original-uri'], '/v1/mcp-servers');
    assert.equal(recorded.gatewayRequest.headers['x-request-id'], 'req-9');
  });

  test('nginx form without X-Original-*: 400 naming what is missing', async () => {
    const res = await fetch(`${sidecar.url}/ext_authz`, { headers: { authorization: `Bearer ${tokens.manager}` } });
    assert.equal(res.status, 400);
    assert.match((await res.json()).message, /x-original-method and x-original-uri/);
  });

  test('Envoy form: a client-sent X-Original-Method cannot describe a different request: refused, never decided as the read it names', async () => {
    await setMcpServers(sidecar, true);
    const res = await envoy(sidecar, 'POST', '/v1/mcp-servers', {
      authorization: `Bearer ${tokens.owner}`,
      'x-portkey-workspace-id': 'ws-1',
      'x-original-method': 'GET',
      'x-original-uri': '/v1/mcp-servers',
    });
    assert.equal(res.status, 403);
    assert.equal(reasonOf(res), 'conflicting_original_request');
    assert.equal(await res.text(), FORBIDDEN_BODY);
  });
});

describe('bad input to the gateway', () => {
  let sidecar: RunningSidecar;
  before(async () => (sidecar = await listeningSidecar({ forwardAuthHeaders: 'envoy,original' })));
  after(() => sidecar.close());
  const manager = () => ({ authorization: `Bearer ${tokens.manager}` });

  const cases: [string, string, string, Record<string, string>, string | undefined, number, string][] = [
    ['unknown route', 'POST', '/v1/secrets', {}, undefined, 403, 'no_route'],
    ['unknown method on a known path', 'POST', '/v1/mcp-servers/s-1', {}, undefined, 403, 'no_route'],
    ['missing workspace id', 'POST', '/v1/mcp-servers', {}, undefined, 403, 'missing_workspace_id'],
    ['malformed JSON body', 'POST', '/v1/mcp-servers', { 'content-type': 'application/json' }, '{"workspace_id": "ws-1"', 403, 'invalid_body'],
    ['body workspace id of the wrong type', 'POST', '/v1/mcp-servers', {}, '{"workspace_id": 7}', 403, 'invalid_body'],
    [
      'two different workspace ids',
      'POST',
      '/v1/mcp-servers?workspace_id=ws-2',
      { 'x-portkey-workspace-id': 'ws-1' },
      undefined,
      403,
      'ambiguous_workspace_id',
    ],
    ['repeated query workspace ids', 'POST', '/v1/mcp-servers?workspace_id=ws-1&workspace_id=ws-2', {}, undefined, 403, 'ambiguous_workspace_id'],
    ['a workspace id too long for the decision API', 'POST', `/v1/mcp-servers?workspace_id=${'w'.repeat(300)}`, {}, undefined, 403, 'invalid_request'],
    ['dot segments', 'DELETE', '/v1/mcp-servers/s-1/../../integrations/i-1', { 'x-portkey-workspace-id': 'ws-1' }, undefined, 403, 'invalid_path'],
    ['encoded dot segments', 'DELETE', '/v1/mcp-servers/%2e%2e', { 'x-portkey-workspace-id': 'ws-1' }, undefined, 403, 'invalid_path'],
    ['an encoded slash', 'DELETE', '/v1/mcp-servers/a%2Fb', { 'x-portkey-workspace-id': 'ws-1' }, undefined, 403, 'invalid_path'],
    ['an empty segment', 'POST', '/v1//mcp-servers', { 'x-portkey-workspace-id': 'ws-1' }, undefined, 403, 'invalid_path'],
  ];
  for (const [name, method, path, headers, body, status, reason] of cases) {
    test(`${name}: ${status} ${reason}`, async () => {
      const res = await raw(sidecar, method, path, { ...manager(), ...headers }, body);
      assert.equal(res.status, status);
      assert.equal(reasonOf(res), reason);
      assert.equal(await res.text(), FORBIDDEN_BODY);
      assert.equal(res.headers.get('x-portcullis-decision-id'), null, 'no decision was made');
    });
  }

  // An upstream binder may read any of these as workspace_id: the decision would be on ws-1, the upstream's on ws-v.
  const QUERY_LOOKALIKES = [
    'workspaceId=ws-v',
    'WORKSPACE_ID=ws-v',
    'workspace-id=ws-v',
    'workspace_id%5B%5D=ws-v',
    'workspace_id=ws-1&workspace_id%5B0%5D=ws-v',
    'workspace%255Fid=ws-v',
  ];
  for (const query of QUERY_LOOKALIKES) {
    test(`an owner's query look-alike of workspace_id (?${query}) next to the header: 403 ambiguous_workspace_id, no decision`, async () => {
      const res = await raw(sidecar, 'POST', `/v1/mcp-servers?${query}`, { authorization: `Bearer ${tokens.owner}`, 'x-portkey-workspace-id': 'ws-1' });
      assert.equal(res.status, 403);
      assert.equal(reasonOf(res), 'ambiguous_workspace_id');
      assert.equal(res.headers.get('x-portcullis-decision-id'), null);
    });
  }
  test('other query keys are not look-alikes: an owner with ?workspace_id=ws-1&api_key=k is allowed', async () => {
    const res = await raw(sidecar, 'POST', '/v1/mcp-servers?workspace_id=ws-1&api_key=k', {
      authorization: `Bearer ${tokens.owner}`,
      'x-portkey-workspace-id': 'ws-1',
    });
    assert.equal(res.status, 200);
  });

  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const tokenCases: [string, () => Promise<Record<string, string>>, string][] = [
    ['no token', async () => ({}), 'missing_token'],
    ['alg none', async () => ({ authorization: `Bearer ${b64({ alg: 'none' })}.${b64({ ...PRINCIPALS.owner, exp: 9999999999 })}.` }), 'alg_not_allowed'],
    [
      'a token signed with the wrong key',
      async () => ({ authorization: `Bearer ${await signToken(PRINCIPALS.owner, { key: new TextEncoder().encode('w'.repeat(40)) })}` }),
      'bad_signature',
    ],
    ['an expired token', async () => ({ authorization: `Bearer ${await signToken(PRINCIPALS.owner, { expiresAt: 1_000_000 })}` }), 'token_expired'],
    ['a malformed token', async () => ({ authorization: 'Bearer abc.def' }), 'malformed_token'],
    ['org_role of the wrong type', async () => ({ authorization: `Bearer ${await signToken({ ...PRINCIPALS.owner, org_role: 1 })}` }), 'invalid_claims'],
    ['an unknown org_role', async () => ({ authorization: `Bearer ${await signToken({ ...PRINCIPALS.owner, org_role: 'superuser' })}` }), 'invalid_claims'],
    [
      'workspace_roles as a list',
      async () => ({ authorization: `Bearer ${await signToken({ ...PRINCIPALS.manager, workspace_roles: ['ws-1'] })}` }),
      'invalid_claims',
    ],
    ['sub missing', async () => ({ authorization: `Bearer ${await signToken({ org_id: 'org-1', org_role: 'owner' })}` }), 'invalid_claims'],
  ];
  for (const [name, headers, reason] of tokenCases) {
    test(`${name}: 401 ${reason}`, async () => {
      const res = await envoy(sidecar, 'POST', '/v1/mcp-servers', { ...(await headers()), 'x-portkey-workspace-id': 'ws-1' });
      assert.equal(res.status, 401);
      assert.equal(reasonOf(res), reason);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal((await res.json()).code, reason);
    });
  }

  test('a wrong-typed claim is named in the message', async () => {
    const res = await envoy(sidecar, 'POST', '/v1/mcp-servers', {
      authorization: `Bearer ${await signToken({ ...PRINCIPALS.owner, org_role: 1 })}`,
      'x-portkey-workspace-id': 'ws-1',
    });
    assert.match((await res.json()).message, /claim org_role: must be one of owner, admin, member/);
  });

  test('oversized headers: 431 before anything is decided', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(sidecar.url);
      const req = httpRequest(
        {
          hostname,
          port,
          method: 'POST',
          path: '/ext_authz/v1/mcp-servers',
          headers: { ...manager(), 'x-portkey-workspace-id': 'ws-1', 'x-padding': 'p'.repeat(20_000) },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 431);
  });

  test('a body larger than the limit is refused', async () => {
    const res = await envoy(sidecar, 'POST', '/v1/mcp-servers', manager(), JSON.stringify({ workspace_id: 'ws-1', pad: 'x'.repeat(100_000) }));
    assert.equal(res.status, 400);
    assert.equal((await res.json()).code, 'request_too_large');
  });
});

describe('modes', () => {
  test('dry run: the real decision is made and audited as a dry run, and the request allowed', async () => {
    const sidecar = await listeningSidecar({ forwardAuthHeaders: 'envoy,original', gatewayDryRun: true });
    try {
      await setMcpServers(sidecar, false);
      const res = await envoy(sidecar, 'POST', '/v1/mcp-servers', { authorization: `Bearer ${tokens.manager}`, 'x-portkey-workspace-id': 'ws-1' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-portcullis-dry-run'), 'true');
      assert.equal(res.headers.get('x-portcullis-allow'), 'false');
      assert.equal(reasonOf(res), 'manager_write_disabled');
      const audited = await sidecar.sidecar.audit.getDecision(res.headers.get('x-portcullis-decision-id')!);
      assert.equal(audited?.allow, false);
      assert.equal(audited?.dryRun, true);

      const noToken = await envoy(sidecar, 'POST', '/v1/mcp-servers', { 'x-portkey-workspace-id': 'ws-1' });
      assert.equal(noToken.status, 200);
      assert.equal(noToken.headers.get('x-portcullis-allow'), 'false');
      assert.equal(reasonOf(noToken), 'missing_token');
    } finally {
      await sidecar.close();
    }
  });

  test('gatewayPassUnmatched lets unknown routes through, saying so; known routes are still decided', async () => {
    const sidecar = await listeningSidecar({ forwardAuthHeaders: 'envoy,original', gatewayPassUnmatched: true });
    try {
      const res = await envoy(sidecar, 'GET', '/v1/health');
      assert.equal(res.status, 200);
      assert.equal(reasonOf(res), 'no_route');
      const known = await envoy(sidecar, 'POST', '/v1/mcp-servers', { 'x-portkey-workspace-id': 'ws-1' });
      assert.equal(known.status, 401);
    } finally {
      await sidecar.close();
    }
  });

  test('trusted headers: the principal from x-portkey-* headers; its org is the resource org', async () => {
    const sidecar = await listeningSidecar({ forwardAuthHeaders: 'envoy,original', gatewayIdentity: 'headers', gatewayJwtSecret: '' });
    try {
      await setMcpServers(sidecar, false);
      const headers = { 'x-portkey-user-id': 'u-9', 'x-portkey-org-id': 'org-1', 'x-portkey-org-role': 'member', 'x-portkey-workspace-id': 'ws-1' };
      const manager = await envoy(sidecar, 'POST', '/v1/mcp-servers', { ...headers, 'x-portkey-workspace-roles': 'ws-1:manager' });
      assert.equal(manager.status, 403);
      assert.equal(reasonOf(manager), 'manager_write_disabled');
      const admin = await envoy(sidecar, 'POST', '/v1/mcp-servers', { ...headers, 'x-portkey-org-role': 'admin' });
      assert.equal(admin.status, 200);
      assert.equal(admin.headers.get('x-portcullis-principal'), 'u-9');
    } finally {
      await sidecar.close();
    }
  });

  test('trusted headers sent twice (a client copy appended to the gateway one) are refused, not merged', async () => {
    const sidecar = await listeningSidecar({ forwardAuthHeaders: 'envoy,original', gatewayIdentity: 'headers', gatewayJwtSecret: '' });
    try {
      const { hostname, port } = new URL(sidecar.url);
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ hostname, port, method: 'POST', path: '/ext_authz/v1/integrations' }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        for (const [name, value] of [
          ['x-portkey-user-id', 'u-9'],
          ['x-portkey-org-id', 'org-1'],
          ['x-portkey-org-role', 'member'],
          ['x-portkey-workspace-id', 'ws-9'],
        ])
          req.setHeader(name!, value!);
        req.setHeader('x-portkey-workspace-roles', ['ws-9:manager', 'ws-1:member']);
        req.end();
      });
      assert.equal(status, 401);
    } finally {
      await sidecar.close();
    }
  });

  test('a principal id that is not printable ASCII is percent-encoded in the header, not a 500', async () => {
    const sidecar = await listeningSidecar({ forwardAuthHeaders: 'envoy,original' });
    try {
      const token = await signToken({ ...PRINCIPALS.owner, sub: '用户-1' });
      const res = await envoy(sidecar, 'POST', '/v1/mcp-servers', { authorization: `Bearer ${token}`, 'x-portkey-workspace-id': 'ws-1' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-portcullis-principal'), encodeURIComponent('用户-1'));
    } finally {
      await sidecar.close();
    }
  });

  test('jwt mode without a key: every request is 401 jwt_not_configured', async () => {
    const sidecar = await listeningSidecar({ forwardAuthHeaders: 'envoy,original', gatewayJwtSecret: '' });
    try {
      const res = await envoy(sidecar, 'POST', '/v1/mcp-servers', { authorization: `Bearer ${tokens.owner}`, 'x-portkey-workspace-id': 'ws-1' });
      assert.equal(res.status, 401);
      assert.equal(reasonOf(res), 'jwt_not_configured');
    } finally {
      await sidecar.close();
    }
  });
});
