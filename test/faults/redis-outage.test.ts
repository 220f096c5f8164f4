// A real redis-server stopped and restarted under load: decisions keep being answered
// from the cached directory and settings up to settingsMaxStaleMs, then every decision
// fails closed (directory_unavailable), owners' included; a workspace never confirmed is
// denied from the start. Readiness and /metrics show the outage; after Redis returns the
// sidecar reconnects on its own.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import type { AuthorizeRequest } from '../../src/decision/request.ts';
import { createLimitedServer } from '../../src/http/limits.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { RedisServer } from '../support/redis.ts';
import { decisionRequest, registerWorkspaces, testConfig, testSidecar } from '../support/sidecar.ts';
import { authorize, load, putSettings } from './support.ts';

const MAX_STALE_MS = 1_500;
let dataDir: string;
let redis: RedisServer;
let sidecar: Sidecar;
let server: Server;
let url: string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'portcullis-outage-'));
  // Its data on disk: the restarted server has the directory and the settings back.
  redis = await RedisServer.start({ dataDir });
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
  await rm(dataDir, { recursive: true, force: true });
});

const managerWrite = (orgId: string) => decisionRequest({ orgId, workspaceId: `ws-${orgId}`, workspaceRoles: { [`ws-${orgId}`]: 'manager' } });
const ownerWrite = (orgId: string) => decisionRequest({ orgId, workspaceId: `ws-${orgId}`, orgRole: 'owner', workspaceRoles: {} });
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
  // Every uncached write names an organization and a workspace never asked about before,
  // which the directory does not know.
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

test("Redis stopped and restarted under load: stale within the bound, then every decision fails closed, owners' too", async (t) => {
  await registerWorkspaces(sidecar, { 'ws-org-cached': 'org-cached', 'ws-org-owned': 'org-owned' });
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
  await phase('after', 300);

  for (const [name, tally] of Object.entries(phases)) {
    t.diagnostic(`${name}: ${tally.answered} answered, ${tally.failed} failed; ${[...tally.reasons].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    assert.equal(tally.failed, 0, `${name}: HTTP failures`);
    // Whatever the phase, the disabled setting is never read as allowing.
    for (const [key] of tally.reasons) assert.ok(!key.startsWith('cached manager write: manager_write_enabled'), `${name}: ${key}`);
  }
  const reasons = (name: string, kind: string) => [...phases[name]!.reasons].filter(([k]) => k.startsWith(kind)).map(([k]) => k.split(': ')[1]);
  for (const name of ['before', 'after']) {
    assert.deepEqual(reasons(name, 'cached manager write'), ['manager_write_disabled'], name);
    assert.deepEqual(reasons(name, 'uncached manager write'), ['unknown_workspace'], name);
    assert.deepEqual(reasons(name, 'owner write'), ['org_admin'], name);
  }
  // Within the bound the cached directory and settings decide; a workspace never confirmed is denied.
  assert.deepEqual(reasons('outage, within max staleness', 'cached manager write'), ['manager_write_disabled']);
  assert.deepEqual(reasons('outage, within max staleness', 'owner write'), ['org_admin']);
  assert.deepEqual(reasons('outage, within max staleness', 'uncached manager write'), ['directory_unavailable']);
  // Past it nothing is placed in its organization: everyone is denied, owners too.
  for (const kind of ['cached manager write', 'uncached manager write', 'owner write']) {
    assert.deepEqual(reasons('outage, past max staleness', kind), ['directory_unavailable'], kind);
  }
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /portcullis_settings_cache_total\{result="stale"\} [1-9]/);
});

test('fail-open is explicit: with settingsFailOpen a decision without settings uses the defaults; the directory still fails closed', async () => {
  const outage = await RedisServer.start();
  const open = await testSidecar({ redisUrl: outage.url, settingsFailOpen: true, bundleWatch: false, redisReconnectMaxMs: 200 });
  try {
    // Written straight into Redis, with no change message that could arrive late and make
    // the store forget the directory answer the probe below caches.
    const writer = new Redis(outage.url);
    for (const workspaceId of ['ws-open', 'ws-never-asked']) await writer.set(`portcullis:directory:{${workspaceId}}`, 'org-open');
    writer.disconnect();
    const manager = (workspaceId: string): AuthorizeRequest => ({
      principal: { id: 'u-1', orgId: 'org-open', orgRole: 'member', workspaceRoles: { [workspaceId]: 'manager' } },
      action: 'create',
      resource: { type: 'mcp_server', orgId: 'org-open', workspaceId },
    });
    // Another organization's question caches the directory's answer and reads no settings.
    const probe = await open.decider.decide(
      { ...manager('ws-open'), principal: { id: 'u-2', orgId: 'org-other', orgRole: 'owner', workspaceRoles: {} } },
      'authorize',
    );
    assert.equal(probe.reason, 'cross_org');
    await outage.stop();
    const answer = await open.decider.decide(manager('ws-open'), 'authorize');
    assert.deepEqual([answer.allow, answer.reason, answer.source], [true, 'manager_write_enabled', 'default']);
    const unplaced = await open.decider.decide(manager('ws-never-asked'), 'authorize');
    assert.deepEqual([unplaced.allow, unplaced.reason], [false, 'directory_unavailable']);
  } finally {
    await open.close();
    await outage.stop();
  }
});
