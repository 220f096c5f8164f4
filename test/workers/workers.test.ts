// WORKERS=2, as real processes: `node --import tsx src/main.ts` with a real Redis. Both
// workers answer on the one HTTP port (distinct pids) and the one gRPC port; a settings
// change and a bundle reload reach both; /metrics adds both up; a worker that dies is
// replaced; SIGTERM drains both; a startup failure is still one line.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { create } from 'tar';
import { readBundle } from '../../src/engine/bundle.ts';
import { registerWorkspace } from '../faults/support.ts';
import type { SidecarProcess } from '../support/launch.ts';
import { freePort, RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, decisionRequest, managerInOwnWorkspace, ownWorkspace } from '../support/sidecar.ts';
import { Connection, connectionPerWorker, metricSum, startWorkers, untilEveryWorker } from './support.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const WORKERS = 2;

/** The committed bundle with another revision in its manifest (a different archive, so a reload). */
async function withRevision(dir: string, revision: string): Promise<Buffer> {
  const { files } = await readBundle(await readFile(join(ROOT, 'bundles/portkey.tar.gz')));
  const staging = await mkdtemp(join(dir, 'repack-'));
  for (const [name, bytes] of files) {
    const content = name === '.manifest' ? Buffer.from(JSON.stringify({ ...JSON.parse(bytes.toString()), revision })) : bytes;
    await mkdir(dirname(join(staging, name)), { recursive: true });
    await writeFile(join(staging, name), content);
  }
  await create({ gzip: true, file: join(staging, 'out.tar.gz'), cwd: staging }, [...files.keys()]);
  return readFile(join(staging, 'out.tar.gz'));
}

/** Waits (bounded) until the sidecar's output matches. */
async function untilOutput(sidecar: SidecarProcess, pattern: RegExp, what: string, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(sidecar.output());
    if (match) return match[0];
    if (Date.now() > deadline) assert.fail(`no ${what} in ${timeoutMs} ms:\n${sidecar.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether a new connection to the port is refused (nothing listens). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

const managerCreates = managerInOwnWorkspace;

describe('WORKERS=2', () => {
  let redis: RedisServer;
  let dir: string;
  let bundlePath: string;
  let sidecar: Awaited<ReturnType<typeof startWorkers>>;
  let port: number;
  let grpcPort: number;

  before(async () => {
    redis = await RedisServer.start();
    dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'));
    bundlePath = join(dir, 'bundle', 'portkey.tar.gz');
    await mkdir(dirname(bundlePath));
    await copyFile(join(ROOT, 'bundles/portkey.tar.gz'), bundlePath);
    sidecar = await startWorkers({
      WORKERS: String(WORKERS),
      GRPC_PORT: String(await freePort()),
      REDIS_URL: redis.url,
      BUNDLE_PATH: bundlePath,
      AUDIT_SPILL_DIR: join(dir, 'spill'),
      // Only the subscription can bring a change within the test: no version re-checks.
      SETTINGS_REVALIDATE_MS: '3600000',
      // The drain test holds a request open while both workers stop: no clock may cut it.
      REQUEST_TIMEOUT_MS: '300000',
      SHUTDOWN_TIMEOUT_MS: '300000',
    });
    port = Number(new URL(sidecar.url).port);
    assert.equal(sidecar.listening.workers, WORKERS);
    grpcPort = Number(/"address":"127\.0\.0\.1:(\d+)"/.exec(await untilOutput(sidecar, /\{[^\n]*Envoy ext_authz gRPC listening[^\n]*\}/, 'the gRPC line'))![1]);
    for (const orgId of ['org-settings', 'org-metrics', 'org-drain']) await registerWorkspace(sidecar.url, orgId, ownWorkspace(orgId));
  });

  after(async () => {
    if (sidecar.child.exitCode === null) sidecar.child.kill('SIGKILL');
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('both workers answer on the one HTTP port: new connections reach distinct pids', async () => {
    const connections = await connectionPerWorker(port, WORKERS);
    assert.ok(![...connections.keys()].includes(sidecar.child.pid!), 'the primary serves no request');
    for (const connection of connections.values()) connection.close();
  });

  test('both workers bound the one gRPC port: Check answers on new connections', async () => {
    const definition = protoLoader.loadSync(fileURLToPath(new URL('../../src/gateway/envoy/ext_authz.proto', import.meta.url)), {
      keepCase: false,
      longs: String,
      enums: Number,
      defaults: true,
      oneofs: true,
    });
    const { Authorization } = (grpc.loadPackageDefinition(definition) as any).envoy.service.auth.v3;
    for (let i = 0; i < 4; i++) {
      // Its own subchannel pool: a new connection, which the primary hands to the next worker.
      const client = new Authorization(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
      const response = await new Promise<any>((resolve, reject) =>
        client.Check({ attributes: { request: { http: { method: 'GET', path: '/v1/unrouted', headers: [] } } } }, (error: Error | null, answer: unknown) =>
          error ? reject(error) : resolve(answer),
        ),
      );
      client.close();
      assert.ok(response.status, 'a CheckResponse with a status');
    }
  });

  test('a settings change reaches both workers (each has its own cache and subscription)', async () => {
    const orgId = 'org-settings';
    const decide = (c: Connection) => c.request('POST', '/v1/authorize', managerCreates(orgId));
    // Both caches hold the organization: without the subscription neither would look again for an hour.
    await untilEveryWorker(port, WORKERS, decide, (a) => a.body.allow === true, 'every worker allows (defaults) and caches the organization');
    const put = await fetch(`${sidecar.url}/v1/orgs/${orgId}/settings/integration-access`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ managersWriteMcpServers: false }),
    });
    assert.equal(put.status, 200, await put.text());
    await untilEveryWorker(
      port,
      WORKERS,
      decide,
      (a) => a.body.allow === false && a.body.setting === 'managersWriteMcpServers' && a.body.source === 'org',
      'every worker denies after the change',
    );
  });

  test('a bundle reload reaches both workers', async () => {
    const status = (c: Connection) => c.request('GET', '/v1/status');
    const revisionOf = (a: { body: Record<string, unknown> }) => (a.body.bundle as { revision: string } | null)?.revision;
    const original = revisionOf(await fetch(`${sidecar.url}/v1/status`).then(async (r) => ({ body: (await r.json()) as Record<string, unknown> })));
    await untilEveryWorker(port, WORKERS, status, (a) => revisionOf(a) === original, 'every worker on the first bundle');
    // Replaced as the README says: written beside it, then moved over it.
    const temporary = join(dirname(bundlePath), '.next.tar.gz');
    await writeFile(temporary, await withRevision(dir, 'reloaded-in-every-worker'));
    await rename(temporary, bundlePath);
    await untilEveryWorker(port, WORKERS, status, (a) => revisionOf(a) === 'reloaded-in-every-worker', 'every worker on the new bundle');
  });

  test('/metrics adds every worker up, whichever worker is scraped', async () => {
    const scrape = async () => (await fetch(`${sidecar.url}/metrics`)).text();
    const before = metricSum(await scrape(), 'portcullis_decisions_total');
    const byWorker = new Map<number, number>();
    let sent = 0;
    while (sent < 20 || byWorker.size < WORKERS) {
      assert.ok(sent < 200, `200 decisions on new connections reached ${byWorker.size} worker(s)`);
      const connection = await Connection.open(port);
      const answer = await connection.request('POST', '/v1/authorize', managerCreates('org-metrics'));
      connection.close();
      assert.equal(answer.status, 200, answer.text);
      byWorker.set(connection.pid, (byWorker.get(connection.pid) ?? 0) + 1);
      sent++;
    }
    for (const connection of (await connectionPerWorker(port, WORKERS)).values()) {
      const metrics = await connection.request('GET', '/metrics');
      connection.close();
      assert.equal(
        metricSum(metrics.text, 'portcullis_decisions_total') - before,
        sent,
        `decisions counted by the scrape from ${connection.pid}; sent by worker: ${JSON.stringify(Object.fromEntries(byWorker))}`,
      );
      assert.equal(metricSum(metrics.text, 'portcullis_workers'), WORKERS);
      assert.equal(metrics.text.match(/^portcullis_bundle_info\{revision="reloaded-in-every-worker"\} 1$/gm)?.length, 1, 'one bundle, 1 (not one per worker)');
      assert.equal(metricSum(metrics.text, 'portcullis_settings_store_up'), 1);
      assert.ok(metricSum(metrics.text, 'portcullis_wasm_memory_bytes') > 0);
    }
  });

  test('a worker that dies is replaced, and the primary says so', async () => {
    const [victim, other] = [...(await connectionPerWorker(port, WORKERS)).values()];
    victim!.close();
    other!.close();
    process.kill(victim!.pid, 'SIGKILL');
    await untilOutput(
      sidecar,
      new RegExp(`"pid":${victim!.pid},[^\\n]*"signal":"SIGKILL"[^\\n]*worker exited; starting another in its place`),
      'the restart line',
    );
    await untilOutput(sidecar, /worker serving again/, 'the replacement serving');
    const now = await connectionPerWorker(port, WORKERS);
    assert.ok(!now.has(victim!.pid), 'the dead worker answers nothing');
    assert.ok(now.has(other!.pid), 'the other worker kept serving');
    for (const connection of now.values()) connection.close();
    assert.equal(metricSum(await (await fetch(`${sidecar.url}/metrics`)).text(), 'portcullis_worker_restarts_total'), 1);
  });

  test('SIGTERM to the primary drains both workers: requests in flight on each are answered, then it exits 0', async () => {
    const connections = await connectionPerWorker(port, WORKERS);
    // On each worker, a request in flight: its head and half its body sent.
    const inFlight = [...connections.values()].map((connection) => ({
      connection,
      request: connection.start('POST', '/v1/authorize', JSON.stringify(managerCreates('org-drain'))),
    }));
    await Promise.all(inFlight.map(({ request }) => request.received));
    const exited = new Promise<number | null>((resolve) => sidecar.child.once('exit', (code) => resolve(code)));
    const draining = () => new Set([...sidecar.output().matchAll(/"pid":(\d+)[^\n]*"msg":"stopping: draining in-flight requests"/g)].map((m) => Number(m[1])));
    sidecar.child.kill('SIGTERM');
    const deadline = Date.now() + 60_000;
    while (![...connections.keys()].every((pid) => draining().has(pid))) {
      assert.ok(Date.now() < deadline, `not every worker said it is draining:\n${sidecar.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Stopped accepting: once every worker has closed its server, the port refuses.
    while (!(await refused(port))) {
      assert.ok(Date.now() < deadline, 'new connections are refused once every worker drains');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(sidecar.child.exitCode, null, 'still draining the requests in flight');
    for (const { request } of inFlight) request.finish();
    for (const { connection, request } of inFlight) {
      const answer = await request.answer;
      assert.equal(answer.status, 200, `worker ${connection.pid}: ${answer.text}`);
      assert.match(String(answer.body.decisionId), /^[0-9a-f-]{36}$/);
      connection.close();
    }
    assert.equal(await exited, 0);
    const stopped = sidecar.output().match(/"msg":"stopped"/g) ?? [];
    assert.equal(stopped.length, WORKERS + 1, 'each worker and the primary stopped');
  });
});

describe('WORKERS=2 while Redis is away', () => {
  test('each worker spills to its own directory, and each replays its own once Redis is back: every decision stored once', async (t) => {
    const redis = await RedisServer.start();
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-spill-'));
    const spillDir = join(dir, 'spill');
    const sidecar = await startWorkers({ WORKERS: String(WORKERS), REDIS_URL: redis.url, AUDIT_SPILL_DIR: spillDir, AUDIT_BUFFER_RECORDS: '5' });
    t.after(async () => {
      if (sidecar.child.exitCode === null) sidecar.child.kill('SIGKILL');
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    });
    const port = Number(new URL(sidecar.url).port);
    const connections = await connectionPerWorker(port, WORKERS);

    await redis.stop();
    const decided = new Set<string>();
    for (const connection of connections.values()) {
      for (let i = 0; i < 20; i++) {
        const answer = await connection.request('POST', '/v1/authorize', decisionRequest({ orgId: 'org-spill', orgRole: 'owner' }));
        assert.equal(answer.status, 200, answer.text);
        decided.add(String(answer.body.decisionId));
      }
      connection.close();
    }
    // Spill file names carry the writer's pid: one writer per directory, every worker writing.
    const writers = async (path: string) =>
      new Set((await readdir(path).catch(() => [])).filter((n) => n.endsWith('.ndjson')).map((n) => Number(n.split('-')[2])));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [first, second] = [await writers(spillDir), await writers(join(spillDir, 'worker-2'))];
      if (first.size === 1 && second.size === 1) {
        assert.deepEqual(new Set([...first, ...second]), new Set(connections.keys()));
        break;
      }
      assert.ok(first.size <= 1 && second.size <= 1, `one writer per directory: ${[...first]} and ${[...second]}`);
      assert.ok(Date.now() < deadline, `no spill file from each worker: ${[...first]} and ${[...second]}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    await redis.start();
    const stored = new Set<string>();
    const until = Date.now() + 120_000;
    while (stored.size < decided.size || (await writers(spillDir)).size + (await writers(join(spillDir, 'worker-2'))).size > 0) {
      assert.ok(Date.now() < until, `after Redis returned: ${stored.size} of ${decided.size} stored`);
      await new Promise((r) => setTimeout(r, 200));
      // The directory could not confirm org-spill while Redis was away: its records are in the unverified bucket.
      const page = await fetch(`${sidecar.url}/v1/audit/decisions?orgId=org-spill&unverified=true&limit=100`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      if (page.status !== 200) continue;
      const { decisions: items } = (await page.json()) as { decisions: { decisionId: string }[] };
      stored.clear();
      for (const item of items) stored.add(item.decisionId);
      assert.equal(items.length, stored.size, 'each record stored once');
    }
    assert.deepEqual([...stored].sort(), [...decided].sort());
  });
});

describe('WORKERS startup', () => {
  function start(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/main.ts'],
        { cwd: ROOT, env: { PATH: process.env.PATH, PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'silent', ADMIN_TOKEN: 't', ...env }, timeout: 180_000 },
        (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr }),
      );
    });
  }

  test('a startup failure in the workers is still one line (not one per worker), naming the cause', async () => {
    const redisPort = await freePort();
    const { code, stderr } = await start({ WORKERS: '2', REDIS_URL: `redis://127.0.0.1:${redisPort}` });
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`^portcullis: cannot start: Redis at redis://127\\.0\\.0\\.1:${redisPort}/? is not reachable .*REDIS_URL`));
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
  });

  test('WORKERS > 1 without Redis is refused in one line: each worker would keep its own settings and audit log', async () => {
    const { code, stderr } = await start({ WORKERS: '2', SETTINGS_FILE: '' });
    assert.equal(code, 1);
    assert.equal(
      stderr,
      'portcullis: cannot start: WORKERS=2 needs Redis (REDIS_URL): without it each worker keeps its own settings and audit log; set REDIS_URL, or WORKERS=1\n',
    );
  });

  test('a WORKERS that is not a number or auto is named in one line', async () => {
    const { code, stderr } = await start({ WORKERS: 'many' });
    assert.equal(code, 1);
    assert.equal(stderr, 'portcullis: cannot start: WORKERS must be a number from 1 to 128 or auto, got "many"\n');
  });
});

describe('WORKERS=2, stopped twice', () => {
  let redis: RedisServer;
  let sidecar: Awaited<ReturnType<typeof startWorkers>> | undefined;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    if (sidecar && sidecar.child.exitCode === null) sidecar.child.kill('SIGKILL');
    for (const pid of workerPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    await redis.stop();
  });
  const workerPids = () => new Set([...(sidecar?.output() ?? '').matchAll(/"worker":\d+,"pid":(\d+)/g)].map((m) => Number(m[1])));
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  test('a second SIGTERM to the primary exits at once (status 1) and ends the workers, whatever they were draining', async () => {
    // A drain no test would wait for: only the second signal can end it in time.
    sidecar = await startWorkers({ WORKERS: '2', REDIS_URL: redis.url, AUDIT_SPILL_DIR: '', REQUEST_TIMEOUT_MS: '600000', SHUTDOWN_TIMEOUT_MS: '600000' });
    const port = Number(new URL(sidecar.url).port);
    const held = connect(port, '127.0.0.1');
    held.on('error', () => undefined);
    await new Promise((resolve) => held.once('connect', resolve));
    held.write('POST /v1/authorize HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"principal":');
    const pids = workerPids();
    assert.equal(pids.size, 2, sidecar.output().slice(-2000));

    const exited = new Promise<number | null>((resolve) => sidecar!.child.once('exit', (code) => resolve(code)));
    sidecar.child.kill('SIGTERM');
    await untilOutput(sidecar, /"msg":"stopping: draining in-flight requests"/, 'the first stop', 60_000);
    assert.equal(sidecar.child.exitCode, null, 'still draining after the first SIGTERM');
    sidecar.child.kill('SIGTERM');
    const timer = setTimeout(() => sidecar!.child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(timer);
    held.destroy();
    assert.equal(code, 1, 'the primary did not exit on the second SIGTERM (killed after 30 s)');
    const deadline = Date.now() + 30_000;
    while ([...pids].some(alive)) {
      assert.ok(Date.now() < deadline, 'a worker outlived its primary');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});
