// The in-process settings cache in front of Redis: a decision on cached settings makes
// no Redis round trip, and a write is seen by the next decision.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { Sidecar } from '../../src/sidecar.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, decisionRequest, registerWorkspaces, testSidecar } from '../support/sidecar.ts';

let redis: RedisServer;
let sidecar: Sidecar;
let probe: Redis;

before(async () => {
  redis = await RedisServer.start();
  // No revalidation by age during a test: on a loaded machine 200 decisions can outlast the default 5 s.
  sidecar = await testSidecar({ redisUrl: redis.url, settingsRevalidateMs: 600_000 });
  await registerWorkspaces(sidecar, { 'ws-cached': 'cached', 'ws-written': 'written' });
  probe = new Redis(redis.url);
});
after(async () => {
  probe.disconnect();
  await sidecar.close();
  await redis.stop();
});

/** Commands Redis has executed that read settings, from its own statistics. */
async function settingsReads(): Promise<number> {
  const stats = await probe.info('commandstats');
  return ['hmget', 'hget', 'hgetall'].reduce((sum, cmd) => sum + Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0), 0);
}

test('decisions on cached settings make no Redis reads', async () => {
  const body = decisionRequest({ orgId: 'cached', workspaceId: 'ws-cached', workspaceRoles: { 'ws-cached': 'manager' } });
  await request(sidecar.app).post('/v1/authorize').send(body).expect(200);
  const before = await settingsReads();
  for (let i = 0; i < 200; i++) await request(sidecar.app).post('/v1/authorize').send(body).expect(200);
  assert.equal(await settingsReads(), before);
  const metrics = await request(sidecar.app).get('/metrics');
  assert.match(metrics.text, /portcullis_settings_cache_total\{result="hit"\} (\d{3})/);
  const ratio = Number(/^portcullis_settings_cache_hit_ratio (\S+)$/m.exec(metrics.text)?.[1]);
  assert.ok(ratio > 0.9 && ratio < 1, `hit ratio ${ratio}`);
});

test('a write through the admin API is seen by the next decision, and re-read once', async () => {
  const body = decisionRequest({ orgId: 'written', workspaceId: 'ws-written', workspaceRoles: { 'ws-written': 'manager' } });
  assert.equal((await request(sidecar.app).post('/v1/authorize').send(body)).body.allow, true);
  await request(sidecar.app)
    .put('/v1/orgs/written/settings/integration-access')
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .send({ managersWriteMcpServers: false })
    .expect(200);
  const before = await settingsReads();
  assert.equal((await request(sidecar.app).post('/v1/authorize').send(body)).body.allow, false);
  assert.equal((await request(sidecar.app).post('/v1/authorize').send(body)).body.allow, false);
  assert.equal(await settingsReads(), before + 1);
});

test('settings live in one hash per organization with a version', async () => {
  await sidecar.store.putWorkspace('layout', 'ws-9', 'integration-access', { managersWriteMcpServers: true });
  const hash = await probe.hgetall('portcullis:settings:{layout}');
  assert.deepEqual(hash, { 'ws:ws-9': '{"managersWriteMcpServers":true}', version: '1' });
});
