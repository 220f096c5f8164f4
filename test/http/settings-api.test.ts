// The settings admin API without lost updates, on both settings stores: ETag and
// If-Match (412 for a stale one, two clients racing), PATCH as a JSON merge patch,
// `"stored": false` for what was never stored, and 405 with Allow for a wrong method.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN } from '../support/sidecar.ts';
import { bothStores } from '../support/stores.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const kinds = bothStores();

const orgPath = (orgId: string) => `/v1/orgs/${orgId}/settings/integration-access`;
const wsPath = (orgId: string, workspaceId: string) => `/v1/orgs/${orgId}/workspaces/${workspaceId}/settings/integration-access`;

for (const kind of kinds) {
  describe(`settings API without lost updates (${kind.name})`, () => {
    let sidecar: Sidecar;
    before(async () => (sidecar = await kind.make()));
    after(() => sidecar.close());
    const api = () => request(sidecar.app);

    test('two clients racing: both read the same ETag, the first PUT wins, the stale one gets 412 and changes nothing', async () => {
      await api().put(orgPath('race')).set(auth).send({ managersWriteMcpServers: true }).expect(200);
      const [a, b] = await Promise.all([api().get(orgPath('race')).set(auth).expect(200), api().get(orgPath('race')).set(auth).expect(200)]);
      assert.equal(a.headers.etag, b.headers.etag);
      assert.equal(a.headers.etag, `"${a.headers['x-settings-version']}"`);
      const won = await api().put(orgPath('race')).set(auth).set('If-Match', a.headers.etag!).send({ managersWriteMcpServers: false }).expect(200);
      assert.notEqual(won.headers.etag, a.headers.etag);
      const lost = await api().put(orgPath('race')).set(auth).set('If-Match', b.headers.etag!).send({ managersWriteWsIntegrations: false }).expect(412);
      assert.equal(lost.body.code, 'precondition_failed');
      assert.equal(lost.body.etag, won.headers.etag);
      assert.match(lost.body.message, new RegExp(won.headers.etag!));
      assert.equal(lost.headers.etag, won.headers.etag);
      const now = await api().get(orgPath('race')).set(auth).expect(200);
      assert.equal(now.body.managersWriteMcpServers, false);
      assert.equal(now.body.managersWriteWsIntegrations, true, 'the stale write was not made');
      assert.equal(now.headers.etag, won.headers.etag);
    });

    test('many concurrent conditional writes with one ETag: exactly one succeeds', async () => {
      const { headers } = await api().get(orgPath('crowd')).set(auth).expect(200);
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          api()
            .put(orgPath('crowd'))
            .set(auth)
            .set('If-Match', headers.etag!)
            .send({ managersWriteMcpServers: i % 2 === 0 }),
        ),
      );
      assert.deepEqual(answers.map((r) => r.status).sort(), [200, 412, 412, 412, 412, 412, 412, 412]);
    });

    test('a workspace write changes the organization ETag; If-Match applies to workspace PUT, PATCH and DELETE', async () => {
      const org = await api().put(orgPath('wsorg')).set(auth).send({}).expect(200);
      const ws = await api().put(wsPath('wsorg', 'ws-e')).set(auth).set('If-Match', org.headers.etag!).send({ managersWriteMcpServers: false }).expect(200);
      assert.notEqual(ws.headers.etag, org.headers.etag);
      await api().put(orgPath('wsorg')).set(auth).set('If-Match', org.headers.etag!).send({}).expect(412);
      await api().patch(wsPath('wsorg', 'ws-e')).set(auth).set('If-Match', org.headers.etag!).send({ managersWriteWsIntegrations: true }).expect(412);
      await api().delete(wsPath('wsorg', 'ws-e')).set(auth).set('If-Match', org.headers.etag!).expect(412);
      assert.deepEqual((await api().get(wsPath('wsorg', 'ws-e')).set(auth).expect(200)).body, { managersWriteMcpServers: false });
      await api().delete(wsPath('wsorg', 'ws-e')).set(auth).set('If-Match', `"1", ${ws.headers.etag}`).expect(204);
      assert.deepEqual((await api().get(wsPath('wsorg', 'ws-e')).set(auth).expect(200)).body, { stored: false });
    });

    test('a malformed If-Match is a 400 naming it; * means any version', async () => {
      const bad = await api().put(orgPath('im')).set(auth).set('If-Match', '12').send({}).expect(400);
      assert.equal(bad.body.errors[0].field, 'If-Match');
      await api().put(orgPath('im')).set(auth).set('If-Match', '*').send({}).expect(200);
    });

    test('a weak ETag never matches If-Match: 412, also beside a strong one that does not match', async () => {
      const { headers } = await api().put(orgPath('weak')).set(auth).send({}).expect(200);
      const version = (headers.etag as string).replaceAll('"', '');
      await api().put(orgPath('weak')).set(auth).set('If-Match', `W/"${version}"`).send({}).expect(412);
      await api().put(orgPath('weak')).set(auth).set('If-Match', `W/"${version}", "999"`).send({}).expect(412);
      await api().put(orgPath('weak')).set(auth).set('If-Match', `W/"${version}", "${version}"`).send({}).expect(200);
    });

    test('a PATCH that is refused (invalid, or its If-Match fails) registers no workspace', async () => {
      await api()
        .patch(wsPath('org-refused', `ws-refused-${kind.name}`))
        .set(auth)
        .set('If-Match', '"7"')
        .send({})
        .expect(412);
      await api()
        .patch(wsPath('org-refused', `ws-refused-${kind.name}`))
        .set(auth)
        .send({ bogus: 1 })
        .expect(400);
      assert.equal(await sidecar.store.workspaceOrg(`ws-refused-${kind.name}`), null);
      await api()
        .patch(wsPath('org-refused', `ws-refused-${kind.name}`))
        .set(auth)
        .send({ managersWriteMcpServers: false })
        .expect(200);
      assert.equal(await sidecar.store.workspaceOrg(`ws-refused-${kind.name}`), 'org-refused');
    });

    test('PATCH is a JSON merge patch: fields merge, null removes (back to the default), the result is validated', async () => {
      await api()
        .put(orgPath('patch'))
        .set(auth)
        .send({ managersWriteMcpServers: false, allowWorkspaceOverrides: { managersWriteMcpServers: true } })
        .expect(200);
      const patched = await api()
        .patch(orgPath('patch'))
        .set(auth)
        .set('Content-Type', 'application/merge-patch+json')
        .send({ managersWriteWsIntegrations: false, allowWorkspaceOverrides: { managersWriteWsIntegrations: true } })
        .expect(200);
      assert.equal(patched.body.managersWriteMcpServers, false, 'a field the patch left out is kept');
      assert.equal(patched.body.managersWriteWsIntegrations, false);
      assert.deepEqual(patched.body.allowWorkspaceOverrides, {
        managersWriteWsIntegrations: true,
        managersWriteWsMcpIntegrations: false,
        managersWriteMcpServers: true,
      });
      const removed = await api().patch(orgPath('patch')).set(auth).send({ managersWriteMcpServers: null, allowWorkspaceOverrides: null }).expect(200);
      assert.equal(removed.body.managersWriteMcpServers, true);
      assert.deepEqual((await sidecar.store.readOrg('patch', 'integration-access')).settings, { managersWriteWsIntegrations: false });
      const typo = await api().patch(orgPath('patch')).set(auth).send({ managersWriteMcpServer: false }).expect(400);
      assert.equal(typo.body.errors[0].field, 'managersWriteMcpServer');
      await api().patch(orgPath('patch')).set(auth).send({ managersWriteMcpServers: 'no' }).expect(400);
      await api().patch(orgPath('patch')).set(auth).send([1]).expect(400);
      await api().patch(orgPath('patch')).set(auth).send(JSON.parse('{"__proto__": {"managersWriteMcpServers": false}}')).expect(400);
      assert.deepEqual(
        (await sidecar.store.readOrg('patch', 'integration-access')).settings,
        { managersWriteWsIntegrations: false },
        'refused patches wrote nothing',
      );
      const ws = await api().patch(wsPath('patch', 'ws-p')).set(auth).send({ managersWriteMcpServers: false }).expect(200);
      assert.deepEqual(ws.body, { managersWriteMcpServers: false });
      assert.deepEqual(
        (await api().patch(wsPath('patch', 'ws-p')).set(auth).send({ managersWriteMcpServers: null, managersWriteWsIntegrations: true }).expect(200)).body,
        { managersWriteWsIntegrations: true },
      );
      assert.equal(await sidecar.store.workspaceOrg('ws-p'), 'patch', 'PATCH registers its workspace like PUT');
      await sidecar.audit.flush();
      const changes = await sidecar.audit.querySettingsChanges({ orgId: 'patch' }, { limit: 100 });
      const patches = changes.items.filter((c) => c.operation === 'patch_org');
      assert.equal(patches.length, 2);
      assert.ok(patches.some((c) => JSON.stringify(c.after) === JSON.stringify({ managersWriteWsIntegrations: false })));
    });

    test('PATCHes racing without If-Match are applied one after another: none is lost', async () => {
      await api().put(orgPath('merge')).set(auth).send({}).expect(200);
      await Promise.all([
        api().patch(orgPath('merge')).set(auth).send({ managersWriteMcpServers: false }).expect(200),
        api().patch(orgPath('merge')).set(auth).send({ managersWriteWsIntegrations: false }).expect(200),
      ]);
      assert.deepEqual((await sidecar.store.readOrg('merge', 'integration-access')).settings, {
        managersWriteMcpServers: false,
        managersWriteWsIntegrations: false,
      });
    });

    test('what was never stored says so: 200 with "stored": false, the defaults shown, and an ETag to create it with', async () => {
      const org = await api().get(orgPath('never')).set(auth).expect(200);
      assert.equal(org.body.stored, false);
      assert.equal(org.body.managersWriteMcpServers, true);
      assert.equal(org.headers.etag, '"0"');
      await api().put(orgPath('never')).set(auth).set('If-Match', '"0"').send({}).expect(200);
      const stored = await api().get(orgPath('never')).set(auth).expect(200);
      assert.equal('stored' in stored.body, false);
      await api().put(orgPath('never')).set(auth).set('If-Match', '"0"').send({}).expect(412);
      assert.deepEqual((await api().get(wsPath('never', 'ws-x')).set(auth).expect(200)).body, { stored: false });
    });

    test('a wrong method on every known admin path is a 405 with Allow', async () => {
      const cases: [string, string, string][] = [
        ['post', orgPath('org-1'), 'GET, HEAD, PUT, PATCH'],
        ['delete', orgPath('org-1'), 'GET, HEAD, PUT, PATCH'],
        ['post', wsPath('org-1', 'ws-1'), 'GET, HEAD, PUT, PATCH, DELETE'],
        ['get', '/v1/orgs/org-1/workspaces/ws-1', 'PUT, DELETE'],
        ['patch', '/v1/orgs/org-1/workspaces/ws-1', 'PUT, DELETE'],
        ['post', '/v1/orgs/org-1/workspaces', 'GET, HEAD'],
      ];
      for (const [method, path, allowed] of cases) {
        const res = await (api() as unknown as Record<string, (p: string) => request.Test>)[method]!(path).set(auth).expect(405);
        assert.equal(res.headers.allow, allowed, `${method} ${path}`);
        assert.equal(res.body.code, 'method_not_allowed');
      }
    });
  });
}
