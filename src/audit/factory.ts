// Which audit log a sidecar keeps: Redis Streams when REDIS_URL or REDIS_CLUSTER_NODES is set, else the
// bounded in-memory log (`make run`). Both mask records the same way.
import type { Logger } from 'pino';
import { parseReplicaRequirement, type Config } from '../config.ts';
import { redisConnectionOptions } from '../redis/options.ts';
import { HOUR_MS } from './keys.ts';
import { createMasker, parseMaskPaths } from './mask.ts';
import { MemoryAuditLog } from './memory.ts';
import type { AuditLog } from '../decision/record.ts';
import { RedisAuditLog } from './redis.ts';
import type { AuditStats } from '../stats.ts';

export async function createAuditLog(config: Config, stats: AuditStats, log: Logger): Promise<AuditLog> {
  const mask = createMasker(parseMaskPaths(config.auditMaskPaths));
  const retentionMs = config.auditRetentionHours * HOUR_MS;
  const connection = redisConnectionOptions(config);
  if (!connection) {
    return new MemoryAuditLog({
      capacity: config.auditMemoryRecords,
      maxOrgs: config.auditMemoryMaxOrgs,
      maxBytes: config.auditMemoryMaxBytes,
      unverifiedRecords: config.auditUnverifiedRecords,
      unverifiedBytes: config.auditUnverifiedMaxBytes,
      retentionMs,
      maxScan: config.auditMaxScan,
      mask,
      stats,
    });
  }
  const audit = new RedisAuditLog({
    connection,
    retentionMs,
    maxRecordsPerOrg: config.auditMaxRecordsPerOrg,
    batchSize: config.auditBatchSize,
    flushIntervalMs: config.auditFlushMs,
    bufferRecords: config.auditBufferRecords,
    bufferBytes: config.auditBufferBytes,
    spillAfterMs: config.auditSpillAfterMs,
    unverifiedRecords: config.auditUnverifiedRecords,
    spillDir: config.auditSpillDir,
    maxScan: config.auditMaxScan,
    commandTimeoutMs: Math.max(config.redisCommandTimeoutMs, 5_000),
    // A batch counts as stored once it would survive its master's loss, as an admin write does.
    minReplicasAck: parseReplicaRequirement(config.redisMinReplicasAck),
    waitTimeoutMs: config.redisWaitTimeoutMs,
    mask,
    stats,
    log,
  });
  await audit.start();
  return audit;
}
