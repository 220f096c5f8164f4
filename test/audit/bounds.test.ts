// The audit's memory through a served sidecar (the in-memory log, as `make run`): what an
// anonymous caller can make it hold is bounded in bytes, and never at another tenant's cost.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, decisionRequest, serve, testSidecar } from '../support/sidecar.ts';

/** The log keeps this many organizations here (1,000 by default), so that a run past it stays short. */
const MAX_ORGS = 100;
/** Probes past the bound. */
const PROBES = MAX_ORGS + MAX_ORGS / 10;

let served: Awaited<ReturnType<typeof serve>>;
before(async () => {
  const sidecar = await testSidecar({ auditMemoryMaxOrgs: MAX_ORGS });
  await sidecar.store.registerWorkspace('org-1', 'ws-1');
  served = await serve(sidecar);
});
after(() => served?.close());

async function authorize(body: object): Promise<{ decisionId: string }> {
  const response = await fetch(`${served.url}/v1/authorize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as { decisionId: string };
}

async function audit(path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${served.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as Record<string, unknown>;
}

async function heldBytes(): Promise<number> {
  const text = await (await fetch(`${served.url}/metrics`)).text();
  const line = /^portcullis_audit_memory_bytes (\d+)/m.exec(text);
  assert.ok(line, 'the gauge is exported');
  return Number(line[1]);
}

test("more decisions for made-up organizations than the log keeps organizations leave org-1's summary at 2; the probes are found under the organization they named", async () => {
  await authorize(decisionRequest({ orgId: 'org-1', workspaceId: 'ws-1' }));
  await authorize(decisionRequest({ orgId: 'org-1', workspaceId: 'ws-1', action: 'delete', workspaceRoles: { 'ws-1': 'member' } }));
  let last = '';
  for (let i = 0; i < PROBES; i++) last = (await authorize(decisionRequest({ orgId: `made-up-${i}`, workspaceId: `ws-made-up-${i}` }))).decisionId;
  const summary = await audit('/v1/audit/summary?orgId=org-1');
  assert.equal(summary.total, 2);
  const probes = (await audit(`/v1/audit/decisions?orgId=made-up-${PROBES - 1}&unverified=true`)).decisions as Array<{
    decisionId: string;
    orgUnverified?: boolean;
  }>;
  assert.deepEqual(
    probes.map((r) => [r.decisionId, r.orgUnverified]),
    [[last, true]],
  );
  assert.equal(((await audit(`/v1/audit/decisions/${last}`)) as { decisionId: string }).decisionId, last);
});

test("made-up principal organizations aimed at a registered workspace (cross_org) and permissions calls naming none of their own workspaces leave org-1's records alone", async () => {
  const before = (await audit('/v1/audit/summary?orgId=org-1')).total as number;
  for (let i = 0; i < PROBES; i++) {
    const asked = decisionRequest({ orgId: `made-up-cross-${i}`, workspaceId: 'ws-1', orgRole: 'owner', workspaceRoles: {} });
    const answer = (await authorize(asked)) as { decisionId: string; allow?: boolean; reason?: string };
    assert.equal(answer.reason, 'cross_org');
  }
  for (let i = 0; i < 50; i++) {
    const response = await fetch(`${served.url}/v1/permissions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ principal: { id: 'u', orgId: `made-up-perm-${i}`, orgRole: 'owner', workspaceRoles: {} }, workspaceIds: ['ws-1'] }),
    });
    assert.equal(response.status, 200, await response.clone().text());
  }
  assert.equal((await audit('/v1/audit/summary?orgId=org-1')).total, before);
  const probes = (await audit(`/v1/audit/decisions?orgId=made-up-cross-${PROBES - 1}&unverified=true`)).decisions as Array<{
    orgUnverified?: boolean;
    reason: string;
  }>;
  assert.deepEqual(
    probes.map((r) => [r.reason, r.orgUnverified]),
    [['cross_org', true]],
  );
  const summaries = (await audit('/v1/audit/decisions?orgId=made-up-perm-49&unverified=true')).decisions as Array<{ orgUnverified?: boolean; reason: string }>;
  assert.deepEqual(
    summaries.map((r) => [r.reason, r.orgUnverified]),
    [['permissions_summary', true]],
  );
});

test('a 60 KB workspaceRoles map costs the audit the requested role, not the map', async () => {
  const roles: Record<string, string> = { 'ws-1': 'manager' };
  for (let i = 0; JSON.stringify(roles).length < 60_000; i++) roles[`ws-filler-${String(i).padStart(6, '0')}`] = 'member';
  const body = decisionRequest({ orgId: 'org-1', workspaceId: 'ws-1', workspaceRoles: roles });
  assert.ok(JSON.stringify(body).length > 60_000 && JSON.stringify(body).length < 64 * 1024);
  const before = await heldBytes();
  const count = 200;
  for (let i = 0; i < count; i++) await authorize(body);
  const perRecord = ((await heldBytes()) - before) / count;
  // A record of this request is well under 2 KB once trimmed (it was ~60 KB).
  assert.ok(perRecord < 2_048, `${perRecord} bytes held per record`);
  const [record] = (await audit('/v1/audit/decisions?orgId=org-1&limit=1')).decisions as Array<{
    input: { principal: { workspaceRoles: object } };
    trimmed: { otherWorkspaceRoles: number };
  }>;
  assert.deepEqual(record!.input.principal.workspaceRoles, { 'ws-1': 'manager' });
  assert.equal(record!.trimmed.otherWorkspaceRoles, Object.keys(roles).length - 1);
  console.log(`held per record: ${perRecord.toFixed(0)} bytes for a ${JSON.stringify(body).length}-byte request`);
});
