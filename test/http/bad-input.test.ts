// Every class of malformed decision request gets a 400 {code, message, errors} that
// names the field — never a 500, never a decision.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import request from 'supertest';
import type { Sidecar } from '../../src/sidecar.ts';
import { decisionRequest, testSidecar } from '../support/sidecar.ts';

let sidecar: Sidecar;
before(async () => (sidecar = await testSidecar()));
after(() => sidecar.close());

const valid = decisionRequest();
const without = (path: string) => {
  const copy = structuredClone(valid) as Record<string, any>;
  const keys = path.split('.');
  const last = keys.pop()!;
  delete keys.reduce((o, k) => o[k], copy)[last];
  return copy;
};
const withValue = (path: string, value: unknown) => {
  const copy = structuredClone(valid) as Record<string, any>;
  const keys = path.split('.');
  const last = keys.pop()!;
  keys.reduce((o, k) => o[k], copy)[last] = value;
  return copy;
};

const CASES: Array<[string, unknown, string[]]> = [
  ['missing principal', without('principal'), ['principal', 'principal.id', 'principal.orgId', 'principal.orgRole']],
  ['missing principal id', without('principal.id'), ['principal.id']],
  ['empty principal id', withValue('principal.id', ''), ['principal.id']],
  ['numeric principal id', withValue('principal.id', 42), ['principal.id']],
  ['missing principal orgId', without('principal.orgId'), ['principal.orgId']],
  ['unknown org role', withValue('principal.orgRole', 'superuser'), ['principal.orgRole']],
  ['org role of the wrong case', withValue('principal.orgRole', 'Owner'), ['principal.orgRole']],
  ['workspace roles as an array', withValue('principal.workspaceRoles', ['ws-1']), ['principal.workspaceRoles']],
  ['unknown workspace role', withValue('principal.workspaceRoles', { 'ws-1': 'owner' }), ['principal.workspaceRoles.ws-1']],
  ['missing action', without('action'), ['action']],
  ['unknown action', withValue('action', 'approve'), ['action']],
  ['action of the wrong type', withValue('action', ['create']), ['action']],
  ['missing resource', without('resource'), ['resource', 'resource.type', 'resource.orgId', 'resource.workspaceId']],
  ['unknown resource type', withValue('resource.type', 'server'), ['resource.type']],
  ['missing resource orgId', without('resource.orgId'), ['resource.orgId']],
  ['missing workspace id', without('resource.workspaceId'), ['resource.workspaceId']],
  ['null workspace id', withValue('resource.workspaceId', null), ['resource.workspaceId']],
  ['over-long workspace id', withValue('resource.workspaceId', 'w'.repeat(300)), ['resource.workspaceId']],
  ['resource id of the wrong type', withValue('resource.id', 7), ['resource.id']],
  ['an array body', [valid], ['body']],
  ['a string body', 'allow me', ['body']],
  ['null body', null, ['body']],
];

for (const [name, body, fields] of CASES) {
  test(`400 naming the field: ${name}`, async () => {
    const res = await request(sidecar.app).post('/v1/authorize').set('Content-Type', 'application/json').send(JSON.stringify(body)).expect(400);
    assert.equal(res.body.code, 'invalid_parameter');
    assert.deepEqual(res.body.errors.map((e: { field: string }) => e.field), fields);
    for (const field of fields) assert.ok(res.body.message.includes(field), `message names ${field}: ${res.body.message}`);
    assert.equal(res.body.allow, undefined);
  });
}

test('400 for a body that is not JSON', async () => {
  const res = await request(sidecar.app).post('/v1/authorize').set('Content-Type', 'application/json').send('{"principal": ').expect(400);
  assert.equal(res.body.code, 'invalid_json');
  assert.match(res.body.message, /not valid JSON/);
});

test('400 for an empty body, naming what is required', async () => {
  const res = await request(sidecar.app).post('/v1/authorize').expect(400);
  assert.deepEqual(res.body.errors.map((e: { field: string }) => e.field).slice(0, 3), ['principal', 'resource', 'principal.id']);
});

test('400 for a body over the size limit', async () => {
  const huge = { ...valid, padding: 'x'.repeat(100 * 1024) };
  const res = await request(sidecar.app).post('/v1/authorize').send(huge).expect(400);
  assert.equal(res.body.code, 'request_too_large');
  assert.match(res.body.message, /64kb/);
});

test('the OPA API names fields under input.', async () => {
  const res = await request(sidecar.app).post('/v1/data/portkey/authz/allow').send({ input: withValue('action', 'approve') }).expect(400);
  assert.deepEqual(res.body.errors.map((e: { field: string }) => e.field), ['input.action']);
  const missing = await request(sidecar.app).post('/v1/data/portkey/authz/allow').send({}).expect(400);
  assert.equal(missing.body.errors[0].field, 'input');
});

test('unknown routes are a 404 in the error shape', async () => {
  const res = await request(sidecar.app).post('/v1/authorise').send(valid).expect(404);
  assert.equal(res.body.code, 'resource_not_found');
});
