// No 5xx for bad input on the admin API: path ids go through the one id rule (400 naming
// the id), a path that cannot be percent-decoded is a 400, and a Redis that is paused or
// away makes the admin API answer 503, never 500.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { Sidecar } from '../../src/sidecar.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, testSidecar } from '../support/sidecar.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };

describe('bad path ids and encodings', () => {
  let sidecar: Sidecar;
  before(async () => (sidecar = await testSidecar()));
  after(() => sidecar.close());

  const long = 'o'.repeat(300);
  const CASES: Array<[string, string, string, string]> = [
    ['an NUL in the org id', 'GET', '/v1/orgs/org%00x/settings/integration-access', 'orgId'],
    ['a zero-width space in the workspace id', 'PUT', '/v1/orgs/org-1/workspaces/ws%E2%80%8B1/settings/integration-access', 'workspaceId'],
    ['a BOM in the workspace id', 'PUT', '/v1/orgs/org-1/workspaces/%EF%BB%BFws-1', 'workspaceId'],
    ['a CR/LF in the workspace id', 'DELETE', '/v1/orgs/org-1/workspaces/ws%0D%0A1', 'workspaceId'],
    ['an over-long org id', 'GET', `/v1/orgs/${long}/workspaces`, 'orgId'],
    ['an over-long workspace id', 'GET', `/v1/orgs/org-1/workspaces/${long}/settings/integration-access`, 'workspaceId'],
    ['a right-to-left override in the org id', 'PUT', '/v1/orgs/org%E2%80%AE1/settings/integration-access', 'orgId'],
  ];
  for (const [name, method, path, field] of CASES) {
    test(`400 naming the id: ${name}`, async () => {
      const res = await request(sidecar.app)[method.toLowerCase() as 'get'](path).set(auth).send({});
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.code, 'invalid_parameter');
      assert.deepEqual(
        res.body.errors.map((e: { field: string }) => e.field),
        [field],
      );
    });
  }

  for (const path of ['/v1/orgs/%ZZ/settings/integration-access', '/v1/orgs/org-1/workspaces/%E0%A4%A', '/v1/orgs/%ED%A0%80/settings/integration-access']) {
    test(`a path that cannot be percent-decoded is a 400: ${path}`, async () => {
      const res = await request(sidecar.app).get(path).set(auth);
      assert.equal(res.status, 400);
      assert.equal(res.body.code, 'invalid_path');
      // Only behind the token: without one it is a 401 like any admin path.
      await request(sidecar.app).get(path).expect(401);
    });
  }

  test('nothing was stored under a refused id', async () => {
    assert.equal(await sidecar.store.workspaceOrg('\ufeffws-1'), null);
    assert.equal((await sidecar.store.readOrg('org\u202e1', 'integration-access')).settings, null);
  });
});

describe('a paused or absent Redis is a 503', () => {
  let redis: RedisServer;
  let sidecar: Sidecar;
  let pid = 0;

  before(async () => {
    redis = await RedisServer.start();
    const client = new Redis(redis.url);
    pid = Number(/process_id:(\d+)/.exec(await client.info('server'))![1]);
    client.disconnect();
    sidecar = await testSidecar({ redisUrl: redis.url, redisCommandTimeoutMs: 300 });
    await request(sidecar.app).put('/v1/orgs/org-1/settings/integration-access').set(auth).send({ managersWriteMcpServers: false }).expect(200);
  });
  after(async () => {
    if (pid) process.kill(pid, 'SIGCONT');
    await sidecar.close();
    await redis.stop();
  });

  const calls = (): Array<[string, request.Test]> => [
    ['GET org settings', request(sidecar.app).get('/v1/orgs/org-1/settings/integration-access').set(auth)],
    ['PUT org settings', request(sidecar.app).put('/v1/orgs/org-1/settings/integration-access').set(auth).send({ managersWriteMcpServers: true })],
    [
      'PUT workspace settings',
      request(sidecar.app).put('/v1/orgs/org-1/workspaces/ws-1/settings/integration-access').set(auth).send({ managersWriteMcpServers: true }),
    ],
    ['PUT directory workspace', request(sidecar.app).put('/v1/orgs/org-1/workspaces/ws-2').set(auth)],
    ['GET directory', request(sidecar.app).get('/v1/orgs/org-1/workspaces').set(auth)],
  ];

  test('while the redis-server process is stopped (SIGSTOP), settings and directory calls answer 503, and so does readiness', async () => {
    await request(sidecar.app).get('/health/ready').expect(200);
    process.kill(pid, 'SIGSTOP');
    try {
      for (const [name, call] of calls()) {
        const res = await call;
        assert.equal(res.status, 503, `${name}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.code, 'unavailable');
      }
      const ready = await request(sidecar.app).get('/health/ready').expect(503);
      assert.equal(ready.body.checks.settingsStore, false);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await request(sidecar.app).get('/health/ready').expect(200);
    // Once Redis answers again, so does the admin API; the refused write was not made.
    const res = await request(sidecar.app).get('/v1/orgs/org-1/settings/integration-access').set(auth).expect(200);
    assert.equal(res.body.managersWriteMcpServers, false);
  });

  test('while Redis is down, settings and directory calls answer 503', async () => {
    pid = 0;
    await redis.stop();
    for (const [name, call] of calls()) {
      const res = await call;
      assert.equal(res.status, 503, `${name}: ${JSON.stringify(res.body)}`);
    }
  });
});
