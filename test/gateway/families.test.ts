// The default route table (examples/routes.yaml) covers the control plane's prompt,
// guardrail, analytics and log-export endpoints: Envoy/nginx users get the other Security-tab families
// decided without writing routes, with the family's setting in the decision.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../src/config.ts';
import { ADMIN_TOKEN, testSidecar } from '../support/sidecar.ts';
import { listeningSidecar, PRINCIPALS, signToken, type RunningSidecar } from './support.ts';

let tokens: Record<'manager' | 'member', string>;
before(async () => {
  tokens = { manager: await signToken(PRINCIPALS.manager), member: await signToken(PRINCIPALS.member) };
});

async function putOrg(sidecar: RunningSidecar, family: string, body: object): Promise<void> {
  const res = await fetch(`${sidecar.url}/v1/orgs/org-1/settings/${family}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
}

function envoy(sidecar: RunningSidecar, method: string, path: string, who: 'manager' | 'member') {
  return fetch(`${sidecar.url}/ext_authz${path}`, { method, headers: { authorization: `Bearer ${tokens[who]}`, 'x-portkey-workspace-id': 'ws-1' } });
}

const reasonOf = (res: Response) => res.headers.get('x-portcullis-reason');

describe('default routes for the rest of the Security tab', () => {
  let sidecar: RunningSidecar;
  before(async () => (sidecar = await listeningSidecar({ forwardAuthHeaders: 'envoy' })));
  after(() => sidecar.close());

  test('prompts: members may not create one by default; once membersWritePrompts is on they may, and the record names prompt and the setting', async () => {
    const denied = await envoy(sidecar, 'POST', '/v1/prompts', 'member');
    assert.equal(denied.status, 403);
    assert.equal(reasonOf(denied), 'member_write_disabled');
    await putOrg(sidecar, 'prompt-access', { membersWritePrompts: true });
    const allowed = await envoy(sidecar, 'PUT', '/v1/prompts/p-1/versions/v-2', 'member');
    assert.equal(allowed.status, 200);
    const audited = await sidecar.sidecar.audit.getDecision(allowed.headers.get('x-portcullis-decision-id')!);
    assert.deepEqual(
      [audited?.action, audited?.resource.type, audited?.resource.id, audited?.setting, audited?.source, audited?.family],
      ['update', 'prompt', 'p-1', 'membersWritePrompts', 'org', 'prompt-access'],
    );
    assert.equal(audited?.gatewayRequest?.route, '/v1/prompts/:id/versions/:versionId');
    // A prompt partial's path is not taken for a prompt id.
    const partial = await envoy(sidecar, 'DELETE', '/v1/prompts/partials/pp-1', 'member');
    const partialRecord = await sidecar.sidecar.audit.getDecision(partial.headers.get('x-portcullis-decision-id')!);
    assert.deepEqual([partialRecord?.gatewayRequest?.route, partialRecord?.resource.id], ['/v1/prompts/partials/:id', 'pp-1']);
  });

  test('guardrails: members read but never write them', async () => {
    assert.equal((await envoy(sidecar, 'GET', '/v1/guardrails/g-1', 'member')).status, 200);
    const write = await envoy(sidecar, 'PUT', '/v1/guardrails/g-1', 'member');
    assert.equal(write.status, 403);
    assert.equal(reasonOf(write), 'read_only_role');
  });

  test('analytics and log exports are reads governed by the view settings', async () => {
    const graph = await envoy(sidecar, 'GET', '/v1/analytics/graphs/errors/rate', 'manager');
    assert.equal(graph.status, 200);
    assert.equal(reasonOf(graph), 'manager_read_enabled');
    await putOrg(sidecar, 'analytics-access', { managersViewAnalytics: false });
    const closed = await envoy(sidecar, 'GET', '/v1/analytics/groups/users', 'manager');
    assert.equal(closed.status, 403);
    assert.equal(reasonOf(closed), 'manager_read_disabled');
    await putOrg(sidecar, 'logs-access', { membersViewLogs: false });
    const download = await envoy(sidecar, 'GET', '/v1/logs/exports/e-1/download', 'member');
    assert.equal(download.status, 403);
    assert.equal(reasonOf(download), 'member_read_disabled');
    assert.equal((await envoy(sidecar, 'POST', '/v1/logs/exports', 'manager')).status, 200);
  });
});

test('a route table naming a resource type the bundle does not define stops the sidecar at start, naming the route', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-routes-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'routes.yaml');
  await writeFile(file, 'routes:\n  - { method: GET, path: /v1/budgets, action: read, resource: budget }\n');
  await assert.rejects(
    testSidecar({ gatewayRoutesFile: file }),
    (error: Error) => error instanceof ConfigError && /\/v1\/budgets \(budget\)/.test(error.message),
  );
});
