// Least-privilege admin tokens (ADMIN_TOKENS_FILE): every admin endpoint against a token
// with exactly its scope, with the other scopes, restricted to another organization, and
// without a token; the file's validation; the actor of a change is the token's name and
// X-Actor a masked note; no token text ever reaches Redis.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import request from 'supertest';
import { ConfigError } from '../../src/config.ts';
import { loadAdminTokens, parseAdminTokens } from '../../src/access/tokens.ts';
import { ADMIN_PATHS, ADMIN_ROUTES, type AdminScope } from '../../src/http/admin-routes.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, decisionRequest, testSidecar } from '../support/sidecar.ts';

const hex = (token: string) => createHash('sha256').update(token).digest('hex');

const TOKENS = {
  reader: 'reader-secret-4f1c9a7e2b',
  writer: 'writer-secret-8d3e6b0a51',
  auditor: 'auditor-secret-27c5f9e3d0',
  keyReader: 'key-reader-secret-5e4d3c2b1a',
  keyWriter: 'key-writer-secret-0f9e8d7c6b',
  org1: 'org1-secret-9b8a7c6d5e',
  org2: 'org2-secret-1a2b3c4d5e',
};
const TOKENS_YAML = `tokens:
  - {name: reader, sha256: ${hex(TOKENS.reader)}, scopes: [settings:read]}
  - {name: writer, sha256: ${hex(TOKENS.writer).toUpperCase()}, scopes: [settings:write]}
  - {name: auditor, sha256: ${hex(TOKENS.auditor)}, scopes: [audit:read]}
  - {name: keyReader, sha256: ${hex(TOKENS.keyReader)}, scopes: [keys:read]}
  - {name: keyWriter, sha256: ${hex(TOKENS.keyWriter)}, scopes: [keys:write]}
  - name: org-1 team
    sha256: ${hex(TOKENS.org1)}
    scopes: [settings:read, settings:write, audit:read, keys:read, keys:write]
    orgs: [org-1]
  - name: org-2 team
    sha256: ${hex(TOKENS.org2)}
    scopes: [settings:read, settings:write, audit:read, keys:read, keys:write]
    orgs: [org-2, org-3]
`;
const SCOPED: Record<AdminScope, keyof typeof TOKENS> = {
  'settings:read': 'reader',
  'settings:write': 'writer',
  'audit:read': 'auditor',
  'keys:read': 'keyReader',
  'keys:write': 'keyWriter',
};

let dir: string;
let tokensFile: string;
let redis: RedisServer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-tokens-'));
  tokensFile = join(dir, 'tokens.yaml');
  await writeFile(tokensFile, TOKENS_YAML);
  redis = await RedisServer.start();
});

after(async () => {
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the admin tokens file', () => {
  const problems = (document: unknown, reserved = ''): string => {
    try {
      parseAdminTokens(document, 'tokens.yaml', reserved ? [{ name: 'admin', sha256: Buffer.from(hex(reserved), 'hex'), scopes: new Set(), orgs: null }] : []);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    assert.fail('the document was accepted');
  };

  test('every bad entry is named in one error', () => {
    const message = problems({
      tokens: [
        { name: 'ci', sha256: hex('a'), scopes: ['settings:read'] },
        { name: 'ci', sha256: hex('b'), scopes: ['settings:read'] },
        { name: 'copy', sha256: hex('a'), scopes: ['audit:read'] },
        { name: 'typo', sha256: hex('c'), scopes: ['settings:admin'] },
        { name: 'short', sha256: 'abc123', scopes: ['audit:read'] },
        { name: 'not hex', sha256: 'z'.repeat(64), scopes: ['audit:read'] },
        { name: 'no scopes', sha256: hex('d'), scopes: [] },
        { name: 'no orgs', sha256: hex('e'), scopes: ['audit:read'], orgs: [] },
        { name: 'bad org', sha256: hex('f'), scopes: ['audit:read'], orgs: ['org\u0000x'] },
        { name: 'extra', sha256: hex('g'), scopes: ['audit:read'], org: ['org-1'] },
        { sha256: hex('h'), scopes: ['audit:read'] },
        'a string',
      ],
    });
    for (const expected of [
      /tokens\[1\] \("ci"\): name is already used by tokens\[0\]/,
      /tokens\[2\] \("copy"\): sha256 is the same token as tokens\[0\]/,
      /tokens\[3\] \("typo"\): unknown scope "settings:admin"/,
      /tokens\[4\] \("short"\): sha256 must be 64 hexadecimal digits/,
      /tokens\[5\] \("not hex"\): sha256 must be 64 hexadecimal digits/,
      /tokens\[6\] \("no scopes"\): scopes must be a non-empty list/,
      /tokens\[7\] \("no orgs"\): orgs must be a non-empty list/,
      /tokens\[8\] \("bad org"\): orgs\[0\] must not contain control/,
      /tokens\[9\] \("extra"\): unknown key "org"/,
      /tokens\[10\]: name is required/,
      /tokens\[11\]: must be a mapping/,
    ])
      assert.match(message, expected);
    assert.doesNotMatch(message, /tokens\[0\]:/);
  });

  test('the file may not repeat ADMIN_TOKEN, by name or by token', () => {
    assert.match(problems({ tokens: [{ name: 'admin', sha256: hex('x'), scopes: ['audit:read'] }] }, 'root'), /name is already used by ADMIN_TOKEN/);
    assert.match(problems({ tokens: [{ name: 'ci', sha256: hex('root'), scopes: ['audit:read'] }] }, 'root'), /sha256 is the same token as ADMIN_TOKEN/);
  });

  test('the document must be a tokens list, and list one', () => {
    assert.match(problems(['x']), /must be a mapping with a "tokens" list/);
    assert.match(problems({ tokens: [] }), /lists no token/);
    assert.match(problems({ tokens: [{ name: 'a', sha256: hex('a'), scopes: ['audit:read'] }], token: [] }), /"token" is not a setting/);
  });

  test('an unreadable or malformed file stops start with a ConfigError naming it', async () => {
    assert.throws(
      () => loadAdminTokens({ adminToken: '', adminTokensFile: join(dir, 'missing.yaml') }),
      (e) => e instanceof ConfigError && /missing\.yaml/.test(e.message),
    );
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'tokens: [ {name: a\n');
    assert.throws(
      () => loadAdminTokens({ adminToken: '', adminTokensFile: broken }),
      (e) => e instanceof ConfigError && /broken\.yaml/.test(e.message),
    );
    await assert.rejects(testSidecar({ adminTokensFile: broken }), ConfigError);
  });

  test('a token is known by its hash; ADMIN_TOKEN is "admin" with every scope', () => {
    const tokens = loadAdminTokens({ adminToken: ADMIN_TOKEN, adminTokensFile: tokensFile });
    assert.deepEqual(tokens.names, ['admin', 'reader', 'writer', 'auditor', 'keyReader', 'keyWriter', 'org-1 team', 'org-2 team']);
    assert.deepEqual([...tokens.identify(ADMIN_TOKEN)!.scopes].sort(), ['audit:read', 'decide', 'keys:read', 'keys:write', 'settings:read', 'settings:write']);
    assert.equal(tokens.identify(ADMIN_TOKEN)!.name, 'admin');
    assert.equal(tokens.identify(TOKENS.writer)?.name, 'writer');
    assert.deepEqual([...tokens.identify(TOKENS.org2)!.orgs!], ['org-2', 'org-3']);
    assert.equal(tokens.identify(hex(TOKENS.reader)), undefined, 'the hash is not the token');
    assert.equal(tokens.identify(`${TOKENS.reader} `), undefined);
  });

  test('the example file in the README loads, and its example tokens are what it says', () => {
    const tokens = loadAdminTokens({ adminToken: '', adminTokensFile: 'examples/admin-tokens.yaml' });
    assert.deepEqual(tokens.names, ['security-admin', 'org-1 settings', 'auditor']);
    assert.deepEqual([...tokens.identify('example-org1-settings-token')!.orgs!], ['org-1']);
    assert.deepEqual([...tokens.identify('example-auditor-token')!.scopes], ['audit:read']);
    assert.equal(tokens.identify('example-security-admin-token')!.orgs, null);
  });
});

/** How to make one admin route succeed for org-1 (the route and its scope are ADMIN_ROUTES'). */
interface Call {
  call: (app: Sidecar['app'], token?: string) => request.Test;
  /** Done with the full-scope token before each call, so the call can succeed. */
  setUp?: (app: Sidecar['app']) => Promise<unknown>;
}

interface Endpoint extends Call {
  name: string;
  scope: AdminScope | null;
}

const bearer = (token?: string) => (token === undefined ? {} : { Authorization: `Bearer ${token}` });
const admin = bearer(ADMIN_TOKEN);
let decisionId = '';
/** The API key the last setUp registered in org-1. */
let keyId = '';
const registerKey = async (app: Sidecar['app']) => {
  const res = await request(app)
    .post('/v1/orgs/org-1/api-keys')
    .set(admin)
    .send({ type: 'organisation-service', scopes: ['mcp_servers.read'] })
    .expect(201);
  keyId = res.body.apiKey.id;
};
const P = ADMIN_PATHS;
const key = (method: string, path: string) => `${method} ${path}`;

/** A call for every route of ADMIN_ROUTES, keyed "METHOD path"; a route of the table without one fails the test below. */
const CALLS: Record<string, Call> = {
  [key('GET', P.orgSettings)]: { call: (app, t) => request(app).get('/v1/orgs/org-1/settings/integration-access').set(bearer(t)) },
  [key('PUT', P.orgSettings)]: {
    call: (app, t) => request(app).put('/v1/orgs/org-1/settings/integration-access').set(bearer(t)).send({ managersWriteMcpServers: false }),
  },
  [key('PATCH', P.orgSettings)]: {
    call: (app, t) => request(app).patch('/v1/orgs/org-1/settings/integration-access').set(bearer(t)).send({ managersWriteMcpServers: false }),
  },
  [key('GET', P.workspaceSettings)]: { call: (app, t) => request(app).get('/v1/orgs/org-1/workspaces/ws-1/settings/integration-access').set(bearer(t)) },
  [key('PUT', P.workspaceSettings)]: {
    call: (app, t) => request(app).put('/v1/orgs/org-1/workspaces/ws-1/settings/integration-access').set(bearer(t)).send({ managersWriteMcpServers: true }),
  },
  [key('PATCH', P.workspaceSettings)]: {
    call: (app, t) => request(app).patch('/v1/orgs/org-1/workspaces/ws-1/settings/integration-access').set(bearer(t)).send({ managersWriteMcpServers: true }),
  },
  [key('DELETE', P.workspaceSettings)]: {
    setUp: (app) => request(app).put('/v1/orgs/org-1/workspaces/ws-1/settings/integration-access').set(admin).send({}).expect(200),
    call: (app, t) => request(app).delete('/v1/orgs/org-1/workspaces/ws-1/settings/integration-access').set(bearer(t)),
  },
  [key('GET', P.effectiveSettings)]: { call: (app, t) => request(app).get('/v1/orgs/org-1/workspaces/ws-1/effective-settings').set(bearer(t)) },
  [key('GET', P.access)]: { call: (app, t) => request(app).get('/v1/orgs/org-1/workspaces/ws-1/access').set(bearer(t)) },
  [key('POST', P.access)]: { call: (app, t) => request(app).post('/v1/orgs/org-1/workspaces/ws-1/access').set(bearer(t)).send({}) },
  [key('PUT', P.workspace)]: { call: (app, t) => request(app).put('/v1/orgs/org-1/workspaces/ws-9').set(bearer(t)) },
  [key('DELETE', P.workspace)]: {
    setUp: (app) =>
      request(app)
        .put('/v1/orgs/org-1/workspaces/ws-9')
        .set(admin)
        .expect((res) => assert.ok(res.status === 200 || res.status === 201)),
    call: (app, t) => request(app).delete('/v1/orgs/org-1/workspaces/ws-9').set(bearer(t)),
  },
  [key('GET', P.workspaces)]: { call: (app, t) => request(app).get('/v1/orgs/org-1/workspaces').set(bearer(t)) },
  [key('POST', P.apiKeys)]: {
    call: (app, t) =>
      request(app)
        .post('/v1/orgs/org-1/api-keys')
        .set(bearer(t))
        .send({ type: 'organisation-service', scopes: ['mcp_servers.read'] }),
  },
  [key('GET', P.apiKeys)]: { call: (app, t) => request(app).get('/v1/orgs/org-1/api-keys').set(bearer(t)) },
  [key('GET', P.apiKey)]: { setUp: registerKey, call: (app, t) => request(app).get(`/v1/orgs/org-1/api-keys/${keyId}`).set(bearer(t)) },
  [key('DELETE', P.apiKey)]: { setUp: registerKey, call: (app, t) => request(app).delete(`/v1/orgs/org-1/api-keys/${keyId}`).set(bearer(t)) },
  [key('POST', P.rotateApiKey)]: { setUp: registerKey, call: (app, t) => request(app).post(`/v1/orgs/org-1/api-keys/${keyId}/rotate`).set(bearer(t)) },
  [key('GET', P.token)]: { call: (app, t) => request(app).get('/v1/token').set(bearer(t)) },
  [key('GET', P.adminApi)]: { call: (app, t) => request(app).get('/v1/admin-api').set(bearer(t)) },
  [key('GET', P.auditDecisions)]: { call: (app, t) => request(app).get('/v1/audit/decisions?orgId=org-1').set(bearer(t)) },
  [key('GET', P.auditDecision)]: { call: (app, t) => request(app).get(`/v1/audit/decisions/${decisionId}`).set(bearer(t)) },
  [key('GET', P.auditSummary)]: { call: (app, t) => request(app).get('/v1/audit/summary?orgId=org-1').set(bearer(t)) },
  [key('GET', P.auditSettingsChanges)]: { call: (app, t) => request(app).get('/v1/audit/settings-changes?orgId=org-1').set(bearer(t)) },
  [key('POST', P.replay)]: {
    call: (app, t) =>
      request(app)
        .post('/v1/audit/replay')
        .set(bearer(t))
        .send({ filter: { orgId: 'org-1', from: '2020-01-01T00:00:00Z' } }),
  },
};

const ENDPOINTS: Endpoint[] = ADMIN_ROUTES.flatMap((route) => {
  const call = CALLS[key(route.method, route.path)];
  return call ? [{ name: key(route.method, route.path), scope: route.scope, ...call }] : [];
});

test('every route of ADMIN_ROUTES has a call here, and every call is a route of the table', () => {
  const routes = ADMIN_ROUTES.map((route) => key(route.method, route.path)).sort();
  assert.deepEqual(Object.keys(CALLS).sort(), routes);
});

const kinds = [
  { name: 'memory', make: () => testSidecar({ adminTokensFile: tokensFile }) },
  { name: 'redis', make: () => testSidecar({ adminTokensFile: tokensFile, redisUrl: redis.url, auditFlushMs: 10 }) },
];

for (const kind of kinds) {
  describe(`every admin endpoint × scope (${kind.name})`, () => {
    let sidecar: Sidecar;

    before(async () => {
      sidecar = await kind.make();
      decisionId = (await request(sidecar.app).post('/v1/authorize').send(decisionRequest()).expect(200)).body.decisionId;
      await sidecar.audit.flush();
    });
    after(() => sidecar.close());

    for (const endpoint of ENDPOINTS) {
      test(`${endpoint.name}: needs ${endpoint.scope ?? 'any admin token'}`, async () => {
        const app = sidecar.app;
        if (endpoint.scope === null) {
          // The route describes the token itself: every token may ask, no token may not.
          for (const token of Object.values(TOKENS)) assert.equal((await endpoint.call(app, token)).status, 200);
          for (const token of [undefined, 'not-a-token']) assert.equal((await endpoint.call(app, token)).status, 401);
          return;
        }
        await endpoint.setUp?.(app);
        const ok = await endpoint.call(app, TOKENS[SCOPED[endpoint.scope]]);
        assert.ok(ok.status >= 200 && ok.status < 300, `${ok.status} ${JSON.stringify(ok.body)}`);
        await endpoint.setUp?.(app);
        assert.ok((await endpoint.call(app, TOKENS.org1)).status < 300, 'a token of org-1 with every scope');
        for (const scope of Object.keys(SCOPED) as AdminScope[]) {
          if (scope === endpoint.scope) continue;
          const res = await endpoint.call(app, TOKENS[SCOPED[scope]]);
          assert.equal(res.status, 403);
          assert.equal(res.body.code, 'insufficient_scope');
          assert.match(res.body.message, new RegExp(`"${SCOPED[scope]}" lacks the scope ${endpoint.scope}`));
        }
        await endpoint.setUp?.(app);
        const otherOrg = await endpoint.call(app, TOKENS.org2);
        if (endpoint.name === key('GET', P.auditDecision)) {
          // Another organization's decision ids are not confirmed: as if there were none.
          assert.equal(otherOrg.status, 404);
          assert.equal(otherOrg.body.code, 'resource_not_found');
        } else {
          assert.equal(otherOrg.status, 403);
          assert.equal(otherOrg.body.code, 'org_not_allowed');
          assert.match(otherOrg.body.message, /"org-2 team" may not touch organization "org-1"/);
        }
        for (const token of [undefined, 'not-a-token', hex(TOKENS.writer)]) {
          const res = await endpoint.call(app, token);
          assert.equal(res.status, 401);
          assert.equal(res.body.code, 'unauthorized');
        }
      });
    }

    test("an org-restricted token cannot claim a workspace id: only the control plane's unrestricted tokens register new ones", async () => {
      const app = sidecar.app;
      const hijack = `ws-unclaimed-${kind.name}`;
      for (const call of [
        request(app).put(`/v1/orgs/org-1/workspaces/${hijack}`).set(bearer(TOKENS.org1)),
        request(app).put(`/v1/orgs/org-1/workspaces/${hijack}/settings/integration-access`).set(bearer(TOKENS.org1)).send({}),
      ]) {
        const res = await call;
        assert.equal(res.status, 403, JSON.stringify(res.body));
        assert.equal(res.body.code, 'workspace_not_registered');
      }
      assert.equal(await sidecar.store.workspaceOrg(hijack), null, 'nothing was registered');
      // Its owner's registration (the control plane's token) is then the one that counts.
      await request(app).put(`/v1/orgs/org-2/workspaces/${hijack}`).set(bearer(ADMIN_TOKEN)).expect(201);
      assert.equal((await request(app).put(`/v1/orgs/org-2/workspaces/${hijack}/settings/integration-access`).set(bearer(TOKENS.org2)).send({})).status, 200);
      assert.equal((await request(app).put(`/v1/orgs/org-1/workspaces/${hijack}/settings/integration-access`).set(bearer(TOKENS.org1)).send({})).status, 403);
    });

    test('an org-restricted token works in its own organizations', async () => {
      const app = sidecar.app;
      await request(app).put('/v1/orgs/org-3/settings/integration-access').set(bearer(TOKENS.org2)).send({ managersWriteWsIntegrations: false }).expect(200);
      await request(app).get('/v1/orgs/org-2/settings/integration-access').set(bearer(TOKENS.org2)).expect(200);
      const id = (
        await request(app)
          .post('/v1/authorize')
          .send(decisionRequest({ orgId: 'org-2', workspaceId: 'ws-20', workspaceRoles: { 'ws-20': 'manager' } }))
          .expect(200)
      ).body.decisionId;
      await sidecar.audit.flush();
      assert.equal((await request(app).get(`/v1/audit/decisions/${id}`).set(bearer(TOKENS.org2)).expect(200)).body.orgId, 'org-2');
      await request(app).get(`/v1/audit/decisions/${id}`).set(bearer(TOKENS.org1)).expect(404);
      await request(app).get('/v1/audit/decisions/no-such-decision').set(bearer(TOKENS.org2)).expect(404);
    });
  });
}

describe('who changed settings (redis)', () => {
  let sidecar: Sidecar;
  before(async () => {
    sidecar = await testSidecar({ adminTokensFile: tokensFile, redisUrl: redis.url, auditFlushMs: 10 });
  });
  after(() => sidecar.close());

  const changes = async (orgId: string) => {
    await sidecar.audit.flush();
    return (await request(sidecar.app).get(`/v1/audit/settings-changes?orgId=${orgId}`).set(admin).expect(200)).body.changes as Array<{
      actor: string;
      note?: string;
      operation: string;
    }>;
  };

  test('the actor is the token name; X-Actor is a note, masked when it looks like a credential, and bounded', async () => {
    const app = sidecar.app;
    const put = (actor: string) =>
      request(app).put('/v1/orgs/org-5/settings/integration-access').set(bearer(TOKENS.writer)).set('X-Actor', actor).send({}).expect(200);
    const notes = [
      'alice@example.com',
      `Bearer ${TOKENS.auditor}`,
      TOKENS.reader,
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl',
      'deploy-bot via sk-live-4f1c9a7e2b8d3e6b0a51c5f9',
      `me (${TOKENS.reader})`,
      `me ${TOKENS.reader}.`,
      'token:sk_live_4f1c9a7e2b8d3e6b0a51c5f9!',
      'x'.repeat(1000),
    ];
    for (const note of notes) await put(note);
    await request(app).put('/v1/orgs/org-5/settings/integration-access').set(bearer(TOKENS.writer)).send({}).expect(200);
    const recorded = (await changes('org-5')).reverse();
    assert.deepEqual(
      recorded.map((c) => c.actor),
      Array(10).fill('writer'),
    );
    assert.deepEqual(
      recorded.map((c) => c.note),
      ['alice@example.com', ...Array(7).fill('[redacted]'), 'x'.repeat(256), undefined],
    );
  });

  test('directory changes are recorded under the token name too', async () => {
    await request(sidecar.app).put('/v1/orgs/org-6/workspaces/ws-61').set(bearer(TOKENS.org1)).expect(403);
    await request(sidecar.app).put('/v1/orgs/org-6/workspaces/ws-61').set(bearer(TOKENS.writer)).expect(201);
    await request(sidecar.app).delete('/v1/orgs/org-6/workspaces/ws-61').set(admin).expect(204);
    assert.deepEqual(
      (await changes('org-6')).map((c) => [c.operation, c.actor]),
      [
        ['unregister_workspace', 'admin'],
        ['register_workspace', 'writer'],
      ],
    );
  });

  test('no token text is in any Redis key or value', async () => {
    // Give every token to the sidecar in every place a caller could put it.
    for (const token of [...Object.values(TOKENS), ADMIN_TOKEN]) {
      await request(sidecar.app)
        .put('/v1/orgs/org-7/workspaces/ws-7/settings/integration-access')
        .set(bearer(TOKENS.writer))
        .set('X-Actor', token)
        .send({})
        .expect(200);
      await request(sidecar.app)
        .put('/v1/orgs/org-7/settings/integration-access')
        .set(bearer(TOKENS.writer))
        .set('X-Actor', `Bearer ${token}`)
        .send({})
        .expect(200);
      await request(sidecar.app).get('/v1/orgs/org-7/settings/integration-access').set(bearer(token)).set('X-Actor', `token=${token}`);
    }
    await sidecar.audit.flush();
    const client = new Redis(redis.url);
    try {
      let dump = '';
      for (const key of await client.keys('*')) {
        dump += `${key}\n`;
        const type = await client.type(key);
        if (type === 'string') dump += await client.get(key);
        else if (type === 'hash') dump += JSON.stringify(await client.hgetall(key));
        else if (type === 'zset') dump += JSON.stringify(await client.zrange(key, '0', '-1'));
        else if (type === 'stream') dump += JSON.stringify(await client.xrange(key, '-', '+'));
        else if (type === 'set') dump += JSON.stringify(await client.smembers(key));
        else if (type === 'list') dump += JSON.stringify(await client.lrange(key, '0', '-1'));
        else assert.fail(`a key of type ${type} is not scanned: ${key}`);
      }
      assert.match(dump, /org-7/, 'the scan sees the records written');
      assert.match(dump, /\[redacted\]/);
      for (const token of [...Object.values(TOKENS), ADMIN_TOKEN]) {
        assert.ok(!dump.includes(token), 'a token is stored in Redis');
        assert.ok(!dump.includes(hex(token)), 'a token hash is stored in Redis');
      }
    } finally {
      client.disconnect();
    }
  });
});
