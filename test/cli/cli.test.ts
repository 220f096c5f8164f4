// `npx portcullis ...` end to end: the real bin (bin/portcullis.mjs, through tsx) against a
// sidecar listening on a port with a real Redis.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Sidecar } from '../../src/sidecar.ts';
import { RedisServer } from '../support/redis.ts';
import { ADMIN_TOKEN, decisionRequest, testSidecar } from '../support/sidecar.ts';

let redis: RedisServer;
let sidecar: Sidecar;
let server: Server;
let url: string;
let dir: string;
const ids: Record<string, string> = {};

function portcullis(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/portcullis.mjs', ...args],
      { env: { PATH: process.env.PATH, ADMIN_TOKEN, PORTCULLIS_URL: url, ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

async function authorize(body: object): Promise<string> {
  const res = await fetch(`${url}/v1/authorize`, { method: 'POST', body: JSON.stringify(body) });
  return ((await res.json()) as { decisionId: string }).decisionId;
}

before(async () => {
  redis = await RedisServer.start();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-cli-'));
  sidecar = await testSidecar({ redisUrl: redis.url, auditSpillDir: join(dir, 'spill'), auditFlushMs: 10 });
  server = createServer(sidecar.app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await fetch(`${url}/v1/orgs/org-1/settings/integration-access`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ managersWriteMcpServers: false }),
  });
  ids.denied = await authorize(decisionRequest());
  ids.allowed = await authorize(decisionRequest({ type: 'integration' }));
  ids.read = await authorize(decisionRequest({ action: 'read' }));
  await sidecar.audit.flush();
});

after(async () => {
  server.close();
  await sidecar.close();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('portcullis audit', () => {
  test('query --denied shows the denials as a table with the reason and the setting that decided', async () => {
    const { code, stdout, stderr } = await portcullis(['audit', 'query', '--org', 'org-1', '--denied', '--since', '1h']);
    assert.equal(code, 0, stderr);
    const lines = stdout.trim().split('\n');
    assert.match(lines[0]!, /^TIME\s+DECISION ID\s+PRINCIPAL\s+ACTION\s+TYPE\s+WORKSPACE\s+ALLOW\s+REASON\s+SETTING\/SOURCE$/);
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, new RegExp(`${ids.denied}\\s+u-1\\s+create\\s+mcp_server\\s+ws-1\\s+deny\\s+manager_write_disabled\\s+managersWriteMcpServers/org`));
  });

  test('query as JSON and NDJSON, with filters and a limit', async () => {
    const json = await portcullis(['audit', 'query', '--org', 'org-1', '--allowed', '--format', 'json', '--token', ADMIN_TOKEN]);
    assert.deepEqual((JSON.parse(json.stdout) as Array<{ decisionId: string }>).map((r) => r.decisionId), [ids.read, ids.allowed]);
    const ndjson = await portcullis(['audit', 'query', '--org', 'org-1', '--format', 'ndjson', '--limit', '2']);
    assert.deepEqual(ndjson.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { decisionId: string }).decisionId), [ids.read, ids.allowed]);
    const typed = await portcullis(['audit', 'query', '--org', 'org-1', '--type', 'integration', '--action', 'create', '--format', 'ndjson']);
    assert.equal(typed.stdout.trim().split('\n').length, 1);
  });

  test('get prints one record', async () => {
    const { code, stdout } = await portcullis(['audit', 'get', ids.denied!]);
    assert.equal(code, 0);
    assert.equal((JSON.parse(stdout) as { reason: string }).reason, 'manager_write_disabled');
    assert.equal((await portcullis(['audit', 'get', 'no-such-id'])).code, 1);
  });

  test('export writes NDJSON and reports progress on stderr', async () => {
    const file = join(dir, 'export.ndjson');
    const { code, stderr } = await portcullis(['audit', 'export', '--org', 'org-1', '--output', file]);
    assert.equal(code, 0, stderr);
    assert.equal((await readFile(file, 'utf8')).trim().split('\n').length, 3);
    assert.match(stderr, /exported 3 records/);
    assert.match(stderr, /done: 3 records/);
  });

  test('replay with candidate settings reports the flips', async () => {
    const file = join(dir, 'candidate.yaml');
    await writeFile(file, 'orgs:\n  org-1:\n    settings:\n      managersWriteMcpServers: true\n      managersWriteWsIntegrations: false\n');
    const { code, stdout, stderr } = await portcullis(['audit', 'replay', '--settings', file, '--org', 'org-1', '--since', '1h', '--format', 'json']);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout) as { flips: { allowToDeny: number; denyToAllow: number }; examples: Array<{ decisionId: string }>; byReason: Record<string, number> };
    assert.deepEqual(report.flips, { allowToDeny: 1, denyToAllow: 1 });
    assert.deepEqual(report.examples.map((f) => f.decisionId).sort(), [ids.denied, ids.allowed].sort());
    const table = await portcullis(['audit', 'replay', '--settings', file, '--org', 'org-1', '--since', '1h']);
    assert.match(table.stdout, /3 decisions re-evaluated, 2 would flip \(allow→deny 1, deny→allow 1\)/);
  });

  test('usage errors exit 2 and say what is wrong; a wrong token exits 1', async () => {
    const missing = await portcullis(['audit', 'query']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--org is required/);
    assert.equal((await portcullis(['audit', 'query', '--org', 'o', '--since', 'yesterday'])).code, 2);
    assert.equal((await portcullis(['audit', 'query', '--org', 'o', '--bundle', 'x'])).code, 2);
    const denied = await portcullis(['audit', 'query', '--org', 'org-1'], { ADMIN_TOKEN: 'wrong' });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /401 unauthorized/);
  });
});

describe('portcullis settings import', () => {
  test('writes the file through the settings store: versions bump, sidecars see it, the change is audited', async () => {
    const client = new Redis(redis.url);
    try {
      const before = Number(await client.hget('portcullis:settings:{org-1}', 'version'));
      const { code, stdout, stderr } = await portcullis(['settings', 'import', 'examples/settings.yaml', '--redis', redis.url, '--actor', 'ci']);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /org-1: organization settings and 1 workspace\(s\) written/);
      assert.equal(Number(await client.hget('portcullis:settings:{org-1}', 'version')), before + 2);
      // The running sidecar answers from the imported settings: ws-2 overrides managersWriteMcpServers back on.
      const answer = await fetch(`${url}/v1/authorize`, { method: 'POST', body: JSON.stringify(decisionRequest({ workspaceId: 'ws-2', workspaceRoles: { 'ws-2': 'manager' } })) });
      assert.equal(((await answer.json()) as { source: string }).source, 'workspace');
      const changes = await fetch(`${url}/v1/audit/settings-changes?orgId=org-1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const [latest] = ((await changes.json()) as { changes: Array<{ actor: string; operation: string; workspaceId: string }> }).changes;
      assert.deepEqual([latest?.actor, latest?.operation, latest?.workspaceId], ['ci', 'put_workspace', 'ws-2']);
    } finally {
      client.disconnect();
    }
  });

  test('registers every workspace of the file in the workspace directory under its organization', async () => {
    const { code, stderr } = await portcullis(['settings', 'import', 'examples/settings.yaml', '--redis', redis.url]);
    assert.equal(code, 0, stderr);
    const listed = await fetch(`${url}/v1/orgs/org-1/workspaces`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.deepEqual(((await listed.json()) as { workspaces: string[] }).workspaces, ['ws-2']);
    assert.equal(await sidecar.store.workspaceOrg('ws-2'), 'org-1');
  });

  test('writes nothing when a workspace belongs to another organization or an id is not an id', async () => {
    const registered = await fetch(`${url}/v1/orgs/org-2/workspaces/ws-theirs`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(registered.status, 201);
    const file = join(dir, 'foreign.yaml');
    await writeFile(file, 'orgs:\n  org-1:\n    workspaces:\n      ws-new: {}\n      ws-theirs: {}\n      "ws\\u200bhidden": {}\n');
    const client = new Redis(redis.url);
    try {
      const version = await client.hget('portcullis:settings:{org-1}', 'version');
      const { code, stderr } = await portcullis(['settings', 'import', file, '--redis', redis.url]);
      assert.equal(code, 1);
      assert.match(stderr, /workspace ws-theirs belongs to organization org-2, not org-1/);
      assert.match(stderr, /workspace "ws\u200bhidden" of org-1: id must not contain .*U\+200B/);
      assert.equal(await client.hget('portcullis:settings:{org-1}', 'version'), version);
      assert.equal(await client.exists('portcullis:directory:{ws-new}'), 0);
      assert.equal(await sidecar.store.workspaceOrg('ws-theirs'), 'org-2');
    } finally {
      client.disconnect();
    }
  });
});
