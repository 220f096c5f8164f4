// A Redis that restarts with less than it had (no persistence, or the last second of an AOF
// lost) numbers settings versions from the start again, so a later write can reuse a number
// an instance has cached for other settings. The instance must fetch such an entry again
// whole after the break, never vouch for it by its version number: the restarted Redis's
// settings decide, even though no change message ever reached the instance.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { Sidecar } from '../../src/sidecar.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, decisionRequest, registerWorkspaces, testSidecar } from '../support/sidecar.ts';

const ORG = 'org-restart';
const WORKSPACE = 'ws-restart';
const HOUR_MS = 3_600_000;
const question = decisionRequest({ orgId: ORG, workspaceId: WORKSPACE, workspaceRoles: { [WORKSPACE]: 'manager' }, action: 'create', type: 'mcp_server' });

let redis: RedisServer | undefined;
let sidecar: Sidecar | undefined;
let probe: Redis | undefined;
after(async () => {
  probe?.disconnect();
  await sidecar?.close();
  await redis?.stop();
});

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not ${what} within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('after Redis restarts empty and a write reuses a cached version number, the instance decides with the new settings', async () => {
  redis = await RedisServer.start();
  // Revalidation every hour: only the break can make the instance look again.
  sidecar = await testSidecar({ redisUrl: redis.url, settingsRevalidateMs: HOUR_MS, redisReconnectMaxMs: 100, bundleWatch: false });
  await registerWorkspaces(sidecar, { [WORKSPACE]: ORG });
  const put = await request(sidecar.app)
    .put(`/v1/orgs/${ORG}/settings/integration-access`)
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .send({ managersWriteMcpServers: true });
  assert.equal(put.status, 200, JSON.stringify(put.body));

  const before = (await request(sidecar.app).post('/v1/authorize').send(question).expect(200)).body;
  assert.deepEqual([before.allow, before.settingsVersion], [true, 1]);

  await redis.stop();
  await until('disconnected', () => !sidecar!.store.isReady());
  await redis.start();
  // What a restore job or the next admin writes: the same workspace, and other settings
  // under the version number 1 again — written with no change message at all.
  probe = new Redis(redis.url);
  const key = `portcullis:settings:{${ORG}}`;
  await probe.set(`portcullis:directory:{${WORKSPACE}}`, ORG);
  await probe
    .multi()
    .hset(key, 'org', JSON.stringify({ managersWriteMcpServers: false }))
    .hincrby(key, 'version', 1)
    .exec();
  await until('reconnected', () => sidecar!.store.isReady());

  const afterRestart = (await request(sidecar.app).post('/v1/authorize').send(question).expect(200)).body;
  assert.deepEqual(
    [afterRestart.allow, afterRestart.reason, afterRestart.settingsVersion],
    [false, 'manager_write_disabled', 1],
    "the cached settings of version 1 are not the restarted Redis's version 1",
  );
});
