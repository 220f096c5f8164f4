// Nothing answered is lost when a process dies: with Redis stalled (SIGSTOP), every
// decision a sidecar answered is spilled to disk within AUDIT_SPILL_AFTER_MS, so a SIGKILL
// of the single process, or of one worker of WORKERS=2, loses none; once Redis answers and
// the process (or the worker the primary starts in its place) is back, every answered
// decision id is in the audit exactly once. Real processes, a real redis-server.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, decisionRequest } from '../support/sidecar.ts';
import { connectionPerWorker, metricSum, startWorkers, type Connection } from '../workers/support.ts';
import { launchSidecar, stopProcess, type SidecarProcess } from '../support/launch.ts';
import { tempDir } from './support.ts';

const ANSWERED = 300;
const SPILL_AFTER_MS = 500;

let redis: RedisServer;
const running: SidecarProcess[] = [];
const connections: Connection[] = [];

before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  redis.resume();
  await redis.stop();
});
afterEach(async () => {
  redis.resume();
  for (const connection of connections.splice(0)) connection.close();
  for (const process of running.splice(0)) await stopProcess(process.child);
});

const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

/** The env of a sidecar whose audit writes to `redis` and spills to `spillDir`. */
const env = (spillDir: string, more: Record<string, string> = {}) => ({
  REDIS_URL: redis.url,
  AUDIT_SPILL_DIR: spillDir,
  AUDIT_SPILL_AFTER_MS: String(SPILL_AFTER_MS),
  ...more,
});

async function registerWorkspace(url: string): Promise<void> {
  const response = await fetch(`${url}/v1/orgs/org-1/workspaces/ws-1`, { method: 'PUT', headers: admin, body: '{}' });
  assert.ok(response.ok, await response.text());
}

const body = (i: number) => decisionRequest({ orgId: 'org-1', workspaceId: 'ws-1', action: i % 2 ? 'read' : 'create' });

async function metric(url: string, event: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return metricSum(
    text
      .split('\n')
      .filter((line) => line.includes(`event="${event}"`))
      .join('\n'),
    'portcullis_audit_records_total',
  );
}

/** Polls `check` until it holds, failing after `timeoutMs` with `what` (a bound, not a measurement). */
async function until(what: () => string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** How many times each decision id appears in org-1's audit, paging through all of it. */
async function auditCounts(url: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let cursor: string | null = null;
  do {
    // Bounded: a connection the killed worker held may never be answered; the poll asks again.
    const response = await fetch(`${url}/v1/audit/decisions?orgId=org-1&limit=1000${cursor ? `&cursor=${cursor}` : ''}`, {
      headers: admin,
      signal: AbortSignal.timeout(10_000),
    }).catch(() => undefined);
    if (!response?.ok) return counts;
    const page = (await response.json()) as { decisions: Array<{ decisionId: string }>; nextCursor: string | null };
    for (const { decisionId } of page.decisions) counts.set(decisionId, (counts.get(decisionId) ?? 0) + 1);
    cursor = page.nextCursor;
  } while (cursor);
  return counts;
}

async function everyAnsweredOnce(url: string, answered: string[]): Promise<void> {
  let counts = new Map<string, number>();
  const found = () => answered.filter((id) => counts.has(id)).length;
  await until(
    () => `${found()} of ${answered.length} answered decisions found`,
    async () => {
      counts = await auditCounts(url);
      return found() === answered.length;
    },
  );
  const twice = answered.filter((id) => counts.get(id) !== 1);
  assert.deepEqual(twice, [], 'every answered decision is recorded exactly once');
  console.log(`found ${found()} of ${answered.length} answered decisions, each once`);
}

test('one process SIGKILLed during a Redis stall: every answered decision is in the audit once it is back', async (t) => {
  const spillDir = await tempDir(t);
  const first = await launchSidecar(env(spillDir), { readyPath: '/health/ready' });
  running.push(first);
  await registerWorkspace(first.url);
  // Settings and the directory answer are cached before the stall.
  assert.equal((await fetch(`${first.url}/v1/authorize`, { method: 'POST', headers: admin, body: JSON.stringify(body(0)) })).status, 200);
  // The workspace's change record and that decision stored first: else they would be spilled
  // during the stall too, and count among the spilled the kill waits for.
  await until(
    () => 'the records before the stall stored',
    async () => (await metric(first.url, 'written')) >= 2,
  );

  redis.pause();
  const answered: string[] = [];
  await Promise.all(
    Array.from({ length: 10 }, async (_, lane) => {
      for (let i = lane; i < ANSWERED; i += 10) {
        const response = await fetch(`${first.url}/v1/authorize`, { method: 'POST', headers: admin, body: JSON.stringify(body(i)) });
        const answer = (await response.json()) as { decisionId?: string };
        if (response.status === 200 && answer.decisionId) answered.push(answer.decisionId);
      }
    }),
  );
  assert.equal(answered.length, ANSWERED);
  await until(
    () => 'the answered decisions spilled',
    async () => (await metric(first.url, 'spilled')) >= ANSWERED,
  );
  first.child.kill('SIGKILL');
  await stopProcess(first.child);
  redis.resume();

  const second = await launchSidecar(env(spillDir), { readyPath: '/health/ready' });
  running.push(second);
  await everyAnsweredOnce(second.url, answered);
});

test('one worker of WORKERS=2 SIGKILLed during a Redis stall: every answered decision is in the audit once the primary has replaced it', async (t) => {
  const spillDir = await tempDir(t);
  const workers = await startWorkers(env(spillDir, { WORKERS: '2' }));
  running.push(workers);
  await registerWorkspace(workers.url);
  const port = Number(new URL(workers.url).port);
  const byPid = await connectionPerWorker(port, 2);
  connections.push(...byPid.values());
  for (const connection of byPid.values()) assert.equal((await connection.request('POST', '/v1/authorize', body(0))).status, 200);

  redis.pause();
  const answered: string[] = [];
  await Promise.all(
    [...byPid.values()].map(async (connection) => {
      for (let i = 0; i < ANSWERED / 2; i++) {
        const answer = await connection.request('POST', '/v1/authorize', body(i));
        if (answer.status === 200 && typeof answer.body.decisionId === 'string') answered.push(answer.body.decisionId);
      }
    }),
  );
  assert.equal(answered.length, ANSWERED);
  await until(
    () => 'the answered decisions spilled',
    async () => (await metric(workers.url, 'spilled')) >= ANSWERED,
  );
  const [victim] = byPid.keys();
  process.kill(victim!, 'SIGKILL');
  redis.resume();
  await everyAnsweredOnce(workers.url, answered);
});
