// The permission families as data: GET /v1/families serves the active bundle's
// table, the settings API takes every family (/settings/{family}) with strict validation,
// stores one document per family and level, hands the policy the flat snapshot, records
// which family changed, and a bundle that adds a family serves it after the reload.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { create } from 'tar';
import { readBundle } from '../../src/engine/bundle.ts';
import { PolicyEngine } from '../../src/engine/engine.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN } from '../support/sidecar.ts';
import { bothStores } from '../support/stores.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const kinds = bothStores();
const orgPath = (orgId: string, family: string) => `/v1/orgs/${orgId}/settings/${family}`;
const wsPath = (orgId: string, workspaceId: string, family: string) => `/v1/orgs/${orgId}/workspaces/${workspaceId}/settings/${family}`;

const policyData = JSON.parse(await readFile('policies/data.json', 'utf8')) as {
  portkey: { families: Array<{ name: string; settings: Array<{ name: string; default: boolean }> }> };
};

/** The committed bundle with its data.json replaced: what a policy author's next `make bundle` would ship. */
async function bundleWithData(data: object): Promise<Buffer> {
  const files = new Map((await readBundle(await readFile('bundles/portkey.tar.gz'))).files);
  files.set('data.json', Buffer.from(JSON.stringify(data)));
  const staging = await mkdtemp(join(tmpdir(), 'portcullis-families-'));
  try {
    for (const [name, bytes] of files) {
      await mkdir(dirname(join(staging, name)), { recursive: true });
      await writeFile(join(staging, name), bytes);
    }
    await create({ gzip: true, file: join(staging, 'out.tar.gz'), cwd: staging }, [...files.keys()]);
    return await readFile(join(staging, 'out.tar.gz'));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

for (const kind of kinds) {
  describe(`permission families (${kind.name})`, () => {
    let sidecar: Sidecar;
    before(async () => (sidecar = await kind.make()));
    after(() => sidecar.close());
    const api = () => request(sidecar.app);

    test("GET /v1/families: the active bundle's table, in its order, without a token", async () => {
      const res = await api().get('/v1/families').expect(200);
      assert.equal(res.body.bundleRevision, sidecar.policy.require().revision);
      assert.deepEqual(
        res.body.families.map((f: { name: string }) => f.name),
        policyData.portkey.families.map((f) => f.name),
      );
      const prompts = res.body.families.find((f: { name: string }) => f.name === 'prompt-access');
      assert.equal(prompts.workspaceOverrides, 'family');
      assert.deepEqual(prompts.resourceTypes, ['prompt']);
      assert.deepEqual(
        prompts.settings.find((s: { name: string }) => s.name === 'membersWritePrompts'),
        {
          name: 'membersWritePrompts',
          label: 'Members Write Prompts',
          default: false,
          role: 'member',
          access: 'write',
          resourceTypes: ['prompt'],
        },
      );
      await api().post('/v1/families').expect(405);
    });

    test("a family's org settings: defaults (from the table), PUT, PATCH, one toggle for the family", async () => {
      const fresh = await api().get(orgPath('fam', 'prompt-access')).set(auth).expect(200);
      assert.deepEqual(fresh.body, {
        managersViewPrompts: true,
        managersWritePrompts: true,
        membersViewPrompts: true,
        membersWritePrompts: false,
        allowWorkspaceOverrides: false,
        stored: false,
      });
      const put = await api().put(orgPath('fam', 'prompt-access')).set(auth).send({ membersWritePrompts: true, allowWorkspaceOverrides: true }).expect(200);
      assert.equal(put.body.membersWritePrompts, true);
      assert.equal(put.body.allowWorkspaceOverrides, true);
      const patched = await api()
        .patch(orgPath('fam', 'prompt-access'))
        .set(auth)
        .set('If-Match', put.headers.etag!)
        .send({ managersViewPrompts: false })
        .expect(200);
      assert.deepEqual(patched.body, {
        managersViewPrompts: false,
        managersWritePrompts: true,
        membersViewPrompts: true,
        membersWritePrompts: true,
        allowWorkspaceOverrides: true,
      });
      // The other families are untouched: integration-access still at its defaults.
      const integration = await api().get(orgPath('fam', 'integration-access')).set(auth).expect(200);
      assert.equal(integration.body.stored, false);
      assert.equal(integration.headers.etag, patched.headers.etag, 'one version per organization, all families');
      const logs = await api().put(orgPath('fam', 'logs-access')).set(auth).send({ orgAdminViewLogs: false }).expect(200);
      assert.deepEqual(logs.body, {
        managersViewLogs: true,
        managersViewLogsMetadata: true,
        membersViewLogs: true,
        membersViewLogsMetadata: true,
        orgAdminViewLogs: false,
        orgAdminViewLogsMetadata: true,
      });
    });

    test('the policy gets one flat snapshot of every family (toggles keyed by setting or by family)', async () => {
      await api()
        .put(orgPath('flat', 'integration-access'))
        .set(auth)
        .send({ managersWriteMcpServers: false, allowWorkspaceOverrides: { managersWriteMcpServers: true } })
        .expect(200);
      await api().put(orgPath('flat', 'guardrail-access')).set(auth).send({ managersWriteGuardrails: false, allowWorkspaceOverrides: true }).expect(200);
      await api().put(orgPath('flat', 'logs-access')).set(auth).send({ membersViewLogs: false }).expect(200);
      await api()
        .put(wsPath('flat', 'ws-f', 'integration-access'))
        .set(auth)
        .send({ managersWriteMcpServers: true })
        .expect(200);
      await api()
        .put(wsPath('flat', 'ws-f', 'guardrail-access'))
        .set(auth)
        .send({ managersWriteGuardrails: true })
        .expect(200);
      const snapshot = await sidecar.store.snapshot('flat', 'ws-f');
      assert.deepEqual(snapshot.org, {
        managersWriteMcpServers: false,
        managersWriteGuardrails: false,
        membersViewLogs: false,
        allowWorkspaceOverrides: { managersWriteMcpServers: true, 'guardrail-access': true },
      });
      assert.deepEqual(snapshot.workspace, { managersWriteMcpServers: true, managersWriteGuardrails: true });
      // Deleting one family's workspace values leaves the others.
      await api()
        .delete(wsPath('flat', 'ws-f', 'guardrail-access'))
        .set(auth)
        .expect(204);
      assert.deepEqual((await sidecar.store.snapshot('flat', 'ws-f')).workspace, { managersWriteMcpServers: true });
      assert.deepEqual(
        (
          await api()
            .get(wsPath('flat', 'ws-f', 'integration-access'))
            .set(auth)
            .expect(200)
        ).body,
        { managersWriteMcpServers: true },
      );
    });

    test("strict validation names the unknown setting and the one meant; a toggle has the family's shape", async () => {
      const typo = await api().put(orgPath('strict', 'prompt-access')).set(auth).send({ membersWritePrompt: true }).expect(400);
      assert.equal(typo.body.errors[0].field, 'membersWritePrompt');
      assert.match(typo.body.errors[0].message, /unknown setting; did you mean `membersWritePrompts`\?/);
      const otherFamily = await api().put(orgPath('strict', 'prompt-access')).set(auth).send({ managersWriteMcpServers: false }).expect(400);
      assert.equal(otherFamily.body.errors[0].field, 'managersWriteMcpServers');
      const toggle = await api()
        .put(orgPath('strict', 'prompt-access'))
        .set(auth)
        .send({ allowWorkspaceOverrides: { membersWritePrompts: true } })
        .expect(400);
      assert.equal(toggle.body.errors[0].field, 'allowWorkspaceOverrides');
      assert.match(toggle.body.errors[0].message, /true or false/);
      const logsToggle = await api().put(orgPath('strict', 'logs-access')).set(auth).send({ allowWorkspaceOverrides: true }).expect(400);
      assert.equal(logsToggle.body.errors[0].field, 'allowWorkspaceOverrides');
      const notBool = await api()
        .put(wsPath('strict', 'ws-s', 'analytics-access'))
        .set(auth)
        .send({ membersViewAnalytics: 'no' })
        .expect(400);
      assert.equal(notBool.body.errors[0].message, 'must be true or false');
      assert.equal((await api().get(orgPath('strict', 'prompt-access')).set(auth).expect(200)).body.stored, false, 'nothing was written');
    });

    test('an unknown family is a 404 naming the families; the logs family has no workspace path', async () => {
      const unknown = await api().get(orgPath('x', 'prompts-access')).set(auth).expect(404);
      assert.equal(unknown.body.code, 'unknown_family');
      assert.match(unknown.body.message, /did you mean prompt-access\?/);
      for (const method of ['get', 'put', 'patch', 'delete'] as const) {
        const res = await api()
          [method](wsPath('x', 'ws-1', 'logs-access'))
          .set(auth)
          .send({})
          .expect(404);
        assert.equal(res.body.code, 'no_workspace_overrides');
        assert.match(res.body.message, /logs-access has no workspace overrides/);
        assert.match(res.body.message, /\(\/v1\/orgs\/x\/settings\/logs-access\)/, "names the organization's own path");
      }
      await api().get(orgPath('x', 'prompt-access')).expect(401);
    });

    test('settings-change records name the family', async () => {
      await api().put(orgPath('rec', 'analytics-access')).set(auth).send({ membersViewAnalytics: false }).expect(200);
      await api()
        .put(wsPath('rec', 'ws-r', 'analytics-access'))
        .set(auth)
        .send({ membersViewAnalytics: true })
        .expect(200);
      await sidecar.audit.flush();
      const res = await api().get('/v1/audit/settings-changes?orgId=rec').set(auth).expect(200);
      const families = res.body.changes
        .filter((c: { operation: string }) => c.operation !== 'register_workspace')
        .map((c: { family: string; operation: string }) => `${c.operation} ${c.family}`);
      assert.deepEqual(families.sort(), ['put_org analytics-access', 'put_workspace analytics-access']);
    });

    test("effective settings: the engine's values with their source, the ignored workspace values named", async () => {
      const path = '/v1/orgs/eff/workspaces/ws-e/effective-settings';
      await api().put(orgPath('eff', 'prompt-access')).set(auth).send({ membersWritePrompts: true }).expect(200);
      const written = await api()
        .put(wsPath('eff', 'ws-e', 'prompt-access'))
        .set(auth)
        .send({ membersWritePrompts: false, managersViewPrompts: false })
        .expect(200);
      const off = await api().get(path).set(auth).expect(200);
      assert.equal(off.headers.etag, written.headers.etag);
      assert.deepEqual(
        { orgId: off.body.orgId, workspaceId: off.body.workspaceId, version: off.body.version, bundleRevision: off.body.bundleRevision },
        { orgId: 'eff', workspaceId: 'ws-e', version: Number(written.headers['x-settings-version']), bundleRevision: sidecar.policy.require().revision },
      );
      assert.deepEqual(off.body.families['prompt-access'].membersWritePrompts, { value: true, source: 'org', workspace_value_ignored: true });
      assert.deepEqual(off.body.families['prompt-access'].managersViewPrompts, { value: true, source: 'default', workspace_value_ignored: true });
      assert.deepEqual(off.body.families['prompt-access'].membersViewPrompts, { value: true, source: 'default', workspace_value_ignored: false });
      assert.deepEqual(Object.keys(off.body.families).sort(), policyData.portkey.families.map((f) => f.name).sort());
      await api().patch(orgPath('eff', 'prompt-access')).set(auth).send({ allowWorkspaceOverrides: true }).expect(200);
      const on = await api().get(path).set(auth).expect(200);
      assert.deepEqual(on.body.families['prompt-access'].membersWritePrompts, { value: false, source: 'workspace', workspace_value_ignored: false });
      assert.deepEqual(on.body.families['logs-access'].orgAdminViewLogs, { value: true, source: 'default', workspace_value_ignored: false });
      await api().get(path).expect(401);
      await api().get('/v1/orgs/eff/workspaces/ws%0a1/effective-settings').set(auth).expect(400);
    });

    test('a bundle that adds a family serves it after the reload: /v1/families and its settings API', async () => {
      const data = structuredClone(policyData) as { portkey: { families: unknown[] } };
      data.portkey.families.push({
        name: 'budget-access',
        label: 'Budget Management',
        resource_types: ['budget'],
        actions: ['read', 'update'],
        workspace_overrides: 'family',
        settings: [
          { name: 'managersEditBudgets', label: 'Managers Edit Budgets', default: false, role: 'manager', access: 'write', resource_types: ['budget'] },
        ],
      });
      await api().get(orgPath('grow', 'budget-access')).set(auth).expect(404);
      const before = sidecar.policy.require();
      sidecar.policy.activate(await PolicyEngine.load(await readBundle(await bundleWithData(data))));
      try {
        const listed = await api().get('/v1/families').expect(200);
        assert.equal(listed.body.families.at(-1).name, 'budget-access');
        assert.deepEqual((await api().get(orgPath('grow', 'budget-access')).set(auth).expect(200)).body, {
          managersEditBudgets: false,
          allowWorkspaceOverrides: false,
          stored: false,
        });
        await api().put(orgPath('grow', 'budget-access')).set(auth).send({ managersEditBudgets: true }).expect(200);
        await api()
          .put(wsPath('grow', 'ws-g', 'budget-access'))
          .set(auth)
          .send({ managersEditBudgets: false })
          .expect(200);
        const snapshot = await sidecar.store.snapshot('grow', 'ws-g');
        assert.equal(snapshot.org.managersEditBudgets, true);
        assert.equal(snapshot.workspace.managersEditBudgets, false);
      } finally {
        sidecar.policy.activate(before);
      }
      await api().get(orgPath('grow', 'budget-access')).set(auth).expect(404);
    });
  });
}
