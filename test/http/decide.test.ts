// The integration-access rules and the decision API through the HTTP API, on both settings stores: the in-memory one
// of `make run` and Redis (a real redis-server). Settings are set through the admin API.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { Sidecar } from '../../src/sidecar.ts';
import { ACTIONS, ORG_ROLES, TOGGLES, TYPES, VALUES, WORKSPACE_ROLES, expected, principalOf, type MatrixCase } from '../support/matrix.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, managerInOwnWorkspace, registerWorkspaces, testSidecar } from '../support/sidecar.ts';

const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const SETTING = 'managersWriteMcpServers';

for (const storeKind of ['memory', 'redis'] as const) {
  describe(`decisions on the ${storeKind} store`, () => {
    let redis: RedisServer | undefined;
    let sidecar: Sidecar;
    let server: Server;
    let api: ReturnType<typeof request>;

    before(async () => {
      if (storeKind === 'redis') redis = await RedisServer.start();
      // No example settings: the matrix registers ws-1 to one organization after another.
      sidecar = await testSidecar(redis ? { redisUrl: redis.url } : { settingsFile: '' });
      await registerWorkspaces(sidecar, { 'ws-fresh': 'fresh', 'ws-flip': 'flip', 'ws-spoof': 'spoof' });
      server = createServer(sidecar.app).listen(0, '127.0.0.1');
      await once(server, 'listening');
      api = request(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });

    after(async () => {
      server.closeAllConnections();
      server.close();
      await sidecar.close();
      await redis?.stop();
    });

    const putOrg = (orgId: string, body: object) => api.put(`/v1/orgs/${orgId}/settings/integration-access`).set(admin).send(body).expect(200);
    const putWorkspace = (orgId: string, ws: string, body: object) =>
      api.put(`/v1/orgs/${orgId}/workspaces/${ws}/settings/integration-access`).set(admin).send(body).expect(200);
    const decide = async (body: object) => (await api.post('/v1/authorize').send(body).expect(200)).body;

    test('every integration-access rule, over the whole matrix, set through the admin API', async () => {
      let combination = 0;
      const wrong: unknown[] = [];
      for (const orgValue of VALUES)
        for (const toggle of TOGGLES)
          for (const workspaceValue of VALUES) {
            // One organization per settings combination, the combination applied to all three settings.
            const orgId = `matrix-${combination++}`;
            const org: Record<string, unknown> = { allowWorkspaceOverrides: {} };
            const workspace: Record<string, boolean> = {};
            for (const name of Object.values(TYPES)) {
              (org.allowWorkspaceOverrides as Record<string, boolean>)[name] = toggle;
              if (orgValue !== 'unset') org[name] = orgValue;
              if (workspaceValue !== 'unset') workspace[name] = workspaceValue;
            }
            await putOrg(orgId, org);
            await putWorkspace(orgId, 'ws-1', workspace);
            const cases: MatrixCase[] = [];
            for (const orgRole of ORG_ROLES)
              for (const workspaceRole of WORKSPACE_ROLES)
                for (const type of Object.keys(TYPES) as Array<keyof typeof TYPES>)
                  for (const action of ACTIONS) cases.push({ orgRole, workspaceRole, type, action, orgValue, toggle, workspaceValue });
            const answers = await Promise.all(
              cases.map((c) =>
                decide({
                  principal: { ...principalOf(c), orgId },
                  action: c.action,
                  resource: { type: c.type, orgId, workspaceId: 'ws-1' },
                }),
              ),
            );
            cases.forEach((c, i) => {
              const { allow, reason, setting, source } = answers[i];
              const got = { allow, reason, ...(setting ? { setting } : {}), ...(source ? { source } : {}) };
              if (JSON.stringify(got) !== JSON.stringify(expected(c))) wrong.push({ c, got, want: expected(c) });
            });
            // A workspace belongs to one organization: ws-1 moves on to the next combination's.
            await api.delete(`/v1/orgs/${orgId}/workspaces/ws-1`).set(admin).expect(204);
          }
      assert.equal(combination, 18);
      assert.deepEqual(wrong.slice(0, 3), [], `${wrong.length} decisions differ from the spec`);
    });

    test('every answer has a decision id and the bundle revision', async () => {
      const a = await decide(managerInOwnWorkspace('fresh'));
      const b = await decide(managerInOwnWorkspace('fresh'));
      assert.match(a.decisionId, /^[0-9a-f-]{36}$/);
      assert.notEqual(a.decisionId, b.decisionId);
      assert.equal(a.bundleRevision, sidecar.policy.current!.revision);
      assert.deepEqual([a.allow, a.reason, a.setting, a.source], [true, 'manager_write_enabled', SETTING, 'default']);
    });

    test("a manager's write flips on the very next request when an admin changes the setting, and back via the workspace override", async () => {
      const manager = managerInOwnWorkspace('flip');
      assert.equal((await decide(manager)).allow, true); // default, and now cached

      await putOrg('flip', { [SETTING]: false });
      const denied = await decide(manager);
      assert.deepEqual([denied.allow, denied.reason, denied.source], [false, 'manager_write_disabled', 'org']);

      await putWorkspace('flip', 'ws-flip', { [SETTING]: true });
      assert.equal((await decide(manager)).allow, false, 'a workspace value is ignored while the toggle is off');

      await putOrg('flip', { [SETTING]: false, allowWorkspaceOverrides: { [SETTING]: true } });
      const allowed = await decide(manager);
      assert.deepEqual([allowed.allow, allowed.reason, allowed.source], [true, 'manager_write_enabled', 'workspace']);

      await putOrg('flip', { [SETTING]: false });
      assert.equal((await decide(manager)).allow, false, 'toggle off again: the stored workspace value is kept but ignored');
      const kept = await api.get('/v1/orgs/flip/workspaces/ws-flip/settings/integration-access').set(admin).expect(200);
      assert.deepEqual(kept.body, { [SETTING]: true });

      await putOrg('flip', { [SETTING]: false, allowWorkspaceOverrides: { [SETTING]: true } });
      assert.equal((await decide(manager)).source, 'workspace', 'toggle on again restores the workspace value');

      await api.delete('/v1/orgs/flip/workspaces/ws-flip/settings/integration-access').set(admin).expect(204);
      const inherited = await decide(manager);
      assert.deepEqual([inherited.allow, inherited.source], [false, 'org'], 'deleted workspace settings inherit again');
    });

    test('settings sent by the caller are discarded', async () => {
      await putOrg('spoof', { [SETTING]: false });
      const spoofed = {
        ...managerInOwnWorkspace('spoof'),
        settings: { org: { [SETTING]: true }, workspace: { [SETTING]: true } },
      };
      const answer = await decide(spoofed);
      assert.deepEqual([answer.allow, answer.reason, answer.source], [false, 'manager_write_disabled', 'org']);
      const viaOpa = await api.post('/v1/data/portkey/authz/allow').send({ input: spoofed }).expect(200);
      assert.equal(viaOpa.body.result, false);
      const prototypeTrick = JSON.parse(
        `{"__proto__": {"settings": {"org": {"${SETTING}": true}}}, ${JSON.stringify(managerInOwnWorkspace('spoof')).slice(1)}`,
      );
      const refused = await api.post('/v1/authorize').send(prototypeTrick).expect(400);
      assert.deepEqual(
        refused.body.errors.map((e: { code: string; field: string }) => [e.code, e.field]),
        [['unknown_field', '__proto__']],
      );
    });

    test('org settings: defaults filled in, a field left out of a PUT takes its default', async () => {
      const fresh = await api.get('/v1/orgs/defaults/settings/integration-access').set(admin).expect(200);
      assert.equal(fresh.body.stored, false);
      delete fresh.body.stored;
      const allDefaults = {
        managersWriteWsIntegrations: true,
        managersWriteWsMcpIntegrations: true,
        managersWriteMcpServers: true,
        allowWorkspaceOverrides: { managersWriteWsIntegrations: false, managersWriteWsMcpIntegrations: false, managersWriteMcpServers: false },
      };
      assert.deepEqual(fresh.body, allDefaults);
      await putOrg('defaults', { managersWriteWsIntegrations: false, allowWorkspaceOverrides: { [SETTING]: true } });
      await putOrg('defaults', { [SETTING]: false });
      const after = await api.get('/v1/orgs/defaults/settings/integration-access').set(admin).expect(200);
      assert.deepEqual(after.body, { ...allDefaults, [SETTING]: false });
      assert.deepEqual((await api.get('/v1/orgs/defaults/workspaces/none/settings/integration-access').set(admin).expect(200)).body, { stored: false });
    });

    test('every settings write bumps the version', async () => {
      const first = await putOrg('versions', {});
      const second = await putWorkspace('versions', 'ws-v', {});
      assert.ok(Number(second.headers['x-settings-version']) > Number(first.headers['x-settings-version']));
    });

    test('the admin API needs the admin token', async () => {
      const path = '/v1/orgs/org-1/settings/integration-access';
      const none = await api.get(path).expect(401);
      assert.equal(none.body.code, 'unauthorized');
      await api.get(path).set('Authorization', 'Bearer wrong').expect(401);
      await api.get(path).set('Authorization', ADMIN_TOKEN).expect(401);
      await api
        .put(path)
        .send({ [SETTING]: true })
        .expect(401);
      await api.delete('/v1/orgs/org-1/workspaces/ws-1/settings/integration-access').expect(401);
      await api.get(path).set(admin).expect(200);
    });

    test('bad settings are refused with the field named', async () => {
      const path = '/v1/orgs/org-1/settings/integration-access';
      const cases: Array<[unknown, string]> = [
        [{ managersWriteMcpServer: false }, 'managersWriteMcpServer'],
        [{ [SETTING]: 'false' }, SETTING],
        [{ allowWorkspaceOverrides: { [SETTING]: 1 } }, `allowWorkspaceOverrides.${SETTING}`],
        [{ allowWorkspaceOverrides: true }, 'allowWorkspaceOverrides'],
        [[], 'body'],
      ];
      for (const [body, field] of cases) {
        const res = await api
          .put(path)
          .set(admin)
          .send(body as object)
          .expect(400);
        assert.equal(res.body.code, 'invalid_parameter');
        assert.deepEqual(
          res.body.errors.map((e: { field: string }) => e.field),
          [field],
        );
      }
      const ws = await api.put('/v1/orgs/org-1/workspaces/ws-1/settings/integration-access').set(admin).send({ allowWorkspaceOverrides: {} }).expect(400);
      assert.equal(ws.body.errors[0].field, 'allowWorkspaceOverrides');
    });
  });
}
