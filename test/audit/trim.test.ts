// What a record keeps: the requested workspace's role (with the count of the others) and,
// past the byte cap, shortened free text, never the decision; hostile sizes and strings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DecisionRecord } from '../../src/decision/record.ts';
import type { UserPrincipal } from '../../src/decision/request.ts';
import { recordBytes, trimRecord } from '../../src/audit/trim.ts';
import { decisionRecord } from './records.ts';

const CAP = 8_192;

/** The fields that say what was decided; trimming must leave every one as it was. */
function decided(record: DecisionRecord) {
  const { decisionId, timestamp, api, orgId, workspaceId, action, allow, reason, setting, source, bundleRevision, settingsVersion } = record;
  const { type, orgId: resourceOrg, workspaceId: resourceWorkspace } = record.input.resource;
  return [
    decisionId,
    timestamp,
    api,
    orgId,
    workspaceId,
    action,
    allow,
    reason,
    setting,
    source,
    bundleRevision,
    settingsVersion,
    type,
    resourceOrg,
    resourceWorkspace,
    record.input.settings,
    (record.input.principal as UserPrincipal).orgRole,
    record.input.principal.id,
  ];
}

function withRoles(count: number): DecisionRecord {
  const record = decisionRecord({ orgId: 'org-1', workspaceId: 'ws-7' });
  const roles: Record<string, 'member' | 'manager'> = {};
  for (let i = 0; i < count; i++) roles[`ws-${'x'.repeat(40)}-${i}`] = 'member';
  roles['ws-7'] = 'manager';
  const principal = { ...record.input.principal, workspaceRoles: roles };
  return { ...record, principal, input: { ...record.input, principal } };
}

test("a 60 KB workspaceRoles map is kept as the requested workspace's role and a count of the others", () => {
  const record = withRoles(1_200);
  assert.ok(recordBytes(record) > 60_000, `${recordBytes(record)} bytes before`);
  const trimmed = trimRecord(record, CAP);
  assert.deepEqual((trimmed.input.principal as UserPrincipal).workspaceRoles, { 'ws-7': 'manager' });
  assert.equal(trimmed.principal, trimmed.input.principal, "the top-level principal is the input's");
  assert.equal(trimmed.trimmed?.otherWorkspaceRoles, 1_200);
  assert.ok(recordBytes(trimmed) < 2_000, `${recordBytes(trimmed)} bytes after`);
  assert.deepEqual(decided(trimmed), decided(record));
  assert.equal(Object.keys((record.input.principal as UserPrincipal).workspaceRoles).length, 1_201, "the argument (the answer's input) is not changed");
});

test('a principal with no role in the requested workspace keeps an empty map', () => {
  const record = withRoles(3);
  delete (record.input.principal as UserPrincipal).workspaceRoles['ws-7'];
  const trimmed = trimRecord(record, CAP);
  assert.deepEqual((trimmed.input.principal as UserPrincipal).workspaceRoles, {});
  assert.equal(trimmed.trimmed?.otherWorkspaceRoles, 3);
});

test('a record within the cap and with only the requested role is returned as it is', () => {
  const record = decisionRecord();
  assert.equal(trimRecord(record, CAP), record);
});

test('huge gateway headers are shortened with a marker until the record fits; the decision is untouched', () => {
  const record = decisionRecord({ orgId: 'org-1' });
  record.gatewayRequest = {
    method: 'POST',
    path: '/v1/mcp-servers/' + 'p'.repeat(20_000),
    route: '/v1/mcp-servers/:id',
    headers: { 'user-agent': 'u'.repeat(100_000), 'x-small': 'kept', 'x-nul': 'a\u0000b'.repeat(5_000), 'x-crlf': 'a\r\nb'.repeat(5_000) },
  };
  record.requestedBy = '127.0.0.1:' + '9'.repeat(30_000);
  const trimmed = trimRecord(record, CAP);
  assert.ok(recordBytes(trimmed) <= CAP, `${recordBytes(trimmed)} bytes`);
  assert.deepEqual(decided(trimmed), decided(record));
  assert.equal(trimmed.gatewayRequest!.headers['x-small'], 'kept');
  assert.match(trimmed.gatewayRequest!.headers['user-agent']!, /^u+…\[truncated \d+ chars\]$/);
  assert.match(trimmed.gatewayRequest!.path, /…\[truncated \d+ chars\]$/);
  assert.equal(trimmed.gatewayRequest!.route, '/v1/mcp-servers/:id', 'short strings are kept');
  assert.ok((trimmed.trimmed?.truncated ?? 0) >= 5);
  assert.equal(trimmed.trimmed?.overCap, undefined);
  assert.equal(record.gatewayRequest.headers['user-agent']!.length, 100_000, 'the argument is not changed');
});

test('a cut never leaves half a surrogate pair', () => {
  const record = decisionRecord({ orgId: 'org-1' });
  record.gatewayRequest = { method: 'GET', path: '/', route: '/', headers: { 'x-emoji': '😀'.repeat(20_000) } };
  const trimmed = trimRecord(record, 2_048);
  for (const value of Object.values(trimmed.gatewayRequest!.headers)) assert.ok(value.isWellFormed(), 'well-formed after the cut');
  assert.ok(recordBytes(trimmed) <= 2_048);
});

test('a cap smaller than the decision itself keeps the decision whole and says the record is over its cap', () => {
  const record = decisionRecord({ orgId: 'org-1' });
  record.gatewayRequest = { method: 'GET', path: '/' + 'a'.repeat(1_000), route: '/', headers: { a: 'b'.repeat(1_000) } };
  const trimmed = trimRecord(record, 100);
  assert.deepEqual(decided(trimmed), decided(record));
  assert.equal(trimmed.trimmed?.overCap, true);
  assert.ok(recordBytes(trimmed) < recordBytes(record));
});

test('many small headers (a request head at its limit) fit the cap', () => {
  const record = decisionRecord({ orgId: 'org-1' });
  const headers: Record<string, string> = {};
  for (let i = 0; i < 500; i++) headers[`x-h-${i}`] = 'v'.repeat(30);
  record.gatewayRequest = { method: 'GET', path: '/', route: '/', headers };
  const trimmed = trimRecord(record, CAP);
  assert.deepEqual(decided(trimmed), decided(record));
  // 500 names alone are within the cap, so only the values are shortened.
  assert.equal(Object.keys(trimmed.gatewayRequest!.headers).length, 500);
  assert.ok(recordBytes(trimmed) <= CAP || trimmed.trimmed?.overCap === true);
});
