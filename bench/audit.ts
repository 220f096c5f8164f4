// `make bench-audit`: what the decision audit costs and how fast it answers.
//  1. Decision throughput with audit off, the in-memory log, and the Redis log, in the same
//     process on the same inputs (rounds interleaved so that warm-up and noise are shared).
//     Then the same decisions one at a time with the event loop turning between them (as
//     one connection, wrk -c1, sees it): p50/p99/max latency from "arrived" to "answered",
//     which includes any time the audit writer holds the event loop. And the Redis commands
//     executed per stored record (INFO commandstats, script-internal calls included).
//  2. Query time of a filtered page over AUDIT_BENCH_RECORDS (default 1,000,000; 0 skips it) records of
//     one organization, loaded with pipelined XADDs into a redis-server of its own.
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { newDecisionId } from '../src/audit/keys.ts';
import { createMasker } from '../src/audit/mask.ts';
import { MemoryAuditLog } from '../src/audit/memory.ts';
import { decisionFields } from '../src/audit/query.ts';
import type { AuditLog, AuditSink, DecisionFilter } from '../src/decision/record.ts';
import { RedisAuditLog, streamKey } from '../src/audit/redis.ts';
import { NO_AUDIT_STATS } from '../src/stats.ts';
import { Decider } from '../src/decision/decider.ts';
import { parseAuthorizeRequest } from '../src/decision/request.ts';
import { ActivePolicy } from '../src/engine/active.ts';
import { readBundleFile } from '../src/engine/bundle.ts';
import { PolicyEngine } from '../src/engine/engine.ts';
import { Metrics } from '../src/metrics.ts';
import { MemorySettingsStore } from '../src/settings/memory.ts';
import { RedisServer } from '../test/support/redis.ts';
import { decisionRecord } from '../test/audit/records.ts';

const RECORDS = Number(process.env.AUDIT_BENCH_RECORDS ?? 1_000_000);
const DECISIONS_PER_ROUND = 20_000;
const ROUNDS = 5;
const LATENCY_DECISIONS = 20_000;
const log = pino({ level: 'silent' });

function redisLog(url: string): RedisAuditLog {
  return new RedisAuditLog({
    url,
    retentionMs: 30 * 86_400_000,
    maxRecordsPerOrg: 10_000_000,
    // The sidecar's defaults (AUDIT_BATCH_SIZE, AUDIT_FLUSH_MS).
    batchSize: 100,
    flushIntervalMs: 20,
    bufferRecords: 50_000,
    spillDir: '',
    maxScan: 100_000,
    commandTimeoutMs: 10_000,
    mask: createMasker([]),
    stats: NO_AUDIT_STATS,
    log,
  });
}

async function throughput(url: string): Promise<void> {
  const policy = new ActivePolicy();
  policy.activate(await PolicyEngine.load(await readBundleFile('bundles/portkey.tar.gz')));
  // ws-1 listed, so that the workspace directory places it in org-1 and the policy decides.
  const store = MemorySettingsStore.seeded({
    orgs: new Map([['org-1', { settings: new Map([['integration-access', { managersWriteMcpServers: false }]]), workspaces: new Map([['ws-1', new Map()]]) }]]),
  });
  const redisAudit = redisLog(url);
  await redisAudit.start();
  const sinks: Array<[string, AuditSink & { flush?: () => Promise<void> }]> = [
    ['audit off', { record: () => undefined }],
    [
      'in-memory log',
      new MemoryAuditLog({ capacity: 10_000, maxOrgs: 1_000, retentionMs: 86_400_000, maxScan: 1, mask: createMasker([]), stats: NO_AUDIT_STATS }),
    ],
    ['Redis log', redisAudit],
  ];
  const request = parseAuthorizeRequest(
    {
      principal: { id: 'u-1', orgId: 'org-1', orgRole: 'member', workspaceRoles: { 'ws-1': 'manager' } },
      action: 'create',
      resource: { type: 'mcp_server', orgId: 'org-1', workspaceId: 'ws-1' },
    },
    policy.require().families.resourceTypes,
  );
  const admin = new Redis(url);
  await admin.config('RESETSTAT');
  const elapsed = new Map<string, number>(sinks.map(([name]) => [name, 0]));
  // CPU time (this process, and redis-server) says what recording costs even on a machine
  // whose other tenants make wall-clock throughput noisy.
  const cpu = new Map<string, { own: number; redis: number }>(sinks.map(([name]) => [name, { own: 0, redis: 0 }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, sink] of sinks) {
      const decider = new Decider(policy, store, sink, newDecisionId, new Metrics(), log);
      const redisBefore = await redisCpuSeconds(admin);
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      for (let i = 0; i < DECISIONS_PER_ROUND; i++) await decider.decide(request, 'authorize');
      // The Redis log's cost includes writing what it was given.
      await sink.flush?.();
      const own = process.cpuUsage(cpuBefore);
      const redisAfter = await redisCpuSeconds(admin);
      if (round > 0) {
        elapsed.set(name, elapsed.get(name)! + performance.now() - started);
        const spent = cpu.get(name)!;
        spent.own += (own.user + own.system) / 1e6;
        spent.redis += redisAfter - redisBefore;
      }
    }
  }
  const stats = await admin.info('commandstats');
  const calls = [...stats.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)].filter(([, name]) => name !== 'config' && name !== 'info');
  const total = calls.reduce((sum, [, , n]) => sum + Number(n), 0);
  // Time Redis spent inside the append script (EVALSHA, commands in it included), per record.
  const scriptUsec = Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(stats)?.[1] ?? 0) + Number(/cmdstat_eval:calls=\d+,usec=(\d+)/.exec(stats)?.[1] ?? 0);
  const storedRecords = DECISIONS_PER_ROUND * ROUNDS;
  const latencies = new Map<string, number[]>();
  for (const [name, sink] of sinks) {
    const decider = new Decider(policy, store, sink, newDecisionId, new Metrics(), log);
    const times: number[] = [];
    for (let i = 0; i < LATENCY_DECISIONS; i++) {
      const arrived = performance.now();
      await new Promise<void>((resolve) => setImmediate(resolve));
      await decider.decide(request, 'authorize');
      times.push(performance.now() - arrived);
    }
    await sink.flush?.();
    latencies.set(
      name,
      times.sort((a, b) => a - b),
    );
  }
  await redisAudit.close();
  admin.disconnect();
  const base = DECISIONS_PER_ROUND * (ROUNDS - 1);
  const off = base / elapsed.get('audit off')!;
  console.log(`\nDecision throughput, one process, ${ROUNDS - 1} measured rounds of ${DECISIONS_PER_ROUND} decisions (Decider.decide, settings in memory):`);
  const cpuOf = (name: string) => cpu.get(name)!.own + cpu.get(name)!.redis;
  for (const [name] of sinks) {
    const perMs = base / elapsed.get(name)!;
    const { own, redis } = cpu.get(name)!;
    const perDecision = (seconds: number) => ((seconds / base) * 1e6).toFixed(1);
    console.log(
      `  ${name.padEnd(14)} ${Math.round(perMs * 1000)
        .toLocaleString('en')
        .padStart(9)} decisions/s  (${((1 - perMs / off) * 100).toFixed(1)}% slower than off)` +
        `  CPU ${perDecision(own + redis).padStart(6)} µs/decision (process ${perDecision(own)}, redis-server ${perDecision(redis)}): ` +
        `${Math.round(base / (own + redis)).toLocaleString('en')} decisions per CPU-second, audit cost ${((1 - cpuOf('audit off') / cpuOf(name)) * 100).toFixed(1)}%`,
    );
  }
  console.log(`\nRedis time in the append script per stored record: ${(scriptUsec / storedRecords).toFixed(2)} µs`);
  console.log(
    `Redis commands per stored record: ${(total / storedRecords).toFixed(2)} (${calls.map(([, name, n]) => `${name} ${(Number(n) / storedRecords).toFixed(3)}`).join(', ')})`,
  );
  const us = (ms: number) => `${Math.round(ms * 1000)} µs`.padStart(9);
  console.log(`\nOne decision at a time, the event loop turning between them (${LATENCY_DECISIONS} decisions; arrival to answer):`);
  for (const [name, times] of latencies) {
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
    console.log(`  ${name.padEnd(14)} p50 ${us(at(0.5))}  p99 ${us(at(0.99))}  p99.9 ${us(at(0.999))}  max ${us(times.at(-1)!)}`);
  }
}

async function redisCpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)![1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)![1]);
}

async function load(redis: Redis, orgId: string): Promise<number> {
  const key = streamKey(orgId, 'decisions');
  const start = Date.now() - RECORDS * 10; // one record every 10 ms, ending now
  const reasons: Array<[boolean, string]> = [
    [true, 'manager_write_enabled'],
    [false, 'manager_write_disabled'],
    [true, 'org_admin'],
    [true, 'workspace_read'],
    [false, 'read_only_role'],
  ];
  const types = ['integration', 'mcp_integration', 'mcp_server'];
  const actions = ['create', 'update', 'delete', 'read'];
  const started = performance.now();
  for (let offset = 0; offset < RECORDS; offset += 5000) {
    const pipeline = redis.pipeline();
    for (let i = offset; i < Math.min(RECORDS, offset + 5000); i++) {
      const [allow, reason] = reasons[i % 5]!;
      const fields = decisionFields(
        decisionRecord({
          orgId,
          workspaceId: `ws-${i % 50}`,
          principalId: `u-${i % 1000}`,
          allow,
          reason,
          type: types[i % 3]!,
          action: actions[i % 4]!,
          timestampMs: start + i * 10,
        }),
      );
      pipeline.xadd(key, `${fields.ts}-*`, ...Object.entries(fields).flat());
    }
    await pipeline.exec();
    if (offset % 100_000 === 0) process.stderr.write(`\rloaded ${offset.toLocaleString('en')} records`);
  }
  process.stderr.write(`\rloaded ${RECORDS.toLocaleString('en')} records in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return start;
}

async function queries(url: string): Promise<void> {
  const redis = new Redis(url);
  const orgId = 'org-bench';
  const start = await load(redis, orgId);
  const memory = Number((await redis.info('memory')).match(/used_memory:(\d+)/)![1]);
  console.log(
    `\nQueries over ${RECORDS.toLocaleString('en')} records of one organization (Redis used_memory ${(memory / 2 ** 20).toFixed(0)} MiB), limit 100, median of 5:`,
  );
  const audit: AuditLog = redisLog(url);
  await (audit as RedisAuditLog).start();
  const middle = start + RECORDS * 5;
  const cases: Array<[string, Omit<DecisionFilter, 'orgId'>]> = [
    ['newest page, no filter', {}],
    ['allow=false', { allow: false }],
    ['workspaceId (1 of 50)', { workspaceId: 'ws-7' }],
    ['principalId (1 of 1000)', { principalId: 'u-123' }],
    ['principal + denied + type + action', { principalId: 'u-123', allow: false, resourceType: 'integration', action: 'update' }],
    ['1 h window in the middle + workspaceId', { from: middle, to: middle + 3_600_000, workspaceId: 'ws-7' }],
    ['no match (scan bounded by maxScan)', { principalId: 'nobody' }],
  ];
  for (const [name, filter] of cases) {
    const times: number[] = [];
    let result = { items: 0, more: false };
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const page = await audit.queryDecisions({ orgId, ...filter }, { limit: 100 });
      times.push(performance.now() - started);
      result = { items: page.items.length, more: page.nextCursor !== null };
    }
    times.sort((a, b) => a - b);
    console.log(`  ${name.padEnd(40)} ${times[2]!.toFixed(1).padStart(8)} ms  (${result.items} records${result.more ? ', nextCursor' : ''})`);
  }
  const summaryStarted = performance.now();
  const summary = await audit.summary({ orgId, from: middle, to: middle + 86_400_000 });
  console.log(`  summary over 24 h (${summary.total.toLocaleString('en')} records)      ${(performance.now() - summaryStarted).toFixed(1).padStart(8)} ms`);
  await audit.close();
  redis.disconnect();
}

const server = await RedisServer.start();
try {
  await throughput(server.url);
  if (RECORDS > 0) await queries(server.url);
} finally {
  await server.stop();
}
