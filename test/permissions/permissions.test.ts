// POST /v1/permissions: every cell equals the POST /v1/authorize answer for the same input,
// across every organization role and workspace role, random settings of every family, and
// the workspace directory's own answers (another organization's workspace, an unknown
// one). Also: the OPA data path, the limits and hostile input, and the one audit record.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_PERMISSION_CELLS, MAX_PERMISSION_WORKSPACES } from '../../src/decision/permissions.ts';
import type { Family } from '../../src/engine/families.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { expected, matrix, settingsOf, type MatrixCase } from '../support/matrix.ts';
import { random, type Random } from '../support/random.ts';
import { ADMIN_TOKEN, serve, testSidecar } from '../support/sidecar.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' };
const json = { 'Content-Type': 'application/json' };
const ORG_ROLES = ['owner', 'admin', 'member'] as const;
const WORKSPACE_ROLES = [undefined, 'admin', 'manager', 'member'] as const;
const SEEDS = 8;

let sidecar: Sidecar;
let served: Awaited<ReturnType<typeof serve>>;
before(async () => {
  sidecar = await testSidecar();
  served = await serve(sidecar);
});
after(() => served?.close());

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = json) {
  const res = await fetch(served.url + path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const pick = <T>(r: Random, values: readonly T[]) => r.pick(values);
const maybe = (r: Random) => pick(r, [undefined, true, false] as const);

/** Random stored documents for one family: each setting unset, true or false; the toggles random. */
function randomDocuments(r: Random, family: Family) {
  const org: Record<string, unknown> = {};
  const workspace: Record<string, boolean> = {};
  for (const setting of family.settings) {
    const value = maybe(r);
    if (value !== undefined) org[setting.name] = value;
    const own = maybe(r);
    if (own !== undefined) workspace[setting.name] = own;
  }
  if (family.workspaceOverrides === 'family') org.allowWorkspaceOverrides = r.chance(0.5);
  if (family.workspaceOverrides === 'setting') org.allowWorkspaceOverrides = Object.fromEntries(family.settings.map((s) => [s.name, r.chance(0.5)]));
  return { org, workspace: family.workspaceOverrides === 'none' ? undefined : workspace };
}

/** A decision without what a cell leaves out (its message and the ids of the answer). */
const cellOf = ({ message: _m, decisionId: _d, bundleRevision: _b, settingsVersion: _s, ...cell }: Record<string, unknown>) => cell;

describe('every cell equals /v1/authorize for the same input', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    test(`seed ${seed}: random settings of every family, every org role, random workspace roles`, async () => {
      const r = random(seed);
      const orgId = `org-p${seed}`;
      const own = [`p${seed}-a`, `p${seed}-b`];
      const foreign = `p${seed}-foreign`;
      const unknown = `p${seed}-unknown`;
      for (const family of sidecar.policy.require().families.list) {
        const { org, workspace } = randomDocuments(r, family);
        assert.equal((await call('PUT', `/v1/orgs/${orgId}/settings/${family.name}`, org, auth)).status, 200);
        for (const ws of own) {
          if (workspace)
            assert.equal(
              (await call('PUT', `/v1/orgs/${orgId}/workspaces/${ws}/settings/${family.name}`, randomDocuments(r, family).workspace, auth)).status,
              200,
            );
        }
      }
      for (const ws of own) assert.ok([200, 201].includes((await call('PUT', `/v1/orgs/${orgId}/workspaces/${ws}`, undefined, auth)).status));
      assert.ok([200, 201].includes((await call('PUT', `/v1/orgs/other-${orgId}/workspaces/${foreign}`, undefined, auth)).status));
      const workspaceIds = [...own, foreign, unknown];
      for (const orgRole of ORG_ROLES) {
        const workspaceRoles: Record<string, string> = {};
        for (const ws of workspaceIds) {
          const role = pick(r, WORKSPACE_ROLES);
          if (role) workspaceRoles[ws] = role;
        }
        const principal = { id: 'u-1', orgId, orgRole, workspaceRoles };
        const answer = await call('POST', '/v1/permissions', { principal, workspaceIds });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(Object.keys(answer.body.workspaces), workspaceIds);
        assert.equal(answer.body.bundleRevision, sidecar.policy.require().revision);
        assert.equal(typeof answer.body.settingsVersion, 'number');
        const types = sidecar.policy.require().families.resourceTypes;
        const checks: Array<Promise<void>> = [];
        for (const ws of workspaceIds)
          for (const type of types)
            for (const action of ['create', 'update', 'delete', 'read']) {
              checks.push(
                (async () => {
                  const decided = await call('POST', '/v1/authorize', { principal, action, resource: { type, orgId, workspaceId: ws } });
                  assert.equal(decided.status, 200);
                  assert.deepEqual(
                    answer.body.workspaces[ws][type][action],
                    cellOf(decided.body),
                    `${orgRole} ${JSON.stringify(workspaceRoles)} ${ws} ${type} ${action}`,
                  );
                })(),
              );
            }
        await Promise.all(checks);
        assert.equal(checks.length, workspaceIds.length * types.length * 4);
        // The directory's answers are in the matrix, as in the decisions (the unknown
        // workspace's cells are compared above with what a decision says of it).
        assert.equal(answer.body.workspaces[foreign].integration.read.reason, 'cross_org');
      }
    });
  }
});

describe('the rules matrix: every cell equals /v1/authorize and the rules as written', () => {
  // One organization and workspace per settings combination of the matrix (type x org value
  // x toggle x workspace value), one permissions call per org role x workspace role: every
  // case of the matrix is one cell.
  const groups = new Map<string, MatrixCase[]>();
  for (const c of matrix()) {
    const key = `${c.type}-${String(c.orgValue)}-${c.toggle}-${String(c.workspaceValue)}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  test(`${[...groups.values()].reduce((n, g) => n + g.length, 0)} cases in ${groups.size} settings combinations`, { timeout: 600_000 }, async () => {
    let cells = 0;
    let g = 0;
    for (const cases of groups.values()) {
      const orgId = `org-m${g}`;
      const ws = `m${g++}-ws`;
      const { org, workspace } = settingsOf(cases[0]!);
      assert.equal((await call('PUT', `/v1/orgs/${orgId}/settings/integration-access`, org, auth)).status, 200);
      if (Object.keys(workspace).length > 0)
        assert.equal((await call('PUT', `/v1/orgs/${orgId}/workspaces/${ws}/settings/integration-access`, workspace, auth)).status, 200);
      else await call('PUT', `/v1/orgs/${orgId}/workspaces/${ws}`, undefined, auth);
      const byPrincipal = new Map<string, MatrixCase[]>();
      for (const c of cases) byPrincipal.set(`${c.orgRole}/${c.workspaceRole}`, [...(byPrincipal.get(`${c.orgRole}/${c.workspaceRole}`) ?? []), c]);
      await Promise.all(
        [...byPrincipal.values()].map(async (same) => {
          const { orgRole, workspaceRole, type } = same[0]!;
          const principal = { id: 'u-1', orgId, orgRole, workspaceRoles: workspaceRole === 'none' ? {} : { [ws]: workspaceRole } };
          const answer = await call('POST', '/v1/permissions', { principal, workspaceIds: [ws], resourceTypes: [type] });
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          for (const c of same) {
            const cell = answer.body.workspaces[ws][type][c.action];
            const decided = await call('POST', '/v1/authorize', { principal, action: c.action, resource: { type, orgId, workspaceId: ws } });
            assert.deepEqual(cell, cellOf(decided.body), JSON.stringify(c));
            assert.deepEqual(cell, expected(c), JSON.stringify(c));
            cells++;
          }
        }),
      );
    }
    assert.equal(cells, 2592);
  });
});

describe('the permissions request', () => {
  const principal = { id: 'u-1', orgId: 'org-q', orgRole: 'member', workspaceRoles: { 'q-1': 'manager', 'q-2': 'member' } };
  before(async () => {
    for (const ws of ['q-1', 'q-2']) await call('PUT', `/v1/orgs/org-q/workspaces/${ws}`, undefined, auth);
  });

  test("without workspaceIds it answers for the principal's own workspaces, every type and action", async () => {
    const { status, body } = await call('POST', '/v1/permissions', { principal });
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body.workspaces), ['q-1', 'q-2']);
    assert.deepEqual(Object.keys(body.workspaces['q-1']), [...sidecar.policy.require().families.resourceTypes]);
    assert.deepEqual(body.workspaces['q-2'].mcp_server.create, { allow: false, reason: 'read_only_role' });
    assert.deepEqual(body.workspaces['q-1'].mcp_server.create, {
      allow: true,
      reason: 'manager_write_enabled',
      setting: 'managersWriteMcpServers',
      source: 'default',
    });
  });

  test('resourceTypes and actions narrow the matrix', async () => {
    const { body } = await call('POST', '/v1/permissions', { principal, workspaceIds: ['q-1'], resourceTypes: ['prompt'], actions: ['read', 'delete'] });
    assert.deepEqual(Object.keys(body.workspaces['q-1']), ['prompt']);
    assert.deepEqual(Object.keys(body.workspaces['q-1'].prompt), ['read', 'delete']);
  });

  test('the OPA data path answers the same matrix as its result', async () => {
    const direct = await call('POST', '/v1/permissions', { principal });
    const opa = await call('POST', '/v1/data/portkey/authz/permissions', { input: { principal } });
    assert.equal(opa.status, 200);
    assert.equal(typeof opa.body.decision_id, 'string');
    assert.deepEqual(opa.body.result.workspaces, direct.body.workspaces);
    assert.equal(opa.body.result.settingsVersion, direct.body.settingsVersion);
  });

  test('is recorded as one audit record with the matrix summary', async () => {
    const { body } = await call('POST', '/v1/permissions', { principal, workspaceIds: ['q-1', 'q-2'], resourceTypes: ['mcp_server'] });
    await sidecar.audit.flush();
    const record = await sidecar.audit.getDecision(body.decisionId);
    assert.ok(record, 'the permissions call is recorded');
    assert.equal(record.api, 'permissions');
    // q-1 (manager): 4 allowed; q-2 (member): read allowed, three writes denied.
    assert.deepEqual(record.permissions, {
      workspaceIds: ['q-1', 'q-2'],
      resourceTypes: ['mcp_server'],
      actions: ['create', 'update', 'delete', 'read'],
      allowed: 5,
      denied: 3,
    });
    assert.equal(record.allow, false);
    const page = await sidecar.audit.queryDecisions({ orgId: 'org-q', api: 'permissions' }, { limit: 100 });
    assert.equal(page.items.filter((item) => item.decisionId === body.decisionId).length, 1);
  });

  const many = Object.fromEntries(Array.from({ length: MAX_PERMISSION_WORKSPACES + 1 }, (_, i) => [`m-${i}`, 'member']));
  const bad: Array<[string, unknown, RegExp]> = [
    ['an unknown field, with the nearest name', { principal, workspaceId: ['q-1'] }, /workspaceId: is not a field here; did you mean `workspaceIds`/],
    ['a repeated workspace', { principal, workspaceIds: ['q-1', 'q-1'] }, /workspaceIds\[1\]: repeats "q-1"/],
    ['a repeated action', { principal, actions: ['read', 'read'] }, /actions\[1\]: repeats "read"/],
    ['an unknown resource type', { principal, resourceTypes: ['mcp_servers'] }, /resourceTypes\[0\]: must be one of/],
    ['a lone surrogate in a workspace id', { principal, workspaceIds: ['q-\ud800'] }, /workspaceIds\[0\]: .*lone surrogate/],
    ['a NUL in a workspace id', { principal, workspaceIds: ['q-\u0000'] }, /workspaceIds\[0\]/],
    ['CR/LF in a workspace id', { principal, workspaceIds: ['q-1\r\nX-Evil: 1'] }, /workspaceIds\[0\]/],
    ['too many workspaces', { principal, workspaceIds: Object.keys(many) }, new RegExp(`workspaceIds: must have 1 to ${MAX_PERMISSION_WORKSPACES} entries`)],
    [
      'too many own workspaces without workspaceIds',
      { principal: { ...principal, workspaceRoles: many } },
      new RegExp(`more than ${MAX_PERMISSION_WORKSPACES} workspaces`),
    ],
    ['an empty list', { principal, actions: [] }, /actions: must have 1 to 4 entries/],
    ['no principal', { workspaceIds: ['q-1'] }, /principal: is required/],
    ['a minSettingsVersion that is not a version', { principal, minSettingsVersion: -1 }, /minSettingsVersion: must be a settings version/],
    ['a body that is not an object', [principal], /body: must be a JSON object/],
  ];
  for (const [what, body, message] of bad) {
    test(`${what} is a 400 that names it`, async () => {
      const res = await call('POST', '/v1/permissions', body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.message, message);
    });
  }

  test('more cells than the limit is a 400 naming the limit', () => {
    // 100 workspaces x every type x 4 actions is under it; the limit bounds the product.
    assert.ok(MAX_PERMISSION_WORKSPACES * sidecar.policy.require().families.resourceTypes.length * 4 <= MAX_PERMISSION_CELLS);
  });

  test('another method is a 405 naming POST', async () => {
    const res = await fetch(served.url + '/v1/permissions');
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
  });
});
