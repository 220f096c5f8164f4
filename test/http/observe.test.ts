// Every answered request per route template in /metrics, and the access log (ACCESS_LOG=on),
// read from a real sidecar process: templates and not raw paths, one label for any unknown
// path, and no token, cookie or query string in a line.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchSidecar, type SidecarProcess } from '../support/launch.ts';
import { ADMIN_TOKEN, decisionRequest } from '../support/sidecar.ts';

const SECRET = 'tok-3f9a7c21-secret';
let sidecar: SidecarProcess;

before(async () => {
  sidecar = await launchSidecar({ ACCESS_LOG: 'on', AUDIT_SPILL_DIR: '', DECISION_LOGS_SPILL_DIR: '' });
  const { url } = sidecar;
  const headers = { authorization: `Bearer ${SECRET}`, cookie: `session=${SECRET}` };
  const asAdmin = { authorization: `Bearer ${ADMIN_TOKEN}`, cookie: `session=${SECRET}` };
  await (await fetch(`${url}/v1/authorize`, { method: 'POST', headers, body: JSON.stringify(decisionRequest()) })).arrayBuffer();
  await (await fetch(`${url}/v1/authorize?token=${SECRET}`, { method: 'POST', headers, body: JSON.stringify(decisionRequest()) })).arrayBuffer();
  await (await fetch(`${url}/v1/data/portkey/authz/allow`, { method: 'POST', body: JSON.stringify({ input: decisionRequest() }) })).arrayBuffer();
  await (await fetch(`${url}/v1/orgs/org-1/settings/integration-access?api_key=${SECRET}`, { headers: asAdmin })).arrayBuffer();
  await (await fetch(`${url}/v1/orgs/org-3/settings/prompt-access`, { headers: asAdmin })).arrayBuffer();
  for (const path of ['/no/such/path', `/another/${SECRET}`]) await (await fetch(url + path)).arrayBuffer();
});

after(async () => {
  await sidecar?.stop();
});

/** The access-log lines written so far, parsed. */
function accessLines(): Array<Record<string, unknown>> {
  return sidecar
    .output()
    .split('\n')
    .filter((line) => line.includes('"log":"access"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('/metrics counts and times requests per route template, unknown paths under one label', async () => {
  const text = await (await fetch(`${sidecar.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  const count = (route: string, status: number) =>
    Number(new RegExp(`^portcullis_http_requests_total\\{route="${route.replace(/[/.]/g, '\\$&')}",status="${status}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  assert.equal(count('/v1/authorize', 200), 2, text);
  assert.equal(count('/v1/data/:path', 200), 1);
  assert.equal(count('/v1/orgs/:orgId/settings/:family', 200), 2);
  assert.equal(count('unmatched', 404), 2);
  assert.match(text, /^portcullis_http_request_duration_seconds_count\{route="\/v1\/authorize"\} 2$/m);
  assert.match(text, /^portcullis_http_request_duration_seconds_bucket\{le="\+Inf",route="\/v1\/orgs\/:orgId\/settings\/:family"\} 2$/m);
  // No raw path became a label.
  assert.doesNotMatch(text, /org-1|org-3|no\/such|another/);
});

test('ACCESS_LOG=on: one JSON line a request with the route template, and no token, cookie or query string', async () => {
  // A line is written once its answer is sent, and reaches this process through a pipe: wait for the seven.
  const deadline = Date.now() + 30_000;
  while (accessLines().length < 7 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const lines = accessLines();
  const routes = lines.map((line) => `${line.method} ${line.route} ${line.status}`);
  assert.deepEqual(routes.slice(0, 7), [
    'POST /v1/authorize 200',
    'POST /v1/authorize 200',
    'POST /v1/data/:path 200',
    'GET /v1/orgs/:orgId/settings/:family 200',
    'GET /v1/orgs/:orgId/settings/:family 200',
    'GET unmatched 404',
    'GET unmatched 404',
  ]);
  const first = lines[0]!;
  assert.equal(first.msg, 'request');
  assert.equal(typeof first.durationMs, 'number');
  assert.ok((first.bytes as number) > 0);
  assert.equal(first.client, '127.0.0.1');
  assert.deepEqual(
    Object.keys(first)
      .filter((k) => !['level', 'time', 'service', 'log', 'msg'].includes(k))
      .sort(),
    ['bytes', 'client', 'durationMs', 'method', 'route', 'status'],
  );
  // Not in any line of the process's output: the caller's token, the cookie, the query, the admin token.
  assert.doesNotMatch(sidecar.output(), new RegExp(`${SECRET}|${ADMIN_TOKEN}`));
});
