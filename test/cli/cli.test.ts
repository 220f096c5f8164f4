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
import { ADMIN_TOKEN, decisionRequest, registerWorkspaces, testSidecar } from '../support/sidecar.ts';

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
  await registerWorkspaces(sidecar, { 'ws-1': 'org-1' });
  server = createServer(sidecar.app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await fetch(`${url}/v1/orgs/org-1/settings/integration-access`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ managersWriteMcpServers: false }),
  });
  // In the directory, so that org-1's decisions are in org-1's stream (not the unverified bucket).
  await sidecar.store.registerWorkspace('org-1', 'ws-1');
  ids.denied = await authorize(decisionRequest());
  ids.allowed = await authorize(decisionRequest({ type: 'integration' }));
  ids.read = await authorize(decisionRequest({ action: 'read' }));
  await sidecar.audit.flush();
  // The directory as before: the settings import below checks what it registers.
  await sidecar.store.unregisterWorkspace('org-1', 'ws-1');
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
    assert.match(lines[0]!, /^TIME\s+DECISION ID\s+API\s+PRINCIPAL\s+ACTION\s+TYPE\s+WORKSPACE\s+ALLOW\s+REASON\s+SETTING\/SOURCE\s+REQUEST$/);
    assert.equal(lines.length, 2);
    assert.match(
      lines[1]!,
      new RegExp(`${ids.denied}\\s+authorize\\s+u-1\\s+create\\s+mcp_server\\s+ws-1\\s+deny\\s+manager_write_disabled\\s+managersWriteMcpServers/org`),
    );
  });

  test('query as JSON and NDJSON, with filters and a limit', async () => {
    const json = await portcullis(['audit', 'query', '--org', 'org-1', '--allowed', '--format', 'json', '--token', ADMIN_TOKEN]);
    assert.deepEqual(
      (JSON.parse(json.stdout) as Array<{ decisionId: string }>).map((r) => r.decisionId),
      [ids.read, ids.allowed],
    );
    const ndjson = await portcullis(['audit', 'query', '--org', 'org-1', '--format', 'ndjson', '--limit', '2']);
    assert.deepEqual(
      ndjson.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { decisionId: string }).decisionId),
      [ids.read, ids.allowed],
    );
    const typed = await portcullis(['audit', 'query', '--org', 'org-1', '--type', 'integration', '--action', 'create', '--format', 'ndjson']);
    assert.equal(typed.stdout.trim().split('\n').length, 1);
    const byApi = await portcullis(['audit', 'query', '--org', 'org-1', '--api', 'authorize', '--format', 'ndjson']);
    assert.equal(byApi.stdout.trim().split('\n').length, 3);
    assert.equal((await portcullis(['audit', 'query', '--org', 'org-1', '--api', 'opa_data', '--format', 'ndjson'])).stdout.trim(), '');
    const wrong = await portcullis(['audit', 'query', '--org', 'org-1', '--api', 'opa-data']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /--api opa-data: expected one of authorize, opa_data/);
  });

  test('query --unverified finds the records that named the organization without the directory confirming it', async () => {
    const probe = await authorize(decisionRequest({ workspaceId: 'ws-not-registered', workspaceRoles: { 'ws-not-registered': 'manager' } }));
    await sidecar.audit.flush();
    const { code, stdout, stderr } = await portcullis(['audit', 'query', '--org', 'org-1', '--unverified', '--format', 'ndjson']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { decisionId: string }).decisionId),
      [probe],
    );
    const own = await portcullis(['audit', 'query', '--org', 'org-1', '--format', 'ndjson']);
    assert.ok(!own.stdout.includes(probe), "not in the organization's own records");
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
    await writeFile(
      file,
      'orgs:\n  org-1:\n    settings:\n      integration-access:\n        managersWriteMcpServers: true\n        managersWriteWsIntegrations: false\n',
    );
    const { code, stdout, stderr } = await portcullis(['audit', 'replay', '--settings', file, '--org', 'org-1', '--since', '1h', '--format', 'json']);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout) as {
      flips: { allowToDeny: number; denyToAllow: number };
      examples: Array<{ decisionId: string }>;
      byReason: Record<string, number>;
    };
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

  test('help, version and misspellings, as command-line tools do', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const help = await portcullis(args);
      assert.deepEqual([help.code, help.stderr], [0, ''], args.join(' '));
      assert.match(help.stdout, /^usage: portcullis <command>/);
      assert.match(help.stdout, /exit codes: 0 done, 1 failed, 2 usage/);
    }
    for (const flag of ['--help', '-h']) {
      const one = await portcullis(['settings', 'import', flag]);
      assert.equal(one.code, 0);
      assert.match(one.stdout, /^usage: portcullis settings import FILE.yaml/);
      assert.doesNotMatch(one.stdout, /audit query/, 'only that command');
    }
    const version = await portcullis(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^portcullis \d+\.\d+\.\d+\n$/);
    const option = await portcullis(['audit', 'query', '--org', 'o', '--deny']);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /unknown option --deny; did you mean --denied\?/);
    const command = await portcullis(['audit', 'qury']);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /unknown command "audit qury"; did you mean "audit query"\?/);
    const none = await portcullis([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^usage:/);
    const group = await portcullis(['settings', '--help']);
    assert.equal(group.code, 0);
    assert.match(group.stdout, /portcullis settings import FILE\.yaml/);
  });

  test('a failure names what failed, in one line without a stack', async () => {
    const unreachable = await portcullis(['settings', 'import', 'examples/settings.yaml', '--redis', 'redis://:hunter2@127.0.0.1:1']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
    assert.doesNotMatch(unreachable.stderr, /hunter2|\n\s+at /);
    const missing = await portcullis(['settings', 'import', join(dir, 'no-such.yaml'), '--redis', 'redis://127.0.0.1:1']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no-such\.yaml/);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
    const malformed = join(dir, 'malformed.yaml');
    await writeFile(malformed, 'orgs:\n  o:\n   settings: {\n');
    const bad = await portcullis(['settings', 'import', malformed, '--redis', 'redis://127.0.0.1:1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /settings file .*malformed\.yaml: /);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  });
});

describe('portcullis settings import', () => {
  test('writes the file through the settings store: versions bump, sidecars see it, the change is audited', async () => {
    const client = new Redis(redis.url);
    try {
      const before = Number(await client.hget('portcullis:settings:{org-1}', 'version'));
      const { code, stdout, stderr } = await portcullis(['settings', 'import', 'examples/settings.yaml', '--redis', redis.url, '--actor', 'ci']);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^org-1:\n  managersWriteWsIntegrations: \(unset\) → true\n/);
      assert.match(stdout, /workspace ws-2 added: managersWriteMcpServers: \(unset\) → true/);
      assert.match(stdout, /org-1: written, settings version \d+/);
      assert.equal(Number(await client.hget('portcullis:settings:{org-1}', 'version')), before + 2);
      // The running sidecar answers from the imported settings: ws-2 overrides managersWriteMcpServers back on.
      const answer = await fetch(`${url}/v1/authorize`, {
        method: 'POST',
        body: JSON.stringify(decisionRequest({ workspaceId: 'ws-2', workspaceRoles: { 'ws-2': 'manager' } })),
      });
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
    const listed = async (orgId: string) =>
      ((await (await fetch(`${url}/v1/orgs/${orgId}/workspaces`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { workspaces: string[] })
        .workspaces;
    assert.deepEqual(await listed('org-1'), ['ws-1', 'ws-2']);
    // org-3's are listed in the file, one with settings and one without: both registered.
    assert.deepEqual(await listed('org-3'), ['ws-30', 'ws-31']);
    assert.equal(await sidecar.store.workspaceOrg('ws-2'), 'org-1');
    assert.equal(await sidecar.store.workspaceOrg('ws-30'), 'org-3');
  });

  test('an identical re-import changes nothing and bumps no version', async () => {
    const client = new Redis(redis.url);
    try {
      await portcullis(['settings', 'import', 'examples/settings.yaml', '--redis', redis.url]);
      const versions = await Promise.all(['org-1', 'org-2'].map((org) => client.hget(`portcullis:settings:{${org}}`, 'version')));
      const changes = await client.xlen('portcullis:audit:{org-1}:settings-changes');
      const { code, stdout, stderr } = await portcullis(['settings', 'import', 'examples/settings.yaml', '--redis', redis.url]);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^no changes/);
      assert.deepEqual(await Promise.all(['org-1', 'org-2'].map((org) => client.hget(`portcullis:settings:{${org}}`, 'version'))), versions);
      assert.equal(await client.xlen('portcullis:audit:{org-1}:settings-changes'), changes);
    } finally {
      client.disconnect();
    }
  });

  test('--dry-run prints the differences per organization and writes nothing; --prune removes what the file does not name', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    await portcullis(['settings', 'import', 'examples/settings.yaml', '--redis', redis.url]);
    // Things the file does not name: a workspace of org-1 and a whole organization.
    await fetch(`${url}/v1/orgs/org-1/workspaces/ws-extra/settings/integration-access`, {
      method: 'PUT',
      headers: admin,
      body: '{"managersWriteMcpServers": false}',
    });
    await fetch(`${url}/v1/orgs/org-1/workspaces/ws-listed`, { method: 'PUT', headers: admin });
    await fetch(`${url}/v1/orgs/org-gone/settings/integration-access`, { method: 'PUT', headers: admin, body: '{"managersWriteWsIntegrations": false}' });
    await fetch(`${url}/v1/orgs/org-gone/workspaces/ws-gone/settings/integration-access`, { method: 'PUT', headers: admin, body: '{}' });
    const file = join(dir, 'changed.yaml');
    await writeFile(
      file,
      'orgs:\n  org-1:\n    settings:\n      integration-access: {managersWriteMcpServers: true}\n    workspaces:\n      ws-2: {}\n  org-2: {}\n',
    );
    const client = new Redis(redis.url);
    const snapshot = async () => JSON.stringify(await Promise.all(['org-1', 'org-2', 'org-gone'].map((org) => client.hgetall(`portcullis:settings:{${org}}`))));
    try {
      const before = await snapshot();
      const dry = await portcullis(['settings', 'import', file, '--redis', redis.url, '--prune', '--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /^org-1:\n/m);
      assert.match(dry.stdout, /managersWriteMcpServers: false → true/);
      assert.match(dry.stdout, /allowWorkspaceOverrides\.managersWriteMcpServers: true → \(unset\)/);
      assert.match(dry.stdout, /workspace ws-2: managersWriteMcpServers: true → \(unset\)/);
      assert.match(dry.stdout, /workspace ws-extra removed/);
      assert.match(dry.stdout, /workspace ws-listed removed/);
      assert.match(dry.stdout, /^org-gone:\n  organization settings removed\n  workspace ws-gone removed/m);
      assert.doesNotMatch(dry.stdout, /^org-2:/m);
      assert.match(dry.stdout, /dry run: nothing was written/);
      assert.equal(await snapshot(), before);
      assert.equal(await sidecar.store.workspaceOrg('ws-extra'), 'org-1');

      const pruned = await portcullis(['settings', 'import', file, '--redis', redis.url, '--prune', '--actor', 'gitops']);
      assert.equal(pruned.code, 0, pruned.stderr);
      assert.deepEqual((await sidecar.store.readOrg('org-1', 'integration-access')).settings, { managersWriteMcpServers: true });
      assert.deepEqual((await sidecar.store.readWorkspace('org-1', 'ws-2', 'integration-access')).settings, {});
      for (const [org, ws] of [
        ['org-1', 'ws-extra'],
        ['org-1', 'ws-listed'],
        ['org-gone', 'ws-gone'],
      ] as const) {
        assert.equal((await sidecar.store.readWorkspace(org, ws, 'integration-access')).settings, null, `${ws} settings`);
        assert.equal(await sidecar.store.workspaceOrg(ws), null, `${ws} directory entry`);
      }
      assert.equal((await sidecar.store.readOrg('org-gone', 'integration-access')).settings, null);
      const listed = await fetch(`${url}/v1/orgs/org-1/workspaces`, { headers: admin });
      assert.deepEqual(((await listed.json()) as { workspaces: string[] }).workspaces, ['ws-2']);
      await sidecar.audit.flush();
      const changes = await fetch(`${url}/v1/audit/settings-changes?orgId=org-gone`, { headers: admin });
      const recorded = ((await changes.json()) as { changes: Array<{ actor: string; operation: string }> }).changes
        .filter((c) => c.actor === 'gitops')
        .map((c) => c.operation);
      assert.deepEqual(recorded.sort(), ['delete_org', 'delete_workspace', 'unregister_workspace']);
      // And once pruned, the same import is a no-op.
      const again = await portcullis(['settings', 'import', file, '--redis', redis.url, '--prune']);
      assert.match(again.stdout, /^no changes/);
    } finally {
      client.disconnect();
    }
  });

  test('every family of the file is imported, one document per family and level, and the change records name the family', async () => {
    const { code, stderr } = await portcullis(['settings', 'import', 'examples/settings.yaml', '--redis', redis.url, '--actor', 'families']);
    assert.equal(code, 0, stderr);
    assert.deepEqual((await sidecar.store.readOrg('org-3', 'prompt-access')).settings, { membersWritePrompts: true, allowWorkspaceOverrides: true });
    assert.deepEqual((await sidecar.store.readOrg('org-3', 'logs-access')).settings, { orgAdminViewLogs: false, membersViewLogsMetadata: false });
    assert.deepEqual((await sidecar.store.readWorkspace('org-3', 'ws-31', 'guardrail-access')).settings, { managersWriteGuardrails: true });
    assert.equal(await sidecar.store.workspaceOrg('ws-31'), 'org-3');
    await sidecar.audit.flush();
    const changes = await fetch(`${url}/v1/audit/settings-changes?orgId=org-3`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const written = ((await changes.json()) as { changes: Array<{ actor: string; operation: string; family?: string }> }).changes.filter(
      (c) => c.actor === 'families' && c.operation === 'put_org',
    );
    assert.deepEqual(written.map((c) => c.family).sort(), ['analytics-access', 'guardrail-access', 'logs-access', 'prompt-access']);

    const file = join(dir, 'families-typo.yaml');
    await writeFile(
      file,
      'orgs:\n  org-3:\n    settings:\n      prompt-acess: {membersWritePrompts: true}\n    workspaces:\n      ws-31:\n        logs-access: {membersViewLogs: false}\n',
    );
    const bad = await portcullis(['settings', 'import', file, '--redis', redis.url]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /orgs\.org-3\.settings\.prompt-acess: unknown settings family; did you mean `prompt-access`\?/);
    assert.match(bad.stderr, /orgs\.org-3\.workspaces\.ws-31\.logs-access: logs-access has no workspace overrides/);
  });

  test('writes nothing when a workspace belongs to another organization or an id is not an id', async () => {
    const registered = await fetch(`${url}/v1/orgs/org-2/workspaces/ws-theirs`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(registered.status, 201);
    const file = join(dir, 'foreign.yaml');
    await writeFile(file, 'orgs:\n  org-1:\n    workspaces:\n      ws-new: {}\n      ws-theirs: {}\n');
    const hidden = join(dir, 'hidden-id.yaml');
    await writeFile(hidden, 'orgs:\n  org-1:\n    workspaces:\n      ws-new: {}\n      "ws\\u200bhidden": {}\n');
    const client = new Redis(redis.url);
    try {
      const version = await client.hget('portcullis:settings:{org-1}', 'version');
      const { code, stderr } = await portcullis(['settings', 'import', file, '--redis', redis.url]);
      assert.equal(code, 1);
      assert.match(stderr, /workspace ws-theirs belongs to organization org-2, not org-1/);
      const refused = await portcullis(['settings', 'import', hidden, '--redis', redis.url]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /orgs\.org-1\.workspaces: the workspace id "ws\\u200bhidden" must not contain .*U\+200B/);
      assert.equal(await client.hget('portcullis:settings:{org-1}', 'version'), version);
      assert.equal(await client.exists('portcullis:directory:{ws-new}'), 0);
      assert.equal(await sidecar.store.workspaceOrg('ws-theirs'), 'org-2');
    } finally {
      client.disconnect();
    }
  });
});
