// One organization's replay does not stall the others: while org-a replays 30,000 recorded
// decisions, org-b's decisions keep being answered (their latency is measured and printed,
// not asserted: the machine may be loaded), and org-a cannot run two replays at once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN, decisionRequest, serve, testConfig, testSidecar } from '../support/sidecar.ts';
import { dataset } from './records.ts';

const RECORDS = 30_000;
// Recent, within any retention: 30,000 records 10 ms apart end well before now.
const START_MS = Date.now() - 3_600_000;

let sidecar: Sidecar;
let url: string;
let close: () => Promise<void>;

before(async () => {
  const config = { auditMemoryRecords: RECORDS + 1_000 };
  sidecar = await testSidecar(config);
  await sidecar.store.registerWorkspace('org-b', 'ws-b');
  for (const record of dataset('org-a', RECORDS, START_MS, 10)) sidecar.audit.record(record);
  ({ url, close } = await serve(sidecar, testConfig(config)));
});
after(() => close?.());

const replay = (orgId: string) =>
  fetch(`${url}/v1/audit/replay`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ filter: { orgId, from: new Date(START_MS).toISOString() } }),
  });

const orgB = decisionRequest({ orgId: 'org-b', workspaceId: 'ws-b', orgRole: 'owner', workspaceRoles: {} });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

test('while org-a replays 30,000 records, org-b decisions are answered throughout (latency printed)', async (t) => {
  let replaying = true;
  const latencies: number[] = [];
  const orgBLoop = (async () => {
    while (replaying) {
      const started = performance.now();
      const response = await fetch(`${url}/v1/authorize`, { method: 'POST', body: JSON.stringify(orgB) });
      const body = (await response.json()) as { allow?: boolean; reason?: string };
      assert.equal(response.status, 200, JSON.stringify(body));
      assert.equal(body.allow, true, JSON.stringify(body));
      if (replaying) latencies.push(performance.now() - started);
    }
  })();
  const replayStarted = performance.now();
  let report: { evaluated: number; skipped: number };
  try {
    const response = await replay('org-a');
    report = (await response.json()) as typeof report;
    assert.equal(response.status, 200, JSON.stringify(report));
  } finally {
    replaying = false;
    await orgBLoop;
  }
  const replayMs = performance.now() - replayStarted;
  assert.equal(report.evaluated + report.skipped, RECORDS);
  // A replay that never yields lets at most one org-b decision through: the one that waited for all of it.
  assert.ok(latencies.length >= 2, `only ${latencies.length} org-b decision(s) answered while org-a replayed`);
  const sorted = [...latencies].sort((a, b) => a - b);
  t.diagnostic(
    `replay of ${RECORDS} records took ${replayMs.toFixed(0)} ms; org-b decisions during it: ${latencies.length}, ` +
      `p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`,
  );
});

test('a second replay of the same organization while one runs is 409 replay_in_progress; another organization is not held up', async () => {
  const [first, second, other] = await Promise.all([replay('org-a'), replay('org-a'), replay('org-b')]);
  const answers = await Promise.all([first, second].map(async (r) => ({ status: r.status, body: (await r.json()) as { code?: string; message?: string } })));
  assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409], JSON.stringify(answers.map((a) => a.body.code)));
  const refused = answers.find((a) => a.status === 409)!;
  assert.equal(refused.body.code, 'replay_in_progress');
  assert.match(refused.body.message!, /org-a/);
  assert.equal(other.status, 200, await other.text());
  // Once the first has answered, the organization may replay again.
  const again = await replay('org-a');
  assert.equal(again.status, 200, await again.text());
});
