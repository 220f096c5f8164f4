// docs/outages.md cannot drift from the code: every reason code it names is one a decision
// answers with (GET /v1/reasons) or an error code of the API, every environment variable is
// one the configuration reads (or a gRPC status), every metric is exposed, the log lines it quotes are the ones the decider writes, and
// every outage mode has its row.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import { ENVIRONMENT_VARIABLES } from '../../src/config.ts';
import { DECIDED_OUTSIDE_POLICY, PERMISSIONS_SUMMARY } from '../../src/decision/decider.ts';
import { ERROR_CODES } from '../../src/errors.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { testSidecar } from '../support/sidecar.ts';

const page = await readFile('docs/outages.md', 'utf8');
/** Every `code span` of the page. */
const spans = [...page.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);

let sidecar: Sidecar;
before(async () => {
  sidecar = await testSidecar();
});
after(() => sidecar.close());

test('every snake_case code the page names is a decision reason or an API error code', async () => {
  const reasons = Object.keys((await request(sidecar.app).get('/v1/reasons').expect(200)).body.reasons);
  const errorCodes = Object.keys(ERROR_CODES);
  const named = new Set(spans.filter((s) => /^[a-z]+(_[a-z]+)+$/.test(s) && !s.startsWith('portcullis_')));
  assert.ok(named.size >= 5, [...named].join(', '));
  for (const code of named) assert.ok(reasons.includes(code) || errorCodes.includes(code), `${code} is neither a reason nor an error code`);
  // Every denial the sidecar makes without the policy (a permissions call's summary record is none).
  for (const reason of DECIDED_OUTSIDE_POLICY) if (reason !== PERMISSIONS_SUMMARY) assert.ok(named.has(reason), `the page does not name ${reason}`);
});

test('every metric the page names is exposed at /metrics', async () => {
  const metrics = (await request(sidecar.app).get('/metrics').expect(200)).text;
  const named = spans.map((s) => /^(portcullis_[a-z_]+)/.exec(s)?.[1]).filter((name): name is string => name !== undefined);
  assert.ok(named.length > 0);
  for (const name of named) assert.match(metrics, new RegExp(`^${name}[{ ]`, 'm'), name);
});

test('every environment variable the page names is one the configuration reads', () => {
  // gRPC status names (PERMISSION_DENIED) are upper case too.
  const named = new Set(
    spans.map((s) => /^([A-Z][A-Z0-9_]+)(=.*)?$/.exec(s)?.[1]).filter((name): name is string => name !== undefined && !(name in grpc.status)),
  );
  assert.ok(named.has('WORKSPACE_DIRECTORY') && named.has('SETTINGS_MAX_STALE_MS'), [...named].join(', '));
  for (const name of named) assert.ok(ENVIRONMENT_VARIABLES.includes(name), `${name} is not a configuration variable`);
});

test("the outage log lines it quotes are the decider's", async () => {
  const decider = await readFile('src/decision/decider.ts', 'utf8');
  const quoted = spans.filter((s) => /unavailable.*(denying|deciding)/.test(s));
  assert.equal(quoted.length, 3, quoted.join('\n'));
  for (const line of quoted) assert.ok(decider.includes(`'${line}'`), `not a log line of the decider: ${line}`);
});

test('every outage mode has a row, and /v1/status shows the directory as the page says', async () => {
  for (const mode of ['Redis slow', 'Redis paused', 'Redis down', 'Failover', 'Directory off', 'Bundle missing']) {
    assert.match(page, new RegExp(`^\\| \\*\\*${mode}\\*\\*`, 'm'), mode);
  }
  assert.ok(page.includes('"workspaceDirectory": "off"'));
  assert.equal((await request(sidecar.app).get('/v1/status').expect(200)).body.workspaceDirectory, 'on');
});
