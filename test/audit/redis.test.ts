// The Redis audit log under the conditions it is built for: a Redis outage in the middle
// of a load, records spilled to disk and replayed exactly once, a disk that refuses them,
// retention by age and by size, secrets that must never reach Redis, and batches the
// replicas do not confirm. What does not stop Redis runs on one node and on a real 3+3
// Redis Cluster (one parameterized suite).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import { createMasker, parseMaskPaths } from '../../src/audit/mask.ts';
import type { DecisionRecord } from '../../src/decision/record.ts';
import { RedisAuditLog, streamKey, type RedisAuditOptions } from '../../src/audit/redis.ts';
import { NO_AUDIT_STATS, type AuditStats } from '../../src/stats.ts';
import { parseAuthorizeRequest } from '../../src/decision/request.ts';
import { scanKeys, type RedisClient } from '../../src/redis/clients.ts';
import type { RedisConnectionOptions } from '../../src/redis/options.ts';
import { startRedisCluster, type RedisCluster } from '../support/cluster.ts';
import { RedisServer } from '../support/redis.ts';
import { decisionRequest, testSidecar, RESOURCE_TYPES } from '../support/sidecar.ts';
import { decisionRecord } from './records.ts';

const DAY = 86_400_000;
let redis: RedisServer;
let cluster: RedisCluster;
let dataDir: string;
let client: Redis;
let clusterClient: Cluster;

/** Where a suite's audit log writes: the one node (its data kept across stop/start) or the cluster. */
interface Target {
  name: string;
  connection(): RedisConnectionOptions;
  client(): RedisClient;
  /** Replicas each master has. */
  replicas: number;
}
const ONE_NODE: Target = {
  name: 'one node',
  connection: () => ({ url: redis.url, reconnectMaxMs: 200, commandTimeoutMs: 2000 }),
  client: () => client,
  replicas: 0,
};
const CLUSTER: Target = {
  name: 'Redis Cluster',
  connection: () => ({ clusterNodes: cluster.nodes, reconnectMaxMs: 200, commandTimeoutMs: 2000 }),
  client: () => clusterClient,
  replicas: 1,
};
const cleanup: Array<() => Promise<unknown>> = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-audit-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function counting(): AuditStats & { counts: Record<string, number> } {
  const counts: Record<string, number> = { recorded: 0, written: 0, duplicates: 0, spilled: 0, replayed: 0, dropped: 0, buffered: 0, heldBytes: 0 };
  return {
    counts,
    heldBytes: (n) => (counts.heldBytes = n),
    recorded: () => counts.recorded!++,
    written: (n) => (counts.written! += n),
    duplicates: (n) => (counts.duplicates! += n),
    spilled: (n) => (counts.spilled! += n),
    replayed: (n) => (counts.replayed! += n),
    dropped: (n) => (counts.dropped! += n),
    buffered: (n) => (counts.buffered = n),
  };
}

async function auditLog(over: Partial<RedisAuditOptions>, on: Target = ONE_NODE): Promise<RedisAuditLog> {
  const log = new RedisAuditLog({
    connection: on.connection(),
    retentionMs: DAY,
    maxRecordsPerOrg: 1_000_000,
    batchSize: 50,
    flushIntervalMs: 20,
    bufferRecords: 10_000,
    spillDir: await tempDir(),
    maxScan: 100_000,
    commandTimeoutMs: 2000,
    mask: createMasker([]),
    stats: NO_AUDIT_STATS,
    log: pino({ level: 'silent' }),
    ...over,
  });
  await log.start();
  cleanup.push(() => log.close());
  return log;
}

async function ready(connection: Redis | Cluster): Promise<void> {
  if (connection.status !== 'ready') await once(connection, 'ready');
}

/** Every byte stored in Redis (every master of a cluster), as text. */
async function everything(client: RedisClient): Promise<string> {
  const parts: string[] = [];
  const keys: string[] = [];
  for await (const batch of scanKeys(client, '*')) keys.push(...batch);
  for (const key of keys) {
    const type = await client.type(key);
    parts.push(key);
    if (type === 'stream') parts.push(JSON.stringify(await client.xrange(key, '-', '+')));
    else if (type === 'hash') parts.push(JSON.stringify(await client.hgetall(key)));
    else if (type === 'string') parts.push((await client.get(key)) ?? '');
  }
  return parts.join('\n');
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'portcullis-redis-'));
  redis = await RedisServer.start({ dataDir });
  client = new Redis(redis.url, { lazyConnect: true });
  client.on('error', () => undefined);
  await client.connect();
  cluster = await startRedisCluster();
  clusterClient = new Cluster(cluster.nodes.map((node) => ({ host: '127.0.0.1', port: Number(node.split(':')[1]) })));
  clusterClient.on('error', () => undefined);
});

after(async () => {
  for (const step of cleanup.reverse()) await step();
  client.disconnect();
  clusterClient.disconnect();
  await redis.stop();
  await cluster.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a Redis outage in the middle of a load', () => {
  test('stop redis-server, keep deciding, restart it: exactly N records, each once', async () => {
    const spillDir = await tempDir();
    const sidecar = await testSidecar({ redisUrl: redis.url, auditSpillDir: spillDir, auditBufferRecords: 40, auditBatchSize: 25, auditFlushMs: 10 });
    cleanup.push(() => sidecar.close());
    // A workspace the directory knows: its decisions are kept in org-outage's stream.
    await sidecar.store.registerWorkspace('org-outage', 'ws-outage');
    const request = parseAuthorizeRequest(
      decisionRequest({ orgId: 'org-outage', workspaceId: 'ws-outage', workspaceRoles: { 'ws-outage': 'manager' } }),
      RESOURCE_TYPES,
    );
    const ids = new Set<string>();
    const decide = async (n: number) => {
      for (let i = 0; i < n; i++) ids.add((await sidecar.decider.decide(request, 'authorize')).decisionId);
    };

    await decide(150);
    await redis.stop();
    await decide(300); // 40 wait in memory, the rest go to the spill file
    await redis.start();
    await decide(150);
    const audit = sidecar.audit as RedisAuditLog;
    await ready(audit.redis);
    await audit.flush();

    assert.equal(ids.size, 600);
    assert.equal(await client.xlen(streamKey('org-outage', 'decisions')), 600);
    const stored = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await audit.queryDecisions({ orgId: 'org-outage' }, cursor ? { limit: 1000, cursor } : { limit: 1000 });
      for (const record of page.items) stored.add(record.decisionId);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    assert.deepEqual([...stored].sort(), [...ids].sort());

    const metrics = await sidecar.metrics.registry.getSingleMetricAsString('portcullis_audit_records_total');
    const count = (event: string) => Number(new RegExp(`event="${event}"} (\\d+)`).exec(metrics)?.[1]);
    assert.equal(count('recorded'), 600);
    assert.ok(count('spilled') >= 200, metrics);
    // A spilled record is stored by the replay, unless a batch Redis was slow to confirm (past
    // the spill deadline) stored it first: then the replay finds it a duplicate.
    assert.ok(count('replayed') <= count('spilled') && count('replayed') + count('duplicate') >= count('spilled'), metrics);
    assert.equal(count('dropped'), 0);
    assert.deepEqual(await readdir(spillDir), [], 'the replayed spill file is removed');
  });
});

describe('the spill file', () => {
  test('records spilled at shutdown while Redis is away are stored by the next start, once even if replayed twice', async () => {
    const spillDir = await tempDir();
    await redis.stop();
    const first = await auditLog({ spillDir });
    const records = Array.from({ length: 30 }, () => decisionRecord({ orgId: 'org-spill' }));
    for (const record of records) first.record(record);
    await first.close();
    await redis.start();
    const spilled = await readdir(spillDir);
    assert.equal(spilled.length, 1);
    const copy = await tempDir();
    await cp(join(spillDir, spilled[0]!), join(copy, spilled[0]!));

    const stats = counting();
    const second = await auditLog({ spillDir, stats });
    await ready(second.redis);
    await second.flush();
    assert.deepEqual(await readdir(spillDir), []);
    assert.equal(stats.counts.replayed, 30);

    await cp(join(copy, spilled[0]!), join(spillDir, spilled[0]!));
    const third = await auditLog({ spillDir, stats });
    await ready(third.redis);
    await third.flush();
    assert.equal(stats.counts.duplicates, 30);
    assert.equal(await client.xlen(streamKey('org-spill', 'decisions')), 30);
  });

  test('when the spill file cannot be written, the records are counted as dropped and logged', async () => {
    const spillDir = await tempDir();
    const stats = counting();
    const lines: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => lines.push(line) });
    await redis.stop();
    try {
      const audit = await auditLog({ spillDir, stats, log, bufferRecords: 5 });
      // The directory is gone and a file has its name: nothing can be created in it.
      await rm(spillDir, { recursive: true });
      await writeFile(spillDir, '');
      for (let i = 0; i < 12; i++) audit.record(decisionRecord({ orgId: 'org-drop' }));
      await audit.flush();
      assert.equal(stats.counts.dropped, 12);
      assert.equal(stats.counts.spilled, 0);
      assert.match(lines.join(''), /AUDIT RECORDS LOST/);
    } finally {
      await redis.start();
    }
  });
});

for (const on of [ONE_NODE, CLUSTER]) {
  describe(`retention (${on.name})`, () => {
    test('records older than the retention are trimmed', async () => {
      const audit = await auditLog({ retentionMs: 60 * 60_000 }, on);
      await ready(audit.redis);
      const now = Date.now();
      const old = [3, 2].map((h) => decisionRecord({ orgId: 'org-age', timestampMs: now - h * 60 * 60_000 }));
      const fresh = [30, 1].map((m) => decisionRecord({ orgId: 'org-age', timestampMs: now - m * 60_000 }));
      for (const record of [...old, ...fresh]) audit.record(record);
      await audit.flush();
      const page = await audit.queryDecisions({ orgId: 'org-age' }, { limit: 10 });
      assert.deepEqual(
        page.items.map((r) => r.decisionId),
        fresh.map((r) => r.decisionId).reverse(),
      );
      assert.ok((await on.client().pttl(streamKey('org-age', 'decisions'))) > 0);
    });

    test('an organization keeps about maxRecordsPerOrg records, the newest', async () => {
      const audit = await auditLog({ maxRecordsPerOrg: 100, batchSize: 200 }, on);
      await ready(audit.redis);
      const records = Array.from({ length: 1000 }, (_, i) => decisionRecord({ orgId: 'org-size', timestampMs: Date.now() - 1000 + i }));
      for (const record of records) audit.record(record);
      await audit.flush();
      const length = await on.client().xlen(streamKey('org-size', 'decisions'));
      assert.ok(length >= 100 && length < 300, `length ${length}`);
      const [newest] = (await audit.queryDecisions({ orgId: 'org-size' }, { limit: 1 })).items;
      assert.equal(newest?.decisionId, records.at(-1)!.decisionId);
      assert.equal(await on.client().xlen(streamKey('org-other', 'decisions')), 0);
    });
  });

  describe(`secrets (${on.name})`, () => {
    test('tokens and masked paths never reach Redis, wherever they are in the input', async () => {
      const audit = await auditLog({ mask: createMasker(parseMaskPaths('principal.id, request.headers.x-user-email, *.claims.email')) }, on);
      await ready(audit.redis);
      const record = decisionRecord({ orgId: 'org-secret', principalId: 'alice@example.com' }) as DecisionRecord & { input: Record<string, unknown> };
      const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2lnbmF0dXJl';
      record.input.request = {
        headers: {
          authorization: 'Bearer sk-live-SECRET-1',
          'x-api-key': 'SECRET-2',
          cookie: 'session=SECRET-3',
          'x-user-email': 'alice@example.com',
          'x-forwarded': `Bearer ${'SECRET-4'}`,
        },
        token: 'SECRET-5',
      };
      Object.assign(record.input.principal, { claims: { email: 'alice@example.com', raw: jwt } });
      audit.record(record);
      await audit.flush();

      const stored = await everything(on.client());
      for (const secret of ['SECRET-1', 'SECRET-2', 'SECRET-3', 'SECRET-4', 'SECRET-5', jwt, 'alice@example.com']) {
        assert.ok(!stored.includes(secret), `${secret} is in Redis`);
      }
      const got = (await audit.getDecision(record.decisionId))!;
      assert.deepEqual(got.masked, ['principal.claims.email', 'principal.id', 'request.headers.x-user-email']);
      assert.equal(got.principal.id, '[masked]');
      assert.equal(got.action, record.action);
      // The decision itself is untouched: masking works on a copy.
      assert.equal(record.principal.id, 'alice@example.com');
    });
  });

  describe(`replication (${on.name})`, () => {
    test('a batch fewer replicas confirm than required is not acknowledged: it is sent again, then spilled, and stored once', async () => {
      const spillDir = await tempDir();
      const stats = counting();
      // One replica more than each master has: WAIT can never confirm.
      const audit = await auditLog({ spillDir, stats, minReplicasAck: on.replicas + 1, waitTimeoutMs: 50 }, on);
      await ready(audit.redis);
      const records = Array.from({ length: 40 }, () => decisionRecord({ orgId: 'org-unconfirmed' }));
      for (const record of records) audit.record(record);
      await until(() => stats.counts.written === 40 && stats.counts.duplicates! >= 40, 'the unconfirmed batch is stored and sent again');
      assert.equal(stats.counts.buffered, 40, 'nothing is acknowledged');
      await audit.close(); // not acknowledged: spilled
      assert.equal(stats.counts.spilled, 40);

      const replayed = counting();
      const next = await auditLog({ spillDir, stats: replayed, minReplicasAck: 'auto' }, on);
      await ready(next.redis);
      await next.flush();
      assert.equal(replayed.counts.duplicates, 40, 'the replay finds every record stored');
      assert.equal(replayed.counts.written, 0);
      assert.deepEqual(await readdir(spillDir), []);
      assert.equal(await on.client().xlen(streamKey('org-unconfirmed', 'decisions')), 40);
      const page = await next.queryDecisions({ orgId: 'org-unconfirmed' }, { limit: 100 });
      assert.deepEqual(page.items.map((r) => r.decisionId).sort(), records.map((r) => r.decisionId).sort());
      for (const record of records.slice(0, 3)) assert.equal((await next.getDecision(record.decisionId))?.decisionId, record.decisionId);
    });
  });
}

describe('replication (WAIT, one node)', () => {
  test('a batch too few replicas confirm is not acknowledged: it is sent again until one does, and stored once', async () => {
    const stats = counting();
    const audit = await auditLog({ stats, minReplicasAck: 1, waitTimeoutMs: 50 });
    await ready(audit.redis);
    const records = Array.from({ length: 40 }, () => decisionRecord({ orgId: 'org-wait' }));
    for (const record of records) audit.record(record);
    // Redis stores the batch, but no replica confirms it: it stays queued, and every retry finds it stored.
    await until(() => stats.counts.written === 40 && stats.counts.duplicates! >= 40, 'the unconfirmed batch is stored and sent again');
    assert.equal(stats.counts.buffered, 40, 'nothing is acknowledged');

    // A directory of its own: the full sync writes an RDB file there, not in the checkout.
    const replica = await RedisServer.start({ dataDir: await tempDir() });
    cleanup.push(() => replica.stop());
    const toReplica = new Redis(replica.url);
    cleanup.push(async () => toReplica.disconnect());
    await toReplica.replicaof('127.0.0.1', redis.port);
    await until(() => stats.counts.buffered === 0, 'the batch is acknowledged once a replica confirms it');
    assert.equal(stats.counts.written, 40);
    assert.equal(await client.xlen(streamKey('org-wait', 'decisions')), 40);
    const page = await audit.queryDecisions({ orgId: 'org-wait' }, { limit: 100 });
    assert.deepEqual(page.items.map((r) => r.decisionId).sort(), records.map((r) => r.decisionId).sort());
    assert.equal(await toReplica.xlen(streamKey('org-wait', 'decisions')), 40, 'the replica has every record');
    await toReplica.replicaof('NO', 'ONE');
  });
});

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('topology changes while recording (Redis Cluster)', () => {
  /** Records into `orgId` every few ms until the returned stop() is called; stop() resolves with their ids. */
  function recordSteadily(audit: RedisAuditLog, orgId: string): () => Promise<string[]> {
    const ids: string[] = [];
    let recording = true;
    const loop = (async () => {
      while (recording) {
        for (let i = 0; i < 10; i++) {
          const record = decisionRecord({ orgId });
          ids.push(record.decisionId);
          audit.record(record);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    return async () => {
      recording = false;
      await loop;
      return ids;
    };
  }

  async function assertStoredOnce(audit: RedisAuditLog, stats: ReturnType<typeof counting>, orgId: string, ids: string[]): Promise<void> {
    await until(() => stats.counts.buffered === 0, 'every record is acknowledged', 60_000);
    await audit.flush();
    assert.equal(stats.counts.spilled, 0);
    assert.equal(stats.counts.dropped, 0);
    assert.equal(await clusterClient.xlen(streamKey(orgId, 'decisions')), ids.length, 'no record lost, none duplicated');
    const stored: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await audit.queryDecisions({ orgId }, cursor ? { limit: 1000, cursor } : { limit: 1000 });
      stored.push(...page.items.map((record) => record.decisionId));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    assert.deepEqual(stored.sort(), [...ids].sort());
    for (const id of [ids[0]!, ids[Math.floor(ids.length / 2)]!, ids.at(-1)!]) assert.equal((await audit.getDecision(id))?.decisionId, id);
  }

  test('the master of the organization slot is SIGKILLed: every record acknowledged by a replica, stored once', async () => {
    const stats = counting();
    const audit = await auditLog({ stats, minReplicasAck: 'auto', waitTimeoutMs: 500, spillDir: await tempDir() }, CLUSTER);
    await ready(audit.redis);
    const orgId = 'org-failover';
    const stop = recordSteadily(audit, orgId);
    let killed: { port: number } | undefined;
    try {
      await until(() => stats.counts.written! >= 100, 'records are being stored');
      killed = await cluster.killMaster(streamKey(orgId, 'decisions'));
      await cluster.waitHealthy();
      await until(() => stats.counts.written! >= 2 * 100 + 100, 'records are stored on the promoted replica', 60_000);
      await assertStoredOnce(audit, stats, orgId, await stop());
    } finally {
      // Stopped even when an assertion threw: a loop left recording keeps the file alive.
      await stop();
      if (killed) {
        // Back as a replica of the promoted one; the next test asks the cluster who the masters are now.
        await cluster.restart(killed.port);
        await cluster.waitHealthy();
      }
    }
  });

  test('the organization slot migrates to another master: every record stored once', async () => {
    const stats = counting();
    const audit = await auditLog({ stats, minReplicasAck: 'auto', waitTimeoutMs: 500, spillDir: await tempDir() }, CLUSTER);
    await ready(audit.redis);
    const orgId = 'org-resharding';
    const stop = recordSteadily(audit, orgId);
    try {
      await until(() => stats.counts.written! >= 100, 'records are being stored');
      await cluster.migrateSlot(streamKey(orgId, 'decisions'), { pauseMs: 50 });
      const written = stats.counts.written!;
      await until(() => stats.counts.written! >= written + 100, 'records are stored on the new master', 60_000);
      await assertStoredOnce(audit, stats, orgId, await stop());
    } finally {
      await stop();
    }
  });
});
