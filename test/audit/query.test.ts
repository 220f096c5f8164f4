// The query semantics of the audit log, run against both implementations (Redis Streams
// on a real redis-server, and the in-memory log of `make run`): every filter and their
// combinations, newest first, cursors, pagination while records arrive, tenant isolation.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createMasker } from '../../src/audit/mask.ts';
import { MemoryAuditLog } from '../../src/audit/memory.ts';
import { decisionFields, decisionMatcher } from '../../src/audit/query.ts';
import type { AuditLog, DecisionFilter, DecisionRecord } from '../../src/decision/record.ts';
import { RedisAuditLog } from '../../src/audit/redis.ts';
import { NO_AUDIT_STATS } from '../../src/stats.ts';
import type { ApiError } from '../../src/errors.ts';
import { RedisServer } from '../support/redis.ts';
import { dataset, decisionRecord } from './records.ts';

const DAY = 86_400_000;
const START = Date.now() - DAY / 2;
const COUNT = 240;

/** Every record matching `filter`, newest first, by paging through the log. */
async function all(audit: AuditLog, filter: DecisionFilter, limit: number): Promise<DecisionRecord[]> {
  const out: DecisionRecord[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await audit.queryDecisions(filter, cursor === undefined ? { limit } : { limit, cursor });
    assert.ok(page.items.length <= limit);
    out.push(...page.items);
    if (page.nextCursor === null) return out;
    cursor = page.nextCursor;
  }
}

function expected(records: DecisionRecord[], f: DecisionFilter): string[] {
  return records
    .filter((r) => {
      const ts = Date.parse(r.timestamp);
      return (
        r.orgId === f.orgId &&
        (f.workspaceId === undefined || r.workspaceId === f.workspaceId) &&
        (f.principalId === undefined || r.principal.id === f.principalId) &&
        (f.allow === undefined || r.allow === f.allow) &&
        (f.reason === undefined || r.reason === f.reason) &&
        (f.resourceType === undefined || r.resource.type === f.resourceType) &&
        (f.action === undefined || r.action === f.action) &&
        (f.from === undefined || ts >= f.from) &&
        (f.to === undefined || ts <= f.to)
      );
    })
    .map((r) => r.decisionId)
    .reverse();
}

const SINGLE: Array<Partial<DecisionFilter>> = [
  { workspaceId: 'ws-1' },
  { principalId: 'u-2' },
  { allow: true },
  { allow: false },
  { reason: 'read_only_role' },
  { resourceType: 'integration' },
  { action: 'delete' },
  { from: START + 100_000 },
  { to: START + 50_000 },
  { from: START + 60_000, to: START + 120_000 },
  { from: START + 10_000, to: START + 10_000 },
];

/** Every pair of single filters, plus everything at once. */
function combinations(): Array<Partial<DecisionFilter>> {
  const out: Array<Partial<DecisionFilter>> = [{}, ...SINGLE];
  for (let i = 0; i < SINGLE.length; i++) {
    for (let j = i + 1; j < SINGLE.length; j++) out.push({ ...SINGLE[i], ...SINGLE[j] });
  }
  out.push({ workspaceId: 'ws-0', principalId: 'u-1', allow: false, resourceType: 'mcp_server', action: 'read', from: START, to: START + 200_000 });
  return out;
}

interface Backend {
  name: string;
  make(): Promise<AuditLog & { flush(): Promise<void> }>;
  teardown(): Promise<void>;
}

let redis: RedisServer;
let spillDir: string;
const logs: AuditLog[] = [];

const backends: Backend[] = [
  {
    name: 'memory',
    make: async () =>
      new MemoryAuditLog({ capacity: 100_000, maxOrgs: 1_000, retentionMs: DAY, maxScan: 100_000, mask: createMasker([]), stats: NO_AUDIT_STATS }),
    teardown: async () => undefined,
  },
  {
    name: 'redis',
    make: async () => {
      const log = new RedisAuditLog({
        url: redis.url,
        retentionMs: DAY,
        maxRecordsPerOrg: 1_000_000,
        batchSize: 100,
        flushIntervalMs: 20,
        bufferRecords: 10_000,
        spillDir,
        maxScan: 100_000,
        commandTimeoutMs: 5000,
        mask: createMasker([]),
        stats: NO_AUDIT_STATS,
        log: pino({ level: 'silent' }),
      });
      await log.start();
      logs.push(log);
      return log;
    },
    teardown: async () => {
      for (const log of logs.splice(0)) await log.close();
    },
  },
];

before(async () => {
  redis = await RedisServer.start();
  spillDir = await mkdtemp(join(tmpdir(), 'portcullis-audit-'));
});

after(async () => {
  for (const backend of backends) await backend.teardown();
  await redis.stop();
  await rm(spillDir, { recursive: true, force: true });
});

for (const backend of backends) {
  describe(`audit queries (${backend.name})`, () => {
    let audit: AuditLog;
    let orgA: DecisionRecord[];
    let orgB: DecisionRecord[];

    before(async () => {
      audit = await backend.make();
      orgA = dataset(`org-a-${backend.name}`, COUNT, START);
      orgB = dataset(`org-b-${backend.name}`, COUNT, START);
      for (let i = 0; i < COUNT; i++) {
        audit.record(orgA[i]!);
        audit.record(orgB[i]!);
      }
      await audit.flush();
    });

    test('every filter and every pair of filters returns exactly the matching records, newest first', async () => {
      for (const combination of combinations()) {
        const filter: DecisionFilter = { orgId: orgA[0]!.orgId, ...combination };
        const got = (await all(audit, filter, 17)).map((r) => r.decisionId);
        assert.deepEqual(got, expected(orgA, filter), JSON.stringify(combination));
      }
    });

    test("an organization's query never returns another organization's records", async () => {
      const a = await all(audit, { orgId: orgA[0]!.orgId }, 1000);
      const b = await all(audit, { orgId: orgB[0]!.orgId }, 1000);
      assert.equal(a.length, COUNT);
      assert.equal(b.length, COUNT);
      assert.ok(a.every((r) => r.orgId === orgA[0]!.orgId));
      assert.ok(b.every((r) => r.orgId === orgB[0]!.orgId));
      assert.deepEqual(await all(audit, { orgId: 'org-nobody' }, 10), []);
    });

    test('a record comes back whole, and can be found by its decision id', async () => {
      const wanted = orgA[42]!;
      assert.deepEqual(await audit.getDecision(wanted.decisionId), wanted);
      assert.equal(await audit.getDecision('no-such-decision'), null);
    });

    test('pagination while records are written: no duplicates, no gaps', async () => {
      const orgId = `org-live-${backend.name}`;
      const first = dataset(orgId, 150, START);
      for (const r of first) audit.record(r);
      await audit.flush();
      const seen: string[] = [];
      let cursor: string | undefined;
      let writes = 0;
      for (;;) {
        const page = await audit.queryDecisions({ orgId }, cursor === undefined ? { limit: 20 } : { limit: 20, cursor });
        seen.push(...page.items.map((r) => r.decisionId));
        // Newer records, and one stamped in the past (as a record replayed after an outage is).
        for (let i = 0; i < 7; i++) audit.record(decisionRecord({ orgId, timestampMs: Date.now() + writes++ }));
        audit.record(decisionRecord({ orgId, timestampMs: START + 5_000 }));
        await audit.flush();
        if (page.nextCursor === null) break;
        cursor = page.nextCursor;
      }
      assert.deepEqual(seen, first.map((r) => r.decisionId).reverse());
    });

    test('a time range still finds a record stored after later ones (replayed after an outage)', async () => {
      const orgId = `org-late-${backend.name}`;
      audit.record(decisionRecord({ orgId, timestampMs: START + 10 * 60_000 }));
      await audit.flush();
      const late = decisionRecord({ orgId, timestampMs: START + 60_000 });
      audit.record(late);
      await audit.flush();
      const page = await audit.queryDecisions({ orgId, from: START, to: START + 2 * 60_000 }, { limit: 10 });
      assert.deepEqual(
        page.items.map((r) => r.decisionId),
        [late.decisionId],
      );
    });

    test('a cursor only works with the filters it was made for', async () => {
      const orgId = orgA[0]!.orgId;
      const page = await audit.queryDecisions({ orgId, allow: false }, { limit: 5 });
      assert.ok(page.nextCursor);
      await assert.rejects(
        audit.queryDecisions({ orgId, allow: true }, { limit: 5, cursor: page.nextCursor }),
        (e: ApiError) => e.status === 400 && e.errors[0]?.field === 'cursor',
      );
      await assert.rejects(audit.queryDecisions({ orgId }, { limit: 5, cursor: 'garbage' }), (e: ApiError) => e.status === 400);
      await assert.rejects(audit.queryDecisions({ orgId: 'org-nobody' }, { limit: 5, cursor: 'garbage' }), (e: ApiError) => e.status === 400);
    });

    test('summary counts by outcome, reason and resource type over a time range', async () => {
      const orgId = orgA[0]!.orgId;
      const from = START + 30_000;
      const to = START + 150_000;
      const inRange = orgA.filter((r) => Date.parse(r.timestamp) >= from && Date.parse(r.timestamp) <= to);
      const summary = await audit.summary({ orgId, from, to });
      assert.equal(summary.total, inRange.length);
      assert.equal(summary.byOutcome.allow, inRange.filter((r) => r.allow).length);
      assert.equal(summary.byOutcome.deny, inRange.filter((r) => !r.allow).length);
      assert.equal(summary.byReason.read_only_role, inRange.filter((r) => r.reason === 'read_only_role').length);
      assert.equal(summary.byResourceType.integration, inRange.filter((r) => r.resource.type === 'integration').length);
      assert.equal((await audit.summary({ orgId })).total, COUNT);
    });

    test('settings changes are kept per organization and queried newest first', async () => {
      const orgId = `org-settings-${backend.name}`;
      for (let i = 0; i < 5; i++) {
        audit.recordSettingsChange({
          changeId: `c-${backend.name}-${i}`,
          timestamp: new Date(START + i * 1000).toISOString(),
          actor: 'alice',
          orgId,
          ...(i % 2 ? { workspaceId: 'ws-1' } : {}),
          operation: i % 2 ? 'put_workspace' : 'put_org',
          before: null,
          after: { managersWriteMcpServers: i % 2 === 0 },
          version: i + 1,
        });
      }
      await audit.flush();
      const all = await audit.querySettingsChanges({ orgId }, { limit: 10 });
      assert.deepEqual(
        all.items.map((c) => c.changeId),
        [4, 3, 2, 1, 0].map((i) => `c-${backend.name}-${i}`),
      );
      const ws = await audit.querySettingsChanges({ orgId, workspaceId: 'ws-1' }, { limit: 10 });
      assert.deepEqual(
        ws.items.map((c) => c.version),
        [4, 2],
      );
      assert.deepEqual((await audit.querySettingsChanges({ orgId: orgA[0]!.orgId }, { limit: 10 })).items, []);
    });
  });
}

test('a filter by API finds entries written before the API was a filter key (six keys, the API only in the record)', () => {
  const record = decisionRecord();
  const fields = decisionFields(record);
  const legacy = { ...fields, k: JSON.stringify((JSON.parse(fields.k!) as string[]).slice(0, 6)) };
  for (const entry of [fields, legacy]) {
    assert.equal(decisionMatcher({ orgId: record.orgId, api: 'authorize' })(entry), true);
    assert.equal(decisionMatcher({ orgId: record.orgId, api: 'opa_data' })(entry), false);
  }
});
