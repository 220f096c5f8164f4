// Portcullis's decision-log events against the real thing: the pinned `opa run --server`
// uploads its event for a question to a local receiver, Portcullis uploads its own for
// the same question to the same receiver, and the two are compared field by field (and
// OPA's console line with Portcullis's). Where Portcullis answers differently on purpose
// (docs/decision-logs-compat.md), the test pins what each server does.
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
let ourBase: string;
let opaBase: string;

before(async () => {
  await receiver.start();
  sidecar = await testSidecar({ decisionLogsUrl: receiver.url, decisionLogsMinDelayMs: 50, decisionLogsMaxDelayMs: 500, decisionLogsSpillDir: '' });
  server = createServer(sidecar.app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  ourBase = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const opaPort = await freePort();
  await startOpa(opaPort);
  opaBase = `http://127.0.0.1:${opaPort}`;
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
  for (const name of readdirSync('policies'))
    if (name.endsWith('.rego') && !name.endsWith('_test.rego')) copyFileSync(join('policies', name), join(bundleDir, name));
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
    const ready = await fetch(`http://127.0.0.1:${port}/health?bundles`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    if (opa.exitCode !== null || Date.now() > deadline) throw new Error(`opa did not start:\n${opaOut}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function ask(base: string, input: unknown, path = 'portkey/authz/allow'): Promise<{ result: unknown; decision_id: string }> {
  const response = await fetch(`${base}/v1/data/${path}`, { method: 'POST', body: JSON.stringify({ input }) });
  assert.equal(response.status, 200);
  return (await response.json()) as { result: unknown; decision_id: string };
}

async function eventOf(decisionId: string): Promise<Record<string, unknown>> {
  await receiver.until(() => receiver.events.some((event) => event.decision_id === decisionId));
  return receiver.events.find((event) => event.decision_id === decisionId)!;
}

/** Portcullis's event for a request and the input its policy saw, then OPA's answer and event for that same input. */
async function bothAsk(
  path: string,
  request: unknown,
): Promise<{
  ours: { result: unknown; decision_id: string };
  theirs: { result: unknown; decision_id: string };
  portcullis: Record<string, unknown>;
  reference: Record<string, unknown>;
}> {
  const ours = await ask(ourBase, request, path);
  const portcullis = await eventOf(ours.decision_id);
  const theirs = await ask(opaBase, portcullis.input, path);
  return { ours, theirs, portcullis, reference: await eventOf(theirs.decision_id) };
}

/** Go's time.RFC3339Nano in UTC: a fraction only when not zero, and never with a trailing zero. */
const RFC3339_NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$/;
const manager = () => decisionRequest({ orgRole: 'member', workspaceRoles: { 'ws-1': 'manager' } });

const jsonType = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

test("an event of Portcullis has every field of the pinned opa's event, with the same types, path, input and result", async () => {
  // OPA is asked exactly what Portcullis's policy saw (the request plus the sidecar's settings).
  const { ours, theirs, portcullis, reference } = await bothAsk('portkey/authz/allow', manager());
  assert.equal(theirs.result, ours.result);

  for (const [key, value] of Object.entries(reference)) {
    assert.ok(Object.hasOwn(portcullis, key), `Portcullis's event lacks OPA's "${key}"`);
    assert.equal(jsonType(portcullis[key]), jsonType(value), `"${key}" is a ${jsonType(value)} in OPA's event`);
  }
  assert.equal(portcullis.path, reference.path);
  assert.deepEqual(portcullis.input, reference.input);
  assert.deepEqual(portcullis.result, reference.result);
  assert.equal(typeof (portcullis.metrics as Record<string, unknown>).timer_server_handler_ns, 'number');
  assert.deepEqual(Object.keys(portcullis.bundles as object), ['portkey']);
  assert.equal(
    (portcullis.bundles as Record<string, { revision: string }>).portkey!.revision,
    Object.values(reference.bundles as Record<string, { revision: string }>)[0]!.revision,
  );
  const labels = portcullis.labels as Record<string, string>;
  assert.ok(labels.id && labels.version, 'labels id and version');
  assert.ok(!Number.isNaN(Date.parse(String(portcullis.timestamp))));

  // The uploads themselves: gzip, JSON, as OPA sends them.
  for (const upload of receiver.uploads) {
    assert.equal(upload.headers['content-encoding'], 'gzip');
    assert.match(String(upload.headers['content-type']), /^application\/json/);
  }

  // The console line: OPA's fields, with Portcullis's event in them.
  const opaLine = opaOut
    .split('\n')
    .map((line) => (line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : {}))
    .find((line) => line.msg === 'Decision Log' && line.decision_id === theirs.decision_id);
  assert.ok(opaLine, `opa printed no console decision log:\n${opaOut}`);
  const ourLine = JSON.parse(consoleLine(portcullis as unknown as DecisionEvent, new Date())) as Record<string, unknown>;
  for (const [key, value] of Object.entries(opaLine)) {
    assert.ok(Object.hasOwn(ourLine, key), `the console line lacks OPA's "${key}"`);
    assert.equal(jsonType(ourLine[key]), jsonType(value), `console "${key}" is a ${jsonType(value)} in OPA's line`);
  }
  assert.equal(ourLine.msg, 'Decision Log');
  assert.equal(ourLine.type, opaLine.type);
});

test("the decision document is OPA's, message included; the timers Portcullis measures are OPA's names; timestamps are RFC3339Nano", async () => {
  const { ours, theirs, portcullis, reference } = await bothAsk('portkey/authz/decision', manager());
  const { decisionId: _id, bundleRevision: _revision, ...document } = ours.result as Record<string, unknown>;
  assert.deepEqual(document, theirs.result);
  assert.deepEqual(portcullis.result, reference.result);
  assert.equal(typeof (portcullis.result as { message: unknown }).message, 'string');

  const ourMetrics = portcullis.metrics as Record<string, number>;
  const opaMetrics = reference.metrics as Record<string, number>;
  for (const name of ['timer_server_handler_ns', 'timer_rego_input_parse_ns', 'timer_rego_query_eval_ns']) {
    assert.ok(Object.hasOwn(opaMetrics, name), `OPA reports ${name}`);
    assert.ok(Number.isInteger(ourMetrics[name]) && ourMetrics[name]! > 0, `Portcullis measures ${name}: ${JSON.stringify(ourMetrics)}`);
  }
  for (const name of Object.keys(ourMetrics)) assert.ok(Object.hasOwn(opaMetrics, name), `Portcullis's ${name} is not a metric OPA reports`);
  // Evaluating takes part of the handler's time, in both.
  assert.ok(ourMetrics.timer_rego_query_eval_ns! <= ourMetrics.timer_server_handler_ns!);

  assert.match(String(reference.timestamp), RFC3339_NANO);
  assert.match(String(portcullis.timestamp), RFC3339_NANO);
  assert.ok(Math.abs(Date.parse(String(portcullis.timestamp)) - Date.now()) < 10 * 60_000, 'the timestamp is now, in UTC');
});

test('a data path with no rule: both answer only a decision id and log an event with the input and no result', async () => {
  const input = manager();
  const answers = await Promise.all(
    [ourBase, opaBase].map(async (base) => {
      const response = await fetch(`${base}/v1/data/portkey/authz/nothing`, { method: 'POST', body: JSON.stringify({ input }) });
      assert.equal(response.status, 200);
      return (await response.json()) as Record<string, unknown>;
    }),
  );
  for (const answer of answers) assert.deepEqual(Object.keys(answer), ['decision_id']);
  const [portcullis, reference] = await Promise.all(answers.map((answer) => eventOf(String(answer.decision_id))));
  for (const event of [portcullis!, reference!]) {
    assert.equal(event.path, 'portkey/authz/nothing');
    assert.ok(!Object.hasOwn(event, 'result'));
    assert.deepEqual(event.input, input);
  }
});

test("req_id numbers the server's HTTP requests, not its events, in both", async () => {
  for (const base of [ourBase, opaBase]) {
    const first = await ask(base, manager());
    assert.equal((await fetch(`${base}/health`)).status, 200);
    const second = await ask(base, manager());
    const [a, b] = [await eventOf(first.decision_id), await eventOf(second.decision_id)];
    assert.equal(Number(b.req_id) - Number(a.req_id), 2, `${base}: req_id ${String(a.req_id)} then ${String(b.req_id)}`);
  }
});

test('missing or invalid input: OPA evaluates and logs invalid_input; Portcullis refuses with a 400 that names the field', async () => {
  const reference = await fetch(`${opaBase}/v1/data/portkey/authz/decision`, { method: 'POST', body: JSON.stringify({ input: 'x' }) });
  assert.equal(reference.status, 200);
  assert.equal(((await reference.json()) as { result: { reason: string } }).result.reason, 'invalid_input');
  const ours = await fetch(`${ourBase}/v1/data/portkey/authz/decision`, { method: 'POST', body: JSON.stringify({ input: 'x' }) });
  assert.equal(ours.status, 400);
  const body = (await ours.json()) as { errors: Array<{ field: string }> };
  assert.equal(body.errors[0]!.field, 'input');
  const missing = await fetch(`${ourBase}/v1/data/portkey/authz/decision`, { method: 'POST', body: '{}' });
  assert.equal(missing.status, 400);
});

test("a batch's events carry the batch's batch_decision_id (stock OPA has no batch API)", async () => {
  assert.equal((await fetch(`${opaBase}/v1/batch/data/portkey/authz/decision`, { method: 'POST', body: '{"inputs": {}}' })).status, 404);
  const response = await fetch(`${ourBase}/v1/batch/data/portkey/authz/decision`, {
    method: 'POST',
    body: JSON.stringify({ inputs: { a: manager(), b: manager() } }),
  });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { batch_decision_id: string; responses: Record<string, { decision_id: string }> };
  const events = await Promise.all(Object.values(body.responses).map((item) => eventOf(item.decision_id)));
  assert.deepEqual(
    events.map((event) => event.batch_decision_id),
    [body.batch_decision_id, body.batch_decision_id],
  );
  assert.equal(events[0]!.req_id, events[1]!.req_id, 'one request, one req_id');
});
