// /health/ready tells the truth about the engine: it evaluates a canary decision (an
// owner reading in their own organization) on the active engine and answers 503 naming
// the engine check when the engine cannot answer it, or answers it wrong. The broken
// bundles are real ones, built by the opa CLI from an edited copy of policies/, that
// load (they evaluate the empty input) but fail on the canary.
import assert from 'node:assert/strict';
import { copyFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import type { Config } from '../../src/config.ts';
import { createSidecar, type Sidecar } from '../../src/sidecar.ts';
import { buildBundle, tempDir } from '../faults/support.ts';
import { decisionRequest, serve, testConfig } from '../support/sidecar.ts';

/** Two values for `setting_fields` when the principal is an owner: every owner decision is an evaluation error. */
const ownersConflict = (rego: string) =>
  rego.replace(
    'default setting_fields := {}\n',
    'default setting_fields := {}\n\nsetting_fields := {"broken": 1} if input.principal.orgRole == "owner"\n\nsetting_fields := {"broken": 2} if input.principal.orgRole == "owner"\n',
  );

/** Owners and admins lose their grant: the canary is answered, wrongly. */
const ownersDenied = (rego: string) => rego.replace('allowing_reasons := {"org_admin", "workspace_read",', 'allowing_reasons := {"workspace_read",');

type Started = { sidecar: Sidecar; url: string };

async function start(t: { after(fn: () => Promise<void>): void }, overrides: Partial<Config>): Promise<Started> {
  const config = testConfig({ bundleWatch: false, ...overrides });
  const sidecar = await createSidecar(config, pino({ level: 'silent' }));
  const served = await serve(sidecar, config);
  t.after(() => served.close());
  return { sidecar, url: served.url };
}

async function ready(url: string): Promise<{ status: number; body: { ready: boolean; checks: Record<string, boolean> } }> {
  const response = await fetch(`${url}/health/ready`);
  return { status: response.status, body: (await response.json()) as { ready: boolean; checks: Record<string, boolean> } };
}

async function authorize(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/v1/authorize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const owner = decisionRequest({ orgRole: 'owner', workspaceRoles: {}, action: 'read' });
const member = decisionRequest({ workspaceRoles: { 'ws-1': 'member' }, action: 'read' });

test('200 with every check true when the engine answers the canary', async (t) => {
  const { url } = await start(t, {});
  assert.deepEqual(await ready(url), { status: 200, body: { ready: true, checks: { bundle: true, engine: true, settingsStore: true } } });
});

test('503 naming the engine when the canary evaluation fails; liveness stays OPA-shaped', async (t) => {
  const { sidecar, url } = await start(t, { bundlePath: await buildBundle(await tempDir(t), { revision: 'owners-conflict', edit: ownersConflict }) });
  assert.equal(sidecar.policy.current?.revision, 'owners-conflict');
  for (let probe = 0; probe < 3; probe++) {
    assert.deepEqual(await ready(url), { status: 503, body: { ready: false, checks: { bundle: true, engine: false, settingsStore: true } } });
  }
  // Each failed canary discarded its instance; the engine still answers what it can.
  assert.equal((await sidecar.metrics.engineRebuilds.get()).values[0]?.value, 3);
  const read = await authorize(url, member);
  assert.deepEqual([read.status, read.body.reason], [200, 'workspace_read']);
  assert.notEqual((await authorize(url, owner)).status, 200);
  const health = await fetch(`${url}/health`);
  assert.deepEqual([health.status, await health.json()], [200, {}]);
});

test('503 naming the engine when the canary is answered wrongly', async (t) => {
  const { url } = await start(t, { bundlePath: await buildBundle(await tempDir(t), { revision: 'owners-denied', edit: ownersDenied }) });
  const denied = await authorize(url, owner);
  assert.deepEqual([denied.status, denied.body.allow], [200, false]);
  assert.deepEqual(await ready(url), { status: 503, body: { ready: false, checks: { bundle: true, engine: false, settingsStore: true } } });
});

test('readiness follows the active bundle: 503 while a broken one is active, 200 again once a good one replaces it', async (t) => {
  const dir = await tempDir(t);
  const [good, broken] = await Promise.all([buildBundle(dir, { revision: 'good' }), buildBundle(dir, { revision: 'owners-conflict', edit: ownersConflict })]);
  const active = join(dir, 'active.tar.gz');
  await copyFile(good, active);
  const { sidecar, url } = await start(t, { bundlePath: active, bundleWatch: true });
  assert.equal((await ready(url)).status, 200);

  const swapTo = async (path: string, revision: string) => {
    // Replaced by rename, as a deploy would, so the watcher never reads half a file.
    await copyFile(path, `${active}.tmp`);
    await rename(`${active}.tmp`, active);
    const deadline = Date.now() + 20_000;
    while (sidecar.policy.current?.revision !== revision) {
      if (Date.now() > deadline) throw new Error(`bundle ${revision} not activated within 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  await swapTo(broken, 'owners-conflict');
  assert.deepEqual((await ready(url)).body.checks, { bundle: true, engine: false, settingsStore: true });
  await swapTo(good, 'good');
  assert.deepEqual(await ready(url), { status: 200, body: { ready: true, checks: { bundle: true, engine: true, settingsStore: true } } });
});
