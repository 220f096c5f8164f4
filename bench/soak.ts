// `make soak`: a real sidecar process with a real Redis under a fixed request rate for a
// set time (SOAK_MINUTES, default 2; SOAK_RATE requests/s, default 200), with settings
// changed every second and a new bundle (another revision, built by opa) dropped onto
// the watched bundle file half way. Prints per-minute counts, errors and p99, and the
// process RSS and WASM memory at start and end. Bounded and not part of `make test`:
// figures are printed, the exit code says only whether any request failed.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, cp, mkdtemp, readFile, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, RedisServer } from '../test/support/redis.ts';

const OPA = process.env.OPA_BIN ?? '.cache/bin/opa';
const MINUTES = Number(process.env.SOAK_MINUTES ?? 2);
const RATE = Number(process.env.SOAK_RATE ?? 200);
const ORGS = 50;
const ADMIN_TOKEN = 'soak-admin-token';
const TICK_MS = 10;

const dir = await mkdtemp(join(tmpdir(), 'portcullis-soak-'));
const redis = await RedisServer.start();
const bundlePath = join(dir, 'portkey.tar.gz');
await copyFile('bundles/portkey.tar.gz', bundlePath);
const port = await freePort();
const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
  env: { PATH: process.env.PATH, PORT: String(port), GRPC_PORT: '0', REDIS_URL: redis.url, ADMIN_TOKEN, LOG_LEVEL: 'warn', BUNDLE_PATH: bundlePath },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const base = `http://127.0.0.1:${port}`;

async function stopAll(): Promise<void> {
  if (child.exitCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
}

try {
  const deadline = Date.now() + 30_000;
  while (
    !(await fetch(`${base}/health/ready`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('sidecar did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  // Each organization's workspace in the directory, so that the policy decides every request.
  for (let o = 0; o < ORGS; o++) {
    const registered = await fetch(`${base}/v1/orgs/org-${o}/workspaces/org-${o}-ws-1`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    if (!registered.ok) throw new Error(`registering org-${o}-ws-1: ${registered.status}`);
  }
  await soak();
} finally {
  await stopAll();
}

async function memory(): Promise<{ rssMiB: number; wasmMiB: number; revision: string }> {
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const wasm = Number(/^portcullis_wasm_memory_bytes (\d+)/m.exec(metrics)?.[1] ?? 0);
  const revision = /portcullis_bundle_info\{revision="([^"]+)"\}/.exec(metrics)?.[1] ?? '?';
  return { rssMiB: rssKiB / 1024, wasmMiB: wasm / 1024 / 1024, revision };
}

function decisionBody(n: number): string {
  const orgId = `org-${n % ORGS}`;
  const roles = [
    { orgRole: 'member', workspaceRoles: { [`${orgId}-ws-1`]: 'manager' } },
    { orgRole: 'member', workspaceRoles: { [`${orgId}-ws-1`]: 'member' } },
    { orgRole: 'owner', workspaceRoles: {} },
  ][n % 3]!;
  const action = ['create', 'update', 'delete', 'read'][n % 4];
  const type = ['integration', 'mcp_integration', 'mcp_server'][n % 3];
  return JSON.stringify({ principal: { id: `u-${n % 100}`, orgId, ...roles }, action, resource: { type, orgId, workspaceId: `${orgId}-ws-1` } });
}

/** The same policy under another revision, built with the real opa CLI. */
async function buildNextBundle(): Promise<string> {
  const source = await mkdtemp(join(dir, 'policy-'));
  for (const name of await readdir('policies')) if (!name.endsWith('_test.rego')) await cp(join('policies', name), join(source, name));
  const out = join(dir, 'next.tar.gz');
  await promisify(execFile)(
    OPA,
    ['build', '-t', 'wasm', '-e', 'portkey/authz/decision', '-e', 'portkey/authz/allow', '--revision', 'soak-reloaded', '-o', out, '.'],
    { cwd: source },
  );
  return out;
}

async function soak(): Promise<void> {
  const totalMs = MINUTES * 60_000;
  const minutes = Array.from({ length: Math.ceil(MINUTES) }, () => ({ sent: 0, failed: 0, latencies: [] as number[] }));
  const revisions = new Map<string, number>();
  let failed = 0;
  let n = 0;
  let settingsWrites = 0;
  const nextBundle = buildNextBundle();

  // Warm up, then take the starting memory.
  for (let i = 0; i < 500; i++) await fetch(`${base}/v1/authorize`, { method: 'POST', body: decisionBody(i) }).then((r) => r.text());
  const start = await memory();
  console.log(
    `soak: ${MINUTES} min at ${RATE} req/s against ${base}; start RSS ${start.rssMiB.toFixed(1)} MiB, WASM ${start.wasmMiB.toFixed(2)} MiB, bundle ${start.revision}`,
  );

  const startedAt = performance.now();
  const inFlight = new Set<Promise<void>>();
  const send = (i: number) => {
    const bucket = minutes[Math.min(minutes.length - 1, Math.floor((performance.now() - startedAt) / 60_000))]!;
    bucket.sent++;
    const t0 = performance.now();
    const request = fetch(`${base}/v1/authorize`, { method: 'POST', body: decisionBody(i) })
      .then(async (response) => {
        const body = (await response.json()) as { bundleRevision?: string };
        if (response.status !== 200) throw new Error(`status ${response.status}`);
        bucket.latencies.push(performance.now() - t0);
        revisions.set(body.bundleRevision ?? '?', (revisions.get(body.bundleRevision ?? '?') ?? 0) + 1);
      })
      .catch(() => {
        bucket.failed++;
        failed++;
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  };

  let reloaded = false;
  let lastSettingsWrite = 0;
  while (performance.now() - startedAt < totalMs) {
    const elapsed = performance.now() - startedAt;
    // Open loop: catch up to the number of requests the rate calls for by now.
    const due = Math.floor((elapsed / 1000) * RATE);
    while (n < due) send(n++);
    if (elapsed - lastSettingsWrite >= 1000) {
      lastSettingsWrite = elapsed;
      const org = `org-${settingsWrites++ % ORGS}`;
      void fetch(`${base}/v1/orgs/${org}/settings/integration-access`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({ managersWriteMcpServers: settingsWrites % 2 === 0, allowWorkspaceOverrides: { managersWriteMcpServers: true } }),
      }).then((r) => r.text());
    }
    if (!reloaded && elapsed >= totalMs / 2) {
      reloaded = true;
      const next = await nextBundle;
      await rename(next, bundlePath);
      console.log(`soak: new bundle (revision soak-reloaded) dropped on the watched file at ${(elapsed / 1000).toFixed(0)} s`);
    }
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  await Promise.all(inFlight);
  const end = await memory();

  minutes.forEach((minute, i) => {
    const sorted = minute.latencies.sort((a, b) => a - b);
    const p = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);
    console.log(`minute ${i + 1}: ${minute.sent} sent, ${minute.failed} failed, p50 ${p(0.5).toFixed(2)} ms, p99 ${p(0.99).toFixed(2)} ms`);
  });
  console.log(`answers by bundle revision: ${JSON.stringify(Object.fromEntries(revisions))}; settings writes: ${settingsWrites}`);
  console.log(
    `memory: RSS ${start.rssMiB.toFixed(1)} -> ${end.rssMiB.toFixed(1)} MiB; WASM ${start.wasmMiB.toFixed(2)} -> ${end.wasmMiB.toFixed(2)} MiB; bundle ${start.revision} -> ${end.revision}`,
  );
  console.log(`errors: ${failed} of ${n}`);
  process.exitCode = failed === 0 && end.revision === 'soak-reloaded' ? 0 : 1;
}
