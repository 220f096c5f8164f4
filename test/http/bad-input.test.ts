// Every class of malformed decision request gets a 400 {code, message, errors} that
// names the field — never a 500, never a decision. Ids that the WASM cannot digest
// (lone surrogates, invisible code points) are refused at the edge on every decision API,
// so no flood of them can reach, and wear out, the engine.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import request from 'supertest';
import type { Sidecar } from '../../src/sidecar.ts';
import { decisionRequest, serve, testSidecar } from '../support/sidecar.ts';

let sidecar: Sidecar;
let served: Awaited<ReturnType<typeof serve>>;
let url: string;
before(async () => {
  sidecar = await testSidecar();
  served = await serve(sidecar);
  url = served.url;
});
after(() => served.close());

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
    assert.deepEqual(
      res.body.errors.map((e: { field: string }) => e.field),
      fields,
    );
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
  const res = await request(sidecar.app)
    .post('/v1/data/portkey/authz/allow')
    .send({ input: withValue('action', 'approve') })
    .expect(400);
  assert.deepEqual(
    res.body.errors.map((e: { field: string }) => e.field),
    ['input.action'],
  );
  const missing = await request(sidecar.app).post('/v1/data/portkey/authz/allow').send({}).expect(400);
  assert.equal(missing.body.errors[0].field, 'input');
});

test('unknown routes are a 404 in the error shape', async () => {
  const res = await request(sidecar.app).post('/v1/authorise').send(valid).expect(404);
  assert.equal(res.body.code, 'resource_not_found');
});

// Each value is a string an id must not be, with what the 400 must say about it.
const HOSTILE_IDS: Array<[string, string, RegExp]> = [
  ['a lone high surrogate', 'ws-\ud800', /lone surrogate/],
  ['a lone low surrogate', '\udc00ws', /lone surrogate/],
  ['NUL', 'ws\u0000', /U\+0000/],
  ['CR/LF', 'ws\r\nX-Injected: 1', /U\+000D/],
  ['a zero-width space', 'ws\u200b1', /U\+200B/],
  ['a right-to-left override', '\u202e1-sw', /U\+202E/],
  ['a byte-order mark', '\ufeffws-1', /U\+FEFF/],
  ['the noncharacter U+FFFF', 'ws\uffff', /U\+FFFF/],
  ['a line separator', 'ws\u20281', /U\+2028/],
  ['white space at an end', ' ws-1', /white space/],
  ['257 characters', 'w'.repeat(257), /at most 256/],
  ['the empty string', '', /must not be empty/],
];

const ID_FIELDS = ['principal.id', 'principal.orgId', 'resource.orgId', 'resource.workspaceId', 'resource.id', 'principal.workspaceRoles key'] as const;

/** The ordinary request (a manager creating an MCP server) with one id replaced. */
function withId(field: (typeof ID_FIELDS)[number], value: string) {
  const body = decisionRequest() as ReturnType<typeof decisionRequest> & { resource: { id?: string } };
  if (field === 'principal.id') body.principal.id = value;
  if (field === 'principal.orgId') body.principal.orgId = value;
  if (field === 'resource.orgId') body.resource.orgId = value;
  if (field === 'resource.workspaceId') body.resource.workspaceId = value;
  if (field === 'resource.id') body.resource.id = value;
  if (field === 'principal.workspaceRoles key') body.principal.workspaceRoles = { 'ws-1': 'manager', [value]: 'manager' };
  return body;
}

/** The one field error of a 400 is the expected id field, under `prefix`, saying what is wrong. */
function assertNamesId(
  body: { code: string; message: string; errors: Array<{ field: string; message: string }> },
  prefix: string,
  field: string,
  problem: RegExp,
) {
  assert.equal(body.code, 'invalid_parameter');
  assert.equal(body.errors.length, 1, JSON.stringify(body.errors));
  const [error] = body.errors;
  if (field === 'principal.workspaceRoles key') {
    assert.ok(error!.field.startsWith(`${prefix}principal.workspaceRoles[`), error!.field);
    // The bad key is named, but none of its characters reaches the client as itself.
    assert.match(error!.field, /^[\x20-\x7e]+$/);
  } else {
    assert.equal(error!.field, prefix + field);
  }
  assert.match(error!.message, problem);
  assert.ok(body.message.includes(error!.field), body.message);
}

for (const field of ID_FIELDS) {
  for (const [name, value, problem] of HOSTILE_IDS) {
    test(`${field} holding ${name}: 400 naming it on /v1/authorize, the OPA API and a batch item`, async () => {
      const bad = withId(field, value);
      const authorize = await request(url).post('/v1/authorize').send(bad).expect(400);
      assertNamesId(authorize.body, '', field, problem);

      const data = await request(url).post('/v1/data/portkey/authz/allow').send({ input: bad }).expect(400);
      assertNamesId(data.body, 'input.', field, problem);
      assert.equal(data.body.result, undefined);

      const good = decisionRequest({ type: 'integration' });
      const batch = await request(url).post('/v1/batch/data/portkey/authz/allow').send({ inputs: { good, bad } }).expect(207);
      // The Enterprise-OPA batch API has "200" and "500" only; the code says it was the input.
      assert.deepEqual([batch.body.responses.bad.http_status_code, batch.body.responses.bad.code], ['500', 'invalid_parameter']);
      assertNamesId(batch.body.responses.bad, 'inputs.bad.', field, problem);
      assert.equal(batch.body.responses.good.result, true);
    });
  }
}

// examples/settings.yaml seeds the store: org-1 lets managers write integrations, not
// MCP servers, except in ws-2, whose own value wins.
test('after hostile ids, ordinary decisions are still correct', async () => {
  const manager = await request(url)
    .post('/v1/authorize')
    .send(decisionRequest({ type: 'integration' }))
    .expect(200);
  assert.equal(manager.body.allow, true);
  assert.equal(manager.body.reason, 'manager_write_enabled');
  const disabled = await request(url).post('/v1/authorize').send(decisionRequest()).expect(200);
  assert.deepEqual([disabled.body.allow, disabled.body.reason, disabled.body.source], [false, 'manager_write_disabled', 'org']);
  const overridden = await request(url)
    .post('/v1/authorize')
    .send(decisionRequest({ workspaceId: 'ws-2', workspaceRoles: { 'ws-2': 'admin' } }))
    .expect(200);
  assert.deepEqual([overridden.body.allow, overridden.body.source], [true, 'workspace']);
  const member = await request(url)
    .post('/v1/authorize')
    .send(decisionRequest({ workspaceRoles: { 'ws-1': 'member' } }))
    .expect(200);
  assert.equal(member.body.reason, 'read_only_role');
  const other = await request(url)
    .post('/v1/data/portkey/authz/allow')
    .send({ input: decisionRequest({ workspaceId: 'ws-2' }) })
    .expect(200);
  assert.equal(other.body.result, false);
});

test('2,000 requests with lone surrogates in every position are all 400, and the engine is unharmed', async () => {
  const surrogates = ['\ud800', '\udbff', '\udc00', '\udfff', 'ws-\ud83d', '\ude00-ws'];
  // Every string the parser reads: the ids, a workspace-role key, and the enumerations.
  const positions: Array<(body: Record<string, any>, s: string) => void> = [
    (b, s) => (b.principal.id = s),
    (b, s) => (b.principal.orgId = s),
    (b, s) => (b.principal.orgRole = s),
    (b, s) => (b.principal.workspaceRoles = { [s]: 'manager' }),
    (b, s) => (b.principal.workspaceRoles = { 'ws-1': s }),
    (b, s) => (b.action = s),
    (b, s) => (b.resource.type = s),
    (b, s) => (b.resource.orgId = s),
    (b, s) => (b.resource.workspaceId = s),
    (b, s) => (b.resource = { ...b.resource, id: s }),
  ];
  const total = 2_000;
  const statuses = new Map<string, number>();
  let sent = 0;
  const send = async (i: number) => {
    const body = decisionRequest({ orgRole: ['owner', 'admin', 'member'][i % 3] });
    positions[i % positions.length]!(body, surrogates[i % surrogates.length]!);
    const api = Math.floor(i / positions.length) % 4;
    let status: string;
    if (api === 0) status = String((await post('/v1/authorize', body)).status);
    else if (api === 1) status = String((await post('/v1/data/portkey/authz/decision', { input: body })).status);
    else if (api === 2) {
      const reply = await post('/v1/batch/data/portkey/authz/allow', { inputs: { a: body, b: body } });
      const json = (await reply.json()) as { responses: Record<string, { http_status_code: string }> };
      status = `${reply.status}:${json.responses.a!.http_status_code}:${json.responses.b!.http_status_code}`;
    } else {
      // One bad common_input spoils every item of the batch.
      const reply = await post('/v1/batch/data/portkey/authz/allow', {
        common_input: { principal: body.principal },
        inputs: { a: { action: body.action, resource: body.resource } },
      });
      const json = (await reply.json()) as { responses: Record<string, { http_status_code: string }> };
      status = `${reply.status}:${json.responses.a!.http_status_code}`;
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  };
  const worker = async () => {
    while (sent < total) await send(sent++);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.deepEqual([...statuses.keys()].sort(), ['207:500', '207:500:500', '400'], JSON.stringify([...statuses]));

  const manager = await post('/v1/authorize', decisionRequest({ type: 'integration' }));
  assert.equal(manager.status, 200);
  assert.equal(((await manager.json()) as { allow: boolean }).allow, true);
  const disabled = await post('/v1/authorize', decisionRequest());
  assert.equal(((await disabled.json()) as { reason: string }).reason, 'manager_write_disabled');
  const owner = await post('/v1/data/portkey/authz/allow', { input: decisionRequest({ orgRole: 'owner', workspaceRoles: {}, action: 'delete' }) });
  assert.deepEqual(((await owner.json()) as { result: boolean }).result, true);
  const stranger = await post('/v1/authorize', decisionRequest({ workspaceRoles: {} }));
  assert.equal(((await stranger.json()) as { reason: string }).reason, 'no_workspace_access');
  const ready = await fetch(`${url}/health/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { ready: true, checks: { bundle: true, engine: true, settingsStore: true } });
  // Refused at the edge: not one of them reached the WASM.
  assert.equal((await sidecar.metrics.engineRebuilds.get()).values[0]?.value ?? 0, 0);
});

function post(path: string, body: unknown): Promise<Response> {
  return fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

// ---- strict input: unknown fields are refused, with the nearest known name ----

const UNKNOWN_FIELDS: Array<[string, Record<string, unknown>, string, RegExp]> = [
  [
    'a typo of workspaceRoles',
    { ...valid, principal: { id: 'u-1', orgId: 'org-1', orgRole: 'member', workspaceRole: { 'ws-1': 'manager' } } },
    'principal.workspaceRole',
    /did you mean `workspaceRoles`\?/,
  ],
  ['a plural action', { ...valid, actions: ['read'] }, 'actions', /did you mean `action`\?/],
  ['snake case', { ...valid, resource: { ...valid.resource, workspace_id: 'ws-2' } }, 'resource.workspace_id', /did you mean `workspaceId`\?/],
  ['a different case', { ...valid, principal: { ...valid.principal, OrgRole: 'owner' } }, 'principal.OrgRole', /did you mean `orgRole`\?/],
  ['nothing near', { ...valid, tenant: 'x' }, 'tenant', /expected one of principal, action, resource/],
  ['a key that is not a name', { ...valid, resource: { ...valid.resource, 'a b\u202e': 1 } }, 'resource["a b\\u202e"]', /is not a field here/],
];

for (const [name, body, field, hint] of UNKNOWN_FIELDS) {
  test(`unknown field (${name}): 400 naming ${field} on /v1/authorize, the OPA API and a batch item`, async () => {
    const check = (answer: { code: string; message: string; errors: Array<{ code: string; field: string; message: string }> }, prefix: string) => {
      assert.equal(answer.code, 'invalid_parameter');
      const item = answer.errors.find((e) => e.code === 'unknown_field');
      assert.ok(item, JSON.stringify(answer));
      assert.equal(item.field, prefix + field);
      assert.match(item.message, hint);
      assert.ok(answer.message.includes(`${prefix}${field}: `), answer.message);
    };
    check((await request(url).post('/v1/authorize').send(body).expect(400)).body, '');
    check((await request(url).post('/v1/data/portkey/authz/decision').send({ input: body }).expect(400)).body, 'input.');
    const batch = await request(url)
      .post('/v1/batch/data/portkey/authz/allow')
      .send({ inputs: { good: valid, bad: body } })
      .expect(207);
    check(batch.body.responses.bad, 'inputs.bad.');
    assert.equal(batch.body.responses.good.http_status_code, '200');
  });
}

test('settings sent by a caller are accepted and discarded, everywhere else strictness holds', async () => {
  const withSettings = { ...valid, settings: { org: { managersWriteMcpServers: true } } };
  const plain = (await request(url).post('/v1/authorize').send(valid).expect(200)).body;
  const sent = (await request(url).post('/v1/authorize').send(withSettings).expect(200)).body;
  assert.deepEqual([sent.allow, sent.reason], [plain.allow, plain.reason]);
  await request(url).post('/v1/data/portkey/authz/allow').send({ input: withSettings }).expect(200);
  // `settings` is a top-level field only.
  const nested = await request(url)
    .post('/v1/authorize')
    .send({ ...valid, principal: { ...valid.principal, settings: {} } })
    .expect(400);
  assert.equal(nested.body.errors[0].field, 'principal.settings');
});

// ---- the published schema ----

type Schema = Record<string, any>;

/** Why `value` does not match `schema` (the keywords the published schema uses), or undefined. */
function schemaProblem(schema: Schema, value: unknown, at = '$'): string | undefined {
  if (schema.oneOf) {
    const problems = (schema.oneOf as Schema[]).map((option) => schemaProblem(option, value, at));
    const matching = problems.filter((problem) => problem === undefined).length;
    if (matching !== 1) return `${at}: matches ${matching} of its ${problems.length} forms, not one (${problems.join('; ')})`;
  }
  if (schema.const !== undefined && value !== schema.const) return `${at}: not ${JSON.stringify(schema.const)}`;
  const types: string[] | undefined = schema.type === undefined ? undefined : [schema.type].flat();
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  if (types && !types.includes(kind)) return `${at}: ${kind} is not ${types.join('|')}`;
  if (schema.enum && !schema.enum.includes(value)) return `${at}: not one of ${schema.enum}`;
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && [...value].length < schema.minLength) return `${at}: too short`;
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength) return `${at}: too long`;
  }
  if (kind !== 'object') return undefined;
  const object = value as Record<string, unknown>;
  for (const key of schema.required ?? []) if (!(key in object)) return `${at}.${key}: required`;
  if (schema.maxProperties !== undefined && Object.keys(object).length > schema.maxProperties) return `${at}: too many properties`;
  for (const [key, child] of Object.entries(object)) {
    if (schema.propertyNames) {
      const problem = schemaProblem(schema.propertyNames, key, `${at}[key ${key}]`);
      if (problem) return problem;
    }
    const sub = schema.properties?.[key] ?? schema.additionalProperties;
    if (sub === false) return `${at}.${key}: not allowed`;
    if (sub && sub !== true) {
      const problem = schemaProblem(sub, child, `${at}.${key}`);
      if (problem) return problem;
    }
  }
  return undefined;
}

test('GET /v1/schema/decision-request: JSON Schema 2020-12 that agrees with the parser', async () => {
  const res = await request(url).get('/v1/schema/decision-request').expect(200);
  const schema = res.body as Schema;
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  // A principal is a user or an API key; the user's form first.
  assert.deepEqual(schema.properties.principal.oneOf[0].properties.orgRole.enum, ['owner', 'admin', 'member']);
  assert.equal(schema.properties.resource.properties.workspaceId.maxLength, 256);

  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const example = /curl -s localhost:8181\/v1\/authorize -d '([^']+)'/.exec(readme)?.[1];
  assert.ok(example, 'the README shows a decision request');
  const accepted = [JSON.parse(example), valid, { ...valid, settings: { org: {} } }, decisionRequest({ workspaceRoles: {} })];
  for (const body of accepted) {
    assert.equal(schemaProblem(schema, body), undefined, JSON.stringify(body));
    await request(url).post('/v1/authorize').send(body).expect(200);
  }
  const refused = [
    ...UNKNOWN_FIELDS.map(([, body]) => body),
    without('action'),
    withValue('action', 'approve'),
    withValue('principal.workspaceRoles', { 'ws-1': 'owner' }),
    withValue('resource.workspaceId', ''),
    withValue('resource.orgId', 'o'.repeat(257)),
  ];
  for (const body of refused) {
    assert.notEqual(schemaProblem(schema, body), undefined, JSON.stringify(body));
    await request(url).post('/v1/authorize').send(body).expect(400);
  }
  assert.match(schemaProblem(schema, UNKNOWN_FIELDS[0]![1])!, /workspaceRole: not allowed/);
  await request(url).post('/v1/schema/decision-request').expect(405).expect('Allow', 'GET');
});

test('a wrong method on a decision path is a 405 whose Allow header and message name the methods it takes', async () => {
  for (const [method, path, allow] of [
    ['get', '/v1/authorize', 'POST'],
    ['delete', '/v1/data/portkey/authz/allow', 'GET, POST'],
    ['put', '/v1/batch/data/portkey/authz/allow', 'POST'],
    ['post', '/v1/schema/decision-request', 'GET'],
  ] as const) {
    const res = await request(url)[method](path).expect(405).expect('Allow', allow);
    assert.equal(res.body.code, 'method_not_allowed');
    assert.match(res.body.message, new RegExp(allow.replace(', ', ' or ')));
  }
});
