// API keys end to end: client -> nginx (examples/nginx.conf, ports rewritten) -> Portcullis
// (real Redis, keys registered through the admin API) -> an upstream that records what reaches
// it. A user key is bound by its user's role and the organization's settings; a service key by
// its scopes; an admin key reaches every workspace of its organization and no data-plane route;
// a revoked key is a 401; Data Visibility's answer reaches the upstream as headers; no key is in
// nginx's log, the sidecar's log or an audit record.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { FORBIDDEN_BODY } from '../../src/gateway/gateway.ts';
import { createSidecar, type Sidecar } from '../../src/sidecar.ts';
import { freePort, RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, registerWorkspaces, serve, testConfig } from '../support/sidecar.ts';
import { recordingUpstream, setMcpServers, startGatewayProcess, type GatewayProcess, type Seen } from './support.ts';

/** The Security tab's Data Visibility section, as the bundle names its family. */
const VISIBILITY_FAMILY = 'data-visibility';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

let redis: RedisServer;
let sidecar: Sidecar;
let served: { url: string; close(): Promise<void> };
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
let nginx: GatewayProcess;
let prefix: string;
let base: string;
let seen: Seen[];
let log = '';
const keys: Record<string, { key: string; id: string }> = {};

async function register(name: string, body: object): Promise<void> {
  const res = await fetch(`${served.url}/v1/orgs/org-1/api-keys`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
  assert.equal(res.status, 201, await res.clone().text());
  const issued = (await res.json()) as { key: string; apiKey: { id: string } };
  keys[name] = { key: issued.key, id: issued.apiKey.id };
}

before(async () => {
  redis = await RedisServer.start();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      log += chunk.toString();
      done();
    },
  });
  const config = testConfig({ redisUrl: redis.url, logLevel: 'debug' });
  sidecar = await createSidecar(config, pino({ level: 'debug' }, sink));
  await registerWorkspaces(sidecar, { 'ws-1': 'org-1', 'ws-2': 'org-1', 'ws-of-org-2': 'org-2' });
  served = await serve(sidecar, config);
  upstream = await recordingUpstream();
  seen = upstream.seen;

  const nginxPort = await freePort();
  prefix = await mkdtemp(join(tmpdir(), 'portcullis-nginx-keys-'));
  const nginxConfig = (await readFile('examples/nginx.conf', 'utf8'))
    .replace('server 127.0.0.1:8181;', `server ${new URL(served.url).host};`)
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${upstream.port};`)
    .replace('listen 127.0.0.1:8000;', `listen 127.0.0.1:${nginxPort};`);
  await writeFile(join(prefix, 'nginx.conf'), nginxConfig);
  const globals = `daemon off;${process.getuid?.() === 0 ? ' user root;' : ''}`;
  nginx = await startGatewayProcess('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', 'stderr', '-g', globals], nginxPort, { signal: 'SIGQUIT' });
  base = `http://127.0.0.1:${nginxPort}`;

  const everyMcpScope = ['mcp_servers.create', 'mcp_servers.read', 'mcp_servers.update', 'mcp_servers.delete', 'mcp_servers.list'];
  await register('managerUser', {
    type: 'workspace-user',
    workspaceId: 'ws-1',
    scopes: everyMcpScope,
    user: { id: 'u-manager', orgRole: 'member', workspaceRoles: { 'ws-1': 'manager' } },
  });
  await register('serviceWithoutCreate', { type: 'workspace-service', workspaceId: 'ws-1', scopes: ['mcp_servers.read', 'mcp_servers.list'] });
  await register('adminKey', { type: 'organisation-service', scopes: everyMcpScope });
  await register('memberUser', {
    type: 'workspace-user',
    workspaceId: 'ws-1',
    scopes: ['logs.view'],
    user: { id: 'u-member', orgRole: 'member', workspaceRoles: { 'ws-1': 'member' } },
  });
  await register('inference', { type: 'workspace-service', workspaceId: 'ws-1', scopes: ['completions.write'] });
  await register('revoked', { type: 'workspace-service', workspaceId: 'ws-1', scopes: everyMcpScope });
  const revoked = await fetch(`${served.url}/v1/orgs/org-1/api-keys/${keys.revoked!.id}`, { method: 'DELETE', headers: admin });
  assert.equal(revoked.status, 200);
});

after(async () => {
  await nginx?.stop();
  await upstream?.close();
  await served?.close();
  await redis?.stop();
  if (prefix) await rm(prefix, { recursive: true, force: true });
});

beforeEach(() => void upstream?.seen.splice(0));

const createServerWith = (key: string, workspaceId = 'ws-1', extra: Record<string, string> = {}) =>
  fetch(`${base}/v1/mcp-servers`, {
    method: 'POST',
    headers: { 'x-portkey-workspace-id': workspaceId, 'content-type': 'application/json', 'x-portkey-api-key': key, ...extra },
    body: JSON.stringify({ name: 'github', url: 'https://mcp.example.com' }),
  });

describe('API keys through nginx auth_request', () => {
  test('a workspace user key of a manager is denied creating an MCP server exactly while "Managers Write MCP Servers" is off', async () => {
    await setMcpServers(served.url, false);
    const off = await createServerWith(keys.managerUser!.key);
    assert.equal(off.status, 403);
    assert.equal(await off.text(), FORBIDDEN_BODY);
    assert.equal(off.headers.get('x-portcullis-reason'), 'manager_write_disabled');
    assert.equal(seen.length, 0);
    await setMcpServers(served.url, true);
    const on = await createServerWith(keys.managerUser!.key);
    assert.equal(on.status, 201);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers['x-portcullis-principal'], keys.managerUser!.id);
  });

  test('a service key without mcp_servers.create is denied missing_scope, and the record names the scope and the key', async () => {
    await setMcpServers(served.url, true);
    const res = await createServerWith(keys.serviceWithoutCreate!.key);
    assert.equal(res.status, 403);
    assert.equal(await res.text(), FORBIDDEN_BODY);
    assert.equal(res.headers.get('x-portcullis-reason'), 'missing_scope');
    assert.equal(seen.length, 0);
    await sidecar.audit.flush();
    const record = await sidecar.audit.getDecision(res.headers.get('x-portcullis-decision-id')!);
    const principal = record?.principal as unknown as { type: string; keyType: string; id: string };
    assert.deepEqual([principal.type, principal.keyType, principal.id], ['api_key', 'workspace-service', keys.serviceWithoutCreate!.id]);
  });

  test('an admin key is allowed in every workspace of its organization, and in no other', async () => {
    await setMcpServers(served.url, false);
    for (const workspaceId of ['ws-1', 'ws-2']) assert.equal((await createServerWith(keys.adminKey!.key, workspaceId)).status, 201, workspaceId);
    assert.equal(seen.length, 2);
    const other = await createServerWith(keys.adminKey!.key, 'ws-of-org-2');
    assert.equal(other.status, 403);
    assert.equal(other.headers.get('x-portcullis-reason'), 'cross_org');
  });

  test('an admin key is refused on the data plane; a workspace key with the scope reaches it, in its own workspace only', async () => {
    const chat = (key: string, headers: Record<string, string> = {}) =>
      fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-portkey-api-key': key, ...headers },
        body: JSON.stringify({ model: 'gpt-4o', messages: [] }),
      });
    const refused = await chat(keys.adminKey!.key, { 'x-portkey-workspace-id': 'ws-1' });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('x-portcullis-reason'), 'admin_key_data_plane');
    assert.equal(seen.length, 0);
    // No workspace in the request: the key's own.
    assert.equal((await chat(keys.inference!.key)).status, 201);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.url, '/v1/chat/completions');
    const elsewhere = await chat(keys.inference!.key, { 'x-portkey-workspace-id': 'ws-2' });
    assert.equal(elsewhere.status, 403);
    assert.equal(elsewhere.headers.get('x-portcullis-reason'), 'key_workspace_mismatch');
    const unscoped = await chat(keys.managerUser!.key);
    assert.equal(unscoped.status, 403);
    assert.equal(unscoped.headers.get('x-portcullis-reason'), 'missing_scope');
  });

  test('a revoked key is a 401 with its reason; the upstream never sees it', async () => {
    const res = await createServerWith(keys.revoked!.key);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('x-portcullis-reason'), 'revoked_api_key');
    assert.equal(seen.length, 0);
  });

  test("Data Visibility's answer reaches the upstream as headers, and a client's copy is refused", async () => {
    const readLogs = (extra: Record<string, string> = {}) =>
      // The route may read the workspace from a body nginx does not forward: the request names it in a header.
      fetch(`${base}/v1/logs/exports`, { headers: { 'x-portkey-api-key': keys.memberUser!.key, 'x-portkey-workspace-id': 'ws-1', ...extra } });
    const setMembersViewAllData = async (value: boolean) => {
      const res = await fetch(`${served.url}/v1/orgs/org-1/settings/${VISIBILITY_FAMILY}`, {
        method: 'PATCH',
        headers: admin,
        body: JSON.stringify({ membersViewAllData: value }),
      });
      assert.equal(res.status, 200, await res.text());
    };
    await setMembersViewAllData(false);
    assert.equal((await readLogs()).status, 201);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers['x-portcullis-visibility'], 'own_api_keys');
    assert.equal(seen[0]!.headers['x-portcullis-visible-user-id'], 'u-member');
    assert.equal(seen[0]!.headers['x-portcullis-visible-api-key-ids'], keys.memberUser!.id);
    await setMembersViewAllData(true);
    assert.equal((await readLogs()).status, 201);
    assert.equal(seen.length, 2);
    assert.equal(seen[1]!.headers['x-portcullis-visibility'], 'all');
    assert.equal(seen[1]!.headers['x-portcullis-visible-user-id'], undefined);
    assert.equal(seen[1]!.headers['x-portcullis-visible-api-key-ids'], undefined);
    for (const name of ['x-portcullis-visibility', 'x-portcullis-visible-user-id', 'x-portcullis-visible-api-key-ids']) {
      const spoofed = await readLogs({ [name]: 'all' });
      assert.equal(spoofed.status, 403, name);
      assert.equal(spoofed.headers.get('x-portcullis-reason'), 'forbidden_header', name);
    }
    assert.equal(seen.length, 2);
  });

  test("no key is in nginx's log, the sidecar's log or an audit record", async () => {
    await sidecar.audit.flush();
    const decisions = JSON.stringify((await (await fetch(`${served.url}/v1/audit/decisions?orgId=org-1&limit=1000`, { headers: admin })).json()) as object);
    const changes = JSON.stringify((await (await fetch(`${served.url}/v1/audit/settings-changes?orgId=org-1`, { headers: admin })).json()) as object);
    const accessLog = await readFile(join(prefix, 'access.log'), 'utf8');
    assert.ok(decisions.includes(keys.managerUser!.id), 'the key ids are recorded');
    for (const { key } of Object.values(keys)) {
      const secret = key.split('.')[1]!;
      const places: [string, string][] = [
        ['nginx access log', accessLog],
        ['nginx output', nginx.output()],
        ['sidecar log', log],
        ['decision records', decisions],
        ['settings changes', changes],
      ];
      for (const [where, text] of places) assert.ok(!text.includes(secret), `${where} holds a key`);
    }
  });
});
