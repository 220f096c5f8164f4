// Revocation and rotation on every instance: two sidecar processes on one Redis; a key
// revoked (or rotated) through one is refused by the other from then on. Keys are not
// cached, so "from then on" is the next request; the wait below only bounds a slow machine.
// Neither process's log ever holds a key.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchSidecar, type SidecarProcess } from '../support/launch.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN } from '../support/sidecar.ts';

const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

let redis: RedisServer;
let one: SidecarProcess;
let two: SidecarProcess;

before(async () => {
  redis = await RedisServer.start();
  [one, two] = await Promise.all([launchSidecar({ REDIS_URL: redis.url }), launchSidecar({ REDIS_URL: redis.url })]);
  const registered = await fetch(`${one.url}/v1/orgs/org-1/workspaces/ws-1`, { method: 'PUT', headers: auth });
  assert.equal(registered.status, 201);
});

after(async () => {
  await Promise.all([one?.stop(), two?.stop()]);
  await redis?.stop();
});

/** The reason instance `at` gives a forward-auth check of an MCP server create with `key`. */
async function check(at: SidecarProcess, key: string): Promise<{ status: number; reason: string | null }> {
  const res = await fetch(`${at.url}/ext_authz`, {
    headers: { 'x-original-method': 'POST', 'x-original-uri': '/v1/mcp-servers', 'x-portkey-workspace-id': 'ws-1', 'x-portkey-api-key': key },
  });
  return { status: res.status, reason: res.headers.get('x-portcullis-reason') };
}

/** Asks `at` until `done` holds of the answer, for at most 10 s; the last answer. */
async function within(at: SidecarProcess, key: string, done: (answer: { status: number; reason: string | null }) => boolean) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answer = await check(at, key);
    if (done(answer) || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function register(): Promise<{ key: string; id: string }> {
  const res = await fetch(`${one.url}/v1/orgs/org-1/api-keys`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ type: 'workspace-service', workspaceId: 'ws-1', scopes: ['mcp_servers.create'] }),
  });
  assert.equal(res.status, 201);
  const body = (await res.json()) as { key: string; apiKey: { id: string } };
  return { key: body.key, id: body.apiKey.id };
}

test('a key revoked through one instance is refused by the other', async () => {
  const { key, id } = await register();
  assert.deepEqual(await check(two, key), { status: 200, reason: 'service_api_key' }, 'the other instance allows the live key');
  const revoked = await fetch(`${one.url}/v1/orgs/org-1/api-keys/${id}`, { method: 'DELETE', headers: auth });
  assert.equal(revoked.status, 200);
  assert.deepEqual(await within(two, key, (a) => a.reason === 'revoked_api_key'), { status: 401, reason: 'revoked_api_key' });
  assert.deepEqual(await check(one, key), { status: 401, reason: 'revoked_api_key' });
});

test('a key rotated through one instance is refused by the other, and the new key is taken there', async () => {
  const { key, id } = await register();
  const rotated = await fetch(`${one.url}/v1/orgs/org-1/api-keys/${id}/rotate`, { method: 'POST', headers: auth });
  assert.equal(rotated.status, 200);
  const fresh = ((await rotated.json()) as { key: string }).key;
  assert.deepEqual(await within(two, key, (a) => a.reason === 'unknown_api_key'), { status: 401, reason: 'unknown_api_key' });
  assert.deepEqual(await check(two, fresh), { status: 200, reason: 'service_api_key' });
});

test('when Redis is away a key is refused (503 with its reason), never let through', async () => {
  const { key } = await register();
  await redis.stop();
  try {
    const away = await within(two, key, (a) => a.reason === 'api_keys_unavailable');
    assert.deepEqual(away, { status: 503, reason: 'api_keys_unavailable' });
  } finally {
    await redis.start();
  }
});

test("no key is in either instance's log", () => {
  const secrets = /key-[0-9a-f]{24}\.[A-Za-z0-9_-]{43}/;
  for (const instance of [one, two]) assert.doesNotMatch(instance.output(), secrets);
});
