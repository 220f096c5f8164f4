// The API-key registry and its admin API on the embedded store, one Redis and a Redis
// Cluster: a key is shown once and stored as a hash; listing never shows it; rotation kills
// the old key; revocation kills the key and keeps the record; another organization's token
// neither sees nor changes a key; every change is in the settings audit trail; bad input is
// a 400 naming the field.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { KeyRefusedError } from '../../src/apikeys/registry.ts';
import { scanKeys } from '../../src/redis/clients.ts';
import type { RedisSettingsStore } from '../../src/settings/redis.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN, registerWorkspaces } from '../support/sidecar.ts';
import { bothStores } from '../support/stores.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const kinds = bothStores();

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (error: unknown) => (error instanceof KeyRefusedError ? error.refusal : `threw ${String(error)}`),
  );

for (const kind of kinds) {
  describe(`API-key registry (${kind.name})`, () => {
    let sidecar: Sidecar;
    before(async () => {
      sidecar = await kind.make();
      await registerWorkspaces(sidecar, { 'ws-k1': 'org-k', 'ws-k2': 'org-k', 'ws-other': 'org-other' });
    });
    after(() => sidecar.close());

    const keys = (orgId: string) => `/v1/orgs/${orgId}/api-keys`;
    const register = (orgId: string, body: object) => request(sidecar.app).post(keys(orgId)).set(auth).send(body);
    const userKey = {
      type: 'workspace-user',
      workspaceId: 'ws-k1',
      scopes: ['mcp_servers.create', 'mcp_servers.read'],
      user: { id: 'u-1', orgRole: 'member', workspaceRoles: { 'ws-k1': 'manager' } },
    };

    test('register answers the key once with its record; the record and the listing never show the key or its hash', async () => {
      const res = await register('org-k', userKey).expect(201);
      assert.equal(res.headers['cache-control'], 'no-store');
      const { key, apiKey } = res.body;
      assert.match(key, /^key-[0-9a-f]{24}\.[A-Za-z0-9_-]{43}$/);
      assert.ok(key.startsWith(`${apiKey.id}.`));
      assert.deepEqual(
        { ...apiKey, createdAt: undefined },
        {
          id: apiKey.id,
          type: 'workspace-user',
          orgId: 'org-k',
          workspaceId: 'ws-k1',
          scopes: userKey.scopes,
          user: userKey.user,
          createdBy: 'admin',
          createdAt: undefined,
        },
      );
      const secret = key.split('.')[1];
      const read = await request(sidecar.app)
        .get(`${keys('org-k')}/${apiKey.id}`)
        .set(auth)
        .expect(200);
      const listed = await request(sidecar.app).get(keys('org-k')).set(auth).expect(200);
      for (const body of [read.body, listed.body]) {
        const text = JSON.stringify(body);
        assert.ok(!text.includes(secret) && !text.includes('sha256'), text);
      }
      assert.deepEqual(read.body, apiKey);
      assert.ok(listed.body.apiKeys.some((k: { id: string }) => k.id === apiKey.id));
      assert.deepEqual(await sidecar.keys.resolve(key), apiKey);
    });

    if (kind.name !== 'memory') {
      test('Redis holds the SHA-256 of the key, never the key', async () => {
        const { key, apiKey } = (await register('org-k', { type: 'organisation-service', scopes: ['prompts.read'] }).expect(201)).body;
        const redis = (sidecar.store as RedisSettingsStore).redis;
        const stored = await redis.get(`portcullis:apikey:{${apiKey.id}}`);
        assert.ok(stored);
        assert.ok(!stored.includes(key.split('.')[1]));
        assert.equal(JSON.parse(stored).sha256, (await import('node:crypto')).createHash('sha256').update(key).digest('hex'));
        for await (const batch of scanKeys(redis, 'portcullis:*'))
          for (const name of batch) {
            const type = await redis.type(name);
            if (type === 'string') assert.ok(!(await redis.get(name))!.includes(key.split('.')[1]), name);
          }
      });
    }

    test('rotation answers a new key, and the old one is refused from then on', async () => {
      const { key, apiKey } = (await register('org-k', { type: 'workspace-service', workspaceId: 'ws-k2', scopes: ['mcp_servers.create'] }).expect(201)).body;
      const rotated = await request(sidecar.app)
        .post(`${keys('org-k')}/${apiKey.id}/rotate`)
        .set(auth)
        .expect(200);
      assert.notEqual(rotated.body.key, key);
      assert.equal(rotated.body.apiKey.id, apiKey.id);
      assert.equal(rotated.body.apiKey.rotatedBy, 'admin');
      assert.equal(await refusal(sidecar.keys.resolve(key)), 'unknown');
      assert.equal((await sidecar.keys.resolve(rotated.body.key)).id, apiKey.id);
    });

    test('revocation refuses the key and keeps the record; a revoked key cannot be rotated back', async () => {
      const { key, apiKey } = (await register('org-k', { type: 'organisation-service', scopes: ['mcp_servers.read'] }).expect(201)).body;
      const revoked = await request(sidecar.app)
        .delete(`${keys('org-k')}/${apiKey.id}`)
        .set(auth)
        .expect(200);
      assert.equal(revoked.body.revokedBy, 'admin');
      assert.ok(revoked.body.revokedAt);
      assert.equal(await refusal(sidecar.keys.resolve(key)), 'revoked');
      assert.deepEqual(
        (
          await request(sidecar.app)
            .delete(`${keys('org-k')}/${apiKey.id}`)
            .set(auth)
            .expect(200)
        ).body,
        revoked.body,
        'revoking again changes nothing',
      );
      const again = await request(sidecar.app)
        .post(`${keys('org-k')}/${apiKey.id}/rotate`)
        .set(auth)
        .expect(409);
      assert.equal(again.body.code, 'api_key_revoked');
      assert.equal(await refusal(sidecar.keys.resolve(key)), 'revoked');
    });

    test('presented keys that are not ours, or look-alikes of one, are refused', async () => {
      const { key } = (await register('org-k', { type: 'organisation-service', scopes: ['mcp_servers.read'] }).expect(201)).body;
      const last = key.at(-1) === 'A' ? 'B' : 'A';
      for (const [presented, expected] of [
        [`${key.slice(0, -1)}${last}`, 'unknown'],
        [`key-${'0'.repeat(24)}.${key.split('.')[1]}`, 'unknown'],
        [key.toUpperCase(), 'malformed'],
        [`${key} `, 'malformed'],
        [`${key}\u0000`, 'malformed'],
        [`${key}\r\nx: y`, 'malformed'],
        ['', 'malformed'],
        ['\ud800', 'malformed'],
        ['x'.repeat(100_000), 'malformed'],
      ])
        assert.equal(await refusal(sidecar.keys.resolve(presented)), expected, JSON.stringify(presented.slice(0, 80)));
    });

    test("another organization's key is answered 404 to every verb, and is left as it was", async () => {
      const { key, apiKey } = (await register('org-other', { type: 'workspace-service', workspaceId: 'ws-other', scopes: ['prompts.read'] }).expect(201)).body;
      for (const call of [
        request(sidecar.app)
          .get(`${keys('org-k')}/${apiKey.id}`)
          .set(auth),
        request(sidecar.app)
          .delete(`${keys('org-k')}/${apiKey.id}`)
          .set(auth),
        request(sidecar.app)
          .post(`${keys('org-k')}/${apiKey.id}/rotate`)
          .set(auth),
      ]) {
        const res = await call;
        assert.equal(res.status, 404, JSON.stringify(res.body));
        assert.equal(res.body.code, 'resource_not_found');
      }
      const listed = await request(sidecar.app).get(keys('org-k')).set(auth).expect(200);
      assert.ok(!listed.body.apiKeys.some((k: { id: string }) => k.id === apiKey.id));
      assert.equal((await sidecar.keys.resolve(key)).id, apiKey.id, 'still alive');
    });

    test('the listing is paged by key id, each key once', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await register('org-page', { type: 'organisation-service', scopes: ['logs.view'] }).expect(201)).body.apiKey.id);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: request.Response = await request(sidecar.app)
          .get(`${keys('org-page')}?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
          .set(auth)
          .expect(200);
        seen.push(...res.body.apiKeys.map((k: { id: string }) => k.id));
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      assert.deepEqual(seen, ids.sort());
      assert.equal(pages, 3);
    });

    test('every change is a settings-audit record naming the key by id, never the key', async () => {
      const { key, apiKey } = (await register('org-audited', { type: 'organisation-service', scopes: ['logs.view'] }).expect(201)).body;
      const rotated = (
        await request(sidecar.app)
          .post(`${keys('org-audited')}/${apiKey.id}/rotate`)
          .set(auth)
          .expect(200)
      ).body.key;
      await request(sidecar.app)
        .delete(`${keys('org-audited')}/${apiKey.id}`)
        .set(auth)
        .expect(200);
      await sidecar.audit.flush();
      const changes = (await request(sidecar.app).get('/v1/audit/settings-changes?orgId=org-audited').set(auth).expect(200)).body.changes;
      assert.deepEqual(
        changes.map((c: { operation: string; actor: string; after: { id: string } }) => [c.operation, c.actor, c.after.id]),
        [
          ['revoke_api_key', 'admin', apiKey.id],
          ['rotate_api_key', 'admin', apiKey.id],
          ['register_api_key', 'admin', apiKey.id],
        ],
      );
      const text = JSON.stringify(changes);
      for (const secret of [key, rotated].map((k: string) => k.split('.')[1]!)) assert.ok(!text.includes(secret));
      assert.ok(!text.includes('sha256'));
    });

    test('bad register bodies and ids are 400s naming the field; a workspace of another organization is refused', async () => {
      const cases: [object, RegExp][] = [
        [{ type: 'admin', scopes: ['a.b'] }, /type: must be one of organisation-service, workspace-service, workspace-user/],
        [{ type: 'organisation-service', workspaceId: 'ws-k1', scopes: ['a.b'] }, /workspaceId: an organisation-service key reaches every workspace/],
        [{ type: 'workspace-service', scopes: ['a.b'] }, /workspaceId: a workspace key names its workspace: is required/],
        [{ type: 'workspace-service', workspaceId: 'ws\u0000', scopes: ['a.b'] }, /workspaceId: .*control/],
        [{ type: 'organisation-service', scopes: [] }, /scopes: must be a list of 1 to/],
        [{ type: 'organisation-service', scopes: ['mcp_servers.create', 'mcp_servers.create'] }, /scopes\[1\]: repeats mcp_servers.create/],
        [{ type: 'organisation-service', scopes: ['MCP.create'] }, /scopes\[0\]: must be a scope/],
        [{ type: 'organisation-service', scopes: ['a.b'], key: 'mine' }, /"key": is not a field here/],
        [{ type: 'workspace-user', workspaceId: 'ws-k1', scopes: ['a.b'] }, /user: a workspace-user key needs its user/],
        [
          { type: 'workspace-user', workspaceId: 'ws-k1', scopes: ['a.b'], user: { id: 'u', orgRole: 'root' } },
          /user.orgRole: must be one of owner, admin, member/,
        ],
        [{ type: 'workspace-service', workspaceId: 'ws-k1', scopes: ['a.b'], user: userKey.user }, /user: only a workspace-user key belongs to a user/],
      ];
      for (const [body, expected] of cases) {
        const res = await register('org-k', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.code, 'invalid_parameter');
        assert.match(res.body.message, expected);
      }
      const foreign = await register('org-k', { type: 'workspace-service', workspaceId: 'ws-other', scopes: ['a.b'] });
      assert.equal(foreign.status, 403);
      assert.equal(foreign.body.code, 'workspace_not_registered');
      for (const path of [`${keys('org-k')}/not-a-key`, `${keys('org-k')}/key-${'0'.repeat(24)}x`])
        assert.equal((await request(sidecar.app).get(path).set(auth).expect(400)).body.errors[0].field, 'keyId');
      assert.equal(
        (
          await request(sidecar.app)
            .get(`${keys('org-k')}/key-${'0'.repeat(24)}`)
            .set(auth)
            .expect(404)
        ).body.code,
        'resource_not_found',
      );
      assert.equal(
        (
          await request(sidecar.app)
            .get(`${keys('org-k')}?cursor=abc`)
            .set(auth)
            .expect(400)
        ).body.errors[0].field,
        'cursor',
      );
      assert.equal((await request(sidecar.app).put(keys('org-k')).set(auth).expect(405)).headers.allow, 'POST, GET, HEAD');
    });
  });
}
