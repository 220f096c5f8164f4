// The external load generators of `make bench`, each run as its own process so it can be
// pinned to a core of its own: wrk (closed loop, a fixed number of connections: the per-core
// throughput and one-connection latency), vegeta (open loop at a fixed rate, HTTP) and ghz
// (fixed rate, gRPC). vegeta and ghz are built from the Go module pinned in tools/load/go.mod;
// wrk is Debian's. Latencies come back in ms with microsecond resolution.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = '.cache/bin';

export interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  /** Slowest request; the closed-loop tools inside the bench process do not report it. */
  max?: number;
  errors: number;
}

export interface HttpRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/**
 * Command prefixes that put the server under test (and its Redis) on core 0 and the load
 * generator on core 1, or nothing when this machine cannot: fewer than two cores for this
 * process, or no taskset (util-linux).
 */
export interface Pinning {
  server: string[];
  load: string[];
  /** What the rows mean: pinned, or why not. */
  note: string;
}

export function pinning(): Pinning {
  const cores = availableParallelism();
  const taskset = spawnSync('taskset', ['--version']).status === 0;
  if (cores >= 2 && taskset)
    return { server: ['taskset', '-c', '0'], load: ['taskset', '-c', '1'], note: 'server (and its Redis) pinned to core 0, load generator to core 1' };
  const why = taskset ? `this process may use ${cores} core` : 'taskset (util-linux) is not installed';
  return { server: [], load: [], note: `NOT pinned (${why}): server and load generator share the machine` };
}

/** Moves a running process, every thread of it, onto the server's core; returns how to undo it. */
export async function pinRunning(pid: number, pin: Pinning): Promise<() => Promise<void>> {
  if (pin.server.length === 0) return async () => undefined;
  const { stdout } = await run('taskset', ['-p', String(pid)]);
  const mask = /mask:\s*(\S+)/.exec(stdout)?.[1];
  if (!mask) throw new Error(`taskset -p ${pid}: no mask in ${JSON.stringify(stdout)}`);
  await run('taskset', ['-a', '-p', '-c', pin.server[2]!, String(pid)]);
  return async () => void (await run('taskset', ['-a', '-p', mask, String(pid)]));
}

/** [command, ...args] behind a pinning prefix, for spawn. */
export function pinned(prefix: string[], command: string, args: string[]): [string, string[]] {
  return prefix.length === 0 ? [command, args] : [prefix[0]!, [...prefix.slice(1), command, ...args]];
}

function scratch<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  return use(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

// A Lua long string: JSON bodies and header values need no escaping in it.
const luaString = (s: string) => `[==[${s}]==]`;

/**
 * wrk with `connections` connections on one thread for `seconds`, cycling through the
 * requests in order. The Lua script formats every request once up front (so wrk's own cost
 * per request stays that of a static request) and prints the summary as JSON in µs.
 */
export function wrk(name: string, base: string, requests: HttpRequest[], options: { connections: number; seconds: number; pin: Pinning }): Promise<Row> {
  return scratch(async (dir) => {
    const script = join(dir, 'requests.lua');
    const formatted = requests.map((r) => {
      const headers = Object.entries({ ...r.headers, ...(r.body ? { 'Content-Type': 'application/json' } : {}) })
        // `[ [==[k]==] ]` with spaces: `[[` would open a long string.
        .map(([k, v]) => `[ ${luaString(k)} ] = ${luaString(v)}`)
        .join(', ');
      return `wrk.format(${luaString(r.method)}, ${luaString(r.path)}, {${headers}}, ${r.body ? luaString(r.body) : 'nil'})`;
    });
    writeFileSync(
      script,
      `local requests = {}
init = function(args)
${formatted.map((f, i) => `  requests[${i + 1}] = ${f}`).join('\n')}
end
local i = 0
request = function()
  i = i % #requests + 1
  return requests[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests":%d,"us":%d,"errors":%d,"p50":%d,"p99":%d,"p999":%d,"max":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
`,
    );
    const [command, args] = pinned(options.pin.load, 'wrk', [
      '-t1',
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      '--timeout',
      '10s',
      '-s',
      script,
      base,
    ]);
    const { stdout } = await run(command, args, { maxBuffer: 1 << 20 });
    const line = /^WRK (.*)$/m.exec(stdout)?.[1];
    if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
    const s = JSON.parse(line) as { requests: number; us: number; errors: number; p50: number; p99: number; p999: number; max: number };
    if (s.errors > 0) console.log(`  ${name}: ${s.errors} errors (connect, read, write, non-2xx or timeout)`);
    return { name, rps: s.requests / (s.us / 1e6), p50: s.p50 / 1000, p99: s.p99 / 1000, p999: s.p999 / 1000, max: s.max / 1000, errors: s.errors };
  });
}

/** p50, p99, p99.9 and max of latencies in ns, as ms. */
function percentiles(ns: number[]): Pick<Row, 'p50' | 'p99' | 'p999' | 'max'> {
  const sorted = Float64Array.from(ns).sort();
  const at = (q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / 1e6);
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]! / 1e6 };
}

/**
 * vegeta at a fixed `rate` for `seconds`: open loop, so a slow answer does not slow the
 * arrivals (no coordinated omission), with as many connections as that takes. `rate: 0`
 * with one worker and one connection is the closed-loop one-connection case instead.
 */
export function vegeta(name: string, base: string, requests: HttpRequest[], options: { rate: number; seconds: number; pin: Pinning }): Promise<Row> {
  return scratch(async (dir) => {
    const targets = join(dir, 'targets.json');
    writeFileSync(
      targets,
      requests
        .map((r) =>
          JSON.stringify({
            method: r.method,
            url: `${base}${r.path}`,
            header: Object.fromEntries(Object.entries({ ...r.headers, ...(r.body ? { 'Content-Type': 'application/json' } : {}) }).map(([k, v]) => [k, [v]])),
            ...(r.body ? { body: Buffer.from(r.body).toString('base64') } : {}),
          }),
        )
        .join('\n'),
    );
    const results = join(dir, 'results.bin');
    const attack = ['attack', '-format=json', `-targets=${targets}`, `-duration=${options.seconds}s`, '-timeout=10s', `-output=${results}`];
    const mode = options.rate > 0 ? [`-rate=${options.rate}/1s`] : ['-rate=0', '-workers=1', '-max-workers=1', '-connections=1', '-max-connections=1'];
    const [command, args] = pinned(options.pin.load, join(BIN, 'vegeta'), [...attack, ...mode]);
    await run(command, args);
    // The CSV encoding carries every request's latency in ns (vegeta's report stops at p99).
    const { stdout } = await run(join(BIN, 'vegeta'), ['encode', '--to=csv', results], { maxBuffer: 1 << 30 });
    const latencies: number[] = [];
    let errors = 0;
    for (const line of stdout.split('\n')) {
      if (!line) continue;
      const [, code, latency] = line.split(',', 3);
      if (code!.startsWith('2')) latencies.push(Number(latency));
      else errors++;
    }
    if (errors > 0) console.log(`  ${name}: ${errors} failed requests (non-2xx, refused or timed out)`);
    return { name, rps: latencies.length / options.seconds, ...percentiles(latencies), errors };
  });
}

/** gRPC Envoy ext_authz Check at a fixed rate, `seconds` worth of calls, over one HTTP/2 connection (as Envoy). */
export function ghz(name: string, address: string, calls: HttpRequest[], options: { rate: number; seconds: number; pin: Pinning }): Promise<Row> {
  return scratch(async (dir) => {
    const data = join(dir, 'data.json');
    // The proto declares Envoy's header map as its repeated entries (wire-identical), so the
    // JSON form is a list of {key, value}.
    const messages = calls.map((c) => ({
      attributes: { request: { http: { method: c.method, path: c.path, headers: Object.entries(c.headers).map(([key, value]) => ({ key, value })) } } },
    }));
    writeFileSync(data, JSON.stringify(messages));
    const [command, args] = pinned(options.pin.load, join(BIN, 'ghz'), [
      ...['--insecure', '--proto', 'src/gateway/envoy/ext_authz.proto', '--import-paths', 'src/gateway/envoy'],
      ...['--call', 'envoy.service.auth.v3.Authorization/Check', '-D', data, '--format', 'json'],
      // A fixed count rather than a duration: ghz cancels what is in flight when a duration ends.
      ...['--rps', String(options.rate), '-n', String(options.rate * options.seconds), '-c', String(Math.max(10, options.rate / 50)), '-t', '10s'],
      address,
    ]);
    const { stdout } = await run(command, args, { maxBuffer: 1 << 30 });
    const report = JSON.parse(stdout) as { total: number; details: { latency: number; status: string }[] };
    const ok = report.details.filter((d) => d.status === 'OK').map((d) => d.latency);
    const errors = report.details.length - ok.length;
    if (errors > 0) console.log(`  ${name}: ${errors} failed calls`);
    return { name, rps: ok.length / (report.total / 1e9), ...percentiles(ok), errors };
  });
}
