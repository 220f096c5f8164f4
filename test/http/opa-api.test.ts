// The OPA-compatible API, proven with a real OPA client (@styra/opa) against the sidecar
// on a real socket, and by the wire shapes of OPA's REST API.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { OPAClient } from '@styra/opa';
import { OpaApiClient } from '@styra/opa/sdk/sdk.js';
import request from 'supertest';
import type { Sidecar } from '../../src/sidecar.ts';
import { decisionRequest, servedTestSidecar } from '../support/sidecar.ts';

let sidecar: Sidecar;
let url: string;
let close: () => Promise<void>;
before(
  async () => ({ sidecar, url, close } = await servedTestSidecar((s) => s.store.putOrg('org-1', 'integration-access', { managersWriteMcpServers: false }))),
);
after(() => close());

const manager = decisionRequest();
const owner = decisionRequest({ orgRole: 'owner', workspaceRoles: {} });

test('@styra/opa evaluate reads allow and decision', async () => {
  const client = new OPAClient(url);
  assert.equal(await client.evaluate('portkey/authz/allow', manager), false);
  assert.equal(await client.evaluate('portkey/authz/allow', owner), true);
  const decision = await client.evaluate<typeof manager, Record<string, unknown>>('portkey/authz/decision', manager);
  assert.deepEqual([decision.allow, decision.reason, decision.setting, decision.source], [false, 'manager_write_disabled', 'managersWriteMcpServers', 'org']);
});

test('@styra/opa evaluateBatch gets one result per input', async () => {
  const client = new OPAClient(url);
  const results = await client.evaluateBatch('portkey/authz/allow', { manager, owner });
  assert.deepEqual(results, { manager: false, owner: true });
});

test('@styra/opa surfaces a bad input as a client error naming the field', async () => {
  const client = new OPAClient(url);
  await assert.rejects(client.evaluate('portkey/authz/allow', { ...manager, action: 'approve' }), (error: Error) => {
    assert.match(error.message + JSON.stringify(error), /input\.action/);
    return true;
  });
});

test('@styra/opa health reports the server up once a bundle is active', async () => {
  const sdk = new OpaApiClient({ serverURL: url });
  const health = await sdk.health(true);
  assert.equal(health.httpMeta.response.status, 200);
});

test('the data API answers in OPA shapes: result and decision_id', async () => {
  const res = await request(url).post('/v1/data/portkey/authz/decision?provenance').send({ input: manager }).expect(200);
  assert.deepEqual(Object.keys(res.body).sort(), ['decision_id', 'provenance', 'result']);
  assert.equal(res.body.result.reason, 'manager_write_disabled');
  assert.equal(res.body.provenance.bundles.portkey.revision, sidecar.policy.current!.revision);
  // As OPA 1.x answers a path with no rule: 200 with a decision id and nothing else.
  const unknown = await request(url).post('/v1/data/portkey/authz/everything').send({ input: manager }).expect(200);
  assert.deepEqual(Object.keys(unknown.body), ['decision_id']);
  const get = await request(url).get('/v1/data/portkey/authz/allow').expect(400);
  assert.deepEqual([get.body.errors[0].field, get.body.errors[0].code], ['input', 'missing_field']);
  const viaQuery = await request(url)
    .get(`/v1/data/portkey/authz/decision?input=${encodeURIComponent(JSON.stringify(manager))}`)
    .expect(200);
  assert.equal(viaQuery.body.result.reason, 'manager_write_disabled');
  const trailing = await request(url).post('/v1/data/portkey/authz/allow').set('Content-Type', 'application/json').send('{"input": {}}\n  }').expect(400);
  assert.deepEqual(trailing.body.errors[0], {
    field: 'body',
    code: 'invalid_json',
    message: trailing.body.errors[0].message,
    location: { file: 'request body', row: 2, col: 3 },
  });
  const badQuery = await request(url).get('/v1/data/portkey/authz/allow?input=%7B%22a%22%3A%7D').expect(400);
  assert.deepEqual([badQuery.body.code, badQuery.body.errors[0].code], ['invalid_json', 'invalid_json']);
});

test('batch: common_input merges, a bad item fails alone with 207', async () => {
  const res = await request(url)
    .post('/v1/batch/data/portkey/authz/decision')
    .send({
      common_input: { principal: manager.principal, resource: manager.resource },
      inputs: { read: { action: 'read' }, write: { action: 'create' }, bad: { action: 'approve' } },
    })
    .expect(207);
  assert.match(res.body.batch_decision_id, /^[0-9a-f-]{36}$/);
  assert.equal(res.body.responses.read.result.reason, 'workspace_read');
  assert.equal(res.body.responses.write.result.reason, 'manager_write_disabled');
  assert.equal(res.body.responses.write.http_status_code, '200');
  assert.deepEqual([res.body.responses.bad.code, res.body.responses.bad.http_status_code], ['invalid_parameter', '500']);
  assert.deepEqual(
    res.body.responses.bad.errors.map((e: { code: string; field: string }) => [e.code, e.field]),
    [['invalid_value', 'inputs.bad.action']],
  );
  const all = await request(url)
    .post('/v1/batch/data/portkey/authz/allow')
    .send({ inputs: { a: owner } })
    .expect(200);
  assert.equal(all.body.responses.a.result, true);
  await request(url)
    .post('/v1/batch/data/portkey/authz/allow')
    .send({ inputs: [owner] })
    .expect(400);
});

test('batch: common_input copied into many inputs is bounded; an input id "__proto__" is answered like any other', async () => {
  const workspaceRoles = Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`ws-${i}`, 'member']));
  const inputs = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [String(i), {}]));
  const amplified = await request(url)
    .post('/v1/batch/data/portkey/authz/allow')
    .send({ common_input: { ...manager, principal: { ...manager.principal, workspaceRoles } }, inputs })
    .expect(400);
  assert.equal(amplified.body.errors[0].field, 'common_input');
  const proto = await request(url)
    .post('/v1/batch/data/portkey/authz/allow')
    .set('Content-Type', 'application/json')
    .send(`{"inputs": {"a": ${JSON.stringify(owner)}, "__proto__": ${JSON.stringify(manager)}}}`)
    .expect(200);
  assert.ok(Object.hasOwn(proto.body.responses, '__proto__'));
  assert.equal(proto.body.responses.__proto__.result, false);
});

test('health, readiness, status and metrics', async () => {
  await request(url).get('/health').expect(200, {});
  await request(url).get('/health?bundles').expect(200, {});
  const ready = await request(url).get('/health/ready').expect(200);
  assert.deepEqual(ready.body.checks, { bundle: true, engine: true, settingsStore: true });
  const status = await request(url).get('/v1/status').expect(200);
  assert.equal(status.body.bundle.revision, sidecar.policy.current!.revision);
  const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  assert.equal(status.body.version, version);
  await request(url).post('/v1/authorize').send(manager).expect(200);
  const metrics = await request(url).get('/metrics').expect(200);
  assert.match(metrics.text, /portcullis_decisions_total\{api="authorize",allow="false",reason="manager_write_disabled"\} [1-9]/);
  assert.match(metrics.text, new RegExp(`portcullis_bundle_info\\{revision="${sidecar.policy.current!.revision}"\\} 1`));
  assert.match(metrics.text, /portcullis_decision_duration_seconds_bucket/);
  assert.match(metrics.text, new RegExp(`portcullis_build_info\\{version="${version.replaceAll('.', '\\.')}",nodejs="${process.versions.node}"\\} 1`));
});

test("a data path named like an object's own members (__proto__, constructor, hasOwnProperty) is a path with no rule, never a 5xx or a decision", async () => {
  for (const name of ['__proto__', 'constructor', 'hasOwnProperty', 'valueOf', 'toString']) {
    const data = await request(sidecar.app).post(`/v1/data/${name}`).send({ input: owner });
    assert.equal(data.status, 200, `${name}: ${data.text}`);
    assert.deepEqual(Object.keys(data.body), ['decision_id'], name);
    const batch = await request(sidecar.app)
      .post(`/v1/batch/data/${name}`)
      .send({ inputs: { a: owner } });
    assert.equal(batch.status, 200, `${name}: ${batch.text}`);
    assert.equal(batch.body.responses.a.result, undefined, name);
  }
});
