// The OpenAPI document against the running sidecar: the document validates (a maintained
// OpenAPI 3.1 validator), is served, matches docs/openapi.json, and every response of a
// broad set of requests — decision, OPA-compatible, permissions, admin, directory, audit,
// health, status, errors — conforms to it (status code documented, body valid against the
// documented schema). A response that drifts from it fails: shown with deliberately
// drifted copies of real responses.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN, serve, testSidecar } from '../support/sidecar.ts';
import { committedDocument, writtenDocument } from './openapi-file.ts';

type Document = { paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, unknown> }> }>> };
const auth = { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' };
const json = { 'Content-Type': 'application/json' };

let sidecar: Sidecar;
let served: Awaited<ReturnType<typeof serve>>;
let document: Document;
let check: (method: string, url: string, status: number, body: unknown) => string[];

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** The problems of one response against the document: an undocumented path, method or status, or a body its schema refuses. */
function checker(doc: Document) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema(doc as object, 'openapi.json');
  const templates = Object.keys(doc.paths).map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, (m) => (m === '{path}' ? '.+' : '[^/]+'))}$`),
  }));
  return (method: string, url: string, status: number, body: unknown): string[] => {
    const path = new URL(url, 'http://x').pathname;
    // The most specific template: literal segments beat parameters.
    const matches = templates
      .filter((t) => t.pattern.test(path))
      .sort((a, b) => b.template.replace(/\{[^}]+\}/g, '').length - a.template.replace(/\{[^}]+\}/g, '').length);
    if (matches.length === 0) return [`${method} ${path}: no path of the document matches`];
    const template = matches[0]!.template;
    const operation = doc.paths[template]![method.toLowerCase()];
    // A method the path does not take is answered 405 with the error body, on every path.
    if (!operation && status === 405)
      return ajv.validate({ $ref: 'openapi.json#/components/schemas/Error' }, body) ? [] : [`${method} ${template} 405: not an error body`];
    if (!operation) return [`${method} ${template}: the document has no such operation`];
    const response = operation.responses?.[String(status)];
    if (!response) return [`${method} ${template}: status ${status} is not documented`];
    if (!response.content) return body === undefined ? [] : [`${method} ${template} ${status}: a body where the document says none`];
    const validate = ajv.getSchema(
      `openapi.json#/${pointer('paths', template, method.toLowerCase(), 'responses', String(status), 'content', 'application/json', 'schema')}`,
    )!;
    return validate(body) ? [] : (validate.errors ?? []).map((e) => `${method} ${template} ${status}: body${e.instancePath} ${e.message}`);
  };
}

before(async () => {
  sidecar = await testSidecar();
  served = await serve(sidecar);
  document = (await (await fetch(`${served.url}/v1/openapi.json`)).json()) as Document;
  check = checker(document);
});
after(() => served?.close());

describe('the document', () => {
  test('is a valid OpenAPI 3.1 document (served and committed)', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document) as Parameters<Validator['validate']>[0]);
    assert.deepEqual(result, { valid: true });
    assert.equal(validator.version, '3.1');
  });

  test('docs/openapi.json is the document for the committed bundle (run make openapi when this fails)', async () => {
    assert.equal(await writtenDocument(), await committedDocument());
    assert.deepEqual(document, JSON.parse(await committedDocument()));
  });

  test("names the active bundle's resource types", () => {
    assert.deepEqual((document as unknown as { 'x-enums': { resourceTypes: string[] } })['x-enums'].resourceTypes, [
      ...sidecar.policy.require().families.resourceTypes,
    ]);
  });
});

describe('every response conforms', () => {
  const principal = { id: 'u-1', orgId: 'org-c', orgRole: 'member', workspaceRoles: { 'c-1': 'manager' } };
  const decision = { principal, action: 'create', resource: { type: 'mcp_server', orgId: 'org-c', workspaceId: 'c-1' } };
  const requests: Array<[method: string, path: string, body?: unknown, headers?: Record<string, string>]> = [
    ['PUT', '/v1/orgs/org-c/workspaces/c-1', undefined, auth],
    ['PUT', '/v1/orgs/org-c/workspaces/c-1', undefined, auth],
    ['PUT', '/v1/orgs/org-c/settings/integration-access', { managersWriteMcpServers: false }, auth],
    ['PATCH', '/v1/orgs/org-c/settings/prompt-access', { membersWritePrompts: true }, auth],
    ['GET', '/v1/orgs/org-c/settings/guardrail-access', undefined, auth],
    ['PUT', '/v1/orgs/org-c/workspaces/c-1/settings/integration-access', { managersWriteMcpServers: true }, auth],
    ['GET', '/v1/orgs/org-c/workspaces/c-1/settings/integration-access', undefined, auth],
    ['PUT', '/v1/orgs/org-c/settings/integration-access', { managersWriteMcpServer: false }, auth],
    ['PUT', '/v1/orgs/org-c/settings/integration-access', { managersWriteMcpServers: true }, { ...auth, 'If-Match': '"999"' }],
    ['GET', '/v1/orgs/org-c/settings/integration-access', undefined, json],
    ['GET', '/v1/orgs/org-c/settings/no-such-family', undefined, auth],
    ['GET', '/v1/orgs/org-c/workspaces', undefined, auth],
    ['GET', '/v1/orgs/org-c/workspaces/c-1/effective-settings', undefined, auth],
    ['GET', '/v1/orgs/org-c/workspaces/c-1/access', undefined, auth],
    ['POST', '/v1/orgs/org-c/workspaces/c-1/access', { 'integration-access': { org: { managersWriteMcpServers: false } } }, auth],
    ['POST', '/v1/orgs/org-c/workspaces/c-1/access', { 'integration-acces': {} }, auth],
    ['POST', '/v1/authorize', decision],
    ['POST', '/v1/authorize', { ...decision, action: 'approve' }],
    ['POST', '/v1/authorize', '{"principal": '],
    ['GET', '/v1/authorize'],
    ['POST', '/v1/authorize', decision, { ...json, 'X-Portcullis-Min-Settings-Version': '999999' }],
    ['POST', '/v1/permissions', { principal }],
    ['POST', '/v1/permissions', { principal, workspaceIds: ['c-1', 'c-1'] }],
    ['POST', '/v1/data/portkey/authz/allow', { input: decision }],
    ['POST', '/v1/data/portkey/authz/decision', { input: decision }],
    ['POST', '/v1/data/portkey/authz/permissions', { input: { principal } }],
    ['POST', '/v1/data/portkey/authz/decision', {}],
    ['POST', '/v1/batch/data/portkey/authz/decision', { inputs: { a: decision, b: { ...decision, action: 'read' } } }],
    ['POST', '/v1/batch/data/portkey/authz/allow', { inputs: { a: decision, bad: { ...decision, action: 'approve' } } }],
    ['GET', '/v1/schema/decision-request'],
    ['GET', '/v1/families'],
    ['GET', '/v1/reasons'],
    ['GET', '/v1/openapi.json'],
    ['GET', '/health'],
    ['GET', '/health/ready'],
    ['GET', '/v1/status'],
    ['GET', '/v1/audit/decisions?orgId=org-c&limit=5', undefined, auth],
    ['GET', '/v1/audit/decisions?orgId=org-c&api=nope', undefined, auth],
    ['GET', '/v1/audit/summary?orgId=org-c', undefined, auth],
    ['GET', '/v1/audit/settings-changes?orgId=org-c', undefined, auth],
    ['DELETE', '/v1/orgs/org-c/workspaces/c-1/settings/integration-access', undefined, auth],
    ['DELETE', '/v1/orgs/org-c/workspaces/c-gone', undefined, auth],
  ];
  const received: Array<{ method: string; path: string; status: number; body: unknown }> = [];

  test(`${requests.length} requests over every part of the API answer as documented`, async () => {
    const problems: string[] = [];
    for (const [method, path, body, headers = json] of requests) {
      const res = await fetch(served.url + path, {
        method,
        headers,
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await res.text();
      const parsed = text === '' ? undefined : JSON.parse(text);
      assert.ok(res.status < 500 || path.startsWith('/v1/batch') || res.status === 503, `${method} ${path}: ${res.status} ${text}`);
      received.push({ method, path, status: res.status, body: parsed });
      problems.push(...check(method, path, res.status, parsed));
    }
    await sidecar.audit.flush();
    const record = received.find((r) => r.path === '/v1/authorize' && r.status === 200)!.body as { decisionId: string };
    const one = await fetch(`${served.url}/v1/audit/decisions/${record.decisionId}`, { headers: auth });
    problems.push(...check('GET', `/v1/audit/decisions/${record.decisionId}`, one.status, await one.json()));
    assert.deepEqual(problems, []);
    // The set is broad: each status the API uses was seen.
    for (const status of [200, 201, 204, 207, 400, 401, 404, 405, 412, 503])
      assert.ok(
        received.some((r) => r.status === status),
        `no response with status ${status}`,
      );
  });

  test('a response that drifts from the document fails the check', () => {
    const answer = received.find((r) => r.path === '/v1/authorize' && r.status === 200)!;
    assert.deepEqual(check('POST', '/v1/authorize', 200, answer.body), []);
    const { reason: _reason, ...withoutReason } = answer.body as Record<string, unknown>;
    assert.match(check('POST', '/v1/authorize', 200, withoutReason).join('\n'), /must have required property 'reason'/);
    assert.match(check('POST', '/v1/authorize', 200, { ...(answer.body as object), allow: 'yes' }).join('\n'), /allow must be boolean/);
    assert.match(check('POST', '/v1/authorize', 418, answer.body).join('\n'), /status 418 is not documented/);
    const permissions = received.find((r) => r.path === '/v1/permissions' && r.status === 200)!;
    const drifted = structuredClone(permissions.body) as { workspaces: Record<string, Record<string, Record<string, unknown>>> };
    drifted.workspaces['c-1']!.mcp_server!.create = { allow: true, reason: 'manager_write_enabled', extra: 1 };
    assert.match(check('POST', '/v1/permissions', 200, drifted).join('\n'), /must NOT have additional properties/);
    const error = received.find((r) => r.status === 400)!;
    assert.match(check(error.method, error.path, 400, { message: 'no code' }).join('\n'), /required property 'code'/);
  });
});
