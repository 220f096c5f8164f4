// `portcullis settings export` end to end: the real bin against the settings file of the
// in-memory store and against real Redis servers; what it writes, `settings import` takes
// back unchanged.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { load as loadYaml } from 'js-yaml';
import { readBundleFile } from '../../src/engine/bundle.ts';
import { PolicyEngine } from '../../src/engine/engine.ts';
import { RedisSettingsStore } from '../../src/settings/redis.ts';
import { parseSettingsDocument } from '../../src/settings/validate.ts';
import { RedisServer } from '../support/redis.ts';

const EXAMPLE = 'examples/settings.yaml';
let source: RedisServer;
let target: RedisServer;
let dir: string;

function portcullis(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/portcullis.mjs', ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

async function exported(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { code, stdout, stderr } = await portcullis(['settings', 'export', ...args], env);
  assert.equal(code, 0, stderr);
  return stdout;
}

async function imported(file: string, redisUrl: string): Promise<string> {
  const { code, stdout, stderr } = await portcullis(['settings', 'import', file, '--redis', redisUrl]);
  assert.equal(code, 0, stderr);
  return stdout;
}

async function save(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-export-'));
  source = await RedisServer.start();
  target = await RedisServer.start();
});

after(async () => {
  await source?.stop();
  await target?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('portcullis settings export', () => {
  test('from the settings file of the in-memory store: the same document, and exporting the export gives the same bytes', async () => {
    const families = (await PolicyEngine.load(await readBundleFile('bundles/portkey.tar.gz'))).families;
    const first = await exported([], { SETTINGS_FILE: EXAMPLE });
    assert.deepEqual(parseSettingsDocument(loadYaml(first), families), parseSettingsDocument(loadYaml(await readFile(EXAMPLE, 'utf8')), families));
    const second = await exported(['--settings-file', await save('memory.yaml', first)]);
    assert.equal(second, first);
  });

  test('from Redis: import, export, import the export (no changes), export again gives the same bytes', async () => {
    await imported(EXAMPLE, source.url);
    const first = await exported(['--redis', source.url]);
    assert.match(first, /^ {6}ws-2:\n {8}integration-access:\n {10}managersWriteMcpServers: true$/m);
    const again = await imported(await save('first.yaml', first), source.url);
    assert.match(again, /^no changes/);
    const output = join(dir, 'second.yaml');
    const written = await portcullis(['settings', 'export', '--output', output], { REDIS_URL: source.url });
    assert.equal(written.code, 0, written.stderr);
    assert.equal(await readFile(output, 'utf8'), first);
  });

  test('exported from one Redis and imported into another, every organization and workspace gets the same effective settings', async () => {
    await imported(EXAMPLE, source.url);
    const file = await save('from-source.yaml', await exported(['--redis', source.url]));
    await imported(file, target.url);
    assert.equal(await exported(['--redis', target.url]), await readFile(file, 'utf8'));
    const families = (await PolicyEngine.load(await readBundleFile('bundles/portkey.tar.gz'))).families;
    const open = (url: string) =>
      new RedisSettingsStore({
        connection: { url, commandTimeoutMs: 5000, reconnectMaxMs: 1000 },
        minReplicasAck: 0,
        waitTimeoutMs: 0,
        maxOrgs: 10,
        maxWorkspaces: 10,
        maxWorkspacesPerOrg: 10,
        maxDirectory: 10,
        revalidateAfterMs: 0,
        maxStaleMs: 0,
        familyNames: () => families.names,
      });
    const [a, b] = [open(source.url), open(target.url)];
    try {
      await Promise.all([a.connect(), b.connect()]);
      const document = parseSettingsDocument(loadYaml(await readFile(EXAMPLE, 'utf8')), families);
      for (const [orgId, { workspaces }] of document.orgs) {
        for (const workspaceId of ['ws-none', ...workspaces.keys()]) {
          const [x, y] = await Promise.all([a.snapshot(orgId, workspaceId), b.snapshot(orgId, workspaceId)]);
          assert.deepEqual({ org: y.org, workspace: y.workspace }, { org: x.org, workspace: x.workspace }, `${orgId}/${workspaceId}`);
          assert.equal(await b.workspaceOrg(workspaceId), await a.workspaceOrg(workspaceId), workspaceId);
        }
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('names what it needs: a Redis that does not answer, a bad settings file', async () => {
    const unreachable = await portcullis(['settings', 'export', '--redis', 'redis://127.0.0.1:1']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach .*127\.0\.0\.1:1/);
    const bad = await portcullis(['settings', 'export', '--settings-file', await save('bad.yaml', 'orgs:\n  o:\n    settings:\n      nope: {}\n')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /settings file .*bad\.yaml: .*nope/);
  });
});
