// An engine that cannot stay broken: evaluations forced to abort inside the WASM, below
// the edge validation (opa-wasm aborts on a lone surrogate), each throw EvaluationError
// after the instance is rebuilt, and the engine keeps answering correctly. Before the
// rebuild, about a thousand aborts corrupted the instance for good.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { readBundleFile } from '../../src/engine/bundle.ts';
import { EvaluationError, PolicyEngine } from '../../src/engine/engine.ts';
import { createSidecar } from '../../src/sidecar.ts';
import { decisionRequest, serve, testConfig } from '../support/sidecar.ts';

const BUNDLE = 'bundles/portkey.tar.gz';

/** A full policy input: a decision request with the settings the sidecar would add. */
function input(over: Parameters<typeof decisionRequest>[0] = {}, settings: { org: object; workspace: object } = { org: {}, workspace: {} }) {
  return { ...decisionRequest(over), settings };
}

/** Inputs the WASM cannot take, in the places a request puts strings. */
const ABORTING = [
  input({ workspaceId: '\ud800' }),
  input({ orgId: 'org-\udfff' }),
  input({ workspaceRoles: { '\udbff': 'manager' } }),
  { ...input(), principal: { ...input().principal, id: 'u-\ude00' } },
  input({}, { org: { '\ud83d': true }, workspace: {} }),
];

/** Ordinary decisions and their right answers, checked between and after the aborts. */
function assertAnswersCorrectly(engine: PolicyEngine): void {
  assert.deepEqual(engine.decide(input({ orgRole: 'owner', workspaceRoles: {}, action: 'delete' })).reason, 'org_admin');
  assert.equal(engine.decide(input({ workspaceRoles: { 'ws-1': 'member' } })).reason, 'read_only_role');
  const disabled = engine.decide(input({}, { org: { managersWriteMcpServers: false }, workspace: {} }));
  assert.deepEqual([disabled.allow, disabled.reason, disabled.setting, disabled.source], [false, 'manager_write_disabled', 'managersWriteMcpServers', 'org']);
  const overridden = engine.decide(
    input(
      {},
      { org: { managersWriteMcpServers: false, allowWorkspaceOverrides: { managersWriteMcpServers: true } }, workspace: { managersWriteMcpServers: true } },
    ),
  );
  assert.deepEqual([overridden.allow, overridden.source], [true, 'workspace']);
  assert.equal(engine.evaluate('portkey/authz/allow', input({ orgId: 'org-2', principalOrgId: 'org-1', orgRole: 'owner' })), false);
}

test('every forced WASM abort throws EvaluationError, rebuilds the instance, and the next decision is correct', async () => {
  const rebuilds: string[] = [];
  const engine = await PolicyEngine.load(await readBundleFile(BUNDLE), { onRebuild: (reason) => rebuilds.push(reason) });
  const aborts = 1_600; // well past the ~1,000 aborts that used to corrupt the instance
  for (let i = 0; i < aborts; i++) {
    assert.throws(() => engine.decide(ABORTING[i % ABORTING.length]!), EvaluationError);
    assert.equal(rebuilds.length, i + 1);
    if (i % 200 === 0) assertAnswersCorrectly(engine);
  }
  assertAnswersCorrectly(engine);
  assert.equal(rebuilds.length, aborts);
  assert.ok(rebuilds.every((reason) => reason.length > 0));
  // A fresh instance each time: memory does not pile up across rebuilds.
  const fresh = await PolicyEngine.load(await readBundleFile(BUNDLE));
  assert.equal(engine.memoryBytes, fresh.memoryBytes);
});

test('the error says the evaluation failed; it is not a bundle or input error', async () => {
  const engine = await PolicyEngine.load(await readBundleFile(BUNDLE));
  assert.throws(
    () => engine.evaluate('portkey/authz/allow', input({ workspaceId: '\ud800' })),
    (error: Error) => error instanceof EvaluationError && error.name === 'EvaluationError' && /policy evaluation failed/.test(error.message),
  );
  assert.equal(engine.evaluate('portkey/authz/allow', input({ type: 'integration' })), true);
});

test('in a sidecar, each rebuild is counted in portcullis_engine_rebuilds_total and logged once, and decisions go on', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const config = testConfig({ bundleWatch: false });
  const sidecar = await createSidecar(config, pino({ level: 'warn' }, sink));
  const served = await serve(sidecar, config);
  t.after(() => served.close());
  const { url } = served;

  // The active engine itself, as the decider holds it: below the edge validation.
  const engine = sidecar.policy.require();
  for (let i = 0; i < 3; i++) assert.throws(() => engine.decide(ABORTING[i]!), EvaluationError);

  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /^portcullis_engine_rebuilds_total 3$/m);
  const rebuildLogs = lines.map((line) => JSON.parse(line) as { level: number; msg: string; revision: string }).filter((l) => /rebuilt/.test(l.msg));
  assert.equal(rebuildLogs.length, 3);
  assert.ok(
    rebuildLogs.every((l) => l.level === 40 && l.revision === engine.revision),
    JSON.stringify(rebuildLogs),
  );

  const answer = await fetch(`${url}/v1/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(decisionRequest({ type: 'integration' })),
  });
  assert.equal(answer.status, 200);
  assert.equal(((await answer.json()) as { reason: string }).reason, 'manager_write_enabled');
  assert.equal((await fetch(`${url}/health/ready`)).status, 200);
});
