// How the sidecar reaches Redis, against real redis-servers: TLS (Debian's redis-server is
// built with it) with a CA file, an ACL user, the one-of REDIS_URL / REDIS_CLUSTER_NODES
// rule, and a write that Redis does not confirm on enough replicas answered 503
// replication_unconfirmed (the write stands; repeating it is safe).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { openRedis } from '../../src/redis/clients.ts';
import type { RedisConnectionOptions } from '../../src/redis/options.ts';
import { RedisSettingsStore } from '../../src/settings/redis.ts';
import { RedisServer, type TlsFiles } from '../support/redis.ts';
import { certificates } from '../support/tls.ts';
import { ADMIN_TOKEN, testSidecar } from '../support/sidecar.ts';

const TIMEOUTS = { commandTimeoutMs: 2_000, reconnectMaxMs: 200 };

async function pingWith(options: RedisConnectionOptions): Promise<string> {
  const client = openRedis(options);
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.ping();
  } finally {
    client.disconnect();
  }
}

describe('TLS', () => {
  let server: RedisServer;
  let tls: TlsFiles;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-tls-'));
    tls = await certificates(dir);
    server = await RedisServer.start({ tls });
  });
  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('rediss:// with REDIS_TLS_CA_FILE: the settings store works over TLS', async () => {
    assert.match(server.url, /^rediss:/);
    const store = new RedisSettingsStore({
      connection: { url: server.url, tlsCaFile: tls.caFile, ...TIMEOUTS },
      minReplicasAck: 'auto',
      waitTimeoutMs: 1_000,
      maxOrgs: 10,
      maxWorkspaces: 10,
      maxWorkspacesPerOrg: 10,
      maxDirectory: 10,
      revalidateAfterMs: 60_000,
      maxStaleMs: 60_000,
      familyNames: () => ['integration-access'],
    });
    await store.connect();
    try {
      await store.putOrg('org-tls', 'integration-access', { managersWriteMcpServers: false });
      assert.equal((await store.snapshot('org-tls', 'ws-1')).org.managersWriteMcpServers, false);
    } finally {
      await store.close();
    }
  });

  test('a server whose certificate the CA did not sign is refused; plain redis:// to a TLS port gets nowhere', async () => {
    // Without the CA file the system's CAs are used, and they did not sign this certificate
    // (ioredis reports the refused handshake as the connection closing before it was ready).
    await assert.rejects(pingWith({ url: server.url, ...TIMEOUTS }));
    await assert.rejects(pingWith({ url: server.url.replace('rediss:', 'redis:'), ...TIMEOUTS, commandTimeoutMs: 500 }));
  });

  test('REDIS_TLS=true with a CA file turns TLS on without a rediss:// URL (the cluster case)', async () => {
    const config = loadConfig({ ADMIN_TOKEN, REDIS_URL: server.url.replace('rediss:', 'redis:'), REDIS_TLS: 'true', REDIS_TLS_CA_FILE: tls.caFile });
    assert.equal(await pingWith({ url: config.redisUrl, tls: config.redisTls, tlsCaFile: config.redisTlsCaFile, ...TIMEOUTS }), 'PONG');
  });
});

describe('ACL user', () => {
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start({ args: ['--user', 'default', 'off', '--user', 'portcullis', 'on', '>s3cret-pass', '~portcullis:*', '&*', '+@all'] });
  });
  after(() => server?.stop());

  test('REDIS_USERNAME and REDIS_PASSWORD reach Redis; a wrong password is refused', async () => {
    const sidecar = await testSidecar({ redisUrl: server.url, redisUsername: 'portcullis', redisPassword: 's3cret-pass' });
    try {
      await request(sidecar.app)
        .put('/v1/orgs/org-acl/settings/integration-access')
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .send({ managersWriteMcpServers: false })
        .expect(200);
    } finally {
      await sidecar.close();
    }
    // ioredis reports a refused AUTH as the connection closing before it was ready.
    await assert.rejects(pingWith({ url: server.url, username: 'portcullis', password: 'wrong', ...TIMEOUTS }));
    await assert.rejects(testSidecar({ redisUrl: server.url }), ConfigError);
  });
});

describe('acknowledged means replicated', () => {
  let server: RedisServer;
  before(async () => (server = await RedisServer.start()));
  after(() => server?.stop());

  test('a write no replica confirms in time is a 503 replication_unconfirmed, made all the same; a retry is safe', async () => {
    // One node, no replica, but one required: WAIT can only time out.
    const sidecar = await testSidecar({ redisUrl: server.url, redisMinReplicasAck: '1', redisWaitTimeoutMs: 100 });
    const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    try {
      const path = '/v1/orgs/org-unconfirmed/settings/integration-access';
      for (let attempt = 0; attempt < 2; attempt++) {
        const answer = await request(sidecar.app).put(path).set(auth).send({ managersWriteMcpServers: false }).expect(503);
        assert.equal(answer.body.code, 'replication_unconfirmed');
        assert.match(answer.body.message, /may or may not survive/);
      }
      const read = await request(sidecar.app).get(path).set(auth).expect(200);
      assert.equal(read.body.managersWriteMcpServers, false, 'the write was made');
      const directory = await request(sidecar.app).put('/v1/orgs/org-unconfirmed/workspaces/ws-1').set(auth).expect(503);
      assert.equal(directory.body.code, 'replication_unconfirmed');
    } finally {
      await sidecar.close();
    }
  });

  test('auto on a master without replicas waits for none', async () => {
    const sidecar = await testSidecar({ redisUrl: server.url, redisWaitTimeoutMs: 100 });
    try {
      await request(sidecar.app)
        .put('/v1/orgs/org-auto/settings/integration-access')
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .send({ managersWriteMcpServers: false })
        .expect(200);
    } finally {
      await sidecar.close();
    }
  });
});

test('configuration: REDIS_URL or REDIS_CLUSTER_NODES, not both; nodes are host:port; replicas a number or auto', () => {
  assert.throws(() => loadConfig({ ADMIN_TOKEN, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }), /not both/);
  assert.throws(() => loadConfig({ ADMIN_TOKEN, REDIS_CLUSTER_NODES: '127.0.0.1:7000,nope' }), /"nope" is not host:port/);
  assert.throws(() => loadConfig({ ADMIN_TOKEN, REDIS_MIN_REPLICAS_ACK: 'some' }), /REDIS_MIN_REPLICAS_ACK must be "auto" or a non-negative integer/);
  assert.equal(loadConfig({ ADMIN_TOKEN, REDIS_CLUSTER_NODES: 'a:7000, b:7001' }).redisClusterNodes, 'a:7000, b:7001');
});
