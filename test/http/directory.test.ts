// The workspace directory's admin API on both settings stores: register (201/200, 409
// when another organization holds the workspace), unregister (204/404), the cursor-paged
// listing, and the workspace settings PUT that registers its workspace.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN } from '../support/sidecar.ts';
import { bothStores } from '../support/stores.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const kinds = bothStores();

for (const kind of kinds) {
  describe(`workspace directory (${kind.name})`, () => {
    let sidecar: Sidecar;
    before(async () => (sidecar = await kind.make()));
    after(() => sidecar.close());

    const put = (orgId: string, workspaceId: string) => request(sidecar.app).put(`/v1/orgs/${orgId}/workspaces/${workspaceId}`).set(auth);
    const del = (orgId: string, workspaceId: string) => request(sidecar.app).delete(`/v1/orgs/${orgId}/workspaces/${workspaceId}`).set(auth);
    const list = (orgId: string, query = '') => request(sidecar.app).get(`/v1/orgs/${orgId}/workspaces${query}`).set(auth);

    test('a workspace is registered once: 201, then 200; another organization gets 409 without learning whose it is', async () => {
      assert.deepEqual((await put('org-1', 'ws-a').expect(201)).body, { orgId: 'org-1', workspaceId: 'ws-a' });
      await put('org-1', 'ws-a').expect(200);
      const taken = await put('org-2', 'ws-a').expect(409);
      assert.equal(taken.body.code, 'workspace_owned');
      assert.doesNotMatch(taken.body.message, /org-1/);
      assert.equal(await sidecar.store.workspaceOrg('ws-a'), 'org-1');
    });

    test('unregistering: 204 for the owner, 404 for anyone else, after which another organization may take it', async () => {
      await put('org-1', 'ws-b').expect(201);
      assert.equal((await del('org-2', 'ws-b').expect(404)).body.code, 'resource_not_found');
      assert.equal(await sidecar.store.workspaceOrg('ws-b'), 'org-1');
      await del('org-1', 'ws-b').expect(204);
      await del('org-1', 'ws-b').expect(404);
      await put('org-2', 'ws-b').expect(201);
      assert.equal(await sidecar.store.workspaceOrg('ws-b'), 'org-2');
    });

    test("the listing is paged with an opaque cursor and shows only the organization's workspaces", async () => {
      const ids = ['w-1', 'w-2', 'w-3', 'w-4', 'w-5'];
      for (const id of ids) await put('org-list', id).expect(201);
      await put('org-other', 'w-0').expect(201);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: request.Response = await list('org-list', `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`).expect(200);
        assert.ok(res.body.workspaces.length <= 2);
        seen.push(...res.body.workspaces);
        cursor = res.body.nextCursor;
        if (cursor) assert.ok(!ids.includes(cursor), 'the cursor is not a bare workspace id');
        pages++;
      } while (cursor && pages < 10);
      assert.deepEqual(seen, ids);
      assert.equal(pages, 3);
      assert.deepEqual((await list('org-list').expect(200)).body, { workspaces: ids, nextCursor: null });
      assert.deepEqual((await list('org-nobody').expect(200)).body, { workspaces: [], nextCursor: null });
      assert.deepEqual((await list('org-list', '?prefix=w-3').expect(200)).body, { workspaces: ['w-3'], nextCursor: null });
      assert.deepEqual((await list('org-list', '?prefix=w-0').expect(200)).body, { workspaces: [], nextCursor: null }, "another organization's");
    });

    test('bad paging parameters are a 400 naming them', async () => {
      for (const [query, field] of [
        ['?limit=0', 'limit'],
        ['?limit=1001', 'limit'],
        ['?limit=abc', 'limit'],
        ['?limit=1&limit=2', 'limit'],
        ['?cursor=%00%01', 'cursor'],
        ['?cursor=not base64!', 'cursor'],
        [`?cursor=${Buffer.from('a\u0000b').toString('base64url')}`, 'cursor'],
        ['?after=w-1', 'after'],
        ['?prefix=%00', 'prefix'],
        ['?prefix=a&prefix=b', 'prefix'],
        [`?prefix=${'w'.repeat(300)}`, 'prefix'],
      ] as const) {
        const res = await list('org-list', query).expect(400);
        assert.deepEqual(
          res.body.errors.map((e: { field: string }) => e.field),
          [field],
          query,
        );
      }
    });

    test("a workspace settings PUT registers its workspace, and is refused for another organization's", async () => {
      const app = sidecar.app;
      await request(app).put('/v1/orgs/org-1/workspaces/ws-s/settings/integration-access').set(auth).send({ managersWriteMcpServers: false }).expect(200);
      assert.equal(await sidecar.store.workspaceOrg('ws-s'), 'org-1');
      assert.ok((await list('org-1').expect(200)).body.workspaces.includes('ws-s'));
      const refused = await request(app)
        .put('/v1/orgs/org-2/workspaces/ws-s/settings/integration-access')
        .set(auth)
        .send({ managersWriteMcpServers: true })
        .expect(409);
      assert.equal(refused.body.code, 'workspace_owned');
      assert.equal((await sidecar.store.readWorkspace('org-2', 'ws-s', 'integration-access')).settings, null, 'nothing was written for org-2');
      // Deleting a workspace's settings leaves it in the directory.
      await request(app).delete('/v1/orgs/org-1/workspaces/ws-s/settings/integration-access').set(auth).expect(204);
      assert.equal(await sidecar.store.workspaceOrg('ws-s'), 'org-1');
    });

    test('directory changes are in the settings audit trail', async () => {
      await put('org-audit', 'ws-x').expect(201);
      await put('org-audit', 'ws-x').expect(200);
      await del('org-audit', 'ws-x').expect(204);
      await sidecar.audit.flush();
      const res = await request(sidecar.app).get('/v1/audit/settings-changes?orgId=org-audit').set(auth).expect(200);
      assert.deepEqual(
        res.body.changes.map((c: { operation: string; workspaceId: string; actor: string }) => [c.operation, c.workspaceId, c.actor]),
        [
          ['unregister_workspace', 'ws-x', 'admin'],
          ['register_workspace', 'ws-x', 'admin'],
        ],
      );
    });
  });
}
