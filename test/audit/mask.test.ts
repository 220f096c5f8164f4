// Masking keeps the record of what decided: workspace ids are data, not field names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMasker, REDACTED } from '../../src/audit/mask.ts';
import type { DecisionRecord } from '../../src/decision/record.ts';

function recordWith(workspaceRoles: Record<string, string>, extra: Record<string, unknown> = {}): DecisionRecord {
  const principal = { id: 'u-1', orgId: 'org-1', orgRole: 'member', workspaceRoles };
  const resource = { type: 'mcp_server', orgId: 'org-1', workspaceId: 'token' };
  return {
    decisionId: 'd-1',
    timestamp: new Date(0).toISOString(),
    api: 'authorize',
    orgId: 'org-1',
    workspaceId: 'token',
    principal,
    action: 'create',
    resource,
    allow: true,
    reason: 'manager_write_enabled',
    bundleRevision: 'r',
    settingsVersion: 1,
    latencyMs: 0.1,
    input: { principal, action: 'create', resource, settings: { org: {}, workspace: {} } },
    ...extra,
  } as DecisionRecord;
}

test('workspace ids named like credentials, or __proto__, stay in the recorded roles', () => {
  const roles = JSON.parse('{"token": "manager", "__proto__": "member", "secret": "admin"}') as Record<string, string>;
  const masked = createMasker([])(recordWith(roles, { headers: { authorization: 'Bearer abc.def.ghi' } }));
  const stored = JSON.parse(JSON.stringify(masked));
  assert.deepEqual(Object.keys(stored.principal.workspaceRoles).sort(), ['__proto__', 'secret', 'token']);
  assert.deepEqual(Object.keys(stored.input.principal.workspaceRoles).sort(), ['__proto__', 'secret', 'token']);
  assert.equal(stored.headers.authorization, undefined, 'a credential-named field is still removed');
});

test('credential-looking values are still replaced, and a clean record is stored as it is', () => {
  const clean = recordWith({ 'ws-1': 'manager' });
  assert.equal(createMasker([])(clean), clean);
  const dirty = createMasker([])(recordWith({ 'ws-1': 'manager' }, { note: 'Bearer abcdef' }));
  assert.equal((dirty as unknown as { note: string }).note, REDACTED);
});
