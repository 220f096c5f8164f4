// The audit API over HTTP, on a sidecar with Redis (one node, and a real 3+3 Redis Cluster)
// and on the embedded one of `make run` (in-memory settings seeded from examples/settings.yaml,
// in-memory audit log).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { RedisAuditLog } from '../../src/audit/redis.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { startRedisCluster, type RedisCluster } from '../support/cluster.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, decisionRequest, EXAMPLE_WORKSPACES, registerWorkspaces, testSidecar } from '../support/sidecar.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
let redis: RedisServer;
let cluster: RedisCluster;
let spillDir: string;

before(async () => {
  // One after the other, so that a cluster that fails to start leaves a server the after hook can stop.
  redis = await RedisServer.start();
  cluster = await startRedisCluster();
  spillDir = await mkdtemp(join(tmpdir(), 'portcullis-audit-'));
});

after(async () => {
  await Promise.all([redis?.stop(), cluster?.stop()]);
  await rm(spillDir, { recursive: true, force: true });
});

const kinds = [
  { name: 'redis', make: () => testSidecar({ redisUrl: redis.url, auditSpillDir: spillDir, auditFlushMs: 10 }) },
  {
    name: 'redis cluster',
    make: () => testSidecar({ redisClusterNodes: cluster.nodes.join(','), auditSpillDir: join(spillDir, 'cluster'), auditFlushMs: 10 }),
  },
  { name: 'memory (make run)', make: () => testSidecar({ settingsFile: 'examples/settings.yaml' }) },
];

for (const kind of kinds) {
  describe(`audit API (${kind.name})`, () => {
    let sidecar: Sidecar;
    const ids: Record<string, string> = {};

    before(async () => {
      sidecar = await kind.make();
      // Registered without the admin API, so that no registration is among the recorded changes.
      await registerWorkspaces(sidecar, { ...EXAMPLE_WORKSPACES, 'ws-20': 'org-2' });
      const app = sidecar.app;
      await request(app)
        .put('/v1/orgs/org-1/settings/integration-access')
        .set(auth)
        .set('X-Actor', 'alice@example.com')
        .send({ managersWriteMcpServers: false })
        .expect(200);
      // Decisions in workspaces the directory knows are kept in their organization's stream
      // (ws-1 through the API: its registration is one of the settings changes recorded).
      await request(app)
        .put('/v1/orgs/org-1/workspaces/ws-1')
        .set(auth)
        .send({})
        .expect((res) => assert.ok(res.status < 300, res.text));
      await sidecar.store.registerWorkspace('org-1', 'ws-2');
      ids.denied = (await request(app).post('/v1/authorize').send(decisionRequest()).expect(200)).body.decisionId;
      ids.read = (
        await request(app)
          .post('/v1/data/portkey/authz/decision')
          .send({ input: decisionRequest({ action: 'read', workspaceId: 'ws-2', workspaceRoles: { 'ws-2': 'member' } }) })
          .expect(200)
      ).body.decision_id;
      const batch = await request(app)
        .post('/v1/batch/data/portkey/authz/allow')
        .send({ inputs: { a: decisionRequest({ type: 'integration', action: 'update' }) } })
        .expect(200);
      ids.batch = batch.body.responses.a.decision_id;
      ids.otherOrg = (
        await request(app)
          .post('/v1/authorize')
          .send(decisionRequest({ orgId: 'org-2', workspaceId: 'ws-20', workspaceRoles: { 'ws-20': 'manager' } }))
          .expect(200)
      ).body.decisionId;
      await sidecar.audit.flush();
    });

    after(() => sidecar.close());

    test('every API that decides is recorded, newest first, with the setting that decided', async () => {
      const res = await request(sidecar.app).get('/v1/audit/decisions?orgId=org-1').set(auth).expect(200);
      assert.deepEqual(
        res.body.decisions.map((d: { decisionId: string }) => d.decisionId),
        [ids.batch, ids.read, ids.denied],
      );
      assert.equal(res.body.nextCursor, null);
      const [batch, read, denied] = res.body.decisions;
      assert.deepEqual([batch.api, read.api, denied.api], ['opa_batch', 'opa_data', 'authorize']);
      assert.equal(denied.allow, false);
      assert.equal(denied.reason, 'manager_write_disabled');
      assert.equal(denied.setting, 'managersWriteMcpServers');
      assert.equal(denied.source, 'org');
      assert.deepEqual(denied.input.settings.org, { managersWriteMcpServers: false });
      assert.equal(typeof denied.settingsVersion, 'number');
      assert.equal(typeof denied.latencyMs, 'number');
      assert.equal(denied.bundleRevision, sidecar.policy.current!.revision);
    });

    test('filters over HTTP, and a cursor to the next page', async () => {
      const get = (qs: string) => request(sidecar.app).get(`/v1/audit/decisions?orgId=org-1&${qs}`).set(auth).expect(200);
      assert.deepEqual(
        (await get('allow=false&resourceType=mcp_server')).body.decisions.map((d: { decisionId: string }) => d.decisionId),
        [ids.denied],
      );
      assert.deepEqual(
        (await get('action=read&workspaceId=ws-2&principalId=u-1')).body.decisions.map((d: { decisionId: string }) => d.decisionId),
        [ids.read],
      );
      assert.equal((await get(`from=${new Date(Date.now() + 60_000).toISOString()}`)).body.decisions.length, 0);
      for (const [api, id] of [
        ['authorize', ids.denied],
        ['opa_data', ids.read],
        ['opa_batch', ids.batch],
      ]) {
        assert.deepEqual(
          (await get(`api=${api}`)).body.decisions.map((d: { decisionId: string }) => d.decisionId),
          [id],
          `api=${api}`,
        );
      }
      assert.equal((await get('api=ext_authz_http')).body.decisions.length, 0);
      const first = await get('limit=2');
      assert.equal(first.body.decisions.length, 2);
      const second = await get(`limit=2&cursor=${first.body.nextCursor}`);
      assert.deepEqual(
        second.body.decisions.map((d: { decisionId: string }) => d.decisionId),
        [ids.denied],
      );
    });

    test('bad parameters are a 400 that names them', async () => {
      const cases: Array<[string, string]> = [
        ['', 'orgId'],
        ['orgId=org-1&allow=maybe', 'allow'],
        ['orgId=org-1&from=yesterday', 'from'],
        ['orgId=org-1&to=2025-13-45T00:00:00Z', 'to'],
        ['orgId=org-1&limit=0', 'limit'],
        ['orgId=org-1&limit=1001', 'limit'],
        ['orgId=org-1&resourceType=database', 'resourceType'],
        ['orgId=org-1&action=destroy', 'action'],
        ['orgId=org-1&api=opa-data', 'api'],
        ['orgId=org-1&api=authorize&api=opa_data', 'api'],
        ['orgId=org-1&cursor=not-a-cursor', 'cursor'],
        ['orgId=org-1&orgId=org-2', 'orgId'],
        ['orgId=org-1&principal=u-1', 'principal'],
        ['orgId=org-1&from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z', 'from'],
      ];
      for (const [qs, field] of cases) {
        const res = await request(sidecar.app).get(`/v1/audit/decisions?${qs}`).set(auth).expect(400);
        assert.ok(
          res.body.errors.some((e: { field: string }) => e.field === field),
          `${qs}: ${JSON.stringify(res.body)}`,
        );
      }
    });

    test('a mistyped API or action is a 400 that suggests the name meant', async () => {
      const api = await request(sidecar.app).get('/v1/audit/decisions?orgId=org-1&api=opa-data').set(auth).expect(400);
      assert.deepEqual(api.body.errors, [
        {
          field: 'api',
          code: 'invalid_value',
          message: 'must be one of authorize, opa_data, opa_batch, ext_authz_http, ext_authz_grpc, permissions; did you mean opa_data?',
        },
      ]);
      const action = await request(sidecar.app).get('/v1/audit/decisions?orgId=org-1&action=raed').set(auth).expect(400);
      assert.match(action.body.errors[0].message, /did you mean read\?$/);
    });

    test('the audit API needs the admin token', async () => {
      await request(sidecar.app).get('/v1/audit/decisions?orgId=org-1').expect(401);
      await request(sidecar.app).get(`/v1/audit/decisions/${ids.denied}`).set({ Authorization: 'Bearer wrong' }).expect(401);
      await request(sidecar.app).get('/v1/audit/summary?orgId=org-1').expect(401);
    });

    test('a decision by its id, whatever its organization', async () => {
      assert.equal((await request(sidecar.app).get(`/v1/audit/decisions/${ids.otherOrg}`).set(auth).expect(200)).body.orgId, 'org-2');
      await request(sidecar.app).get('/v1/audit/decisions/no-such-id').set(auth).expect(404);
    });

    test('summary for dashboards', async () => {
      const res = await request(sidecar.app).get('/v1/audit/summary?orgId=org-1').set(auth).expect(200);
      assert.equal(res.body.total, 3);
      assert.deepEqual(res.body.byOutcome, { allow: 2, deny: 1 });
      assert.equal(res.body.byReason.manager_write_disabled, 1);
      assert.deepEqual(res.body.byResourceType, { mcp_server: 2, integration: 1 });
    });

    test('settings changes through the admin API are recorded: who, when, before and after', async () => {
      const app = sidecar.app;
      await request(app).put('/v1/orgs/org-1/workspaces/ws-3').set(auth).expect(201);
      await request(app)
        .put('/v1/orgs/org-1/workspaces/ws-3/settings/integration-access')
        .set(auth)
        .set('X-Actor', 'bob')
        .send({ managersWriteMcpServers: true })
        .expect(200);
      await request(app).delete('/v1/orgs/org-1/workspaces/ws-3/settings/integration-access').set(auth).expect(204);
      await sidecar.audit.flush();
      const res = await request(app).get('/v1/audit/settings-changes?orgId=org-1').set(auth).expect(200);
      const [deleted, put, registered, org] = res.body.changes;
      // The actor is the admin token's name; X-Actor is only a note.
      assert.deepEqual(
        [deleted.operation, deleted.actor, deleted.note, deleted.workspaceId, deleted.before, deleted.after],
        ['delete_workspace', 'admin', undefined, 'ws-3', { managersWriteMcpServers: true }, null],
      );
      assert.deepEqual([put.operation, put.actor, put.note, put.before, put.after], ['put_workspace', 'admin', 'bob', null, { managersWriteMcpServers: true }]);
      assert.equal(deleted.version, put.version + 1, 'a delete records the version it made');
      assert.deepEqual([registered.operation, registered.workspaceId], ['register_workspace', 'ws-3']);
      assert.equal(org.operation, 'put_org');
      assert.deepEqual([org.actor, org.note], ['admin', 'alice@example.com']);
      assert.deepEqual(org.after, { managersWriteMcpServers: false });
      assert.ok(Date.parse(org.timestamp) <= Date.parse(put.timestamp));
      assert.equal(typeof put.version, 'number');
      assert.equal((await request(app).get('/v1/audit/settings-changes?orgId=org-1&workspaceId=ws-3').set(auth).expect(200)).body.changes.length, 3);
    });

    test('/metrics shows the audit counters', async () => {
      const res = await request(sidecar.app).get('/metrics').expect(200);
      assert.match(res.text, /portcullis_audit_records_total\{event="recorded"\} 4/);
      assert.match(res.text, /portcullis_audit_records_total\{event="dropped"\} 0/);
      assert.match(res.text, /portcullis_audit_buffered_records 0/);
    });
  });
}

describe('audit API while the audit Redis is away', () => {
  test('a query is a 503, and decisions are still answered', async () => {
    const own = await RedisServer.start();
    const sidecar = await testSidecar({ redisUrl: own.url, auditSpillDir: spillDir });
    try {
      await own.stop();
      await request(sidecar.app).get('/v1/audit/decisions?orgId=org-1').set(auth).expect(503);
      await request(sidecar.app)
        .post('/v1/authorize')
        .send(decisionRequest({ orgRole: 'owner' }))
        .expect(200);
      assert.equal((sidecar.audit as RedisAuditLog).redis.status === 'ready', false);
    } finally {
      await own.start();
      await sidecar.close();
      await own.stop();
    }
  });
});
