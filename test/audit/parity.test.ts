// The Redis and the in-memory audit logs answer the same for the same query, bad ranges and
// cursors included: one table of queries run over HTTP against a sidecar on a real
// redis-server, one on a real 3+3 Redis Cluster and an embedded one, for decisions, summary
// and settings changes. A time
// outside 1970..9999 is a 400 naming the parameter; a cursor that does not parse, is out of
// range or belongs to other filters is a 400 naming `cursor`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { encodeCursor, filterHash } from '../../src/audit/query.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { startRedisCluster, type RedisCluster } from '../support/cluster.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, decisionRequest, testSidecar } from '../support/sidecar.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
let redis: RedisServer;
let cluster: RedisCluster;
const sidecars: Record<string, Sidecar> = {};

before(async () => {
  // One after the other, so that a cluster that fails to start leaves a server the after hook can stop.
  redis = await RedisServer.start();
  cluster = await startRedisCluster();
  sidecars.redis = await testSidecar({ redisUrl: redis.url, auditFlushMs: 10 });
  sidecars.cluster = await testSidecar({ redisClusterNodes: cluster.nodes.join(','), auditFlushMs: 10 });
  sidecars.memory = await testSidecar();
  for (const sidecar of Object.values(sidecars)) {
    const app = sidecar.app;
    await request(app).put('/v1/orgs/org-1/settings/integration-access').set(auth).send({ managersWriteMcpServers: false }).expect(200);
    // A workspace the example settings do not list: its settings PUT registers it on every store alike.
    await request(app).put('/v1/orgs/org-1/workspaces/ws-5/settings/integration-access').set(auth).send({ managersWriteMcpServers: true }).expect(200);
    await request(app)
      .post('/v1/authorize')
      .send(decisionRequest({ workspaceId: 'ws-5', workspaceRoles: { 'ws-5': 'manager' } }))
      .expect(200);
    await request(app)
      .post('/v1/authorize')
      .send(decisionRequest({ action: 'read', workspaceId: 'ws-5', workspaceRoles: { 'ws-5': 'member' } }))
      .expect(200);
    await request(app)
      .post('/v1/authorize')
      .send(decisionRequest({ orgRole: 'owner', type: 'integration', workspaceId: 'ws-5' }))
      .expect(200);
    await sidecar.audit.flush();
  }
});

after(async () => {
  for (const sidecar of Object.values(sidecars)) await sidecar.close();
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

const DECISIONS = '/v1/audit/decisions';
const SUMMARY = '/v1/audit/summary';
const CHANGES = '/v1/audit/settings-changes';

/** A cursor with a well-formed envelope and the right filter hash, around any stream id. */
const cursorFor = (kind: 'decisions' | 'settings', filter: object, id: string) => encodeCursor(id, filterHash(kind, filter));
const forged = (json: string) => Buffer.from(json).toString('base64url');

// [path?query, status, the field a 400 must name]
const CASES: Array<[string, number, string?]> = [];
for (const path of [DECISIONS, SUMMARY, CHANGES]) {
  CASES.push(
    [`${path}?orgId=org-1`, 200],
    [`${path}?orgId=org-1&from=0000-01-01`, 400, 'from'],
    [`${path}?orgId=org-1&to=0000-01-01`, 400, 'to'],
    [`${path}?orgId=org-1&from=1969-12-31T23:59:59Z`, 400, 'from'],
    [`${path}?orgId=org-1&from=1970-01-01T00:00:00Z`, 200],
    [`${path}?orgId=org-1&to=1970-01-01T00:00:00Z`, 200],
    [`${path}?orgId=org-1&to=9999-12-31T23:59:59Z`, 200],
    [`${path}?orgId=org-1&from=9999-12-31T23:59:59Z`, 200],
    [`${path}?orgId=org-1&to=9999-12-31T23:59:59-14:00`, 400, 'to'],
    [`${path}?orgId=org-1&from=1970-01-01&to=9999-12-31`, 200],
    [`${path}?orgId=no-such-org&from=0000-01-01`, 400, 'from'],
    [`${path}?orgId=no-such-org`, 200],
    [`${path}?orgId=org%00-1`, 400, 'orgId'],
    [`${path}?orgId=${'o'.repeat(257)}`, 400, 'orgId'],
  );
}
for (const [path, kind] of [
  [DECISIONS, 'decisions'],
  [CHANGES, 'settings'],
] as const) {
  const filter = { orgId: 'org-1' };
  for (const orgId of ['org-1', 'no-such-org']) {
    const q = `${path}?orgId=${orgId}&cursor=`;
    const own = (id: string) => cursorFor(kind, { orgId }, id);
    CASES.push(
      [`${q}not-a-cursor`, 400, 'cursor'],
      [`${q}%ff%fe`, 400, 'cursor'],
      [`${q}${forged('{"id":5}')}`, 400, 'cursor'],
      [`${q}${forged('[]')}`, 400, 'cursor'],
      [`${q}${forged('null')}`, 400, 'cursor'],
      [`${q}${own('99999999999999999999-0')}`, 400, 'cursor'],
      [`${q}${own('18446744073709551615-0')}`, 400, 'cursor'],
      [`${q}${own('253402300800000-0')}`, 400, 'cursor'],
      [`${q}${own('1-99999999999999999')}`, 400, 'cursor'],
      [`${q}${own('-1-0')}`, 400, 'cursor'],
      [`${q}${own('1.5-0')}`, 400, 'cursor'],
      [`${q}${own('0-0')}`, 200],
      [`${q}${own('1-0')}`, 200],
      [`${q}${own('253402300799999-9007199254740991')}`, 200],
    );
  }
  CASES.push([`${path}?orgId=org-2&cursor=${cursorFor(kind, filter, '1-0')}`, 400, 'cursor']);
}

/** What must be equal on both stores: the status, the error, and the records' contents without ids and times. */
function comparable(body: Record<string, unknown>): unknown {
  const strip = (items: unknown) =>
    (items as Array<Record<string, unknown>>).map(({ reason, allow, api, workspaceId, operation, actor }) => ({
      reason,
      allow,
      api,
      workspaceId,
      operation,
      actor,
    }));
  if (Array.isArray(body.decisions)) return { decisions: strip(body.decisions), more: body.nextCursor !== null };
  if (Array.isArray(body.changes)) return { changes: strip(body.changes), more: body.nextCursor !== null };
  return body;
}

test('every query gets the same answer from the Redis (one node, cluster) and the memory audit log', async () => {
  for (const [query, status, field] of CASES) {
    const answers: Record<string, unknown> = {};
    for (const [name, sidecar] of Object.entries(sidecars)) {
      const res = await request(sidecar.app).get(query).set(auth);
      assert.equal(res.status, status, `${name}: GET ${query} -> ${res.status} ${res.text}`);
      if (field !== undefined)
        assert.ok(
          res.body.errors.some((e: { field: string }) => e.field === field),
          `${name}: GET ${query}: ${res.text}`,
        );
      answers[name] = comparable(res.body);
    }
    assert.deepEqual(answers.redis, answers.memory, `GET ${query}`);
    assert.deepEqual(answers.cluster, answers.memory, `GET ${query} (cluster)`);
  }
});

test('the suite sees real records on both stores (its 200s are not all empty)', async () => {
  for (const sidecar of Object.values(sidecars)) {
    const res = await request(sidecar.app).get(`${DECISIONS}?orgId=org-1&from=1970-01-01T00:00:00Z`).set(auth).expect(200);
    assert.deepEqual(
      res.body.decisions.map((d: { reason: string }) => d.reason),
      ['org_admin', 'workspace_read', 'manager_write_disabled'],
    );
    const changes = await request(sidecar.app)
      .get(`${CHANGES}?orgId=org-1&cursor=${cursorFor('settings', { orgId: 'org-1' }, '253402300799999-9007199254740991')}`)
      .set(auth)
      .expect(200);
    // put_org, then register_workspace and put_workspace for the first workspace PUT.
    assert.deepEqual(changes.body.changes.map((c: { operation: string }) => c.operation).sort(), ['put_org', 'put_workspace', 'register_workspace']);
  }
});
