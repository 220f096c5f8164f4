// The decision cache never answers from an older bundle or older settings: each change —
// a bundle hot reload (even one with the same revision), an organization setting, a
// workspace override, the workspace directory — is followed at once by a decision that must
// reflect it, on the embedded store and on Redis, with the same request the cache has just
// answered. Read-your-writes across instances (minSettingsVersion) still holds. Every cached
// answer is still its own decision: a new id, a record of its own.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { readBundleFile } from '../../src/engine/bundle.ts';
import { PolicyEngine } from '../../src/engine/engine.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { buildBundle, denyReads } from '../faults/support.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, decisionRequest, testSidecar } from '../support/sidecar.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let redis: RedisServer;
let dir: string;
let committed: PolicyEngine;
let denyingReads: PolicyEngine;
before(async () => {
  redis = await RedisServer.start();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-cache-'));
  committed = await PolicyEngine.load(await readBundleFile('bundles/portkey.tar.gz'));
  // The same revision as the committed bundle, and another policy: the cache must tell them apart.
  denyingReads = await PolicyEngine.load(await readBundleFile(await buildBundle(dir, { revision: committed.revision, edit: denyReads })));
});
after(async () => {
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const SETTINGS = 'settings/integration-access';

for (const kind of ['memory', 'redis'] as const) {
  describe(`decision cache (${kind})`, () => {
    let sidecar: Sidecar;
    let other: Sidecar | undefined;
    const org = `org-cache-${kind}`;
    const ws = `ws-cache-${kind}`;
    const make = () => testSidecar(kind === 'redis' ? { redisUrl: redis.url, auditFlushMs: 10 } : {});
    before(async () => {
      sidecar = await make();
      await request(sidecar.app).put(`/v1/orgs/${org}/workspaces/${ws}`).set(admin).expect(201);
    });
    after(async () => {
      await other?.close();
      await sidecar?.close();
    });

    const ask = async (body: object, headers: Record<string, string> = {}) => {
      const res = await request(sidecar.app).post('/v1/authorize').set(headers).send(body).expect(200);
      return res.body as { allow: boolean; reason: string; decisionId: string; settingsVersion?: number };
    };
    const hits = async () => (await sidecar.metrics.decisionCache.get()).values.find((v) => v.labels.result === 'hit')?.value ?? 0;
    /** Asked twice: the second answer is the cache's (the first filled it), and the two are the same decision. */
    const askTwice = async (body: object) => {
      const first = await ask(body);
      const before = await hits();
      const second = await ask(body);
      assert.equal(await hits(), before + 1, 'the second answer came from the decision cache');
      assert.equal(second.allow, first.allow);
      assert.equal(second.reason, first.reason);
      assert.notEqual(second.decisionId, first.decisionId);
      return second;
    };
    const manager = decisionRequest({ orgId: org, workspaceId: ws, workspaceRoles: { [ws]: 'manager' }, action: 'create', type: 'mcp_server' });
    const putOrg = (managersWriteMcpServers: boolean) =>
      request(sidecar.app)
        .put(`/v1/orgs/${org}/${SETTINGS}`)
        .set(admin)
        .send({ managersWriteMcpServers, allowWorkspaceOverrides: { managersWriteMcpServers: true } })
        .expect(200);

    test('an organization setting change is the next decision', async () => {
      await putOrg(true);
      assert.equal((await askTwice(manager)).allow, true);
      await putOrg(false);
      assert.equal((await ask(manager)).allow, false);
      await putOrg(true);
      assert.equal((await ask(manager)).allow, true);
    });

    test('a workspace override change is the next decision', async () => {
      await putOrg(true);
      assert.equal((await askTwice(manager)).allow, true);
      await request(sidecar.app).put(`/v1/orgs/${org}/workspaces/${ws}/${SETTINGS}`).set(admin).send({ managersWriteMcpServers: false }).expect(200);
      const overridden = await ask(manager);
      assert.equal(overridden.allow, false);
      assert.equal((await ask(manager)).allow, false);
      await request(sidecar.app).delete(`/v1/orgs/${org}/workspaces/${ws}/${SETTINGS}`).set(admin).expect(204);
      assert.equal((await ask(manager)).allow, true);
    });

    test('a bundle hot reload is the next decision, even under the same revision', async () => {
      const reader = decisionRequest({ orgId: org, workspaceId: ws, workspaceRoles: { [ws]: 'member' }, action: 'read', type: 'mcp_server' });
      try {
        assert.equal((await askTwice(reader)).allow, true);
        sidecar.policy.activate(denyingReads);
        assert.equal((await ask(reader)).allow, false);
        sidecar.policy.activate(committed);
        assert.equal((await ask(reader)).allow, true);
      } finally {
        sidecar.policy.activate(committed);
      }
    });

    test('a directory change is the next decision', async () => {
      const moving = `ws-moving-${kind}`;
      const otherOrg = `${org}-other`;
      const body = decisionRequest({ orgId: org, workspaceId: moving, orgRole: 'owner', workspaceRoles: {}, action: 'delete', type: 'mcp_server' });
      await request(sidecar.app).put(`/v1/orgs/${org}/workspaces/${moving}`).set(admin).expect(201);
      assert.equal((await askTwice(body)).allow, true);
      await request(sidecar.app).delete(`/v1/orgs/${org}/workspaces/${moving}`).set(admin).expect(204);
      const unknown = await ask(body);
      assert.deepEqual([unknown.allow, unknown.reason], [false, 'unknown_workspace']);
      await request(sidecar.app).put(`/v1/orgs/${otherOrg}/workspaces/${moving}`).set(admin).expect(201);
      const moved = await ask(body);
      assert.deepEqual([moved.allow, moved.reason], [false, 'cross_org']);
    });

    test('every cached answer is recorded as its own decision', async () => {
      await putOrg(true);
      const answers = [await ask(manager), await ask(manager), await ask(manager)];
      assert.equal(new Set(answers.map((a) => a.decisionId)).size, 3);
      await sidecar.audit.flush();
      for (const answer of answers) {
        const record = await sidecar.audit.getDecision(answer.decisionId);
        assert.equal(record?.decisionId, answer.decisionId);
        assert.equal(record?.allow, true);
      }
    });

    if (kind === 'redis')
      test('read-your-writes: a change written on another instance is the next decision asked with its version', async () => {
        other = await make();
        await putOrg(true);
        assert.equal((await askTwice(manager)).allow, true);
        const written = await request(other.app)
          .put(`/v1/orgs/${org}/${SETTINGS}`)
          .set(admin)
          .send({ managersWriteMcpServers: false, allowWorkspaceOverrides: { managersWriteMcpServers: true } })
          .expect(200);
        const version = written.headers['x-settings-version'];
        assert.ok(version);
        const answer = await ask(manager, { 'X-Portcullis-Min-Settings-Version': version });
        assert.equal(answer.allow, false);
        assert.ok((answer.settingsVersion ?? 0) >= Number(version));
      });
  });
}
