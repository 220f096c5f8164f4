// `make profile`: where one core's time goes on the decision path. Against a floor (a bare
// node:http server that parses the same JSON bodies and answers a constant), each server
// pinned to core 0 and the load generator (wrk when installed, else autocannon in its own
// process) to core 1; settings and the audit in Redis (pinned with the sidecar). Rounds
// alternate the floor, the allow API with recording on and with recording off, so a noisy
// neighbour hits them alike; the medians and the per-round ratios are printed, never
// asserted. The recording-on sidecar runs with its stage counters on (PROFILE_STAGES,
// src/stages.ts): the per-stage table is the CPU µs per decision of each stage over the
// measured runs, with Redis's own CPU (from /proc) and what no stage claims (the HTTP
// stack, the event loop, promise hops). With PROFILE_CPU=1 a last run takes a --cpu-prof
// of Portcullis and prints its top self-time frames (summariseProfile). The sidecars take
// the rest of the environment (DECISION_CACHE_MAX=0 measures without the decision cache).
//   PROFILE_ROUNDS (3) PROFILE_SECONDS (5) PROFILE_CONNECTIONS (32) PROFILE_CPU (0)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { STAGES, type Stage } from '../src/stages.ts';
import { freePort, RedisServer } from '../test/support/redis.ts';
import { requestsFor, workspaceOf } from './inputs.ts';

const ROUNDS = Number(process.env.PROFILE_ROUNDS ?? 3);
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.PROFILE_CONNECTIONS ?? 32);
const CPU_PROFILE = process.env.PROFILE_CPU === '1';
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

async function startPortcullis(
  redisUrl: string,
  audit: boolean,
  extraNodeArgs: string[] = [],
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const env = {
    PORT: String(port),
    GRPC_PORT: '0',
    REDIS_URL: redisUrl,
    ADMIN_TOKEN,
    LOG_LEVEL: 'error',
    AUDIT_SPILL_DIR: '',
    AUDIT_ENABLED: String(audit),
    ...extraEnv,
  };
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

/** The stage totals (µs) the sidecar writes to `file` on SIGUSR2 (src/main.ts). */
async function stageTotals(child: ChildProcess, file: string): Promise<Record<Stage, number>> {
  rmSync(file, { force: true });
  child.kill('SIGUSR2');
  // The file can be seen before it is written whole: read until it parses.
  for (let i = 0; ; i++) {
    if (existsSync(file)) {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as Record<Stage, number>;
      } catch (error) {
        if (i >= 1000) throw error;
      }
    } else if (i >= 1000) throw new Error(`the sidecar wrote no stage totals to ${file}`);
    await new Promise((r) => setTimeout(r, 10));
  }
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
    // Three sidecars on one Redis: recording on, recording off (the ratios), and recording on
    // with the stage counters (the budget; the counters' clock reads cost it a little).
    const stagesFile = join(dir, 'stages.json');
    const portcullis = await startPortcullis(redis.url, true);
    children.push(portcullis.child);
    const unaudited = await startPortcullis(redis.url, false);
    children.push(unaudited.child);
    const staged = await startPortcullis(redis.url, true, [], { PROFILE_STAGES: stagesFile });
    children.push(staged.child);
    const floorUrl = `http://127.0.0.1:${floorPort}/v1/data/portkey/authz/allow`;
    const allowUrl = `${portcullis.base}/v1/data/portkey/authz/allow`;
    const offUrl = `${unaudited.base}/v1/data/portkey/authz/allow`;
    const stagedUrl = `${staged.base}/v1/data/portkey/authz/allow`;
    console.log(
      `profile: ${hasWrk ? 'wrk' : 'autocannon'}, ${CONNECTIONS} connections, ${SECONDS}s per run, ${ROUNDS} rounds, ${wrapped.length} inputs over ${ORGS} orgs; ` +
        `servers on core ${SERVER_CORE}, load on core ${LOAD_CORE}; POST /v1/data/portkey/authz/allow; DECISION_CACHE_MAX=${process.env.DECISION_CACHE_MAX ?? '(default)'}`,
    );
    // Warm-up: JIT, every org's settings cached.
    for (const url of [allowUrl, offUrl, stagedUrl, floorUrl]) load(url, wrapped, dir);
    const redisPids = redisPid ? [Number(redisPid)] : [];
    type Measured = { rps: number; cpuUs: number; redisUs: number; requests: number };
    const measure = (url: string, pids: number[]): Measured => {
      const before = cpuSeconds(pids);
      const redisBefore = cpuSeconds(redisPids);
      const run = load(url, wrapped, dir);
      const perRequest = (seconds: number) => (seconds * 1e6) / run.requests;
      return { rps: run.rps, cpuUs: perRequest(cpuSeconds(pids) - before), redisUs: perRequest(cpuSeconds(redisPids) - redisBefore), requests: run.requests };
    };
    const cpu = (x: Measured) => x.cpuUs + x.redisUs;
    const runs: Array<{ floor: Measured; on: Measured; off: Measured; stages: Record<Stage, number> }> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const floorRun = measure(floorUrl, [floor.pid!]);
      const on = measure(allowUrl, [portcullis.child.pid!]);
      const off = measure(offUrl, [unaudited.child.pid!]);
      const before = await stageTotals(staged.child, stagesFile);
      const stagedRun = measure(stagedUrl, [staged.child.pid!]);
      const after = await stageTotals(staged.child, stagesFile);
      const stages = Object.fromEntries(STAGES.map((stage) => [stage, (after[stage] - before[stage]) / stagedRun.requests])) as Record<Stage, number>;
      runs.push({ floor: floorRun, on, off, stages });
      console.log(
        `round ${round}: req/s floor ${floorRun.rps.toFixed(0)}  audit on ${on.rps.toFixed(0)} (${(on.rps / floorRun.rps).toFixed(2)}x)  audit off ${off.rps.toFixed(0)} (${(off.rps / floorRun.rps).toFixed(2)}x)` +
          `  audit cost ${(100 * (1 - on.rps / off.rps)).toFixed(1)}% | CPU µs/request (server + Redis) floor ${floorRun.cpuUs.toFixed(1)}  audit on ${cpu(on).toFixed(1)}  audit off ${cpu(off).toFixed(1)}`,
      );
    }
    const m = (pick: (run: (typeof runs)[number]) => number) => median(runs.map(pick));
    console.log(
      `median req/s per core: floor ${m((r) => r.floor.rps).toFixed(0)}  audit on ${m((r) => r.on.rps).toFixed(0)}  audit off ${m((r) => r.off.rps).toFixed(0)}` +
        `  ratio on/floor ${m((r) => r.on.rps / r.floor.rps).toFixed(2)}  off/floor ${m((r) => r.off.rps / r.floor.rps).toFixed(2)}  audit cost ${m((r) => 100 * (1 - r.on.rps / r.off.rps)).toFixed(1)}%`,
    );
    // CPU time per request is what a noisy neighbour disturbs least: 1e6 / µs is what one free core would serve.
    console.log(
      `median CPU µs/request (server + Redis): floor ${m((r) => r.floor.cpuUs).toFixed(1)}  audit on ${m((r) => cpu(r.on)).toFixed(1)}  audit off ${m((r) => cpu(r.off)).toFixed(1)}` +
        `  => by CPU: on/floor ${m((r) => r.floor.cpuUs / cpu(r.on)).toFixed(2)}  audit cost ${m((r) => 100 * (1 - cpu(r.off) / cpu(r.on))).toFixed(1)}%`,
    );
    // The stages as the counting sidecar measured them (its clock reads taken off), against the cost of the sidecar that counts nothing.
    console.log('per-stage CPU µs per decision, allow API, audit on (median of the rounds; total: the sidecar without counters):');
    const total = m((r) => cpu(r.on));
    const row = (name: string, us: number) => console.log(`  ${name.padEnd(54)} ${us.toFixed(1).padStart(7)}  ${((100 * us) / total).toFixed(1).padStart(5)}%`);
    // GC pauses happen inside the stages too (a collection runs when a stage allocates): shown, not summed.
    const counted = STAGES.filter((stage) => stage !== 'GC');
    for (const stage of counted)
      row(
        stage,
        m((r) => r.stages[stage]),
      );
    row(
      "Redis's own CPU (redis-server, same core)",
      m((r) => r.on.redisUs),
    );
    row(
      'not in a stage (HTTP stack, event loop, promise hops)',
      m((r) => r.on.cpuUs - counted.reduce((sum, stage) => sum + r.stages[stage], 0)),
    );
    row('total (server + Redis)', total);
    row(
      'GC pauses (inside the rows above, not added)',
      m((r) => r.stages.GC),
    );
    row(
      'floor (bare node:http, same bodies)',
      m((r) => r.floor.cpuUs),
    );

    if (CPU_PROFILE) {
      for (const child of [portcullis.child, unaudited.child, staged.child]) await stop(child);
      const profiles = join(dir, 'cpu');
      const profiled = await startPortcullis(redis.url, true, ['--cpu-prof', '--cpu-prof-dir', profiles]);
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
