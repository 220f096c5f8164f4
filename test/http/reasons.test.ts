// GET /v1/reasons: the policy's sentence for each reason code, from the live engine's
// messages entrypoint, public like /v1/families. Its sentence is the one a decision answers
// with; a bundle built without the entrypoint serves an empty map rather than failing to load.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import request from 'supertest';
import { readBundle } from '../../src/engine/bundle.ts';
import { PolicyEngine } from '../../src/engine/engine.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { decisionRequest, testSidecar } from '../support/sidecar.ts';

const OPA = process.env.OPA_BIN ?? '.cache/bin/opa';
let sidecar: Sidecar;

before(async () => {
  sidecar = await testSidecar();
});

after(() => sidecar.close());

test('GET /v1/reasons serves, without a token, the sentence /v1/authorize answers for a reason', async () => {
  const res = await request(sidecar.app).get('/v1/reasons').expect(200);
  assert.equal(res.body.bundleRevision, sidecar.policy.current!.revision);
  // The default settings do not let managers write MCP servers.
  const decision = await request(sidecar.app).post('/v1/authorize').send(decisionRequest()).expect(200);
  assert.equal(decision.body.reason, 'manager_write_disabled');
  assert.equal(typeof decision.body.message, 'string');
  assert.equal(res.body.reasons.manager_write_disabled, decision.body.message);
  assert.ok(Object.keys(res.body.reasons).length >= 10, JSON.stringify(res.body.reasons));
  await request(sidecar.app).post('/v1/reasons').send({}).expect(405);
});

test('a bundle without the messages entrypoint loads and has no sentences', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-reasons-'));
  try {
    const source = join(dir, 'policies');
    await cp('policies', source, { recursive: true, filter: (path) => !path.endsWith('_test.rego') });
    // opa build compiles every rule annotated `entrypoint: true`: take the mark off messages.
    const authz = join(source, 'authz.rego');
    const text = await readFile(authz, 'utf8');
    const unmarked = text.replace('# entrypoint: true\nmessages :=', 'messages :=');
    assert.notEqual(unmarked, text, 'authz.rego marks messages as an entrypoint');
    await writeFile(authz, unmarked);
    const out = join(dir, 'bundle.tar.gz');
    await promisify(execFile)(
      OPA,
      ['build', '-t', 'wasm', '-e', 'portkey/authz/decision', '-e', 'portkey/authz/allow', '--revision', 'no-messages', '-o', out, '.'],
      { cwd: source },
    );
    const engine = await PolicyEngine.load(await readBundle(await readFile(out)));
    assert.ok(!engine.entrypoints.includes('portkey/authz/messages'));
    assert.deepEqual(engine.reasons, {});
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
