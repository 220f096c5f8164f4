// Whose workspace it is: the Decider checks the workspace directory. The decision APIs
// keep the caller's organization but answer cross_org when the directory disagrees;
// gateways (workspaceDirectory: 'decides') take the directory's organization and deny unknown
// workspaces. A cross-organization decision is recorded in the principal's organization,
// without the target organization's name or settings. A policy evaluation that fails is
// a 500 that carries its decision id, recorded as a denial.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import request from 'supertest';
import { parseAuthorizeRequest } from '../../src/decision/request.ts';
import { ApiError } from '../../src/errors.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { RedisServer } from '../support/redis.ts';
import { decisionRequest, testSidecar, RESOURCE_TYPES } from '../support/sidecar.ts';

let redis: RedisServer;
let probe: Redis;
before(async () => {
  redis = await RedisServer.start();
  probe = new Redis(redis.url);
});
after(async () => {
  probe.disconnect();
  await redis.stop();
});

const owner = (over: Parameters<typeof decisionRequest>[0] = {}) => decisionRequest({ orgRole: 'owner', workspaceRoles: {}, ...over });

for (const kind of ['memory', 'redis'] as const) {
  describe(`workspace directory in decisions (${kind})`, () => {
    let sidecar: Sidecar;
    before(async () => {
      sidecar = await testSidecar(kind === 'redis' ? { redisUrl: redis.url } : {});
      await sidecar.store.registerWorkspace('org-2', `ws-of-org-2-${kind}`);
      await sidecar.store.registerWorkspace('org-1', `ws-of-org-1-${kind}`);
    });
    after(() => sidecar.close());

    test('/v1/authorize: a workspace the directory places in another organization is cross_org', async () => {
      const body = owner({ orgId: 'org-1', workspaceId: `ws-of-org-2-${kind}` });
      const res = await request(sidecar.app).post('/v1/authorize').send(body).expect(200);
      assert.equal(res.body.allow, false);
      assert.equal(res.body.reason, 'cross_org');
      const own = await request(sidecar.app).post('/v1/authorize').send(owner({ orgId: 'org-1', workspaceId: `ws-of-org-1-${kind}` })).expect(200);
      assert.equal(own.body.reason, 'org_admin');
      const unknown = await request(sidecar.app).post('/v1/authorize').send(owner({ orgId: 'org-1', workspaceId: 'never-registered' })).expect(200);
      assert.equal(unknown.body.reason, 'org_admin', 'the decision APIs keep the caller\'s organization for workspaces the directory does not know');
      const opa = await request(sidecar.app).post('/v1/data/portkey/authz/decision').send({ input: body }).expect(200);
      assert.equal(opa.body.result.reason, 'cross_org');
    });

    test('gateways: the directory\'s organization decides; an unknown workspace is unknown_workspace', async () => {
      const decide = (body: unknown) => sidecar.decider.decide(parseAuthorizeRequest(body, RESOURCE_TYPES), 'ext_authz_http', { workspaceDirectory: 'decides' });
      // The token says org-1 and so does the request: the directory says org-2.
      const stolen = await decide(owner({ orgId: 'org-1', workspaceId: `ws-of-org-2-${kind}` }));
      assert.deepEqual([stolen.allow, stolen.reason], [false, 'cross_org']);
      const unknown = await decide(owner({ orgId: 'org-1', workspaceId: 'never-registered' }));
      assert.deepEqual([unknown.allow, unknown.reason], [false, 'unknown_workspace']);
      // The request may name any organization: the directory's answer is used.
      const own = await decide(owner({ orgId: 'org-1', workspaceId: `ws-of-org-1-${kind}`, principalOrgId: 'org-1' }));
      assert.deepEqual([own.allow, own.reason], [true, 'org_admin']);
      const misnamed = await decide({ ...owner({ workspaceId: `ws-of-org-1-${kind}` }), resource: { type: 'mcp_server', orgId: 'org-9', workspaceId: `ws-of-org-1-${kind}` } });
      assert.deepEqual([misnamed.allow, misnamed.reason], [true, 'org_admin']);
    });

    test('a cross-organization decision is recorded in the principal\'s organization, without the target\'s name', async () => {
      const body = owner({ orgId: 'org-1', workspaceId: `ws-of-org-2-${kind}` });
      body.principal.id = `prober-${kind}`;
      const viaGateway = await sidecar.decider.decide(parseAuthorizeRequest(body, RESOURCE_TYPES), 'ext_authz_http', { workspaceDirectory: 'decides' });
      const viaApi = (await request(sidecar.app).post('/v1/authorize').send(body).expect(200)).body;
      await sidecar.audit.flush();
      for (const decisionId of [viaGateway.decisionId, viaApi.decisionId]) {
        const record = await sidecar.audit.getDecision(decisionId);
        assert.ok(record, `decision ${decisionId} recorded`);
        assert.equal(record.orgId, 'org-1');
        assert.equal(record.reason, 'cross_org');
        assert.ok(!JSON.stringify(record).includes('"org-2"'), `the record names the target organization: ${JSON.stringify(record)}`);
        assert.deepEqual(record.input.settings, { org: {}, workspace: {} }, 'no settings of another organization are read or recorded');
      }
      const inTarget = await sidecar.audit.queryDecisions({ orgId: 'org-2', principalId: `prober-${kind}` }, { limit: 10 });
      assert.equal(inTarget.items.length, 0, 'the target organization\'s auditors do not see the prober');
    });

    test('a policy evaluation that fails answers 500 with its decision id, recorded as a denial', async () => {
      const before = await request(sidecar.app).post('/v1/authorize').send(decisionRequest()).expect(200);
      // Below the edge validation: a lone surrogate aborts the WASM evaluation.
      const hostile = parseAuthorizeRequest(decisionRequest({ workspaceId: 'ws-1' }), RESOURCE_TYPES);
      hostile.principal.id = 'broken-\ud800';
      const error = await sidecar.decider.decide(hostile, 'authorize').then(
        () => assert.fail('the evaluation should have failed'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 500);
      const decisionId = error.details.decisionId;
      assert.ok(decisionId, 'the 500 carries the decision id');
      await sidecar.audit.flush();
      const recorded = await sidecar.audit.getDecision(decisionId);
      assert.equal(recorded?.allow, false);
      assert.equal(recorded?.reason, 'evaluation_failed');
      const next = await request(sidecar.app).post('/v1/authorize').send(decisionRequest()).expect(200);
      assert.deepEqual([next.body.allow, next.body.reason], [before.body.allow, before.body.reason]);
    });
  });
}

test('redis: a cross-organization decision reads no settings', async () => {
  const sidecar = await testSidecar({ redisUrl: redis.url });
  try {
    await sidecar.store.registerWorkspace('org-x', 'ws-x');
    const reads = async () => {
      const stats = await probe.info('commandstats');
      return Number(/cmdstat_hmget:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    };
    const before = await reads();
    for (let i = 0; i < 20; i++) {
      const res = await request(sidecar.app).post('/v1/authorize').send(decisionRequest({ principalOrgId: 'org-1', orgId: `org-probed-${i}` })).expect(200);
      assert.equal(res.body.reason, 'cross_org');
    }
    assert.equal(await reads(), before);
  } finally {
    await sidecar.close();
  }
});
