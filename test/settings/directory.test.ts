// The workspace directory (which organization a workspace belongs to) on both stores,
// and the settings cache's bounds: unique workspace ids cannot grow memory without
// bound, one organization cannot push another's entries out, and ids that differ only
// around a NUL never share a lookup.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemorySettingsStore } from '../../src/settings/memory.ts';
import { RedisSettingsStore } from '../../src/settings/redis.ts';
import { WorkspaceOwnedError, type SettingsStore } from '../../src/settings/types.ts';
import { startRedisCluster, type RedisCluster } from '../support/cluster.ts';
import { RedisServer } from '../support/redis.ts';

let redis: RedisServer;
let cluster: RedisCluster;
const FAMILY_NAMES = ['integration-access'] as const;
const stores: RedisSettingsStore[] = [];

before(async () => {
  // One after the other, so that a cluster that fails to start leaves a server the after hook can stop.
  redis = await RedisServer.start();
  cluster = await startRedisCluster();
});
after(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

async function redisStore(over: Partial<ConstructorParameters<typeof RedisSettingsStore>[0]> = {}): Promise<RedisSettingsStore> {
  const store = new RedisSettingsStore({
    connection: { url: redis.url, commandTimeoutMs: 5_000, reconnectMaxMs: 500 },
    minReplicasAck: 'auto',
    waitTimeoutMs: 2_000,
    familyNames: () => FAMILY_NAMES,
    maxOrgs: 1_000,
    maxWorkspaces: 10_000,
    maxWorkspacesPerOrg: 1_000,
    maxDirectory: 10_000,
    revalidateAfterMs: 60_000,
    maxStaleMs: 60_000,
    ...over,
  });
  await store.connect();
  stores.push(store);
  return store;
}

/** Waits (bounded) until `check` holds: change messages arrive asynchronously. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const clusterStore = () => redisStore({ connection: { clusterNodes: cluster.nodes, commandTimeoutMs: 5_000, reconnectMaxMs: 500 } });

const kinds: Array<[string, () => Promise<SettingsStore>]> = [
  ['memory', async () => new MemorySettingsStore()],
  ['redis', () => redisStore()],
  ['redis-cluster', clusterStore],
];

for (const [kind, make] of kinds) {
  describe(`workspace directory (${kind})`, () => {
    test('register, look up, refuse another owner, unregister', async () => {
      const store = await make();
      const ws = `ws-dir-${kind}`;
      assert.equal(await store.workspaceOrg(ws), null);
      assert.deepEqual(await store.registerWorkspace('org-a', ws), { created: true });
      assert.deepEqual(await store.registerWorkspace('org-a', ws), { created: false });
      assert.equal(await store.workspaceOrg(ws), 'org-a');
      await assert.rejects(store.registerWorkspace('org-b', ws), WorkspaceOwnedError);
      assert.equal(await store.workspaceOrg(ws), 'org-a');
      assert.equal(await store.unregisterWorkspace('org-b', ws), false, 'another organization cannot release it');
      assert.equal(await store.workspaceOrg(ws), 'org-a');
      assert.equal(await store.unregisterWorkspace('org-a', ws), true);
      assert.equal(await store.workspaceOrg(ws), null);
      assert.deepEqual(await store.registerWorkspace('org-b', ws), { created: true });
      assert.equal(await store.workspaceOrg(ws), 'org-b');
    });

    test("lists an organization's workspaces in pages, in id order, and only its own", async () => {
      const store = await make();
      const org = `org-list-${kind}`;
      const ids = Array.from({ length: 25 }, (_, i) => `w-${String(i).padStart(2, '0')}`);
      for (const id of [...ids].reverse()) await store.registerWorkspace(org, `${kind}-${id}`);
      await store.registerWorkspace(`${org}-other`, `${kind}-someone-else`);
      const seen: string[] = [];
      let after: string | undefined;
      for (let pages = 0; ; pages++) {
        assert.ok(pages < 10);
        const page = await store.listWorkspaces(org, after === undefined ? { limit: 10 } : { limit: 10, after });
        seen.push(...page.workspaces);
        if (page.next === null) break;
        after = page.next;
      }
      assert.deepEqual(
        seen,
        ids.map((id) => `${kind}-${id}`),
      );
      // A prefix lists only the ids that start with it, in pages too.
      const first = await store.listWorkspaces(org, { limit: 5, prefix: `${kind}-w-1` });
      assert.deepEqual(
        first.workspaces,
        [0, 1, 2, 3, 4].map((i) => `${kind}-w-1${i}`),
      );
      const rest = await store.listWorkspaces(org, { limit: 5, prefix: `${kind}-w-1`, after: first.next! });
      assert.deepEqual(rest, { workspaces: [5, 6, 7, 8, 9].map((i) => `${kind}-w-1${i}`), next: null });
      assert.deepEqual((await store.listWorkspaces(org, { limit: 5, prefix: `${kind}-w-24` })).workspaces, [`${kind}-w-24`]);
      assert.deepEqual((await store.listWorkspaces(org, { limit: 5, prefix: `${kind}-someone` })).workspaces, []);
    });
  });
}

for (const [kind, make] of [
  ['redis', redisStore],
  ['redis-cluster', clusterStore],
] as const) {
  test(`${kind}: a directory change on one instance reaches the cached answer of another`, async () => {
    const a = await make();
    const b = await make();
    assert.equal(await b.workspaceOrg('ws-moving'), null); // cached as unknown
    await a.registerWorkspace('org-1', 'ws-moving');
    await eventually(async () => (await b.workspaceOrg('ws-moving')) === 'org-1', 'the registration to reach b');
    await a.unregisterWorkspace('org-1', 'ws-moving');
    await a.registerWorkspace('org-2', 'ws-moving');
    await eventually(async () => (await b.workspaceOrg('ws-moving')) === 'org-2', 'the move to reach b');
  });

  test(`${kind}: a registration interrupted after its claim (the first of its two slots) is completed by repeating it`, async () => {
    const store = await make();
    // The state a crash between the two steps leaves: held, not listed.
    await store.redis.set('portcullis:directory:{ws-half}', 'org-half');
    assert.equal(await store.workspaceOrg('ws-half'), 'org-half', 'decisions already see the owner');
    assert.deepEqual((await store.listWorkspaces('org-half', { limit: 10 })).workspaces, []);
    assert.deepEqual(await store.registerWorkspace('org-half', 'ws-half'), { created: false });
    assert.deepEqual((await store.listWorkspaces('org-half', { limit: 10 })).workspaces, ['ws-half']);
    assert.equal(await store.unregisterWorkspace('org-half', 'ws-half'), true);
    assert.deepEqual((await store.listWorkspaces('org-half', { limit: 10 })).workspaces, []);
    assert.equal(await store.workspaceOrg('ws-half'), null);
  });
}

test('redis: the settings cache is bounded in workspaces per organization and overall', async () => {
  const store = await redisStore({ maxWorkspaces: 200, maxWorkspacesPerOrg: 50 });
  await store.putWorkspace('org-quiet', 'ws-1', 'integration-access', { managersWriteMcpServers: false });
  await store.snapshot('org-quiet', 'ws-1');
  for (let i = 0; i < 1_000; i++) await store.snapshot('org-noisy', `ws-${i}`);
  for (let i = 0; i < 300; i++) await store.snapshot(`org-many-${i}`, 'ws-1');
  const sizes = store.cacheSizes();
  assert.ok(sizes.workspaces <= 200, `workspaces cached: ${sizes.workspaces}`);
  assert.ok(sizes.orgs <= 200, `organizations cached: ${sizes.orgs}`);
  const snapshot = await store.snapshot('org-quiet', 'ws-1');
  assert.equal(snapshot.workspace.managersWriteMcpServers, false);
});

test("redis: one organization flooding workspaces does not evict another organization's entry", async () => {
  let hits = 0;
  const store = await redisStore({ maxWorkspaces: 500, maxWorkspacesPerOrg: 50, stats: { onHit: () => hits++, onMiss: () => undefined } });
  await store.snapshot('org-kept', 'ws-1');
  for (let i = 0; i < 2_000; i++) await store.snapshot('org-flood', `ws-${i}`);
  const before = hits;
  await store.snapshot('org-kept', 'ws-1');
  assert.equal(hits, before + 1, 'org-kept/ws-1 is still answered from the cache');
  assert.ok(store.cacheSizes().workspaces <= 51 + 1, `cached: ${store.cacheSizes().workspaces}`);
});

test('redis: ids that differ only around a NUL never share a lookup', async () => {
  const store = await redisStore();
  await store.putWorkspace('a\u0000b', 'c', 'integration-access', { managersWriteMcpServers: false });
  await store.putWorkspace('a', 'b\u0000c', 'integration-access', { managersWriteMcpServers: true });
  for (let round = 0; round < 5; round++) {
    const fresh = await redisStore();
    const [first, second] = await Promise.all([fresh.snapshot('a\u0000b', 'c'), fresh.snapshot('a', 'b\u0000c')]);
    assert.equal(first.workspace.managersWriteMcpServers, false);
    assert.equal(second.workspace.managersWriteMcpServers, true);
  }
});
