// `make bench`: Portcullis against OPA itself, in one run on this machine, with the same
// load tool (autocannon), connections, duration and inputs. Not part of `make test`:
// figures are printed, never asserted. The last line is machine-readable:
//   ratio portcullis/opa: rps=<x.xx> p99=<y.yy>
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import autocannon from 'autocannon';
import { readBundleFile } from '../src/engine/bundle.ts';
import { PolicyEngine } from '../src/engine/engine.ts';
import { freePort, RedisServer } from '../test/support/redis.ts';

const OPA = process.env.OPA_BIN ?? '.cache/bin/opa';
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ORGS = 20;
const ADMIN_TOKEN = 'bench-admin-token';

interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  errors: number;
}

/** A fixed mix of decisions over ORGS organizations: managers writing, members reading, owners. */
function requestMix() {
  const mix = [];
  for (let o = 0; o < ORGS; o++) {
    const orgId = `org-${o}`;
    for (const [orgRole, wsRole, action] of [
      ['member', 'manager', 'create'],
      ['member', 'manager', 'delete'],
      ['member', 'member', 'read'],
      ['member', 'admin', 'update'],
      ['owner', undefined, 'delete'],
    ] as const) {
      mix.push({
        principal: { id: `u-${o}`, orgId, orgRole, workspaceRoles: wsRole ? { 'ws-1': wsRole } : {} },
        action,
        resource: { type: o % 2 ? 'mcp_server' : 'integration', orgId, workspaceId: 'ws-1' },
      });
    }
  }
  return mix;
}

const orgSettings = (o: number) => ({
  managersWriteMcpServers: o % 3 !== 0,
  managersWriteWsIntegrations: o % 2 === 0,
  allowWorkspaceOverrides: { managersWriteMcpServers: true },
});
const workspaceSettings = (o: number) => (o % 4 === 0 ? { managersWriteMcpServers: true } : {});

async function waitFor(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
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
  return { name, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, p999: result.latency.p99_9, errors };
}

async function engineAlone(bodies: Array<Record<string, unknown>>): Promise<Row> {
  const engine = await PolicyEngine.load(await readBundleFile('bundles/portkey.tar.gz'));
  const inputs = bodies.map((b, i) => ({ ...b, settings: { org: orgSettings(i % ORGS), workspace: workspaceSettings(i % ORGS) } }));
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

function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return child;
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

const fmt = (n: number, digits = 2) => n.toFixed(digits).padStart(10);

async function main(): Promise<void> {
  const bodies = requestMix();
  const rows: Row[] = [];
  const redisServer = await RedisServer.start();
  const redis = new Redis(redisServer.url);
  const children: ChildProcess[] = [];
  try {
    console.log(`bench: ${DURATION}s per run, ${CONNECTIONS} connections, ${bodies.length} distinct inputs over ${ORGS} orgs`);
    rows.push(await engineAlone(bodies));

    const port = await freePort();
    const portcullis = spawnLogged('node', ['--import', 'tsx', 'src/main.ts'], {
      PORT: String(port), REDIS_URL: redisServer.url, ADMIN_TOKEN, LOG_LEVEL: 'warn',
    });
    children.push(portcullis);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(`${base}/health/ready`, portcullis);
    for (let o = 0; o < ORGS; o++) {
      const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      await fetch(`${base}/v1/orgs/org-${o}/settings/integration-access`, { method: 'PUT', headers, body: JSON.stringify(orgSettings(o)) });
      await fetch(`${base}/v1/orgs/org-${o}/workspaces/ws-1/settings/integration-access`, { method: 'PUT', headers, body: JSON.stringify(workspaceSettings(o)) });
    }
    await load('warm-up', `${base}/v1/authorize`, bodies, 2); // every org's settings cached
    const callsBefore = await commandCalls(redis);
    rows.push(await load('portcullis POST /v1/authorize', `${base}/v1/authorize`, bodies));
    const portcullisAllow = await load('portcullis POST /v1/data/portkey/authz/allow', `${base}/v1/data/portkey/authz/allow`, bodies.map((input) => ({ input })));
    rows.push(portcullisAllow);
    const commands = commandsSince(callsBefore, await commandCalls(redis));
    await stop(portcullis);

    const opaPort = await freePort();
    const opa = spawnLogged(OPA, ['run', '--server', '--addr', `127.0.0.1:${opaPort}`, '--log-level', 'error', 'policies/authz.rego', 'policies/data.json']);
    children.push(opa);
    await waitFor(`http://127.0.0.1:${opaPort}/health`, opa);
    const inlined = bodies.map((b, i) => ({ input: { ...b, settings: { org: orgSettings(i % ORGS), workspace: workspaceSettings(i % ORGS) } } }));
    await load('warm-up', `http://127.0.0.1:${opaPort}/v1/data/portkey/authz/allow`, inlined, 2);
    const opaAllow = await load('opa run --server POST /v1/data/portkey/authz/allow', `http://127.0.0.1:${opaPort}/v1/data/portkey/authz/allow`, inlined, 2);
    rows.push(opaAllow);
    await stop(opa);

    console.log(`\n${'run'.padEnd(52)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'p99.9 ms'.padStart(10)}${'errors'.padStart(10)}`);
    for (const r of rows) console.log(`${r.name.padEnd(52)}${fmt(r.rps, 0)}${fmt(r.p50, 3)}${fmt(r.p99, 3)}${fmt(r.p999, 3)}${String(r.errors).padStart(10)}`);
    // HMGET fetches settings, HGET checks a cached entry's version (SETTINGS_REVALIDATE_MS);
    // the rest is the audit writer (EVALSHA per batch) and its bookkeeping.
    console.log(`\nRedis commands during the cached Portcullis runs: ${JSON.stringify(commands)}`);
    console.log(`settings reads (HMGET): ${commands.hmget ?? 0}, version checks (HGET): ${commands.hget ?? 0}`);
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
