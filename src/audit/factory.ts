// Which audit log a sidecar keeps: Redis Streams when REDIS_URL is set, else the
// bounded in-memory log (`make run`). Both mask records the same way.
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { createMasker, parseMaskPaths } from './mask.ts';
import { MemoryAuditLog } from './memory.ts';
import type { AuditLog } from './record.ts';
import { RedisAuditLog } from './redis.ts';
import type { AuditStats } from './stats.ts';

const HOUR_MS = 3_600_000;

export async function createAuditLog(config: Config, stats: AuditStats, log: Logger): Promise<AuditLog> {
  const mask = createMasker(parseMaskPaths(config.auditMaskPaths));
  const retentionMs = config.auditRetentionHours * HOUR_MS;
  if (!config.redisUrl) {
    return new MemoryAuditLog({
      capacity: config.auditMemoryRecords,
      maxOrgs: config.auditMemoryMaxOrgs,
      retentionMs,
      maxScan: config.auditMaxScan,
      mask,
      stats,
    });
  }
  const audit = new RedisAuditLog({
    url: config.redisUrl,
    retentionMs,
    maxRecordsPerOrg: config.auditMaxRecordsPerOrg,
    batchSize: config.auditBatchSize,
    flushIntervalMs: config.auditFlushMs,
    bufferRecords: config.auditBufferRecords,
    spillDir: config.auditSpillDir,
    maxScan: config.auditMaxScan,
    commandTimeoutMs: Math.max(config.redisCommandTimeoutMs, 5_000),
    mask,
    stats,
    log,
  });
  await audit.start();
  return audit;
}
