// The other Security-tab families through the HTTP API: every setting of every family, at its default, set by
// the organization, overridden by a workspace (and the override ignored while the toggle is
// off), and a write stopped by its view setting, each decided through POST /v1/authorize
// with the setting and its source named (a Data Visibility setting: the visibility of an allowed
// read, which it decides instead of allow or deny). The cases are generated from the families table
// (policies/data.json), so a family added to the table is covered by this test as it is.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { familiesFromData, type Family, type SettingDefinition } from '../../src/engine/families.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN, registerWorkspaces, testSidecar } from '../support/sidecar.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const families = familiesFromData(JSON.parse(await readFile('policies/data.json', 'utf8')) as Record<string, unknown>);
/** Each organization its own workspace: a workspace belongs to one organization (the directory). */
const wsOf = (orgId: string) => `${orgId}-ws`;
/** Each organization decides in its own workspace, registered in the workspace directory. */
const registerOwn = (orgId: string) => registerWorkspaces(sidecar, { [wsOf(orgId)]: orgId });

let sidecar: Sidecar;
before(async () => (sidecar = await testSidecar()));
after(() => sidecar.close());
const api = () => request(sidecar.app);

/** The principal a setting governs: a workspace manager or member, or an organization admin. */
function principal(role: SettingDefinition['role'], orgId: string, workspaceRole = role === 'manager' ? 'manager' : 'member') {
  return role === 'org_admin'
    ? { id: 'u-1', orgId, orgRole: 'admin', workspaceRoles: {} }
    : { id: 'u-1', orgId, orgRole: 'member', workspaceRoles: { [wsOf(orgId)]: workspaceRole } };
}

async function decide(orgId: string, setting: SettingDefinition, over: { action?: string; workspaceRole?: string } = {}) {
  await registerOwn(orgId);
  const body = {
    principal: principal(setting.role, orgId, over.workspaceRole),
    action: over.action ?? (setting.access === 'write' ? 'create' : 'read'),
    // Within the API Key Management limits: a key created for the principal by a manager.
    resource: { type: setting.resourceTypes[0]!, orgId, workspaceId: wsOf(orgId), createdFor: 'u-1', createdByRole: 'manager' },
  };
  return (await api().post('/v1/authorize').send(body).expect(200)).body as {
    allow: boolean;
    reason: string;
    setting?: string;
    source?: string;
    visibility?: string;
  };
}

/** The org document that sets `values`, with the family's override toggle for `setting` on or off. */
function orgDocument(family: Family, values: Record<string, boolean>, toggle: boolean | undefined, setting: string) {
  if (toggle === undefined || family.workspaceOverrides === 'none') return values;
  return { ...values, allowWorkspaceOverrides: family.workspaceOverrides === 'family' ? toggle : { [setting]: toggle } };
}

async function store(orgId: string, family: Family, org: object, workspace?: object) {
  await registerOwn(orgId);
  await api().put(`/v1/orgs/${orgId}/settings/${family.name}`).set(auth).send(org).expect(200);
  if (workspace)
    await api()
      .put(`/v1/orgs/${orgId}/workspaces/${wsOf(orgId)}/settings/${family.name}`)
      .set(auth)
      .send(workspace)
      .expect(200);
}

function expectDecided(answer: Awaited<ReturnType<typeof decide>>, value: boolean, setting: string, source: string) {
  if (families.familyOf(setting)?.settings.find((s) => s.name === setting)?.access === 'visibility') {
    // A visibility setting allows and denies nothing: the read is allowed, and shows all data or only the principal's own keys'.
    assert.deepEqual(
      { allow: answer.allow, visibility: answer.visibility },
      { allow: true, visibility: value ? 'all' : 'own_api_keys' },
      JSON.stringify(answer),
    );
    return;
  }
  assert.deepEqual({ allow: answer.allow, setting: answer.setting, source: answer.source }, { allow: value, setting, source }, JSON.stringify(answer));
}

for (const family of families.list) {
  describe(`${family.name}: every setting's default and overrides decide, named with their source`, () => {
    for (const setting of family.settings) {
      const flipped = !setting.default;
      const id = (c: string) => `${setting.name}-${c}`.toLowerCase();

      test(`${setting.name}: default ${setting.default}`, async () => {
        expectDecided(await decide(id('default'), setting), setting.default, setting.name, 'default');
      });

      test(`${setting.name}: the organization sets it ${flipped}`, async () => {
        await store(id('org'), family, { [setting.name]: flipped });
        expectDecided(await decide(id('org'), setting), flipped, setting.name, 'org');
      });

      if (family.workspaceOverrides !== 'none') {
        test(`${setting.name}: a workspace overrides it while the toggle is on, and is ignored while it is off`, async () => {
          await store(id('ws'), family, orgDocument(family, {}, true, setting.name), { [setting.name]: flipped });
          expectDecided(await decide(id('ws'), setting), flipped, setting.name, 'workspace');
          await store(id('ws'), family, orgDocument(family, {}, false, setting.name));
          expectDecided(await decide(id('ws'), setting), setting.default, setting.name, 'default');
          await store(id('ws'), family, orgDocument(family, { [setting.name]: flipped }, false, setting.name));
          expectDecided(await decide(id('ws'), setting), flipped, setting.name, 'org');
        });
      }

      const view = family.settings.find((s) => s.access === 'read' && s.role === setting.role && s.resourceTypes.includes(setting.resourceTypes[0]!));
      if (setting.access === 'write' && view) {
        test(`${setting.name}: a write also needs ${view.name}; with it off the decision names ${view.name}`, async () => {
          await store(id('view'), family, { [setting.name]: true, [view.name]: false });
          expectDecided(await decide(id('view'), setting), false, view.name, 'org');
          expectDecided(await decide(id('view'), view), false, view.name, 'org');
        });
      }
    }

    test('organization owners may do every action of the family whatever the settings; other actions are denied with their own reason', async () => {
      const orgId = `${family.name}-owner`;
      await store(orgId, family, Object.fromEntries(family.settings.map((s) => [s.name, false])));
      for (const type of family.resourceTypes) {
        for (const action of ['create', 'update', 'delete', 'read']) {
          const body = { principal: { id: 'u-o', orgId, orgRole: 'owner', workspaceRoles: {} }, action, resource: { type, orgId, workspaceId: wsOf(orgId) } };
          const answer = (await api().post('/v1/authorize').send(body).expect(200)).body;
          if (family.actions.includes(action))
            assert.deepEqual([answer.allow, answer.reason, answer.setting], [true, 'org_admin', undefined], `${type} ${action}`);
          else assert.deepEqual([answer.allow, answer.reason], [false, 'unsupported_action'], `${type} ${action}`);
        }
      }
    });
  });
}

describe('the family rules that are not one setting', () => {
  test('organization admins have full access to the families without org_admin settings, whatever the settings say', async () => {
    for (const family of families.list.filter((f) => f.resourceTypes.length > 0 && !f.settings.some((s) => s.role === 'org_admin'))) {
      const orgId = `${family.name}-admin`;
      await store(orgId, family, Object.fromEntries(family.settings.map((s) => [s.name, false])));
      const body = {
        principal: { id: 'u-a', orgId, orgRole: 'admin', workspaceRoles: {} },
        action: family.actions.at(0),
        resource: { type: family.resourceTypes[0], orgId, workspaceId: wsOf(orgId) },
      };
      const answer = (await api().post('/v1/authorize').send(body).expect(200)).body;
      assert.deepEqual([answer.allow, answer.reason], [true, 'org_admin'], family.name);
    }
  });

  test('members never write guardrails (no setting lets them)', async () => {
    const answer = await decide('guardrail-members', {
      ...families.get('guardrail-access')!.settings.find((s) => s.name === 'membersViewGuardrails')!,
      access: 'write',
    });
    assert.deepEqual([answer.allow, answer.reason, answer.setting], [false, 'read_only_role', undefined]);
  });

  test('the workspace role admin counts as a manager', async () => {
    const family = families.get('prompt-access')!;
    const view = family.settings.find((s) => s.name === 'managersViewPrompts')!;
    await store('prompt-admin-role', family, { managersViewPrompts: false });
    expectDecided(await decide('prompt-admin-role', view, { workspaceRole: 'admin' }), false, 'managersViewPrompts', 'org');
  });

  test('a type outside every family is a 400 naming the types of the active bundle', async () => {
    const body = { principal: principal('manager', 'org-x'), action: 'read', resource: { type: 'budget', orgId: 'org-x', workspaceId: wsOf('org-x') } };
    const res = await api().post('/v1/authorize').send(body).expect(400);
    assert.equal(res.body.errors[0].field, 'resource.type');
    assert.match(res.body.errors[0].message, new RegExp(`must be one of ${families.resourceTypes.join(', ')}`));
  });
});
