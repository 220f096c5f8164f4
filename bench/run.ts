// `make bench`: Portcullis against OPA itself and against the floor (a bare node:http server
// that parses the same bodies), in one run on this machine: first with the same in-process load
// tool (autocannon), connections, duration and inputs on the whole machine; then each server on
// one core with the load generator on the other (wrk closed loop, vegeta and ghz open loop at
// fixed rates, bench/load.ts). Not part of `make test`: figures are printed, never asserted.
// The last two lines are machine-readable:
//   per-core portcullis/floor=<a.aa> audit-cost=<b.b>% portcullis/opa=<c.cc>
//   ratio portcullis/opa: rps=<x.xx> p99=<y.yy>
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { availableParallelism } from 'node:os';
import { createServer, type Server } from 'node:http';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { readBundleFile } from '../src/engine/bundle.ts';
import { PolicyEngine } from '../src/engine/engine.ts';
import calculateSlot from 'cluster-key-slot';
import { startRedisCluster } from '../test/support/cluster.ts';
import { freePort, RedisServer } from '../test/support/redis.ts';
import { gatewayCalls, JWT_SECRET } from './gateway-calls.ts';
import { ghz, type HttpRequest, pinned, pinning, type Pinning, pinRunning, type Row, vegeta, wrk } from './load.ts';
import { requestsFor, workspaceOf, type Body } from './inputs.ts';
import { permissionsRows, PERMISSIONS_BODY_LIMIT, printPermissionsRows } from './permissions.ts';

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
/** The open-loop rates: OPA-Envoy publishes p99 at 1,000 req/s; 5,000 is a busy sidecar. */
const OPEN_LOOP_RATES = [1_000, 5_000];

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
  const inputs = bodies.map((b) => ({
    ...b,
    settings: { org: orgSettings(orgNumber(b.resource.orgId)), workspace: workspaceSettings(orgNumber(b.resource.orgId)) },
  }));
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

/** A Portcullis process on a free port, ready; `pin` is a command prefix such as `taskset -c 0`. */
async function startPortcullis(redisUrl: string, env: NodeJS.ProcessEnv = {}, pin: string[] = []): Promise<{ child: ChildProcess; base: string }> {
  // Port 0 and the port from its 'portcullis listening' log line: a port probed free and
  // then bound can be taken in between by another process on a shared machine, whose server
  // would then be measured (or answer the readiness probe) instead.
  const child = spawn(...pinned(pin, 'node', ['--import', 'tsx', 'src/main.ts']), {
    env: { ...process.env, PORT: '0', GRPC_PORT: '0', REDIS_URL: redisUrl, ADMIN_TOKEN, LOG_LEVEL: 'info', LOG_FORMAT: 'json', AUDIT_SPILL_DIR: '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const recent: string[] = [];
  const listening = new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      recent.push(line);
      if (recent.length > 20) recent.shift();
      if (line.includes('"portcullis listening"')) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code, signal) => reject(new Error(`the sidecar exited (${code ?? signal}) before it listened:\n${recent.join('\n')}`)));
  });
  // A sidecar that dies during a run is named, with its last log lines.
  child.once('exit', (code, signal) => code !== 0 && signal !== 'SIGTERM' && console.error(`a sidecar exited (${code ?? signal}):\n${recent.join('\n')}`));
  const base = (await listening).replace('localhost', '127.0.0.1');
  await waitFor(`${base}/health/ready`, child);
  return { child, base };
}

/** The floor server (bench/floor.ts), listening. */
async function startFloor(pin: string[] = []): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(...pinned(pin, 'node', ['--import', 'tsx', 'bench/floor.ts']), { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const listening = /^floor listening on (\d+)$/.exec(line);
      if (listening) resolve(listening[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the floor server exited (${code}) before it listened`)));
  });
  return { child, base: `http://127.0.0.1:${port}` };
}

/** `opa run --server` on the same Rego sources, on a free port, ready. */
async function startOpa(pin: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  // The bundle's sources, as the Makefile's POLICY_SOURCES: every Rego file but the tests, and the data.
  const sources = readdirSync('policies')
    .filter((f) => (f.endsWith('.rego') && !f.endsWith('_test.rego')) || f.endsWith('.json'))
    .map((f) => `policies/${f}`);
  const args = ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', ...sources];
  const child = spawn(...pinned(pin, OPA, args), { env: { ...process.env, ...env }, stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/health`, child);
  return { child, base };
}

async function stop(child: ChildProcess): Promise<void> {
  // A child ended by a signal has no exit code, only a signal code.
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** The bench orgs' settings, through the settings API. */
async function putSettings(base: string): Promise<void> {
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  for (let o = 0; o < ORGS; o++) {
    for (const [path, body] of [
      [`/v1/orgs/org-${o}/settings/integration-access`, orgSettings(o)],
      [`/v1/orgs/org-${o}/workspaces/${workspaceOf(`org-${o}`)}/settings/integration-access`, workspaceSettings(o)],
    ] as const) {
      // A 503 asks for a retry (Redis slow to answer, or a replica slow to confirm, on a loaded machine).
      let res = await fetch(`${base}${path}`, { method: 'PUT', headers, body: JSON.stringify(body) });
      for (let attempt = 1; res.status === 503 && attempt < 10; attempt++) {
        await new Promise((r) => setTimeout(r, 500));
        res = await fetch(`${base}${path}`, { method: 'PUT', headers, body: JSON.stringify(body) });
      }
      if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
    }
  }
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

/**
 * Writes organizations from..to straight into the store's layout (src/settings/redis.ts),
 * pipelined to the node that holds each key: `nodeFor` maps a key to one of `nodes` (a single
 * node, or a cluster's masters, whose pipelines cannot span slots).
 */
async function seedOrgs(nodes: Redis[], from: number, to: number, nodeFor: (key: string) => number = () => 0): Promise<void> {
  for (let start = from; start < to; start += 10_000) {
    const pipelines = nodes.map((node) => node.pipeline());
    for (let o = start; o < Math.min(to, start + 10_000); o++) {
      const key = `portcullis:settings:{scale-${o}}`;
      pipelines[nodeFor(key)]!.hset(
        key,
        'org',
        JSON.stringify(orgSettings(o)),
        `ws:${workspaceOf(`scale-${o}`)}`,
        JSON.stringify(workspaceSettings(o)),
        'version',
        '1',
      );
    }
    await Promise.all(pipelines.map((p) => p.exec()));
  }
}

/** One level of the scale table: a sample of the orgs against a sidecar whose cache holds a quarter of it. */
async function scaleLevel(base: string, orgs: number): Promise<{ row: Row; hitRatio: number }> {
  const sample = Array.from({ length: Math.min(orgs, 4 * SCALE_CACHE_ORGS) }, () => `scale-${Math.floor(Math.random() * orgs)}`);
  const inputs = requestsFor(sample)
    .filter((_, i) => i % 5 === Math.floor(i / 5) % 5)
    .map((input) => ({ input }));
  await load('warm-up', `${base}/v1/data/portkey/authz/allow`, inputs, 2);
  const before = await cacheCounts(base);
  const row = await load(`${orgs}`, `${base}/v1/data/portkey/authz/allow`, inputs, SCALE_SECONDS);
  const after = await cacheCounts(base);
  return { row, hitRatio: (after.hit - before.hit) / (after.hit + after.miss - before.hit - before.miss) };
}

const usedMiB = async (redis: Redis) => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0) / 1024 ** 2;

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
  const row = await load(
    name,
    `${sidecar.base}/v1/data/portkey/authz/allow`,
    bodies.map((input) => ({ input })),
  );
  await stop(sidecar.child);
  return row;
}

const fmt = (n: number, digits = 2) => n.toFixed(digits).padStart(10);

function printRows(rows: Row[]): void {
  console.log(
    `\n${'run'.padEnd(56)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'p99.9 ms'.padStart(10)}${'max ms'.padStart(10)}${'errors'.padStart(10)}`,
  );
  for (const r of rows) {
    const max = r.max === undefined ? '-'.padStart(10) : fmt(r.max, 3);
    console.log(`${r.name.padEnd(56)}${fmt(r.rps, 0)}${fmt(r.p50, 3)}${fmt(r.p99, 3)}${fmt(r.p999, 3)}${max}${String(r.errors).padStart(10)}`);
  }
}

const asRequests = (path: string, bodies: unknown[]): HttpRequest[] => bodies.map((b) => ({ method: 'POST', path, headers: {}, body: JSON.stringify(b) }));

interface PerCore {
  floor: Row;
  auditOn: Row;
  auditOff: Row;
  opa: Row;
}

/**
 * Each server alone on one core (its Redis with it), the load generator on the other: closed
 * loop with 32 connections (req/s per core) and with one (latency without queueing), then
 * open loop at fixed rates, HTTP and gRPC ext_authz with JWT verification. The settings of the
 * bench's orgs are already in `redis`.
 */
async function perCore(redis: Redis, redisUrl: string, bodies: Body[], inlined: unknown[], children: ChildProcess[]): Promise<PerCore> {
  const pin = pinning();
  console.log(`\nper core: ${pin.note}.`);
  console.log(
    `wrk (one thread): ${CONNECTIONS} connections for ${DURATION}s, then 1 connection; open loop: vegeta (HTTP) and ghz (gRPC Check, JWT verified, one HTTP/2 connection) at ${OPEN_LOOP_RATES.join(' and ')} req/s for ${DURATION}s`,
  );
  const wrkRun = (name: string, base: string, requests: HttpRequest[], connections = CONNECTIONS) =>
    wrk(name, base, requests, { connections, seconds: DURATION, pin });
  const warm = (base: string, requests: HttpRequest[]) => wrk('warm-up', base, requests, { connections: CONNECTIONS, seconds: 2, pin });
  const throughput: Row[] = [];
  const oneConnection: Row[] = [];
  const openLoop: Row[] = [];
  const allow = '/v1/data/portkey/authz/allow';
  const portcullisRequests = asRequests(
    allow,
    bodies.map((input) => ({ input })),
  );
  const opaRequests = asRequests(allow, inlined);

  const floor = await startFloor(pin.server);
  children.push(floor.child);
  await warm(floor.base, portcullisRequests);
  throughput.push(await wrkRun('floor: node:http, parses the body, constant answer', floor.base, portcullisRequests));
  await stop(floor.child);

  const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
  const unpinRedis = await pinRunning(redisPid, pin);
  try {
    const grpcPort = await freePort();
    const on = await startPortcullis(redisUrl, { GRPC_PORT: String(grpcPort), GATEWAY_JWT_SECRET: JWT_SECRET }, pin.server);
    children.push(on.child);
    // The gateways take a workspace's organization from the directory.
    for (const ws of ['ws-1', 'ws-2']) {
      const res = await fetch(`${on.base}/v1/orgs/org-1/workspaces/${ws}`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      if (!res.ok) throw new Error(`registering ${ws}: ${res.status} ${await res.text()}`);
    }
    await warm(on.base, portcullisRequests);
    throughput.push(await wrkRun('portcullis .../allow (audit on)', on.base, portcullisRequests));
    oneConnection.push(await wrkRun('portcullis .../allow (audit on), 1 connection', on.base, portcullisRequests, 1));
    for (const rate of OPEN_LOOP_RATES)
      openLoop.push(await vegeta(`portcullis .../allow (audit on) at ${rate}/s`, on.base, portcullisRequests, { rate, seconds: DURATION, pin }));
    const calls = await gatewayCalls();
    for (const rate of OPEN_LOOP_RATES)
      openLoop.push(await ghz(`portcullis gRPC Check (audit on, JWT) at ${rate}/s`, `127.0.0.1:${grpcPort}`, calls, { rate, seconds: DURATION, pin }));
    await stop(on.child);

    const off = await startPortcullis(redisUrl, { AUDIT_ENABLED: 'false' }, pin.server);
    children.push(off.child);
    await warm(off.base, portcullisRequests);
    throughput.push(await wrkRun('portcullis .../allow (audit off)', off.base, portcullisRequests));
    oneConnection.push(await wrkRun('portcullis .../allow (audit off), 1 connection', off.base, portcullisRequests, 1));
    await stop(off.child);
  } finally {
    await unpinRedis();
  }

  const opa = await startOpa(pin.server, { GOMAXPROCS: '1' });
  children.push(opa.child);
  await warm(opa.base, opaRequests);
  throughput.push(await wrkRun('opa run --server .../allow (GOMAXPROCS=1)', opa.base, opaRequests));
  oneConnection.push(await wrkRun('opa run --server .../allow, 1 connection', opa.base, opaRequests, 1));
  for (const rate of OPEN_LOOP_RATES)
    openLoop.push(await vegeta(`opa run --server .../allow at ${rate}/s`, opa.base, opaRequests, { rate, seconds: DURATION, pin }));
  await stop(opa.child);

  console.log(`\nper core, closed loop (wrk, ${CONNECTIONS} connections):`);
  printRows(throughput);
  console.log('\nper core, one connection (wrk -c1: latency without queueing):');
  printRows(oneConnection);
  console.log('\nper core, open loop at a fixed rate (req/s = answered per second):');
  printRows(openLoop);
  const [floorRow, auditOn, auditOff, opaRow] = throughput as [Row, Row, Row, Row];
  return { floor: floorRow, auditOn, auditOff, opa: opaRow };
}

/**
 * WORKERS=1 against WORKERS=2, audit on, on the whole machine with wrk (one thread) as the
 * load generator: on 2 cores the load generator takes a share of the cores the workers would use.
 */
async function workers(redisUrl: string, bodies: Body[], children: ChildProcess[]): Promise<void> {
  const requests = asRequests(
    '/v1/data/portkey/authz/allow',
    bodies.map((input) => ({ input })),
  );
  const noPin: Pinning = { server: [], load: [], note: 'not pinned' };
  const rows: Row[] = [];
  for (const n of [1, 2]) {
    const sidecar = await startPortcullis(redisUrl, { WORKERS: String(n) });
    // The primary logs that it listens once every worker serves.
    children.push(sidecar.child);
    await wrk('warm-up', sidecar.base, requests, { connections: CONNECTIONS, seconds: 2, pin: noPin });
    rows.push(await wrk(`portcullis .../allow (audit on), WORKERS=${n}`, sidecar.base, requests, { connections: CONNECTIONS, seconds: DURATION, pin: noPin }));
    await stop(sidecar.child);
  }
  console.log(`\nworkers: wrk (one thread), ${CONNECTIONS} connections, not pinned: ${availableParallelism()} cores shared by the workers, Redis and wrk`);
  printRows(rows);
  console.log(`2 workers / 1 worker: ${(rows[1]!.rps / rows[0]!.rps).toFixed(2)}x req/s`);
}

/**
 * The same decisions with settings and the audit log on a 3-master Redis Cluster (one replica
 * each, as in production: settings writes and audit batches wait for a replica), and the
 * 1M-organization level on it with each master's memory.
 */
async function onCluster(bodies: Body[], children: ChildProcess[]): Promise<void> {
  const cluster = await startRedisCluster({ masters: 3, replicas: 1 });
  const masters: Redis[] = [];
  try {
    const env = { REDIS_CLUSTER_NODES: cluster.nodes.join(',') };
    const sidecar = await startPortcullis('', env);
    children.push(sidecar.child);
    await putSettings(sidecar.base);
    const allow = `${sidecar.base}/v1/data/portkey/authz/allow`;
    await load(
      'warm-up',
      allow,
      bodies.map((input) => ({ input })),
      2,
    );
    const row = await load(
      'portcullis .../allow (audit on), 3-master cluster',
      allow,
      bodies.map((input) => ({ input })),
    );
    await stop(sidecar.child);
    console.log(`\nRedis Cluster, 3 masters + 3 replicas (autocannon, ${CONNECTIONS} connections, as the first table):`);
    printRows([row]);

    // Seed each master directly: the slot -> master map once, from CLUSTER SLOTS.
    const any = new Redis(Number(cluster.nodes[0]!.split(':')[1]), '127.0.0.1');
    const ranges = (await any.cluster('SLOTS')).map(([from, to, master]) => ({ from, to, port: master![1] }));
    any.disconnect();
    const ports = [...new Set(ranges.map((r) => r.port))];
    for (const port of ports) masters.push(new Redis(port, '127.0.0.1'));
    const owner = new Uint8Array(16384);
    for (const { from, to, port } of ranges) owner.fill(ports.indexOf(port), from, to + 1);
    const orgs = SCALES[SCALES.length - 1]!;
    await seedOrgs(masters, 0, orgs, (key) => owner[calculateSlot(key)]!);
    const scaled = await startPortcullis('', { ...env, SETTINGS_CACHE_MAX_ORGS: String(SCALE_CACHE_ORGS) });
    children.push(scaled.child);
    const { row: level, hitRatio } = await scaleLevel(scaled.base, orgs);
    const perMaster = await Promise.all(masters.map(usedMiB));
    console.log(
      `\n${orgs} orgs on the cluster, settings cache ${SCALE_CACHE_ORGS} orgs: ${level.rps.toFixed(0)} req/s, p50 ${level.p50.toFixed(3)} ms, p99 ${level.p99.toFixed(3)} ms, ${level.errors} errors, hit ratio ${hitRatio.toFixed(3)}, RSS ${rssMiB(scaled.child.pid!).toFixed(1)} MiB`,
    );
    console.log(`Redis memory per master: ${perMaster.map((m, i) => `:${ports[i]} ${m.toFixed(1)} MiB`).join(', ')}`);
    await stop(scaled.child);
  } finally {
    for (const master of masters) master.disconnect();
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const bodies = requestsFor(Array.from({ length: ORGS }, (_, o) => `org-${o}`));
  const redisServer = await RedisServer.start();
  const redis = new Redis(redisServer.url);
  const children: ChildProcess[] = [];
  try {
    console.log(`bench: ${DURATION}s per run, ${CONNECTIONS} connections, ${bodies.length} distinct inputs over ${ORGS} orgs, settings in Redis`);
    const rows: Row[] = [await engineAlone(bodies)];

    const floor = await startFloor();
    children.push(floor.child);
    await load(
      'warm-up',
      `${floor.base}/v1/data/portkey/authz/allow`,
      bodies.map((input) => ({ input })),
      2,
    );
    rows.push(
      await load(
        'floor: node:http, parses the body, constant answer',
        `${floor.base}/v1/data/portkey/authz/allow`,
        bodies.map((input) => ({ input })),
      ),
    );
    await stop(floor.child);

    const portcullis = await startPortcullis(redisServer.url);
    children.push(portcullis.child);
    await putSettings(portcullis.base);
    await load('warm-up', `${portcullis.base}/v1/authorize`, bodies, 2); // every org's settings cached
    const callsBefore = await commandCalls(redis);
    rows.push(await load('portcullis POST /v1/authorize (audit on)', `${portcullis.base}/v1/authorize`, bodies));
    const portcullisAllow = await load(
      'portcullis POST /v1/data/portkey/authz/allow (audit on)',
      `${portcullis.base}/v1/data/portkey/authz/allow`,
      bodies.map((input) => ({ input })),
    );
    rows.push(portcullisAllow);
    const commands = commandsSince(callsBefore, await commandCalls(redis));
    await stop(portcullis.child);

    const unaudited = await startPortcullis(redisServer.url, { AUDIT_ENABLED: 'false' });
    children.push(unaudited.child);
    await load('warm-up', `${unaudited.base}/v1/authorize`, bodies, 2);
    const auditOff = await load(
      'portcullis POST /v1/data/portkey/authz/allow (audit off)',
      `${unaudited.base}/v1/data/portkey/authz/allow`,
      bodies.map((input) => ({ input })),
    );
    rows.push(auditOff);
    await stop(unaudited.child);

    // Decision logs to a local receiver, and OpenTelemetry tracing exported to a local OTLP/HTTP receiver.
    const sink = await sinkServer();
    const logsOn = await variant(
      'portcullis .../allow (audit + decision logs upload)',
      redisServer.url,
      { DECISION_LOGS_URL: `${sink.url}/logs`, DECISION_LOGS_SPILL_DIR: '' },
      bodies,
      children,
    );
    rows.push(logsOn);
    const logUploads = { posts: sink.posts(), bytes: sink.bytes() };
    const traced = (ratio: string) => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: ratio,
    });
    const traced1 = await variant('portcullis .../allow (audit + tracing, 1% sampled)', redisServer.url, traced('0.01'), bodies, children);
    rows.push(traced1);
    const traced100 = await variant('portcullis .../allow (audit + tracing, 100% sampled)', redisServer.url, traced('1'), bodies, children);
    rows.push(traced100);
    const exports = { posts: sink.posts() - logUploads.posts, bytes: sink.bytes() - logUploads.bytes };
    sink.server.close();

    // The batch of every cell a permissions call answers is larger than the default body limit.
    const permissionsSidecar = await startPortcullis(redisServer.url, { BODY_LIMIT: PERMISSIONS_BODY_LIMIT });
    children.push(permissionsSidecar.child);
    const resourceTypes = (
      (await (await fetch(`${permissionsSidecar.base}/v1/families`)).json()) as { families: Array<{ resourceTypes: string[] }> }
    ).families.flatMap((f) => f.resourceTypes);
    const permissions = await permissionsRows(permissionsSidecar.base, ADMIN_TOKEN, resourceTypes, DURATION);
    await stop(permissionsSidecar.child);

    const opa = await startOpa();
    children.push(opa.child);
    const inlined = bodies.map((b) => ({
      input: { ...b, settings: { org: orgSettings(orgNumber(b.resource.orgId)), workspace: workspaceSettings(orgNumber(b.resource.orgId)) } },
    }));
    await load('warm-up', `${opa.base}/v1/data/portkey/authz/allow`, inlined, 2);
    const opaAllow = await load('opa run --server POST /v1/data/portkey/authz/allow', `${opa.base}/v1/data/portkey/authz/allow`, inlined);
    rows.push(opaAllow);
    await stop(opa.child);

    printRows(rows);
    printPermissionsRows(permissions);
    // HMGET fetches settings; HGET re-checks a cached entry's version every SETTINGS_REVALIDATE_MS
    // (the bound on staleness should an invalidation be lost); the rest is the audit writer.
    console.log(`\nRedis commands during the two audited runs: ${JSON.stringify(commands)}`);
    console.log(`settings reads (HMGET) on the cached path: ${commands.hmget ?? 0}; version checks (HGET): ${commands.hget ?? 0}`);
    console.log(
      `audit recording cost: ${((1 - portcullisAllow.rps / auditOff.rps) * 100).toFixed(1)}% of throughput (audit on ${portcullisAllow.rps.toFixed(0)} vs off ${auditOff.rps.toFixed(0)} req/s)`,
    );
    const cost = (row: Row) => `${((1 - row.rps / portcullisAllow.rps) * 100).toFixed(1)}%`;
    console.log(
      `decision logs cost: ${cost(logsOn)} of throughput over audit on (${logUploads.posts} uploads, ${(logUploads.bytes / 1024).toFixed(0)} KiB gzip, warm-up included)`,
    );
    console.log(
      `tracing cost: ${cost(traced1)} at 1% sampling, ${cost(traced100)} at 100% (${exports.posts} OTLP exports, ${(exports.bytes / 1024 ** 2).toFixed(1)} MiB JSON)`,
    );

    const core = await perCore(redis, redisServer.url, bodies, inlined, children);

    console.log(
      `\nscale: organizations in Redis, settings cache bounded to ${SCALE_CACHE_ORGS} orgs (LRU), ${SCALE_SECONDS}s per level, up to ${4 * SCALE_CACHE_ORGS} random orgs per level; hit ratio of that level`,
    );
    const scaled = await startPortcullis(redisServer.url, { SETTINGS_CACHE_MAX_ORGS: String(SCALE_CACHE_ORGS) });
    children.push(scaled.child);
    console.log(
      `${'orgs in Redis'.padEnd(16)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'errors'.padStart(8)}${'hit ratio'.padStart(11)}${'RSS MiB'.padStart(10)}${'Redis MiB'.padStart(11)}`,
    );
    let seeded = 0;
    for (const orgs of SCALES) {
      await seedOrgs([redis], seeded, orgs);
      seeded = orgs;
      const { row, hitRatio } = await scaleLevel(scaled.base, orgs);
      const redisMiB = await usedMiB(redis);
      console.log(
        `${String(orgs).padEnd(16)}${fmt(row.rps, 0)}${fmt(row.p50, 3)}${fmt(row.p99, 3)}${String(row.errors).padStart(8)}${fmt(hitRatio, 3).padStart(11)}${fmt(rssMiB(scaled.child.pid!), 1)}${fmt(redisMiB, 1).padStart(11)}`,
      );
    }
    await stop(scaled.child);

    await workers(redisServer.url, bodies, children);
    await onCluster(bodies, children);

    console.log(
      `per-core portcullis/floor=${(core.auditOn.rps / core.floor.rps).toFixed(2)} audit-cost=${((1 - core.auditOn.rps / core.auditOff.rps) * 100).toFixed(1)}% portcullis/opa=${(core.auditOn.rps / core.opa.rps).toFixed(2)}`,
    );
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
