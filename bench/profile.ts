// `make profile`: where one core's time goes on the decision path. Against a floor (a bare
// node:http server that parses the same JSON bodies and answers a constant), each server
// pinned to core 0 and the load generator (wrk when installed, else autocannon in its own
// process) to core 1; audit off, settings in Redis (pinned with the sidecar). Rounds
// alternate the servers, so a noisy neighbour hits them alike; the medians and the
// per-round ratios are printed, never asserted. With PROFILE_CPU=1 a last run takes a
// --cpu-prof of Portcullis and prints its top self-time frames (summariseProfile).
//   PROFILE_ROUNDS (3) PROFILE_SECONDS (5) PROFILE_CONNECTIONS (32) PROFILE_CPU (0)
//   PROFILE_AUDIT (false: AUDIT_ENABLED of the sidecar)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort, RedisServer } from '../test/support/redis.ts';
import { requestsFor, workspaceOf } from './inputs.ts';

const ROUNDS = Number(process.env.PROFILE_ROUNDS ?? 3);
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.PROFILE_CONNECTIONS ?? 32);
const CPU_PROFILE = process.env.PROFILE_CPU === '1';
const AUDIT = process.env.PROFILE_AUDIT ?? 'false';
const ADMIN_TOKEN = 'profile-admin-token';
const ORGS = 20;
const SERVER_CORE = '0';
const LOAD_CORE = '1';

const requests = () => requestsFor(Array.from({ length: ORGS }, (_, o) => `org-${o}`));

/** One autocannon run, in the child process pinned to the load core; prints its result as JSON. */
async function autocannonChild(url: string, bodiesFile: string): Promise<void> {
  const bodies = JSON.parse(readFileSync(bodiesFile, 'utf8')) as string[];
  const requests = bodies.map((body) => ({ method: 'POST' as const, body, headers: { 'content-type': 'application/json' } }));
  const result = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, requests });
  console.log(JSON.stringify({ rps: result.requests.average, requests: result.requests.total, errors: result.errors + result.timeouts + result.non2xx }));
}

const hasWrk = spawnSync('wrk', ['--version']).error === undefined;

interface Run {
  rps: number;
  requests: number;
}

/** Requests per second (and requests) against `url`, cycling through `bodies`, from the load core. */
function load(url: string, bodies: string[], dir: string): Run {
  if (hasWrk) {
    const script = join(dir, 'bodies.lua');
    writeFileSync(
      script,
      `local bodies = {${bodies.map((b) => JSON.stringify(b)).join(',')}}\nlocal i = 0\n` +
        `request = function()\n  i = i % #bodies + 1\n  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[i])\nend\n`,
    );
    const run = spawnSync('taskset', ['-c', LOAD_CORE, 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--timeout', '10s', '-s', script, url], {
      encoding: 'utf8',
    });
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(run.stdout)?.[1];
    const requests = /(\d+) requests in/.exec(run.stdout)?.[1];
    if (!rps || !requests || /Non-2xx|Socket errors: connect [1-9]|read [1-9]|write [1-9]/.test(run.stdout))
      throw new Error(`wrk ${url}:\n${run.stdout}${run.stderr}`);
    return { rps: Number(rps), requests: Number(requests) };
  }
  const file = join(dir, 'bodies.json');
  writeFileSync(file, JSON.stringify(bodies));
  const run = spawnSync('taskset', ['-c', LOAD_CORE, process.execPath, '--import', 'tsx', 'bench/profile.ts', '--autocannon', url, file], { encoding: 'utf8' });
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { rps?: number; requests?: number; errors?: number };
  if (result.rps === undefined || result.requests === undefined || result.errors !== 0) throw new Error(`autocannon ${url}: ${run.stdout}${run.stderr}`);
  return { rps: result.rps, requests: result.requests };
}

async function waitFor(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** A server process pinned to the server core. */
async function pinned(args: string[], env: NodeJS.ProcessEnv, ready: string): Promise<ChildProcess> {
  const child = spawn('taskset', ['-c', SERVER_CORE, process.execPath, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor(ready, child);
  return child;
}

async function startPortcullis(redisUrl: string, extraNodeArgs: string[] = []): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const env = { PORT: String(port), GRPC_PORT: '0', REDIS_URL: redisUrl, ADMIN_TOKEN, LOG_LEVEL: 'error', AUDIT_SPILL_DIR: '', AUDIT_ENABLED: AUDIT };
  const base = `http://127.0.0.1:${port}`;
  const child = await pinned([...extraNodeArgs, '--import', 'tsx', 'src/main.ts'], env, `${base}/health/ready`);
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  for (let o = 0; o < ORGS; o++) {
    const settings: Array<[string, object]> = [
      [
        `/v1/orgs/org-${o}/settings/integration-access`,
        { managersWriteMcpServers: o % 3 !== 0, managersWriteWsIntegrations: o % 2 === 0, allowWorkspaceOverrides: { managersWriteMcpServers: true } },
      ],
      [`/v1/orgs/org-${o}/workspaces/${workspaceOf(`org-${o}`)}/settings/integration-access`, o % 4 === 0 ? { managersWriteMcpServers: true } : {}],
    ];
    for (const [path, body] of settings) {
      const res = await fetch(`${base}${path}`, { method: 'PUT', headers, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
    }
  }
  return { child, base };
}

interface Frame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface CpuProfile {
  startTime: number;
  nodes: Array<{ id: number; callFrame: Frame; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time by function (name, file, line), largest first, as shares of the busy (not idle)
 * time. With `lastSeconds`, only the samples of that long before the last busy one: the
 * measured run, not the process's start-up.
 */
export function summariseProfile(profile: CpuProfile, top = 25, lastSeconds?: number): string[] {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const at: number[] = [];
  let now = profile.startTime;
  for (const delta of profile.timeDeltas) at.push((now += delta));
  const isIdle = (i: number) => byNode.get(profile.samples[i]!)!.functionName === '(idle)';
  let last = profile.samples.length - 1;
  while (last > 0 && isIdle(last)) last--;
  const from = lastSeconds === undefined ? -Infinity : at[last]! - lastSeconds * 1e6;
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = (frame: Frame) => {
    // Paths from the checkout (src/, bench/, node_modules/), wherever it is.
    const file = frame.url.replace(/^file:\/\//, '').replace(/^.*?\/(src\/|bench\/|node_modules\/)/, '$1');
    return `${frame.functionName || '(anonymous)'}${file ? ` ${file}` : ''}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    if (at[i]! < from || i > last) return;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    if (isIdle(i)) return void (idle += delta);
    const key = keyOf(byNode.get(id)!);
    self.set(key, (self.get(key) ?? 0) + delta);
    const seen = new Set<string>();
    for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) seen.add(keyOf(byNode.get(node)!));
    for (const name of seen) total.set(name, (total.get(name) ?? 0) + delta);
    busy += delta;
  });
  const share = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const ours = [...total.entries()].filter(([key]) => / (src|bench)\//.test(key) || /opa-wasm|prom-client/.test(key));
  return [
    `(idle ${((100 * idle) / (idle + busy)).toFixed(1)}% of the window; shares below are of the busy time)`,
    'self time:',
    ...[...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, us]) => `${share(us)}  ${key}`),
    "total time (self + callees) of the sidecar's own functions, opa-wasm and prom-client:",
    ...ours
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, us]) => `${share(us)}  ${key}`),
  ];
}

/** CPU seconds (user + system) the processes have used so far. */
function cpuSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return sum + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  }, 0);
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-profile-'));
  const bodies = requests().map((body) => JSON.stringify(body));
  const wrapped = requests().map((input) => JSON.stringify({ input }));
  const redis = await RedisServer.start();
  const children: ChildProcess[] = [];
  try {
    // Redis is counted with the sidecar: it shares the server core.
    const redisPid = spawnSync('redis-cli', ['-p', String(redis.port), 'info', 'server'], { encoding: 'utf8' }).stdout.match(/process_id:(\d+)/)?.[1];
    if (redisPid) spawnSync('taskset', ['-pc', SERVER_CORE, redisPid]);
    const floorPort = await freePort();
    const floor = await pinned(['--import', 'tsx', 'bench/floor.ts', String(floorPort)], {}, `http://127.0.0.1:${floorPort}/`);
    children.push(floor);
    const portcullis = await startPortcullis(redis.url);
    children.push(portcullis.child);
    const floorUrl = `http://127.0.0.1:${floorPort}/v1/data/portkey/authz/allow`;
    const allowUrl = `${portcullis.base}/v1/data/portkey/authz/allow`;
    const authorizeUrl = `${portcullis.base}/v1/authorize`;
    console.log(
      `profile: ${hasWrk ? 'wrk' : 'autocannon'}, ${CONNECTIONS} connections, ${SECONDS}s per run, ${ROUNDS} rounds, ${bodies.length} inputs over ${ORGS} orgs; servers on core ${SERVER_CORE}, load on core ${LOAD_CORE}; AUDIT_ENABLED=${AUDIT}`,
    );
    load(allowUrl, wrapped, dir); // warm-up: JIT, every org's settings cached
    load(floorUrl, wrapped, dir);
    const measure = (url: string, sent: string[], pids: number[]) => {
      const before = cpuSeconds(pids);
      const run = load(url, sent, dir);
      return { rps: run.rps, cpuUs: ((cpuSeconds(pids) - before) * 1e6) / run.requests };
    };
    const serverPids = [portcullis.child.pid!, ...(redisPid ? [Number(redisPid)] : [])];
    const runs: Array<Record<'floor' | 'allow' | 'authorize', { rps: number; cpuUs: number }>> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const run = {
        floor: measure(floorUrl, wrapped, [floor.pid!]),
        allow: measure(allowUrl, wrapped, serverPids),
        authorize: measure(authorizeUrl, bodies, serverPids),
      };
      runs.push(run);
      console.log(
        `round ${round}: req/s floor ${run.floor.rps.toFixed(0)}  allow ${run.allow.rps.toFixed(0)} (${(run.allow.rps / run.floor.rps).toFixed(2)}x)  authorize ${run.authorize.rps.toFixed(0)} (${(run.authorize.rps / run.floor.rps).toFixed(2)}x)` +
          ` | CPU µs/request floor ${run.floor.cpuUs.toFixed(1)}  allow ${run.allow.cpuUs.toFixed(1)}  authorize ${run.authorize.cpuUs.toFixed(1)}`,
      );
    }
    const m = (pick: (run: (typeof runs)[number]) => number) => median(runs.map(pick));
    console.log(
      `median req/s per core: floor ${m((r) => r.floor.rps).toFixed(0)}  allow ${m((r) => r.allow.rps).toFixed(0)}  authorize ${m((r) => r.authorize.rps).toFixed(0)}` +
        `  ratio allow/floor ${m((r) => r.allow.rps / r.floor.rps).toFixed(2)}  authorize/floor ${m((r) => r.authorize.rps / r.floor.rps).toFixed(2)}`,
    );
    // CPU time per request is what a noisy neighbour disturbs least: 1e6 / µs is what one free core would serve.
    console.log(
      `median CPU µs/request (server + Redis): floor ${m((r) => r.floor.cpuUs).toFixed(1)}  allow ${m((r) => r.allow.cpuUs).toFixed(1)}  authorize ${m((r) => r.authorize.cpuUs).toFixed(1)}` +
        `  => req/s per free core: floor ${(1e6 / m((r) => r.floor.cpuUs)).toFixed(0)}  allow ${(1e6 / m((r) => r.allow.cpuUs)).toFixed(0)}  authorize ${(1e6 / m((r) => r.authorize.cpuUs)).toFixed(0)}`,
    );

    if (CPU_PROFILE) {
      await stop(portcullis.child);
      const profiles = join(dir, 'cpu');
      const profiled = await startPortcullis(redis.url, ['--cpu-prof', '--cpu-prof-dir', profiles]);
      children.push(profiled.child);
      load(allowUrl.replace(portcullis.base, profiled.base), wrapped, dir); // warm-up, then the profiled run
      load(allowUrl.replace(portcullis.base, profiled.base), wrapped, dir);
      await stop(profiled.child);
      // The main thread (0); tsx adds a loader thread of its own.
      const file = join(profiles, readdirSync(profiles).find((name) => /\.0\.\d+\.cpuprofile$/.test(name))!);
      console.log(`top self-time frames, POST /v1/data/portkey/authz/allow (${file}):`);
      for (const line of summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, 25, SECONDS)) console.log(line);
    }
  } finally {
    for (const child of children) await stop(child);
    await redis.stop();
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === '--autocannon') await autocannonChild(args[0]!, args[1]!);
else if (mode === '--summarise')
  for (const line of summariseProfile(JSON.parse(readFileSync(args[0]!, 'utf8')) as CpuProfile, Number(args[1] ?? 25), args[2] ? Number(args[2]) : undefined))
    console.log(line);
else await main();
