// API keys as principals through the HTTP decision API: the scope a request needs, a
// workspace key held to its workspace, an admin key across its organization but never on
// the data plane, a workspace user key bound by its user's role and the settings, and
// hostile key principals refused with a 400 naming the field.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN, registerWorkspaces, testSidecar } from '../support/sidecar.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const ORG = 'org-keys';
const OTHER = 'org-keys-other';

let sidecar: Sidecar;
before(async () => {
  sidecar = await testSidecar();
  await registerWorkspaces(sidecar, { 'ws-k1': ORG, 'ws-k2': ORG, 'ws-o1': OTHER });
});
after(() => sidecar.close());
const api = () => request(sidecar.app);

const adminKey = (scopes: string[], orgId = ORG) => ({ type: 'api_key', keyType: 'organisation-service', id: 'k-admin', orgId, scopes });
const serviceKey = (scopes: string[], workspaceId = 'ws-k1') => ({
  type: 'api_key',
  keyType: 'workspace-service',
  id: 'k-svc',
  orgId: ORG,
  workspaceId,
  scopes,
});
const userKey = (scopes: string[], workspaceRole = 'manager') => ({
  type: 'api_key',
  keyType: 'workspace-user',
  id: 'k-user',
  orgId: ORG,
  workspaceId: 'ws-k1',
  scopes,
  user: { id: 'u-7', orgRole: 'member', workspaceRoles: { 'ws-k1': workspaceRole } },
});

async function authorize(principal: object, action: string, type: string, workspaceId = 'ws-k1', orgId = ORG) {
  const res = await api().post('/v1/authorize').send({ principal, action, resource: { type, orgId, workspaceId } }).expect(200);
  return res.body as { allow: boolean; reason: string; scope?: string; setting?: string; source?: string; visibility?: string; decisionId: string };
}

async function setMcpServers(value: boolean) {
  await api().put(`/v1/orgs/${ORG}/settings/integration-access`).set(auth).send({ managersWriteMcpServers: value }).expect(200);
}

describe('key principals decide through POST /v1/authorize', () => {
  test('a workspace user key of a manager creates MCP servers exactly while "Managers Write MCP Servers" is on', async () => {
    const key = userKey(['mcp_servers.create']);
    await setMcpServers(false);
    const off = await authorize(key, 'create', 'mcp_server');
    assert.deepEqual(
      [off.allow, off.reason, off.setting, off.source, off.scope],
      [false, 'manager_write_disabled', 'managersWriteMcpServers', 'org', 'mcp_servers.create'],
    );
    await setMcpServers(true);
    const on = await authorize(key, 'create', 'mcp_server');
    assert.deepEqual([on.allow, on.reason, on.setting, on.source], [true, 'manager_write_enabled', 'managersWriteMcpServers', 'org']);
    // The same user without a manager's role is held to it: members never write MCP servers.
    assert.equal((await authorize(userKey(['mcp_servers.create'], 'member'), 'create', 'mcp_server')).reason, 'read_only_role');
  });

  test('a service key without mcp_servers.create is denied missing_scope, naming the scope', async () => {
    const answer = await authorize(serviceKey(['mcp_servers.read', 'prompts.create']), 'create', 'mcp_server');
    assert.deepEqual([answer.allow, answer.reason, answer.scope], [false, 'missing_scope', 'mcp_servers.create']);
    const allowed = await authorize(serviceKey(['mcp_servers.create']), 'create', 'mcp_server');
    assert.deepEqual([allowed.allow, allowed.reason, allowed.scope], [true, 'service_api_key', 'mcp_servers.create']);
  });

  test('a workspace key acts only in its own workspace', async () => {
    assert.equal((await authorize(serviceKey(['mcp_servers.read']), 'read', 'mcp_server', 'ws-k2')).reason, 'key_workspace_mismatch');
  });

  test('an admin key is allowed in every workspace of its organization and refused on the data plane', async () => {
    await setMcpServers(false);
    for (const workspaceId of ['ws-k1', 'ws-k2']) {
      const answer = await authorize(adminKey(['mcp_servers.create']), 'create', 'mcp_server', workspaceId);
      assert.deepEqual([answer.allow, answer.reason], [true, 'admin_api_key'], workspaceId);
    }
    const dataPlane = await authorize(adminKey(['completions.write']), 'create', 'completion');
    assert.deepEqual([dataPlane.allow, dataPlane.reason, dataPlane.scope], [false, 'admin_key_data_plane', 'completions.write']);
    const workspaceKey = await authorize(serviceKey(['completions.write']), 'create', 'completion');
    assert.deepEqual([workspaceKey.allow, workspaceKey.reason], [true, 'service_api_key']);
  });

  test("a key of another organization never reaches this organization's workspaces, whatever resource org it names", async () => {
    const stranger = adminKey(['mcp_servers.read'], OTHER);
    for (const orgId of [ORG, OTHER]) {
      const answer = await authorize(stranger, 'read', 'mcp_server', 'ws-k1', orgId);
      assert.deepEqual([answer.allow, answer.reason], [false, 'cross_org'], `resource.orgId ${orgId}`);
    }
    // A workspace key naming another organization's workspace as its own: the directory places it.
    const misplaced = { ...serviceKey(['mcp_servers.read'], 'ws-o1'), orgId: ORG };
    assert.equal((await authorize(misplaced, 'read', 'mcp_server', 'ws-o1', ORG)).reason, 'cross_org');
  });

  test('the decision record names the key by id and type, with the scope', async () => {
    const answer = await authorize(serviceKey(['mcp_servers.read']), 'create', 'mcp_server');
    await sidecar.audit.flush();
    const record = (await api().get(`/v1/audit/decisions/${answer.decisionId}`).set(auth).expect(200)).body;
    assert.deepEqual([record.principal.type, record.principal.keyType, record.principal.id], ['api_key', 'workspace-service', 'k-svc']);
    assert.deepEqual([record.reason, record.scope], ['missing_scope', 'mcp_servers.create']);
  });

  test('the OPA-compatible API and the permissions call take key principals too', async () => {
    const input = { principal: serviceKey(['prompts.read']), action: 'read', resource: { type: 'prompt', orgId: ORG, workspaceId: 'ws-k1' } };
    const opa = (await api().post('/v1/data/portkey/authz/decision').send({ input }).expect(200)).body;
    assert.deepEqual([opa.result.allow, opa.result.reason, opa.result.scope], [true, 'service_api_key', 'prompts.read']);
    const permissions = (
      await api()
        .post('/v1/permissions')
        .send({ principal: serviceKey(['prompts.read']), resourceTypes: ['prompt'], actions: ['read', 'create'] })
        .expect(200)
    ).body;
    assert.deepEqual(Object.keys(permissions.workspaces), ['ws-k1'], "a workspace key's own workspace");
    assert.deepEqual(permissions.workspaces['ws-k1'].prompt.read, { allow: true, reason: 'service_api_key', scope: 'prompts.read' });
    assert.deepEqual(permissions.workspaces['ws-k1'].prompt.create, { allow: false, reason: 'missing_scope', scope: 'prompts.create' });
    const admin = await api()
      .post('/v1/permissions')
      .send({ principal: adminKey(['prompts.read']) })
      .expect(400);
    assert.equal(admin.body.errors[0].field, 'workspaceIds');
  });
});

describe('Data Visibility answers what a read may show', () => {
  const manager = { id: 'u-7', orgId: ORG, orgRole: 'member', workspaceRoles: { 'ws-k1': 'manager' } };
  const managerKey = userKey(['logs.view', 'analytics.view']);
  const put = (path: string, body: object) => api().put(path).set(auth).send(body).expect(200);
  const reads = async () =>
    Promise.all(
      [manager, managerKey].map(async (principal) => {
        const answer = (
          await api()
            .post('/v1/authorize')
            .send({ principal, action: 'read', resource: { type: 'log', orgId: ORG, workspaceId: 'ws-k1' } })
            .expect(200)
        ).body;
        return [answer.allow, answer.visibility, answer.visibleTo];
      }),
    );

  test('a manager session and a manager user key, with Managers View All Data on, off and overridden in the workspace', async () => {
    const all = [
      [true, 'all', undefined],
      [true, 'all', undefined],
    ];
    const own = [
      [true, 'own_api_keys', { userId: 'u-7' }],
      [true, 'own_api_keys', { userId: 'u-7', apiKeyIds: ['k-user'] }],
    ];
    assert.deepEqual(await reads(), all, 'on by default');
    await put(`/v1/orgs/${ORG}/settings/data-visibility`, { managersViewAllData: false });
    assert.deepEqual(await reads(), own, 'off for the organization');
    await put(`/v1/orgs/${ORG}/workspaces/ws-k1/settings/data-visibility`, { managersViewAllData: true });
    assert.deepEqual(await reads(), own, 'a workspace value is ignored while the toggle is off');
    await put(`/v1/orgs/${ORG}/settings/data-visibility`, { managersViewAllData: false, allowWorkspaceOverrides: true });
    assert.deepEqual(await reads(), all, "the workspace's own value while the toggle is on");
    await put(`/v1/orgs/${ORG}/settings/data-visibility`, { managersViewAllData: true, allowWorkspaceOverrides: false });
    assert.deepEqual(await reads(), all, 'on again');
    // A service key always sees all; a denied read names no visibility.
    await put(`/v1/orgs/${ORG}/settings/data-visibility`, { managersViewAllData: false });
    assert.equal((await authorize(serviceKey(['logs.view']), 'read', 'log')).visibility, 'all');
    const denied = await authorize(serviceKey([]), 'read', 'log');
    assert.deepEqual([denied.allow, denied.visibility], [false, undefined]);
    await put(`/v1/orgs/${ORG}/settings/data-visibility`, { managersViewAllData: true });
  });
});

describe('hostile key principals are a 400 naming the field', () => {
  const cases: Array<[string, object, string]> = [
    ['an unknown principal type', { ...serviceKey([]), type: 'robot' }, 'principal.type'],
    ['an unknown key type', { ...serviceKey([]), keyType: 'workspace-admin' }, 'principal.keyType'],
    ['scopes not a list', { ...serviceKey([]), scopes: 'prompts.read' }, 'principal.scopes'],
    ['scopes missing', { type: 'api_key', keyType: 'organisation-service', id: 'k', orgId: ORG }, 'principal.scopes'],
    ['a scope that is not a string', serviceKey([7 as unknown as string]), 'principal.scopes[0]'],
    ['a malformed scope', serviceKey(['prompts.read', 'Prompts.Read']), 'principal.scopes[1]'],
    ['a scope with a NUL', serviceKey(['prompts.re\u0000ad']), 'principal.scopes[0]'],
    ['a duplicated scope', serviceKey(['prompts.read', 'prompts.read']), 'principal.scopes[1]'],
    ['too many scopes', serviceKey(Array.from({ length: 257 }, () => 'prompts.read')), 'principal.scopes'],
    ['a huge scope', serviceKey([`prompts.${'r'.repeat(200)}`]), 'principal.scopes[0]'],
    ['a look-alike field', { ...serviceKey([]), workspaceID: 'ws-k1' }, 'principal.workspaceID'],
    ['the key itself', { ...serviceKey([]), key: 'pk-secret' }, 'principal.key'],
    ['a secret', { ...serviceKey([]), secret: 'pk-secret' }, 'principal.secret'],
    ['a workspace on an admin key', { ...adminKey([]), workspaceId: 'ws-k1' }, 'principal.workspaceId'],
    ['a service key without its workspace', { type: 'api_key', keyType: 'workspace-service', id: 'k', orgId: ORG, scopes: [] }, 'principal.workspaceId'],
    ['a user on a service key', { ...serviceKey([]), user: { id: 'u', orgRole: 'member' } }, 'principal.user'],
    ['a user key without its user', { ...userKey([]), user: undefined }, 'principal.user'],
    ['a user with a look-alike field', { ...userKey([]), user: { id: 'u', orgRole: 'member', workspaceRole: {} } }, 'principal.user.workspaceRole'],
    ['a user of another organization', { ...userKey([]), user: { id: 'u', orgId: OTHER, orgRole: 'member' } }, 'principal.user.orgId'],
    ['a user with an unknown role', { ...userKey([]), user: { id: 'u', orgRole: 'boss' } }, 'principal.user.orgRole'],
    ['a key id with a lone surrogate', { ...serviceKey([]), id: 'k-\ud800' }, 'principal.id'],
    ['a key id with CR/LF', { ...serviceKey([]), id: 'k\r\nX-Injected: 1' }, 'principal.id'],
    ['a user id with NUL', { ...userKey([]), user: { id: 'u\u0000', orgRole: 'member' } }, 'principal.user.id'],
    ['a key orgId of the wrong type', { ...serviceKey([]), orgId: 7 }, 'principal.orgId'],
    ['an unknown creator role', { id: 'u', orgId: ORG, orgRole: 'member' }, 'resource.createdByRole'],
  ];
  for (const [name, principal, field] of cases) {
    test(name, async () => {
      const body = {
        principal,
        action: 'read',
        resource: { type: 'user_api_key', orgId: ORG, workspaceId: 'ws-k1', createdByRole: field.startsWith('resource') ? 'admin' : 'manager' },
      };
      const res = await api().post('/v1/authorize').send(body).expect(400);
      const fields = (res.body.errors as Array<{ field: string }>).map((e) => e.field);
      assert.ok(fields.includes(field), `${field} not in ${fields.join(', ')}`);
    });
  }

  test('a look-alike field is answered with the nearest known name', async () => {
    const body = { principal: { ...serviceKey([]), scope: ['prompts.read'] }, action: 'read', resource: { type: 'prompt', orgId: ORG, workspaceId: 'ws-k1' } };
    const res = await api().post('/v1/authorize').send(body).expect(400);
    const error = (res.body.errors as Array<{ field: string; message: string }>).find((e) => e.field === 'principal.scope');
    assert.match(error?.message ?? '', /did you mean `scopes`/);
  });
});
