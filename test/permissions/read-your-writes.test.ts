// Read-your-writes across instances: two sidecars on one real Redis (a single node, then a
// Redis Cluster), the second holding a
// cached snapshot that no invalidation will ever correct (revalidation set to hours, and the
// new settings written straight into Redis by commands that publish nothing, as a lost
// message would leave it). Without a version token it answers from the old settings; with
// the version the write answered it reads past its cache and answers from the new ones;
// with a version Redis never reaches it answers 503 settings_stale, never older settings.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import type { Config } from '../../src/config.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { startRedisCluster } from '../support/cluster.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, decisionRequest, serve, testConfig, testSidecar } from '../support/sidecar.ts';

const HOURS = 6 * 3600_000;
const ORG = 'org-ryw';
const auth = { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' };
const json = { 'Content-Type': 'application/json' };
const HEADER = 'X-Portcullis-Min-Settings-Version';

/** Where the two sidecars keep their settings, and a client that writes behind their backs. */
interface Deployment {
  config: Partial<Config>;
  probe: Redis | Cluster;
  stop(): Promise<void>;
}

const DEPLOYMENTS: Array<{ name: string; start(): Promise<Deployment> }> = [
  {
    name: 'one Redis node',
    start: async () => {
      const redis = await RedisServer.start();
      const probe = new Redis(redis.url);
      return {
        config: { redisUrl: redis.url },
        probe,
        stop: async () => {
          probe.disconnect();
          await redis.stop();
        },
      };
    },
  },
  {
    name: 'Redis Cluster',
    start: async () => {
      const cluster = await startRedisCluster();
      const probe = new Cluster(cluster.nodes.map((node) => ({ host: node.split(':')[0]!, port: Number(node.split(':')[1]) })));
      return {
        config: { redisClusterNodes: cluster.nodes.join(',') },
        probe,
        stop: async () => {
          probe.disconnect();
          await cluster.stop();
        },
      };
    },
  },
];

async function call(base: string, path: string, body: unknown, headers: Record<string, string> = json, method = 'POST') {
  const res = await fetch(base + path, { method, headers, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

const question = decisionRequest({ orgId: ORG, workspaceId: 'ryw-1', workspaceRoles: { 'ryw-1': 'manager' }, action: 'create', type: 'mcp_server' });

for (const { name, start } of DEPLOYMENTS) {
  describe(name, () => {
    let deployment: Deployment;
    let probe: Redis | Cluster;
    const servers: Array<{ url: string; close(): Promise<void> }> = [];
    let a: string;
    let b: string;

    async function sidecarOn(config: Partial<Config>): Promise<string> {
      const full = testConfig({ ...config, settingsRevalidateMs: HOURS, settingsMinVersionWaitMs: 300 });
      const sidecar: Sidecar = await testSidecar(full);
      const served = await serve(sidecar, full);
      servers.push(served);
      return served.url;
    }

    before(async () => {
      deployment = await start();
      probe = deployment.probe;
      a = await sidecarOn(deployment.config);
      b = await sidecarOn(deployment.config);
    });
    after(async () => {
      for (const served of servers) await served.close().catch(() => undefined);
      await deployment?.stop();
    });

    test('a settings write answers its version; a second instance that missed the change answers from it only when asked to', async () => {
      const written = await call(a, `/v1/orgs/${ORG}/settings/integration-access`, { managersWriteMcpServers: true }, auth, 'PUT');
      assert.equal(written.status, 200);
      const first = Number(written.headers.get('x-settings-version'));
      assert.ok(first >= 1, "the write answers the organization's new version");
      await call(a, `/v1/orgs/${ORG}/workspaces/ryw-1`, undefined, auth, 'PUT');

      // B caches the settings at `first`.
      const warm = await call(b, '/v1/authorize', question);
      assert.deepEqual([warm.body.allow, warm.body.settingsVersion], [true, first]);

      // The change B cannot hear: the same fields the settings API writes, with no PUBLISH.
      const key = `portcullis:settings:{${ORG}}`;
      const [, [, next]] = (await probe
        .multi()
        .hset(key, 'org', JSON.stringify({ managersWriteMcpServers: false }))
        .hincrby(key, 'version', 1)
        .exec()) as [unknown, [null, number]];
      assert.equal(next, first + 1);

      const stale = await call(b, '/v1/authorize', question);
      assert.deepEqual([stale.body.allow, stale.body.settingsVersion], [true, first], 'without the token B answers from what it cached');

      const fresh = await call(b, '/v1/authorize', question, { ...json, [HEADER]: String(next) });
      assert.equal(fresh.status, 200);
      assert.deepEqual([fresh.body.allow, fresh.body.reason, fresh.body.source, fresh.body.settingsVersion], [false, 'manager_write_disabled', 'org', next]);

      // Having read past its cache, B keeps the newer snapshot.
      const after = await call(b, '/v1/authorize', question);
      assert.deepEqual([after.body.allow, after.body.settingsVersion], [false, next]);
    });

    test('the token as a body field, on the permissions call and on the OPA batch API', async () => {
      const key = `portcullis:settings:{${ORG}}`;
      const [, [, next]] = (await probe
        .multi()
        .hset(key, 'org', JSON.stringify({ managersWriteMcpServers: true }))
        .hincrby(key, 'version', 1)
        .exec()) as [unknown, [null, number]];
      const principal = question.principal;

      const stale = await call(b, '/v1/permissions', { principal, workspaceIds: ['ryw-1'], resourceTypes: ['mcp_server'] });
      assert.equal(stale.body.workspaces['ryw-1'].mcp_server.create.allow, false);
      assert.equal(stale.body.settingsVersion, next - 1);

      const fresh = await call(b, '/v1/permissions', { principal, workspaceIds: ['ryw-1'], resourceTypes: ['mcp_server'], minSettingsVersion: next });
      assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
      assert.equal(fresh.body.workspaces['ryw-1'].mcp_server.create.allow, true);
      assert.equal(fresh.body.settingsVersion, next);

      const [, [, newest]] = (await probe
        .multi()
        .hset(key, 'org', JSON.stringify({ managersWriteMcpServers: false }))
        .hincrby(key, 'version', 1)
        .exec()) as [unknown, [null, number]];
      const batch = await call(b, '/v1/batch/data/portkey/authz/decision', { inputs: { x: question }, minSettingsVersion: newest });
      assert.equal(batch.status, 200, JSON.stringify(batch.body));
      assert.equal(batch.body.responses.x.result.allow, false);
      const data = await call(b, '/v1/data/portkey/authz/allow', { input: question, minSettingsVersion: newest });
      assert.equal(data.body.result, false);
    });

    test('a version Redis never reaches is a 503 settings_stale after the bounded wait, on every API', async () => {
      const far = 1_000_000;
      const authorize = await call(b, '/v1/authorize', question, { ...json, [HEADER]: String(far) });
      assert.equal(authorize.status, 503);
      assert.equal(authorize.body.code, 'settings_stale');
      assert.match(authorize.body.message, /older than the 1000000 asked for/);
      const permissions = await call(b, '/v1/permissions', { principal: question.principal, minSettingsVersion: far });
      assert.equal(permissions.status, 503);
      assert.equal(permissions.body.code, 'settings_stale');
      const batch = await call(b, '/v1/batch/data/portkey/authz/decision', { inputs: { x: question } }, { ...json, [HEADER]: String(far) });
      assert.equal(batch.status, 500);
      assert.equal(batch.body.responses.x.code, 'settings_stale');
    });

    test('a token that is not a version is a 400 naming it', async () => {
      for (const bad of ['-1', 'abc', '1.5', '9999999999999999999']) {
        const res = await call(b, '/v1/authorize', question, { ...json, [HEADER]: bad });
        assert.equal(res.status, 400, bad);
        assert.match(res.body.message, /X-Portcullis-Min-Settings-Version: must be a settings version/);
      }
      const field = await call(b, '/v1/authorize', { ...question, minSettingsVersion: 'latest' });
      assert.equal(field.status, 400);
      assert.match(field.body.message, /minSettingsVersion: must be a settings version/);
    });
  });
}
