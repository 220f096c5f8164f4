// Portcullis's decision-log events against the real thing: the pinned `opa run --server`
// uploads its event for a question to a local receiver, Portcullis uploads its own for
// the same question to the same receiver, and the two are compared field by field (and
// OPA's console line with Portcullis's).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { consoleLine } from '../../src/decisionlogs/console.ts';
import type { DecisionEvent } from '../../src/decisionlogs/event.ts';
import { readBundleFile } from '../../src/engine/bundle.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { freePort } from '../support/redis.ts';
import { decisionRequest, testSidecar } from '../support/sidecar.ts';
import { LogReceiver } from './receiver.ts';

const OPA = process.env.OPA_BIN ?? '.cache/bin/opa';

const receiver = new LogReceiver();
let sidecar: Sidecar;
let server: Server;
let opa: ChildProcess | undefined;
let opaOut = '';

before(async () => {
  await receiver.start();
  sidecar = await testSidecar({ decisionLogsUrl: receiver.url, decisionLogsMinDelayMs: 50, decisionLogsMaxDelayMs: 500, decisionLogsSpillDir: '' });
  server = createServer(sidecar.app).listen(0, '127.0.0.1');
  await once(server, 'listening');
});

after(async () => {
  opa?.kill();
  server?.close();
  await sidecar?.close();
  await receiver.stop();
});

/**
 * The committed bundle's policy for the opa interpreter. The bundle's policy.wasm needs
 * an opa built with a WASM engine, which the pinned one is not; so the bundle's own
 * revision, roots and data go with the Rego sources it was built from (which
 * test/policy/parity.test.ts holds equal to the WASM).
 */
async function interpreterBundle(): Promise<string> {
  const bundle = await readBundleFile('bundles/portkey.tar.gz');
  const dir = mkdtempSync(join(tmpdir(), 'opa-compat-'));
  const bundleDir = join(dir, 'bundle');
  mkdirSync(bundleDir);
  writeFileSync(join(bundleDir, '.manifest'), JSON.stringify({ revision: bundle.manifest.revision, roots: bundle.manifest.roots ?? [''] }));
  writeFileSync(join(bundleDir, 'data.json'), JSON.stringify(bundle.data));
  for (const name of readdirSync('policies')) if (name.endsWith('.rego') && !name.endsWith('_test.rego')) copyFileSync(join('policies', name), join(bundleDir, name));
  return bundleDir;
}

async function startOpa(port: number): Promise<void> {
  const bundleDir = await interpreterBundle();
  const configFile = join(bundleDir, '..', 'opa.yaml');
  writeFileSync(
    configFile,
    JSON.stringify({
      services: { logs: { url: `http://127.0.0.1:${receiver.port}` } },
      decision_logs: { service: 'logs', console: true, reporting: { min_delay_seconds: 1, max_delay_seconds: 2 } },
    }),
  );
  opa = spawn(OPA, ['run', '--server', '--addr', `127.0.0.1:${port}`, '-c', configFile, '-b', bundleDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  opa.stdout!.on('data', (chunk: Buffer) => (opaOut += chunk.toString()));
  opa.stderr!.on('data', (chunk: Buffer) => (opaOut += chunk.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${port}/health?bundles`).then((r) => r.ok, () => false);
    if (ready) return;
    if (opa.exitCode !== null || Date.now() > deadline) throw new Error(`opa did not start:\n${opaOut}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function ask(base: string, input: unknown): Promise<{ result: unknown; decision_id: string }> {
  const response = await fetch(`${base}/v1/data/portkey/authz/allow`, { method: 'POST', body: JSON.stringify({ input }) });
  assert.equal(response.status, 200);
  return (await response.json()) as { result: unknown; decision_id: string };
}

const jsonType = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

test('an event of Portcullis has every field of the pinned opa\'s event, with the same types, path, input and result', async () => {
  const { port } = server.address() as { port: number };
  const ours = await ask(`http://127.0.0.1:${port}`, decisionRequest({ orgRole: 'member', workspaceRoles: { 'ws-1': 'manager' } }));
  await receiver.until(() => receiver.events.some((event) => event.decision_id === ours.decision_id));
  const portcullis = receiver.events.find((event) => event.decision_id === ours.decision_id)!;

  // OPA is asked exactly what Portcullis's policy saw (the request plus the sidecar's settings).
  const opaPort = await freePort();
  await startOpa(opaPort);
  const theirs = await ask(`http://127.0.0.1:${opaPort}`, portcullis.input);
  assert.equal(theirs.result, ours.result);
  await receiver.until(() => receiver.events.some((event) => event.decision_id === theirs.decision_id));
  const reference = receiver.events.find((event) => event.decision_id === theirs.decision_id)!;

  for (const [key, value] of Object.entries(reference)) {
    assert.ok(Object.hasOwn(portcullis, key), `Portcullis's event lacks OPA's "${key}"`);
    assert.equal(jsonType(portcullis[key]), jsonType(value), `"${key}" is a ${jsonType(value)} in OPA's event`);
  }
  assert.equal(portcullis.path, reference.path);
  assert.deepEqual(portcullis.input, reference.input);
  assert.deepEqual(portcullis.result, reference.result);
  assert.equal(typeof (portcullis.metrics as Record<string, unknown>).timer_server_handler_ns, 'number');
  assert.deepEqual(Object.keys(portcullis.bundles as object), ['portkey']);
  assert.equal((portcullis.bundles as Record<string, { revision: string }>).portkey!.revision, Object.values(reference.bundles as Record<string, { revision: string }>)[0]!.revision);
  const labels = portcullis.labels as Record<string, string>;
  assert.ok(labels.id && labels.version, 'labels id and version');
  assert.ok(!Number.isNaN(Date.parse(String(portcullis.timestamp))));

  // The uploads themselves: gzip, JSON, as OPA sends them.
  for (const upload of receiver.uploads) {
    assert.equal(upload.headers['content-encoding'], 'gzip');
    assert.match(String(upload.headers['content-type']), /^application\/json/);
  }

  // The console line: OPA's fields, with Portcullis's event in them.
  const opaLine = opaOut.split('\n').map((line) => (line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : {})).find((line) => line.msg === 'Decision Log' && line.decision_id === theirs.decision_id);
  assert.ok(opaLine, `opa printed no console decision log:\n${opaOut}`);
  const ourLine = JSON.parse(consoleLine(portcullis as unknown as DecisionEvent, new Date())) as Record<string, unknown>;
  for (const [key, value] of Object.entries(opaLine)) {
    assert.ok(Object.hasOwn(ourLine, key), `the console line lacks OPA's "${key}"`);
    assert.equal(jsonType(ourLine[key]), jsonType(value), `console "${key}" is a ${jsonType(value)} in OPA's line`);
  }
  assert.equal(ourLine.msg, 'Decision Log');
  assert.equal(ourLine.type, opaLine.type);
});
