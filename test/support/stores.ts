// The two settings stores a suite runs on, one parameterized suite rather than a copy: the
// embedded store and a real redis-server started for the test file.
import { after, before } from 'node:test';
import type { Sidecar } from '../../src/sidecar.ts';
import { RedisServer } from './redis.ts';
import { testSidecar } from './sidecar.ts';

export interface StoreKind {
  name: 'memory' | 'redis';
  make: () => Promise<Sidecar>;
}

/** Call at the top level of a test file: starts a redis-server for the file and returns both kinds. */
export function bothStores(): StoreKind[] {
  let redis: RedisServer;
  before(async () => (redis = await RedisServer.start()));
  after(() => redis.stop());
  return [
    { name: 'memory', make: () => testSidecar() },
    { name: 'redis', make: () => testSidecar({ redisUrl: redis.url, auditFlushMs: 10 }) },
  ];
}
