// A real redis-server stopped and restarted under load: decisions keep being answered
// from cached settings up to settingsMaxStaleMs, then a decision a setting decides fails
// closed (settings_unavailable) while owners and admins are still allowed; readiness and
// /metrics show the outage; after Redis returns the sidecar reconnects on its own.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createLimitedServer } from '../../src/http/limits.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { RedisServer } from '../support/redis.ts';
import { decisionRequest, testConfig, testSidecar } from '../support/sidecar.ts';
import { authorize, load, putSettings } from './support.ts';

const MAX_STALE_MS = 1_500;
let redis: RedisServer;
let sidecar: Sidecar;
let server: Server;
let url: string;

before(async () => {
  redis = await RedisServer.start();
  sidecar = await testSidecar({
    redisUrl: redis.url,
    settingsRevalidateMs: 300,
    settingsMaxStaleMs: MAX_STALE_MS,
    redisReconnectMaxMs: 200,
    redisCommandTimeoutMs: 200,
    bundleWatch: false,
  });
  server = createLimitedServer(sidecar.app, testConfig()).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server?.closeAllConnections();
  server?.close();
  await sidecar?.close();
  await redis?.stop();
});

const managerWrite = (orgId: string) => decisionRequest({ orgId });
const ownerWrite = (orgId: string) => decisionRequest({ orgId, orgRole: 'owner', workspaceRoles: {} });
const ready = async () => (await fetch(`${url}/health/ready`)).status;
const storeUp = async () => /portcullis_settings_store_up (\d)/.exec(await (await fetch(`${url}/metrics`)).text())?.[1];

interface Tally {
  answered: number;
  failed: number;
  reasons: Map<string, number>;
}

/** Decisions of three kinds under load, tallied by reason; HTTP failures counted apart. */
function decisionsUnderLoad() {
  const tally: Tally = { answered: 0, failed: 0, reasons: new Map() };
  // Every uncached write names an organization never asked about before.
  const kinds = [
    ['cached manager write', () => managerWrite('org-cached')],
    ['uncached manager write', () => managerWrite(`org-cold-${randomUUID()}`)],
    ['owner write', () => ownerWrite('org-owned')],
  ] as const;
  let i = 0;
  const running = load(6, async () => {
    const [kind, makeBody] = kinds[i++ % kinds.length]!;
    const body = makeBody();
    const answer = await authorize(url, body);
    if (answer.status !== 200) throw new Error(`${kind}: status ${answer.status}`);
    tally.answered++;
    const key = `${kind}: ${String(answer.body.reason)}`;
    tally.reasons.set(key, (tally.reasons.get(key) ?? 0) + 1);
  });
  return { tally, stop: running.stop, stats: running.stats };
}

test('Redis stopped and restarted under load: stale within the bound, then fail closed; owners unaffected', async (t) => {
  assert.equal((await putSettings(url, 'org-cached', { managersWriteMcpServers: false })).status, 200);
  assert.equal((await authorize(url, managerWrite('org-cached'))).body.reason, 'manager_write_disabled');
  assert.equal(await ready(), 200);
  assert.equal(await storeUp(), '1');

  const phases: Record<string, Tally> = {};
  const phase = async (name: string, ms: number) => {
    const running = decisionsUnderLoad();
    await new Promise((r) => setTimeout(r, ms));
    await running.stop();
    phases[name] = { ...running.tally, failed: running.stats.failed };
  };

  await phase('before', 300);
  await redis.stop();
  const stoppedAt = performance.now();
  await phase('outage, within max staleness', 600);
  assert.equal(await ready(), 503);
  assert.equal(await storeUp(), '0');
  // Wait out the staleness bound (counted from the last confirmation, before the stop).
  await new Promise((r) => setTimeout(r, Math.max(0, MAX_STALE_MS + 200 - (performance.now() - stoppedAt))));
  await phase('outage, past max staleness', 600);
  await redis.start();
  const deadline = Date.now() + 10_000;
  while ((await ready()) !== 200) {
    assert.ok(Date.now() < deadline, 'not ready again 10 s after Redis returned');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(await storeUp(), '1');
  // The restarted Redis is empty (no persistence): write the setting again.
  assert.equal((await putSettings(url, 'org-cached', { managersWriteMcpServers: false })).status, 200);
  await phase('after', 300);

  for (const [name, tally] of Object.entries(phases)) {
    t.diagnostic(`${name}: ${tally.answered} answered, ${tally.failed} failed; ${[...tally.reasons].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    assert.equal(tally.failed, 0, `${name}: HTTP failures`);
    // Whatever the phase, the disabled setting is never read as allowing, and owners always may.
    for (const [key] of tally.reasons) {
      assert.ok(!key.startsWith('cached manager write: manager_write_enabled'), `${name}: ${key}`);
      if (key.startsWith('owner write')) assert.equal(key, 'owner write: org_admin', name);
    }
  }
  const reasons = (name: string, kind: string) => [...phases[name]!.reasons].filter(([k]) => k.startsWith(kind)).map(([k]) => k.split(': ')[1]);
  assert.deepEqual(reasons('outage, within max staleness', 'cached manager write'), ['manager_write_disabled']);
  assert.deepEqual(reasons('outage, within max staleness', 'uncached manager write'), ['settings_unavailable']);
  assert.deepEqual(reasons('outage, past max staleness', 'cached manager write'), ['settings_unavailable']);
  assert.deepEqual(reasons('outage, past max staleness', 'uncached manager write'), ['settings_unavailable']);
  assert.deepEqual(reasons('after', 'cached manager write'), ['manager_write_disabled']);
  assert.deepEqual(reasons('after', 'uncached manager write'), ['manager_write_enabled']);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /portcullis_settings_cache_total\{result="stale"\} [1-9]/);
});

test('fail-open is explicit: with settingsFailOpen a decision without settings uses the defaults', async () => {
  const outage = await RedisServer.start();
  const open = await testSidecar({ redisUrl: outage.url, settingsFailOpen: true, bundleWatch: false, redisReconnectMaxMs: 200 });
  try {
    await outage.stop();
    const answer = await open.decider.decide(
      { principal: { id: 'u-1', orgId: 'org-open', orgRole: 'member', workspaceRoles: { 'ws-1': 'manager' } }, action: 'create', resource: { type: 'mcp_server', orgId: 'org-open', workspaceId: 'ws-1' } },
      'authorize',
    );
    assert.deepEqual([answer.allow, answer.reason, answer.source], [true, 'manager_write_enabled', 'default']);
  } finally {
    await open.close();
  }
});
