// The settings stores a suite runs on, one parameterized suite rather than a copy: the
// embedded store, a real redis-server and a real 3+3 Redis Cluster, each started once for
// the test file.
import { after, before } from 'node:test';
import type { Sidecar } from '../../src/sidecar.ts';
import { startRedisCluster, type RedisCluster } from './cluster.ts';
import { RedisServer } from './redis.ts';
import { testSidecar } from './sidecar.ts';

export interface StoreKind {
  name: 'memory' | 'redis' | 'redis-cluster';
  make: () => Promise<Sidecar>;
}

/** Call at the top level of a test file: starts a redis-server and a cluster for the file and returns every kind. */
export function bothStores(): StoreKind[] {
  let redis: RedisServer;
  let cluster: RedisCluster;
  before(async () => {
    // One after the other, so that a cluster that fails to start leaves a server the after hook can stop.
    redis = await RedisServer.start();
    cluster = await startRedisCluster();
  });
  after(async () => {
    await Promise.all([redis?.stop(), cluster?.stop()]);
  });
  return [
    { name: 'memory', make: () => testSidecar() },
    { name: 'redis', make: () => testSidecar({ redisUrl: redis.url, auditFlushMs: 10 }) },
    { name: 'redis-cluster', make: () => testSidecar({ redisClusterNodes: cluster.nodes.join(','), auditFlushMs: 10 }) },
  ];
}
