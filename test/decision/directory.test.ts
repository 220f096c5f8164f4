// Whose workspace it is: the workspace directory decides, for every API that decides. The
// request's organization is replaced by the directory's; another organization's workspace
// is cross_org, an unregistered one unknown_workspace (recorded with orgUnverified), and
// WORKSPACE_DIRECTORY=off takes the request's word. A cross-organization decision is
// recorded in the principal's organization, without the target organization's name or
// settings. A policy evaluation that fails is a 500 that carries its decision id, recorded
// as a denial.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { DecisionApi } from '../../src/decision/record.ts';
import { OTHER_ORG } from '../../src/decision/decider.ts';
import { parseAuthorizeRequest } from '../../src/decision/request.ts';
import { ApiError } from '../../src/errors.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { RedisServer } from '../support/redis.ts';
import { decisionRequest, registerWorkspaces, testSidecar, RESOURCE_TYPES } from '../support/sidecar.ts';

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
    const ofOrg2 = `ws-of-org-2-${kind}`;
    const ofOrg1 = `ws-of-org-1-${kind}`;
    before(async () => {
      sidecar = await testSidecar(kind === 'redis' ? { redisUrl: redis.url } : {});
      await registerWorkspaces(sidecar, { [ofOrg2]: 'org-2', [ofOrg1]: 'org-1', 'ws-1': 'org-1' });
    });
    after(() => sidecar.close());

    /** The decision APIs over HTTP, and the gateways' entry to the Decider. */
    const apis: Record<string, (body: ReturnType<typeof owner>) => Promise<{ allow: boolean; reason: string; decisionId: string }>> = {
      authorize: async (body) => (await request(sidecar.app).post('/v1/authorize').send(body).expect(200)).body,
      opa_data: async (body) => {
        const res = await request(sidecar.app).post('/v1/data/portkey/authz/decision').send({ input: body }).expect(200);
        return { ...res.body.result, decisionId: res.body.decision_id };
      },
      opa_batch: async (body) => {
        const res = await request(sidecar.app)
          .post('/v1/batch/data/portkey/authz/decision')
          .send({ inputs: { a: body } });
        assert.ok([200, 207].includes(res.status), JSON.stringify(res.body));
        return { ...res.body.responses.a.result, decisionId: res.body.responses.a.decision_id };
      },
      ext_authz_http: (body) => sidecar.decider.decide(parseAuthorizeRequest(body, RESOURCE_TYPES), 'ext_authz_http' satisfies DecisionApi),
      ext_authz_grpc: (body) => sidecar.decider.decide(parseAuthorizeRequest(body, RESOURCE_TYPES), 'ext_authz_grpc' satisfies DecisionApi),
    };

    for (const [api, decide] of Object.entries(apis)) {
      test(`${api}: another organization's workspace is cross_org, an unregistered one unknown_workspace, the directory's organization decides`, async () => {
        // The request names org-1 and so does the principal: the directory says org-2.
        const stolen = await decide(owner({ orgId: 'org-1', workspaceId: ofOrg2 }));
        assert.deepEqual([stolen.allow, stolen.reason], [false, 'cross_org']);
        const unknown = await decide(owner({ orgId: 'org-1', workspaceId: 'never-registered' }));
        assert.deepEqual([unknown.allow, unknown.reason], [false, 'unknown_workspace']);
        const own = await decide(owner({ orgId: 'org-1', workspaceId: ofOrg1 }));
        assert.deepEqual([own.allow, own.reason], [true, 'org_admin']);
        // The request may name any organization: the directory's answer is used.
        const misnamed = await decide({ ...owner({ workspaceId: ofOrg1 }), resource: { type: 'mcp_server', orgId: 'org-9', workspaceId: ofOrg1 } });
        assert.deepEqual([misnamed.allow, misnamed.reason], [true, 'org_admin']);

        await sidecar.audit.flush();
        const unverified = await sidecar.audit.getDecision(unknown.decisionId);
        assert.equal(unverified?.reason, 'unknown_workspace');
        assert.equal(unverified?.orgUnverified, true, 'the directory did not confirm the organization');
        // A cross-organization record is kept under the principal's organization, which is
        // the caller's word: the directory placed the workspace elsewhere, so it is unverified too.
        assert.equal((await sidecar.audit.getDecision(stolen.decisionId))?.orgUnverified, true);
        for (const confirmed of [own, misnamed]) assert.equal((await sidecar.audit.getDecision(confirmed.decisionId))?.orgUnverified, undefined);
      });
    }

    test("a cross-organization decision is recorded in the principal's organization, without the target's name", async () => {
      const body = owner({ orgId: 'org-1', workspaceId: ofOrg2 });
      body.principal.id = `prober-${kind}`;
      const viaGateway = await sidecar.decider.decide(parseAuthorizeRequest(body, RESOURCE_TYPES), 'ext_authz_http');
      const viaApi = (await request(sidecar.app).post('/v1/authorize').send(body).expect(200)).body;
      await sidecar.audit.flush();
      for (const decisionId of [viaGateway.decisionId, viaApi.decisionId]) {
        const record = await sidecar.audit.getDecision(decisionId);
        assert.ok(record, `decision ${decisionId} recorded`);
        assert.equal(record.orgId, 'org-1');
        assert.equal(record.reason, 'cross_org');
        assert.equal(record.resource.orgId, OTHER_ORG);
        assert.ok(!JSON.stringify(record).includes('"org-2"'), `the record names the target organization: ${JSON.stringify(record)}`);
        assert.deepEqual(record.input.settings, { org: {}, workspace: {} }, 'no settings of another organization are read or recorded');
      }
      const inTarget = await sidecar.audit.queryDecisions({ orgId: 'org-2', principalId: `prober-${kind}` }, { limit: 10 });
      assert.equal(inTarget.items.length, 0, "the target organization's auditors do not see the prober");
    });

    test('a policy evaluation that fails answers 500 with its decision id, recorded as a denial', async () => {
      const before = await request(sidecar.app).post('/v1/authorize').send(decisionRequest()).expect(200);
      assert.equal(before.body.reason, kind === 'memory' ? 'manager_write_disabled' : 'manager_write_enabled', 'evaluated by the policy');
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

test("WORKSPACE_DIRECTORY=off: the request's organization is taken unchecked, not marked unverified, and /v1/status says off", async () => {
  const sidecar = await testSidecar({ workspaceDirectory: false });
  try {
    await registerWorkspaces(sidecar, { 'ws-off-org-2': 'org-2' });
    const unknown = await request(sidecar.app)
      .post('/v1/authorize')
      .send(owner({ orgId: 'org-1', workspaceId: 'never-registered' }))
      .expect(200);
    assert.deepEqual([unknown.body.allow, unknown.body.reason], [true, 'org_admin']);
    const otherOrgs = await request(sidecar.app)
      .post('/v1/authorize')
      .send(owner({ orgId: 'org-1', workspaceId: 'ws-off-org-2' }))
      .expect(200);
    assert.deepEqual([otherOrgs.body.allow, otherOrgs.body.reason], [true, 'org_admin'], 'with the directory off, its entries are not consulted');
    await sidecar.audit.flush();
    assert.equal((await sidecar.audit.getDecision(unknown.body.decisionId))?.orgUnverified, undefined);
    assert.equal((await request(sidecar.app).get('/v1/status').expect(200)).body.workspaceDirectory, 'off');
  } finally {
    await sidecar.close();
  }
  const on = await testSidecar();
  try {
    assert.equal((await request(on.app).get('/v1/status').expect(200)).body.workspaceDirectory, 'on');
  } finally {
    await on.close();
  }
});

test('redis: a cross-organization decision reads no settings', async () => {
  const sidecar = await testSidecar({ redisUrl: redis.url });
  try {
    await registerWorkspaces(sidecar, { 'ws-x': 'org-x' });
    const reads = async () => {
      const stats = await probe.info('commandstats');
      return Number(/cmdstat_hmget:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    };
    const before = await reads();
    for (let i = 0; i < 20; i++) {
      // Whatever organization the request names, ws-x is org-x's.
      const res = await request(sidecar.app)
        .post('/v1/authorize')
        .send(decisionRequest({ principalOrgId: 'org-1', orgId: `org-probed-${i}`, workspaceId: 'ws-x' }))
        .expect(200);
      assert.equal(res.body.reason, 'cross_org');
    }
    assert.equal(await reads(), before);
  } finally {
    await sidecar.close();
  }
});
