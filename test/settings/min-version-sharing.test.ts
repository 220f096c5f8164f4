// A minSettingsVersion that Redis never reaches must not cost Redis a read per request or per
// batch item for the whole wait: the waits of one organization share their reads of its
// version. Counted on a real Redis with INFO commandstats around batches of 400 items.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisServer } from '../support/redis.ts';
import { decisionRequest, registerWorkspaces, serve, testConfig, testSidecar } from '../support/sidecar.ts';

const ORG = 'org-amp';
const ITEMS = 400;
const question = decisionRequest({ orgId: ORG, workspaceId: 'amp-1', workspaceRoles: { 'amp-1': 'manager' }, action: 'read', type: 'mcp_server' });
const inputs = Object.fromEntries(Array.from({ length: ITEMS }, (_, i) => [`i${i}`, question]));

/** HGET and HMGET calls (the settings reads) since the last CONFIG RESETSTAT. */
async function settingsReads(probe: Redis): Promise<number> {
  const stats = await probe.info('commandstats');
  let calls = 0;
  for (const match of stats.matchAll(/^cmdstat_(hget|hmget):calls=(\d+)/gm)) calls += Number(match[2]);
  return calls;
}

describe('minSettingsVersion waits share their Redis reads per organization', () => {
  let redis: RedisServer;
  let probe: Redis;
  let served: { url: string; close(): Promise<void> };

  before(async () => {
    redis = await RedisServer.start();
    probe = new Redis(redis.url);
    const config = testConfig({ redisUrl: redis.url, settingsMinVersionWaitMs: 1_000, bodyLimit: '1mb', bodyLimitBytes: 1_048_576 });
    const sidecar = await testSidecar(config);
    await registerWorkspaces(sidecar, { 'amp-1': ORG });
    served = await serve(sidecar, config);
    // The directory's answer and the snapshot cached, as on a sidecar that has been serving.
    assert.equal((await fetch(`${served.url}/v1/authorize`, { method: 'POST', body: JSON.stringify(question) })).status, 200);
  });
  after(async () => {
    await served?.close();
    probe?.disconnect();
    await redis?.stop();
  });

  test(`4 concurrent batches of ${ITEMS} items asking for a version Redis never reaches: every item settings_stale, a few dozen settings reads in all`, async () => {
    await probe.config('RESETSTAT');
    const batches = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const res = await fetch(`${served.url}/v1/batch/data/portkey/authz/allow`, {
          method: 'POST',
          body: JSON.stringify({ inputs, minSettingsVersion: 999_999_999 }),
        });
        return { status: res.status, body: (await res.json()) as { responses: Record<string, { code?: string }> } };
      }),
    );
    for (const batch of batches) {
      assert.equal(batch.status, 500, JSON.stringify(batch.body).slice(0, 300));
      assert.equal(Object.keys(batch.body.responses).length, ITEMS);
      for (const response of Object.values(batch.body.responses)) assert.equal(response.code, 'settings_stale');
    }
    const reads = await settingsReads(probe);
    // One wait of at most a second, polled at most every 25 ms: far below one read per item.
    assert.ok(reads <= 60, `${reads} settings reads for ${4 * ITEMS} items`);
  });

  test('a version that becomes visible during the wait is found by every item, through shared reads', async () => {
    const key = `portcullis:settings:{${ORG}}`;
    const next = Number((await probe.hget(key, 'version')) ?? 0) + 1;
    await probe.config('RESETSTAT');
    const asked = fetch(`${served.url}/v1/batch/data/portkey/authz/allow`, { method: 'POST', body: JSON.stringify({ inputs, minSettingsVersion: next }) });
    // Written behind the sidecar's back (no change message), while the batch waits.
    await probe.hincrby(key, 'version', 1);
    const res = await asked;
    const body = (await res.json()) as { responses: Record<string, { result?: boolean }> };
    assert.equal(res.status, 200, JSON.stringify(body).slice(0, 300));
    for (const response of Object.values(body.responses)) assert.equal(typeof response.result, 'boolean');
    const reads = await settingsReads(probe);
    assert.ok(reads <= 60, `${reads} settings reads for ${ITEMS} items`);
  });
});
