// `make bench`: Portcullis against OPA itself, in one run on this machine, with the same
// load tool (autocannon), connections, duration and inputs. Not part of `make test`:
// figures are printed, never asserted. The last line is machine-readable:
//   ratio portcullis/opa: rps=<x.xx> p99=<y.yy>
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { readBundleFile } from '../src/engine/bundle.ts';
import { PolicyEngine } from '../src/engine/engine.ts';
import { freePort, RedisServer } from '../test/support/redis.ts';

const OPA = process.env.OPA_BIN ?? '.cache/bin/opa';
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ORGS = 20;
const SCALES = (process.env.BENCH_SCALES ?? '1000,100000,1000000').split(',').map(Number);
// autocannon itself times a few requests out when cycling through tens of thousands of
// distinct bodies (seen against a trivial server too), so a level uses 4,000 orgs: four
// times what this deliberately small cache holds.
const SCALE_CACHE_ORGS = 1_000;
const SCALE_SECONDS = 5;
const ADMIN_TOKEN = 'bench-admin-token';

interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  errors: number;
}

type Body = { principal: object; action: string; resource: { orgId: string } };

/** Decisions over the orgs: managers writing (a setting decides), members reading, owners. */
/** Each organization's own workspace: a workspace id belongs to one organization (the workspace directory). */
const workspaceOf = (orgId: string) => `${orgId}-ws-1`;

function requestsFor(orgIds: string[]): Body[] {
  return orgIds.flatMap((orgId, o) =>
    (
      [
        ['member', 'manager', 'create'],
        ['member', 'manager', 'delete'],
        ['member', 'member', 'read'],
        ['member', 'admin', 'update'],
        ['owner', undefined, 'delete'],
      ] as const
    ).map(([orgRole, wsRole, action]) => ({
      principal: { id: `u-${o}`, orgId, orgRole, workspaceRoles: wsRole ? { [workspaceOf(orgId)]: wsRole } : {} },
      action,
      resource: { type: o % 2 ? 'mcp_server' : 'integration', orgId, workspaceId: workspaceOf(orgId) },
    })),
  );
}

const orgSettings = (o: number) => ({
  managersWriteMcpServers: o % 3 !== 0,
  managersWriteWsIntegrations: o % 2 === 0,
  allowWorkspaceOverrides: { managersWriteMcpServers: true },
});
const workspaceSettings = (o: number) => (o % 4 === 0 ? { managersWriteMcpServers: true } : {});
const orgNumber = (orgId: string) => Number(orgId.slice(orgId.lastIndexOf('-') + 1));

async function waitFor(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

async function load(name: string, url: string, bodies: unknown[], seconds = DURATION): Promise<Row> {
  const requests = bodies.map((b) => ({ method: 'POST' as const, body: JSON.stringify(b), headers: { 'content-type': 'application/json' } }));
  const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds, requests });
  const errors = result.errors + result.timeouts + result.non2xx;
  if (errors > 0) console.log(`  ${name}: ${result.non2xx} non-2xx, ${result.errors} socket errors, ${result.timeouts} timeouts`);
  return { name, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, p999: result.latency.p99_9, errors };
}

async function engineAlone(bodies: Body[]): Promise<Row> {
  const engine = await PolicyEngine.load(await readBundleFile('bundles/portkey.tar.gz'));
  const inputs = bodies.map((b) => ({ ...b, settings: { org: orgSettings(orgNumber(b.resource.orgId)), workspace: workspaceSettings(orgNumber(b.resource.orgId)) } }));
  const samples: number[] = [];
  const end = performance.now() + 3000;
  let n = 0;
  while (performance.now() < end) {
    const t = performance.now();
    engine.decide(inputs[n++ % inputs.length]!);
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { name: 'engine alone (in-process, no HTTP)', rps: n / 3, p50: at(0.5), p99: at(0.99), p999: at(0.999), errors: 0 };
}

/** A Portcullis process on a free port, ready. */
async function startPortcullis(redisUrl: string, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const child = spawn('node', ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, PORT: String(port), GRPC_PORT: '0', REDIS_URL: redisUrl, ADMIN_TOKEN, LOG_LEVEL: 'error', AUDIT_SPILL_DIR: '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/health/ready`, child);
  return { child, base };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** Calls of each command so far, from Redis's own statistics. */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const stats = await redis.info('commandstats');
  return new Map([...stats.matchAll(/cmdstat_([\w|]+):calls=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

function commandsSince(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [command, calls] of after) if (calls - (before.get(command) ?? 0) > 0) delta[command] = calls - (before.get(command) ?? 0);
  return delta;
}

/** Writes n organizations straight into the store's layout (src/settings/redis.ts), pipelined. */
async function seedOrgs(redis: Redis, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 10_000) {
    const pipeline = redis.pipeline();
    for (let o = start; o < Math.min(to, start + 10_000); o++) {
      pipeline.hset(`portcullis:settings:{scale-${o}}`, 'org', JSON.stringify(orgSettings(o)), `ws:${workspaceOf(`scale-${o}`)}`, JSON.stringify(workspaceSettings(o)), 'version', '1');
    }
    await pipeline.exec();
  }
}

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
/** Settings cache hits and misses so far, from the sidecar's /metrics. */
async function cacheCounts(base: string): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const count = (result: string) => Number(new RegExp(`^portcullis_settings_cache_total\\{result="${result}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { hit: count('hit'), miss: count('miss') };
}

/**
 * A local receiver for the decision-log uploads and the OTLP exports: answers 200 and
 * counts, without decoding (the bench process also runs the load generator).
 */
async function sinkServer(): Promise<{ server: Server; url: string; posts: () => number; bytes: () => number }> {
  let posts = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      posts++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, posts: () => posts, bytes: () => bytes };
}

/** One run of the allow API against a sidecar started with `env`, e.g. decision logs or tracing on. */
async function variant(name: string, redisUrl: string, env: NodeJS.ProcessEnv, bodies: Body[], children: ChildProcess[]): Promise<Row> {
  const sidecar = await startPortcullis(redisUrl, env);
  children.push(sidecar.child);
  await load('warm-up', `${sidecar.base}/v1/authorize`, bodies, 2);
  const row = await load(name, `${sidecar.base}/v1/data/portkey/authz/allow`, bodies.map((input) => ({ input })));
  await stop(sidecar.child);
  return row;
}

const fmt = (n: number, digits = 2) => n.toFixed(digits).padStart(10);

function printRows(rows: Row[]): void {
  console.log(`\n${'run'.padEnd(56)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'p99.9 ms'.padStart(10)}${'errors'.padStart(10)}`);
  for (const r of rows) console.log(`${r.name.padEnd(56)}${fmt(r.rps, 0)}${fmt(r.p50, 3)}${fmt(r.p99, 3)}${fmt(r.p999, 3)}${String(r.errors).padStart(10)}`);
}

async function main(): Promise<void> {
  const bodies = requestsFor(Array.from({ length: ORGS }, (_, o) => `org-${o}`));
  const redisServer = await RedisServer.start();
  const redis = new Redis(redisServer.url);
  const children: ChildProcess[] = [];
  try {
    console.log(`bench: ${DURATION}s per run, ${CONNECTIONS} connections, ${bodies.length} distinct inputs over ${ORGS} orgs, settings in Redis`);
    const rows: Row[] = [await engineAlone(bodies)];

    const portcullis = await startPortcullis(redisServer.url);
    children.push(portcullis.child);
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    for (let o = 0; o < ORGS; o++) {
      for (const [path, body] of [
        [`/v1/orgs/org-${o}/settings/integration-access`, orgSettings(o)],
        [`/v1/orgs/org-${o}/workspaces/${workspaceOf(`org-${o}`)}/settings/integration-access`, workspaceSettings(o)],
      ] as const) {
        const res = await fetch(`${portcullis.base}${path}`, { method: 'PUT', headers, body: JSON.stringify(body) });
        if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
      }
    }
    await load('warm-up', `${portcullis.base}/v1/authorize`, bodies, 2); // every org's settings cached
    const callsBefore = await commandCalls(redis);
    rows.push(await load('portcullis POST /v1/authorize (audit on)', `${portcullis.base}/v1/authorize`, bodies));
    const portcullisAllow = await load('portcullis POST /v1/data/portkey/authz/allow (audit on)', `${portcullis.base}/v1/data/portkey/authz/allow`, bodies.map((input) => ({ input })));
    rows.push(portcullisAllow);
    const commands = commandsSince(callsBefore, await commandCalls(redis));
    await stop(portcullis.child);

    const unaudited = await startPortcullis(redisServer.url, { AUDIT_ENABLED: 'false' });
    children.push(unaudited.child);
    await load('warm-up', `${unaudited.base}/v1/authorize`, bodies, 2);
    const auditOff = await load('portcullis POST /v1/data/portkey/authz/allow (audit off)', `${unaudited.base}/v1/data/portkey/authz/allow`, bodies.map((input) => ({ input })));
    rows.push(auditOff);
    await stop(unaudited.child);

    // Decision logs to a local receiver, and OpenTelemetry tracing exported to a local OTLP/HTTP receiver.
    const sink = await sinkServer();
    const logsOn = await variant('portcullis .../allow (audit + decision logs upload)', redisServer.url, { DECISION_LOGS_URL: `${sink.url}/logs`, DECISION_LOGS_SPILL_DIR: '' }, bodies, children);
    rows.push(logsOn);
    const logUploads = { posts: sink.posts(), bytes: sink.bytes() };
    const traced = (ratio: string) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: ratio });
    const traced1 = await variant('portcullis .../allow (audit + tracing, 1% sampled)', redisServer.url, traced('0.01'), bodies, children);
    rows.push(traced1);
    const traced100 = await variant('portcullis .../allow (audit + tracing, 100% sampled)', redisServer.url, traced('1'), bodies, children);
    rows.push(traced100);
    const exports = { posts: sink.posts() - logUploads.posts, bytes: sink.bytes() - logUploads.bytes };
    sink.server.close();

    const opaPort = await freePort();
    const opa = spawn(OPA, ['run', '--server', '--addr', `127.0.0.1:${opaPort}`, '--log-level', 'error', 'policies/authz.rego', 'policies/data.json'], { stdio: 'ignore' });
    children.push(opa);
    await waitFor(`http://127.0.0.1:${opaPort}/health`, opa);
    const inlined = bodies.map((b) => ({ input: { ...b, settings: { org: orgSettings(orgNumber(b.resource.orgId)), workspace: workspaceSettings(orgNumber(b.resource.orgId)) } } }));
    await load('warm-up', `http://127.0.0.1:${opaPort}/v1/data/portkey/authz/allow`, inlined, 2);
    const opaAllow = await load('opa run --server POST /v1/data/portkey/authz/allow', `http://127.0.0.1:${opaPort}/v1/data/portkey/authz/allow`, inlined);
    rows.push(opaAllow);
    await stop(opa);

    printRows(rows);
    // HMGET fetches settings; HGET re-checks a cached entry's version every SETTINGS_REVALIDATE_MS
    // (the bound on staleness should an invalidation be lost); the rest is the audit writer.
    console.log(`\nRedis commands during the two audited runs: ${JSON.stringify(commands)}`);
    console.log(`settings reads (HMGET) on the cached path: ${commands.hmget ?? 0}; version checks (HGET): ${commands.hget ?? 0}`);
    console.log(`audit recording cost: ${((1 - portcullisAllow.rps / auditOff.rps) * 100).toFixed(1)}% of throughput (audit on ${portcullisAllow.rps.toFixed(0)} vs off ${auditOff.rps.toFixed(0)} req/s)`);
    const cost = (row: Row) => `${((1 - row.rps / portcullisAllow.rps) * 100).toFixed(1)}%`;
    console.log(`decision logs cost: ${cost(logsOn)} of throughput over audit on (${logUploads.posts} uploads, ${(logUploads.bytes / 1024).toFixed(0)} KiB gzip, warm-up included)`);
    console.log(`tracing cost: ${cost(traced1)} at 1% sampling, ${cost(traced100)} at 100% (${exports.posts} OTLP exports, ${(exports.bytes / 1024 ** 2).toFixed(1)} MiB JSON)`);

    console.log(`\nscale: organizations in Redis, settings cache bounded to ${SCALE_CACHE_ORGS} orgs (LRU), ${SCALE_SECONDS}s per level, up to ${4 * SCALE_CACHE_ORGS} random orgs per level; hit ratio of that level`);
    const scaled = await startPortcullis(redisServer.url, { SETTINGS_CACHE_MAX_ORGS: String(SCALE_CACHE_ORGS) });
    children.push(scaled.child);
    console.log(`${'orgs in Redis'.padEnd(16)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'errors'.padStart(8)}${'hit ratio'.padStart(11)}${'RSS MiB'.padStart(10)}${'Redis MiB'.padStart(11)}`);
    let seeded = 0;
    for (const orgs of SCALES) {
      await seedOrgs(redis, seeded, orgs);
      seeded = orgs;
      const sample = Array.from({ length: Math.min(orgs, 4 * SCALE_CACHE_ORGS) }, () => `scale-${Math.floor(Math.random() * orgs)}`);
      const inputs = requestsFor(sample).filter((_, i) => i % 5 === Math.floor(i / 5) % 5).map((input) => ({ input }));
      await load('warm-up', `${scaled.base}/v1/data/portkey/authz/allow`, inputs, 2);
      const before = await cacheCounts(scaled.base);
      const row = await load(`${orgs}`, `${scaled.base}/v1/data/portkey/authz/allow`, inputs, SCALE_SECONDS);
      const after = await cacheCounts(scaled.base);
      const hitRatio = (after.hit - before.hit) / (after.hit + after.miss - before.hit - before.miss);
      const redisMiB = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0) / 1024 ** 2;
      console.log(
        `${String(orgs).padEnd(16)}${fmt(row.rps, 0)}${fmt(row.p50, 3)}${fmt(row.p99, 3)}${String(row.errors).padStart(8)}${fmt(hitRatio, 3).padStart(11)}${fmt(rssMiB(scaled.child.pid!), 1)}${fmt(redisMiB, 1).padStart(11)}`,
      );
    }
    await stop(scaled.child);

    console.log(`ratio portcullis/opa: rps=${(portcullisAllow.rps / opaAllow.rps).toFixed(2)} p99=${(portcullisAllow.p99 / opaAllow.p99).toFixed(2)}`);
  } finally {
    for (const child of children) await stop(child);
    redis.disconnect();
    await redisServer.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
