// The console's server side: static files under a strict CSP with no way out of the file
// table, CONSOLE_ENABLED, GET /v1/token, POST /v1/audit/replay (the CLI's report, over
// HTTP) and the audit summary's time buckets.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { Replay, type ReplayReport } from '../../src/audit/replay.ts';
import type { DecisionRecord } from '../../src/decision/record.ts';
import { CONTENT_SECURITY_POLICY } from '../../src/console/serve.ts';
import { parseSettingsDocument } from '../../src/settings/validate.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { loadConfig } from '../../src/config.ts';
import { ADMIN_TOKEN, decisionRequest, serve, testSidecar } from '../support/sidecar.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const hex = (token: string) => createHash('sha256').update(token).digest('hex');
const AUDITOR = 'auditor-secret-5e1f0c9b7a';
const ORG2_AUDITOR = 'org2-auditor-secret-3c8d2e';
/** A candidate that lets org-1's managers write MCP servers again (examples/settings.yaml turns it off), as a settings-as-code document. */
const CANDIDATE = { orgs: { 'org-1': { settings: { 'integration-access': { managersWriteMcpServers: true } } } } };

let dir: string;
let sidecar: Sidecar;
let url: string;
let close: () => Promise<void>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-console-'));
  const tokensFile = join(dir, 'tokens.yaml');
  await writeFile(
    tokensFile,
    `tokens:
  - {name: auditor, sha256: ${hex(AUDITOR)}, scopes: [audit:read]}
  - {name: org-2 auditor, sha256: ${hex(ORG2_AUDITOR)}, scopes: [audit:read, settings:read], orgs: [org-2]}
`,
  );
  sidecar = await testSidecar({ adminTokensFile: tokensFile });
  ({ url, close } = await serve(sidecar));
});

after(async () => {
  await close();
  await rm(dir, { recursive: true, force: true });
});

/** A GET with the path sent exactly as written (no client-side normalisation of "..", "%2e"). */
function rawGet(path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/`, { path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('static console files', () => {
  test('the page, its modules and the vendored libraries, each with the CSP and no sniffing', async () => {
    for (const [path, type] of [
      ['/console/', 'text/html'],
      ['/console/app.js', 'text/javascript'],
      ['/console/api.js', 'text/javascript'],
      ['/console/console.css', 'text/css'],
      ['/console/vendor/preact-htm.js', 'text/javascript'],
      ['/console/vendor/uplot.js', 'text/javascript'],
    ] as const) {
      const res = await rawGet(path);
      assert.equal(res.status, 200, path);
      assert.match(String(res.headers['content-type']), new RegExp(`^${type}`), path);
      assert.equal(res.headers['content-security-policy'], CONTENT_SECURITY_POLICY, path);
      assert.equal(res.headers['x-content-type-options'], 'nosniff', path);
      assert.equal(res.headers['referrer-policy'], 'no-referrer', path);
    }
    assert.match(CONTENT_SECURITY_POLICY, /default-src 'self'/);
    assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|https?:/);
  });

  test('the page has no inline script or style and loads nothing from another origin', async () => {
    const { body } = await rawGet('/console/');
    assert.doesNotMatch(body, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.doesNotMatch(body, /<style|\sstyle=|\son[a-z]+=/i);
    assert.doesNotMatch(body, /(src|href)="(https?:)?\/\//);
  });

  test('/console redirects to /console/', async () => {
    const res = await rawGet('/console');
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, '/console/');
  });

  test('no path leaves the file table: traversal, encoded dots and slashes, sources and unknown files are 404', async () => {
    for (const path of [
      '/console/../package.json',
      '/console/../../etc/passwd',
      '/console/%2e%2e/package.json',
      '/console/%2e%2e%2fpackage.json',
      '/console/..%2f..%2fpackage.json',
      '/console/vendor/../../serve.ts',
      '/console/vendor/%2e%2e/%2e%2e/serve.ts',
      '/console/pages/..%5c..%5cserve.ts',
      '/console//etc/passwd',
      '/console/serve.ts',
      '/console/vendor/preact-htm.js%00.html',
      '/console/nope.js',
      '/console/vendor/',
    ]) {
      const res = await rawGet(path);
      assert.ok(res.status === 404 || res.status === 400, `${path}: ${res.status}`);
      assert.doesNotMatch(res.body, /"name": "portcullis"|root:|import /, path);
    }
  });

  test('CONSOLE_ENABLED=false serves no console', async () => {
    const off = await testSidecar({ consoleEnabled: false });
    try {
      await request(off.app).get('/console/').expect(404);
      await request(off.app).get('/console/app.js').expect(404);
    } finally {
      await off.close();
    }
  });

  test('CONSOLE_ENABLED is read from the environment, on by default', () => {
    assert.equal(loadConfig({}).consoleEnabled, true);
    assert.equal(loadConfig({ CONSOLE_ENABLED: 'false' }).consoleEnabled, false);
    assert.throws(() => loadConfig({ CONSOLE_ENABLED: 'maybe' }), /CONSOLE_ENABLED/);
  });
});

describe('GET /v1/token', () => {
  test('names the token, its scopes and organizations, never the token', async () => {
    const full = await request(sidecar.app).get('/v1/token').set(auth).expect(200);
    assert.deepEqual(full.body, { name: 'admin', scopes: ['settings:read', 'settings:write', 'audit:read', 'keys:read', 'keys:write', 'decide'], orgs: null });
    assert.equal(full.headers['cache-control'], 'no-store');
    assert.doesNotMatch(full.text, new RegExp(ADMIN_TOKEN));
    const limited = await request(sidecar.app).get('/v1/token').set('Authorization', `Bearer ${ORG2_AUDITOR}`).expect(200);
    assert.deepEqual(limited.body, { name: 'org-2 auditor', scopes: ['settings:read', 'audit:read'], orgs: ['org-2'] });
  });

  test('without a valid token: 401', async () => {
    await request(sidecar.app).get('/v1/token').expect(401);
    const res = await request(sidecar.app).get('/v1/token').set('Authorization', 'Bearer nope').expect(401);
    assert.equal(res.body.code, 'unauthorized');
  });
});

describe('POST /v1/audit/replay', () => {
  const since = new Date(Date.now() - 60_000).toISOString();
  let records: DecisionRecord[];

  before(async () => {
    // In the directory, so that org-1's decisions are in org-1's stream (not the unverified bucket).
    await sidecar.store.registerWorkspace('org-1', 'ws-1');
    await request(sidecar.app).post('/v1/authorize').send(decisionRequest()).expect(200);
    await request(sidecar.app)
      .post('/v1/authorize')
      .send(decisionRequest({ type: 'integration' }))
      .expect(200);
    await request(sidecar.app)
      .post('/v1/authorize')
      .send(decisionRequest({ action: 'read' }))
      .expect(200);
    await request(sidecar.app)
      .post('/v1/authorize')
      .send(decisionRequest({ orgId: 'org-2' }))
      .expect(200);
    await sidecar.audit.flush();
    records = (await request(sidecar.app).get(`/v1/audit/decisions?orgId=org-1&from=${since}`).set(auth).expect(200)).body.decisions;
    assert.equal(records.length, 3);
  });

  test('reports what the CLI reports: the flips of the candidate settings, by reason, with examples', async () => {
    const res = await request(sidecar.app)
      .post('/v1/audit/replay')
      .set(auth)
      .send({ filter: { orgId: 'org-1', from: since }, settings: CANDIDATE })
      .expect(200);
    const now = async (orgId: string, workspaceId: string) => {
      const { org, workspace } = await sidecar.store.snapshot(orgId, workspaceId);
      return { org, workspace };
    };
    const expected = new Replay(
      { engine: sidecar.policy.current!, settings: parseSettingsDocument(CANDIDATE, sidecar.policy.current!.families) },
      10,
      undefined,
      now,
    );
    for (const record of records) await expected.add(record);
    assert.deepEqual(res.body, { candidate: { bundleRevision: sidecar.policy.current!.revision, settings: CANDIDATE }, ...expected.result() });
    assert.deepEqual(res.body.flips, { allowToDeny: 0, denyToAllow: 1 });
    assert.deepEqual(res.body.byReason, { 'manager_write_disabled -> manager_write_enabled': 1 });
    assert.equal((res.body as ReplayReport).examples[0]?.principalId, 'u-1');
    assert.equal((res.body as ReplayReport).examples[0]?.after.source, 'org');
  });

  test('a change saved since the decisions were recorded is the baseline, not a flip of the candidate', async (t) => {
    const path = '/v1/orgs/org-1/settings/integration-access';
    const before = (await request(sidecar.app).get(path).set(auth).expect(200)).body;
    const { stored: _stored, ...saved } = before;
    t.after(() => request(sidecar.app).put(path).set(auth).send(saved).expect(200));
    // Someone saves the candidate's change itself: the recorded denial would be allowed now.
    await request(sidecar.app).patch(path).set(auth).send({ managersWriteMcpServers: true }).expect(200);
    const replay = (settings?: unknown) =>
      request(sidecar.app)
        .post('/v1/audit/replay')
        .set(auth)
        .send({ filter: { orgId: 'org-1', from: since }, ...(settings === undefined ? {} : { settings }) })
        .expect(200);
    for (const res of [await replay(), await replay(CANDIDATE)]) {
      assert.equal(res.body.baseline, 'current');
      assert.equal(res.body.evaluated, 3);
      assert.deepEqual(res.body.flips, { allowToDeny: 0, denyToAllow: 0 }, 'the saved change is in the baseline and the candidate alike');
    }
    // A candidate that changes something reports its own flips, against the current settings.
    const off = await replay({ orgs: { 'org-1': { settings: { 'integration-access': { managersWriteMcpServers: false } } } } });
    assert.deepEqual(off.body.flips, { allowToDeny: 1, denyToAllow: 0 });
    assert.deepEqual(off.body.byReason, { 'manager_write_enabled -> manager_write_disabled': 1 });
  });

  test('the records not replayed are counted by why, each with a sentence', async () => {
    const from = new Date().toISOString();
    await request(sidecar.app)
      .post('/v1/authorize')
      .send(decisionRequest({ workspaceId: 'ws-nowhere', workspaceRoles: { 'ws-nowhere': 'manager' } }))
      .expect(200);
    // org-1's principal asks about a workspace of org-2: org-2's settings are not org-1's to replay with.
    await sidecar.store.registerWorkspace('org-2', 'ws-of-org-2');
    const crossOrg = decisionRequest({ principalOrgId: 'org-1', orgId: 'org-2', workspaceId: 'ws-of-org-2', workspaceRoles: { 'ws-of-org-2': 'manager' } });
    assert.equal((await request(sidecar.app).post('/v1/authorize').send(crossOrg).expect(200)).body.reason, 'cross_org');
    await sidecar.audit.flush();
    const res = await request(sidecar.app)
      .post('/v1/audit/replay')
      .set(auth)
      .send({ filter: { orgId: 'org-1', from, unverified: 'true' } })
      .expect(200);
    assert.equal(res.body.skipped, 2);
    const skips = Object.fromEntries(res.body.skips.map((s: { kind: string; count: number; message: string }) => [s.kind, s]));
    assert.deepEqual(Object.keys(skips).sort(), ['other_organization', 'unknown_workspace']);
    assert.equal(skips.unknown_workspace.count, 1);
    assert.match(skips.unknown_workspace.message, /not in the workspace directory/);
    assert.equal(skips.other_organization.count, 1);
    assert.match(skips.other_organization.message, /another organization/);
  });

  test('filters as the decisions query does; allow may be a boolean', async () => {
    const res = await request(sidecar.app)
      .post('/v1/audit/replay')
      .set(auth)
      .send({ filter: { orgId: 'org-1', from: since, resourceType: 'integration', allow: true }, settings: CANDIDATE })
      .expect(200);
    assert.equal(res.body.evaluated, 1);
    assert.equal(res.body.flips.allowToDeny, 0);
  });

  test('bad requests are a 400 naming the field', async () => {
    const cases: Array<[unknown, string]> = [
      [[], 'body'],
      [{ settings: CANDIDATE }, 'filter'],
      [{ filter: { orgId: 'org-1' } }, 'filter.from'],
      [{ filter: { orgId: 'org-1', from: 'yesterday' } }, 'filter.from'],
      [{ filter: { orgId: 'org-1', from: since, allow: 'maybe' } }, 'filter.allow'],
      [{ filter: { orgId: 'org-1', from: since, colour: 'red' } }, 'filter.colour'],
      [{ filter: { orgId: 'org-1', from: since, limit: '5' } }, 'filter.limit'],
      [{ filter: { orgId: 'org-1', from: since, workspaceId: 7 } }, 'filter.workspaceId'],
      [{ filter: { from: since } }, 'filter.orgId'],
      [{ filter: { orgId: 'org-1', from: since }, settings: { orgs: 'all' } }, 'settings.orgs'],
      [{ filter: { orgId: 'org-1', from: since }, examples: -1 }, 'examples'],
      [{ filter: { orgId: 'org-1', from: since }, extra: 1 }, 'extra'],
      // A misspelt key in the candidate would otherwise replay as if the draft said nothing.
      [{ filter: { orgId: 'org-1', from: since }, settings: { orgs: { 'org-1': { setings: {} } } } }, 'settings.orgs.org-1.setings'],
      [{ filter: { orgId: 'org-1', from: since }, settings: { orgs: {}, extra: 1 } }, 'settings.extra'],
      [{ filter: { orgId: 'org-1', from: since }, settings: { orgs: { 'org-1\u0000': {} } } }, 'settings.orgs'],
      [{ filter: { orgId: 'org-1', from: since }, settings: { orgs: { 'org-1': { workspaces: { '\ud800': {} } } } } }, 'settings.orgs.org-1.workspaces'],
    ];
    for (const [body, field] of cases) {
      const res = await request(sidecar.app)
        .post('/v1/audit/replay')
        .set(auth)
        .send(body as object);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.ok(
        res.body.errors.some((e: { field: string }) => e.field === field),
        `${JSON.stringify(body)}: ${res.text}`,
      );
    }
    // `__proto__` is a key like any other (an object literal here would set a prototype instead).
    const proto = await request(sidecar.app)
      .post('/v1/audit/replay')
      .set(auth)
      .set('content-type', 'application/json')
      .send(`{"filter": {"orgId": "org-1", "from": "${since}", "__proto__": "x"}}`);
    assert.equal(proto.status, 400, proto.text);
    assert.ok(
      proto.body.errors.some((e: { field: string }) => e.field === 'filter.__proto__'),
      proto.text,
    );
  });

  test("audit:read for the replay, settings:read for a candidate, and only the token's organizations", async () => {
    await request(sidecar.app)
      .post('/v1/audit/replay')
      .send({ filter: { orgId: 'org-1', from: since } })
      .expect(401);
    const auditor = { Authorization: `Bearer ${AUDITOR}` };
    await request(sidecar.app)
      .post('/v1/audit/replay')
      .set(auditor)
      .send({ filter: { orgId: 'org-1', from: since } })
      .expect(200);
    const refused = await request(sidecar.app)
      .post('/v1/audit/replay')
      .set(auditor)
      .send({ filter: { orgId: 'org-1', from: since }, settings: CANDIDATE })
      .expect(403);
    assert.equal(refused.body.code, 'insufficient_scope');
    const org2 = { Authorization: `Bearer ${ORG2_AUDITOR}` };
    assert.equal(
      (
        await request(sidecar.app)
          .post('/v1/audit/replay')
          .set(org2)
          .send({ filter: { orgId: 'org-1', from: since } })
          .expect(403)
      ).body.code,
      'org_not_allowed',
    );
    assert.equal(
      (
        await request(sidecar.app)
          .post('/v1/audit/replay')
          .set(org2)
          .send({ filter: { orgId: 'org-2', from: since }, settings: CANDIDATE })
          .expect(403)
      ).body.code,
      'org_not_allowed',
    );
    await request(sidecar.app).get('/v1/audit/replay').set(auth).expect(405);
  });
});

describe('GET /v1/audit/summary?buckets=', () => {
  test('allowed and denied per equal slice of the range, summing to the totals', async () => {
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 1_000).toISOString();
    const res = await request(sidecar.app).get(`/v1/audit/summary?orgId=org-1&from=${from}&to=${to}&buckets=12`).set(auth).expect(200);
    assert.equal(res.body.series.length, 12);
    assert.equal(res.body.series[0].from, from);
    assert.equal(res.body.series.at(-1).to, to);
    const sum = (k: 'allow' | 'deny') => res.body.series.reduce((n: number, b: Record<string, number>) => n + b[k]!, 0);
    assert.deepEqual({ allow: sum('allow'), deny: sum('deny') }, res.body.byOutcome);
    assert.ok(res.body.total > 0);
  });

  test('buckets need a range and a sane count', async () => {
    for (const qs of [
      'buckets=12',
      'buckets=0&from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z',
      'buckets=x&from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z',
      'buckets=201&from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z',
    ]) {
      const res = await request(sidecar.app).get(`/v1/audit/summary?orgId=org-1&${qs}`).set(auth).expect(400);
      assert.equal(res.body.errors[0].field, 'buckets', qs);
    }
  });
});
