// The Redis audit log's unverified bucket: decisions whose organization the workspace
// directory did not confirm share one capped stream, so made-up organizations cost a
// bounded number of keys; they stay findable by the organization they named and by id.
// And the writer's queue, bounded in bytes while Redis stalls.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createMasker } from '../../src/audit/mask.ts';
import type { DecisionRecord } from '../../src/decision/record.ts';
import { RedisAuditLog } from '../../src/audit/redis.ts';
import { NO_AUDIT_STATS } from '../../src/stats.ts';
import { scanKeys } from '../../src/redis/clients.ts';
import { RedisServer } from '../support/redis.ts';
import { decisionRecord } from './records.ts';

let redis: RedisServer;
let audit: RedisAuditLog;

before(async () => {
  redis = await RedisServer.start();
  audit = new RedisAuditLog({
    url: redis.url,
    retentionMs: 86_400_000,
    maxRecordsPerOrg: 1_000_000,
    unverifiedRecords: 1_000,
    batchSize: 100,
    flushIntervalMs: 20,
    bufferRecords: 10_000,
    spillDir: '',
    maxScan: 100_000,
    commandTimeoutMs: 5_000,
    mask: createMasker([]),
    stats: NO_AUDIT_STATS,
    log: pino({ level: 'silent' }),
  });
  await audit.start();
});

after(async () => {
  await audit?.close();
  await redis?.stop();
});

function unverified(orgId: string): DecisionRecord {
  const record = decisionRecord({ orgId, workspaceId: `ws-of-${orgId}` });
  record.orgUnverified = true;
  return record;
}

test('3,000 decisions for made-up organizations make a bounded number of keys, in one capped stream; a known organization keeps its own', async () => {
  const known = decisionRecord({ orgId: 'org-1' });
  audit.record(known);
  const probes = Array.from({ length: 3_000 }, (_, i) => unverified(`made-up-${i}`));
  for (const record of probes) audit.record(record);
  await audit.flush();
  const keys: string[] = [];
  for await (const batch of scanKeys(audit.redis, '*')) keys.push(...batch);
  const unverifiedKeys = keys.filter((key) => key.startsWith('portcullis:audit-unverified:'));
  // The stream and one id-index hash per hour the decisions fall in (one or two here).
  assert.ok(unverifiedKeys.length <= 3, `unverified keys: ${unverifiedKeys.join(', ')}`);
  assert.ok(keys.length <= 6, `${keys.length} keys in all: ${keys.join(', ')}`);
  assert.ok(!keys.some((key) => key.includes('made-up')), 'no key names a made-up organization');
  const length = await audit.redis.xlen('portcullis:audit-unverified:{u}:decisions');
  assert.ok(length >= 1_000 && length < 3_000, `the bucket holds ${length} (capped near 1,000)`);

  const last = probes.at(-1)!;
  const found = await audit.queryDecisions({ orgId: last.orgId, unverified: true }, { limit: 10 });
  assert.deepEqual(
    found.items.map((r) => [r.decisionId, r.orgId, r.orgUnverified]),
    [[last.decisionId, last.orgId, true]],
  );
  assert.equal((await audit.getDecision(last.decisionId))?.decisionId, last.decisionId);
  assert.deepEqual((await audit.queryDecisions({ orgId: last.orgId }, { limit: 10 })).items, [], 'no stream of its own');
  assert.deepEqual(
    (await audit.queryDecisions({ orgId: 'org-1' }, { limit: 10 })).items.map((r) => r.decisionId),
    [known.decisionId],
  );
  assert.equal((await audit.getDecision(known.decisionId))?.decisionId, known.decisionId);
});

test('while Redis stalls the queue holds at most its byte budget; the rest goes to the spill file, and all is stored once it answers', async (t) => {
  const spillDir = await mkdtemp(join(tmpdir(), 'portcullis-budget-'));
  t.after(() => rm(spillDir, { recursive: true, force: true }));
  const counts = { held: 0, spilled: 0, dropped: 0, written: 0 };
  const writer = new RedisAuditLog({
    url: redis.url,
    retentionMs: 86_400_000,
    maxRecordsPerOrg: 1_000_000,
    batchSize: 50,
    flushIntervalMs: 20,
    bufferRecords: 10_000,
    bufferBytes: 20_000,
    spillAfterMs: 0,
    spillDir,
    maxScan: 100_000,
    commandTimeoutMs: 2_000,
    mask: createMasker([]),
    stats: {
      ...NO_AUDIT_STATS,
      heldBytes: (bytes) => (counts.held = Math.max(counts.held, bytes)),
      spilled: (n) => (counts.spilled += n),
      dropped: (n) => (counts.dropped += n),
      written: (n) => (counts.written += n),
    },
    log: pino({ level: 'silent' }),
  });
  await writer.start();
  t.after(async () => {
    redis.resume();
    await writer.close();
  });
  redis.pause();
  const records = Array.from({ length: 300 }, () => decisionRecord({ orgId: 'org-budget' }));
  for (const record of records) writer.record(record);
  assert.ok(counts.held <= 20_000, `${counts.held} bytes held`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(counts.spilled > 200, `${counts.spilled} spilled`);
  assert.equal(counts.dropped, 0);
  redis.resume();
  await writer.flush();
  const deadline = Date.now() + 60_000;
  while ((await audit.redis.xlen('portcullis:audit:{org-budget}:decisions')) < records.length && Date.now() < deadline) {
    await writer.flush();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.equal(await audit.redis.xlen('portcullis:audit:{org-budget}:decisions'), records.length, 'every record stored, once');
});
