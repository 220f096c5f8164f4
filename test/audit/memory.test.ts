// The in-memory audit log's bounds are per tenant: one organization's volume never evicts
// another's records, and the number of organizations kept is bounded too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMasker } from '../../src/audit/mask.ts';
import { MemoryAuditLog } from '../../src/audit/memory.ts';
import { NO_AUDIT_STATS } from '../../src/stats.ts';
import { decisionRecord } from './records.ts';

const HOUR = 3_600_000;
const CAPACITY = 50;

function memoryLog(options: { maxOrgs?: number; now?: () => number } = {}) {
  return new MemoryAuditLog({
    capacity: CAPACITY,
    maxOrgs: options.maxOrgs ?? 100,
    retentionMs: HOUR,
    maxScan: 100_000,
    mask: createMasker([]),
    stats: NO_AUDIT_STATS,
    ...(options.now ? { now: options.now } : {}),
  });
}

async function decisionIds(audit: MemoryAuditLog, orgId: string): Promise<string[]> {
  return (await audit.queryDecisions({ orgId }, { limit: 1000 })).items.map((r) => r.decisionId);
}

function change(orgId: string, i: number) {
  return {
    changeId: `c-${orgId}-${i}`,
    timestamp: new Date().toISOString(),
    actor: 'admin',
    orgId,
    operation: 'put_org' as const,
    before: null,
    after: {},
    version: i,
  };
}

test("a flood of one organization's records (10x capacity) leaves another organization's records all there", async () => {
  const audit = memoryLog();
  const mine = Array.from({ length: CAPACITY }, () => decisionRecord({ orgId: 'org-1' }));
  for (const record of mine) audit.record(record);
  audit.recordSettingsChange(change('org-1', 1));
  for (let i = 0; i < CAPACITY * 10; i++) {
    audit.record(decisionRecord({ orgId: 'org-2' }));
    audit.recordSettingsChange(change('org-2', i));
  }
  assert.deepEqual(await decisionIds(audit, 'org-1'), mine.map((r) => r.decisionId).reverse());
  for (const record of mine) assert.equal((await audit.getDecision(record.decisionId))?.decisionId, record.decisionId);
  assert.equal((await audit.querySettingsChanges({ orgId: 'org-1' }, { limit: 10 })).items.length, 1);
  // The flooding organization keeps its own newest `capacity` records.
  assert.equal((await decisionIds(audit, 'org-2')).length, CAPACITY);
  assert.equal((await audit.querySettingsChanges({ orgId: 'org-2' }, { limit: 1000 })).items.length, CAPACITY);
  assert.equal((await audit.summary({ orgId: 'org-2' })).total, CAPACITY);
});

test("an organization's own overflow drops its oldest records, and their ids are forgotten", async () => {
  const audit = memoryLog();
  const records = Array.from({ length: CAPACITY + 5 }, () => decisionRecord({ orgId: 'org-1' }));
  for (const record of records) audit.record(record);
  assert.deepEqual(
    await decisionIds(audit, 'org-1'),
    records
      .slice(5)
      .map((r) => r.decisionId)
      .reverse(),
  );
  assert.equal(await audit.getDecision(records[0]!.decisionId), null);
  assert.equal((await audit.getDecision(records[5]!.decisionId))?.decisionId, records[5]!.decisionId);
});

test('a flood of decisions under many made-up organizations forgets no settings change', async () => {
  const audit = memoryLog({ maxOrgs: 3 });
  audit.recordSettingsChange(change('org-1', 1));
  audit.record(decisionRecord({ orgId: 'org-1' }));
  for (let i = 0; i < 100; i++) audit.record(decisionRecord({ orgId: `made-up-${i}` }));
  assert.deepEqual(await decisionIds(audit, 'org-1'), [], 'its decisions were the least recent');
  assert.equal((await audit.querySettingsChanges({ orgId: 'org-1' }, { limit: 10 })).items.length, 1, 'its settings trail is kept');
});

test('beyond maxOrgs, the organization recorded least recently has its decisions forgotten', async () => {
  const audit = memoryLog({ maxOrgs: 3 });
  const first = decisionRecord({ orgId: 'org-a' });
  audit.record(first);
  audit.record(decisionRecord({ orgId: 'org-b' }));
  audit.record(decisionRecord({ orgId: 'org-c' }));
  audit.record(decisionRecord({ orgId: 'org-a' })); // org-a is now the most recent, org-b the least
  audit.record(decisionRecord({ orgId: 'org-d' }));
  assert.deepEqual(await decisionIds(audit, 'org-b'), []);
  assert.equal((await decisionIds(audit, 'org-a')).length, 2);
  assert.equal((await audit.getDecision(first.decisionId))?.decisionId, first.decisionId);
  const victim = decisionRecord({ orgId: 'org-e' });
  audit.record(victim);
  audit.record(decisionRecord({ orgId: 'org-f' }));
  audit.record(decisionRecord({ orgId: 'org-g' }));
  audit.record(decisionRecord({ orgId: 'org-h' }));
  assert.equal(await audit.getDecision(victim.decisionId), null, 'a forgotten organization keeps no id lookups');
  assert.deepEqual(await decisionIds(audit, 'org-a'), []);
});

test('records older than the retention are dropped, also in an organization that records nothing more', async () => {
  let now = Date.now();
  const audit = memoryLog({ now: () => now });
  audit.record(decisionRecord({ orgId: 'org-idle', timestampMs: now }));
  audit.record(decisionRecord({ orgId: 'org-busy', timestampMs: now }));
  now += 2 * HOUR;
  audit.record(decisionRecord({ orgId: 'org-busy', timestampMs: now }));
  assert.deepEqual(await decisionIds(audit, 'org-idle'), []);
  assert.equal((await decisionIds(audit, 'org-busy')).length, 1);
});

function unverified(orgId: string) {
  const record = decisionRecord({ orgId });
  record.orgUnverified = true;
  return record;
}

test("1,100 decisions for made-up organizations leave org-1's summary at its 2 records; they are kept in the bounded unverified bucket", async () => {
  const audit = new MemoryAuditLog({
    capacity: 10_000,
    maxOrgs: 1_000,
    unverifiedRecords: 500,
    retentionMs: HOUR,
    maxScan: 100_000,
    mask: createMasker([]),
    stats: NO_AUDIT_STATS,
  });
  audit.record(decisionRecord({ orgId: 'org-1' }));
  audit.record(decisionRecord({ orgId: 'org-1', allow: false }));
  const probes = Array.from({ length: 1_100 }, (_, i) => unverified(`made-up-${i}`));
  for (const record of probes) audit.record(record);
  const summary = await audit.summary({ orgId: 'org-1' });
  assert.equal(summary.total, 2);
  assert.deepEqual(summary.byOutcome, { allow: 1, deny: 1 });
  // The newest probes are kept as evidence, found under the organization they named.
  const last = probes.at(-1)!;
  const found = await audit.queryDecisions({ orgId: last.orgId, unverified: true }, { limit: 10 });
  assert.deepEqual(
    found.items.map((r) => r.decisionId),
    [last.decisionId],
  );
  assert.equal((await audit.getDecision(last.decisionId))?.decisionId, last.decisionId);
  assert.equal(await audit.getDecision(probes[0]!.decisionId), null, 'the oldest went when the bucket filled');
  assert.deepEqual((await audit.queryDecisions({ orgId: 'made-up-0', unverified: true }, { limit: 10 })).items, []);
  assert.equal((await audit.queryDecisions({ orgId: last.orgId }, { limit: 10 })).items.length, 0, 'no stream of its own');
});

test('the unverified bucket is bounded in bytes too', async () => {
  let held = 0;
  const stats = { ...NO_AUDIT_STATS, heldBytes: (bytes: number) => (held = bytes) };
  const audit = new MemoryAuditLog({
    capacity: 10_000,
    maxOrgs: 100,
    unverifiedBytes: 50_000,
    retentionMs: HOUR,
    maxScan: 100_000,
    mask: createMasker([]),
    stats,
  });
  for (let i = 0; i < 2_000; i++) audit.record(unverified(`made-up-${i}`));
  assert.ok(held <= 50_000 && held > 40_000, `${held} bytes held`);
});

test('past the byte budget the organization holding the most gives up its oldest; a smaller one keeps all of its records', async () => {
  let held = 0;
  const stats = { ...NO_AUDIT_STATS, heldBytes: (bytes: number) => (held = bytes) };
  const audit = new MemoryAuditLog({ capacity: 10_000, maxOrgs: 100, maxBytes: 200_000, retentionMs: HOUR, maxScan: 100_000, mask: createMasker([]), stats });
  const small = Array.from({ length: 20 }, () => decisionRecord({ orgId: 'org-small' }));
  for (const record of small) audit.record(record);
  for (let i = 0; i < 5_000; i++) audit.record(decisionRecord({ orgId: 'org-big' }));
  assert.ok(held <= 200_000, `${held} bytes held`);
  assert.deepEqual(await decisionIds(audit, 'org-small'), small.map((r) => r.decisionId).reverse());
  const big = (await decisionIds(audit, 'org-big')).length;
  assert.ok(big > 100 && big < 5_000, `org-big keeps ${big}`);
});
