// The access review of a workspace: each role x type x action under the current settings,
// and under a draft (nothing written), with the cells a draft changes; each cell equal to
// the decision a principal of that role would get.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN, serve, testSidecar } from '../support/sidecar.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' };
const json = { 'Content-Type': 'application/json' };
let sidecar: Sidecar;
let served: Awaited<ReturnType<typeof serve>>;
before(async () => {
  sidecar = await testSidecar();
  served = await serve(sidecar);
});
after(() => served?.close());

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = auth) {
  const res = await fetch(served.url + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as any };
}

const PRINCIPALS: Record<string, object> = {
  owner: { orgRole: 'owner', workspaceRoles: {} },
  admin: { orgRole: 'admin', workspaceRoles: {} },
  member: { orgRole: 'member', workspaceRoles: {} },
  workspace_admin: { orgRole: 'member', workspaceRoles: { 'a-1': 'admin' } },
  workspace_manager: { orgRole: 'member', workspaceRoles: { 'a-1': 'manager' } },
  workspace_member: { orgRole: 'member', workspaceRoles: { 'a-1': 'member' } },
};

test('every role, type and action under the current settings, each cell the decision of that role', async () => {
  await call('PUT', '/v1/orgs/org-a/workspaces/a-1');
  await call('PUT', '/v1/orgs/org-a/settings/integration-access', { managersWriteMcpServers: false });
  const review = await call('GET', '/v1/orgs/org-a/workspaces/a-1/access');
  assert.equal(review.status, 200);
  assert.deepEqual(Object.keys(review.body.roles), Object.keys(PRINCIPALS));
  assert.equal(typeof review.body.settingsVersion, 'number');
  for (const [role, roles] of Object.entries(PRINCIPALS)) {
    for (const type of sidecar.policy.require().families.resourceTypes) {
      for (const action of ['create', 'update', 'delete', 'read']) {
        const decided = await call(
          'POST',
          '/v1/authorize',
          { principal: { id: 'u-9', orgId: 'org-a', ...roles }, action, resource: { type, orgId: 'org-a', workspaceId: 'a-1' } },
          json,
        );
        const cell = review.body.roles[role][type][action];
        assert.deepEqual([cell.allow, cell.reason, cell.setting], [decided.body.allow, decided.body.reason, decided.body.setting], `${role} ${type} ${action}`);
      }
    }
  }
  assert.equal(review.body.roles.workspace_manager.mcp_server.create.allow, false);
  assert.equal(review.body.roles.owner.mcp_server.create.allow, true);
});

test('a draft shows what it would change, and writes nothing', async () => {
  const before = await call('GET', '/v1/orgs/org-a/settings/integration-access');
  const draft = await call('POST', '/v1/orgs/org-a/workspaces/a-1/access', {
    'integration-access': { org: { managersWriteMcpServers: true, managersWriteWsIntegrations: false } },
  });
  assert.equal(draft.status, 200, JSON.stringify(draft.body));
  assert.equal(draft.body.draft, true);
  assert.equal(draft.body.roles.workspace_manager.mcp_server.create.allow, true);
  const changed = draft.body.changes.map((c: any) => `${c.role} ${c.type} ${c.action} ${c.after.allow}`);
  for (const role of ['workspace_admin', 'workspace_manager'])
    for (const action of ['create', 'update', 'delete']) {
      assert.ok(changed.includes(`${role} mcp_server ${action} true`), changed.join(', '));
      assert.ok(changed.includes(`${role} integration ${action} false`), changed.join(', '));
    }
  assert.equal(draft.body.changes.length, 12);
  const afterDraft = await call('GET', '/v1/orgs/org-a/settings/integration-access');
  assert.deepEqual(afterDraft.body, before.body);
});

test('a draft naming an unknown family, level or setting is a 400 that names it; the review needs a token', async () => {
  const family = await call('POST', '/v1/orgs/org-a/workspaces/a-1/access', { 'integration-acess': {} });
  assert.equal(family.status, 400);
  assert.match(family.body.message, /did you mean `integration-access`/);
  const level = await call('POST', '/v1/orgs/org-a/workspaces/a-1/access', { 'integration-access': { team: {} } });
  assert.match(level.body.message, /integration-access.team: is not a level/);
  const setting = await call('POST', '/v1/orgs/org-a/workspaces/a-1/access', { 'integration-access': { org: { managersWriteMcpServer: false } } });
  assert.equal(setting.status, 400);
  assert.match(setting.body.message, /managersWriteMcpServer/);
  const anonymous = await call('GET', '/v1/orgs/org-a/workspaces/a-1/access', undefined, json);
  assert.equal(anonymous.status, 401);
});
