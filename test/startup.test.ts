// Start-up a person can act on: failures in one line that names the thing and the fix, no
// stack trace, exit 1 — Redis unreachable, a bad settings file, no bundle; and logs a person
// can read (LOG_FORMAT=pretty, the default on a terminal) or JSON for machines.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from './support/redis.ts';

function start(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts'],
      { env: { PATH: process.env.PATH, PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'silent', ADMIN_TOKEN: 't', ...env }, timeout: 60_000 },
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr }),
    );
  });
}

test('Redis unreachable at start: one line naming the URL (without its password) and the fix', async () => {
  const port = await freePort();
  const { code, stderr } = await start({ REDIS_URL: `redis://:hunter2@127.0.0.1:${port}` });
  assert.equal(code, 1);
  assert.match(stderr, new RegExp(`^portcullis: cannot start: Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port} is not reachable .*REDIS_URL`));
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.doesNotMatch(stderr, /hunter2/);
});

test('a bad settings file at start: one line naming the file and what is wrong in it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'settings.yaml');
  await writeFile(file, 'orgs: {org-1: {settings: {managersWriteMcpServer: false}}}\n');
  const bad = await start({ SETTINGS_FILE: file });
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /^portcullis: cannot start: settings file .*settings\.yaml \(SETTINGS_FILE\): orgs\.org-1\.settings\.managersWriteMcpServer: unknown setting/,
  );
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  const missing = await start({ SETTINGS_FILE: join(dir, 'absent.yaml') });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /absent\.yaml \(SETTINGS_FILE\): ENOENT/);
});

test('a port in use at start: one line naming the variable and the port, for PORT, ADMIN_PORT and GRPC_PORT', async (t) => {
  const taken = createServer();
  taken.listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.after(() => taken.close());
  const port = String((taken.address() as AddressInfo).port);
  for (const [variable, env] of [
    ['PORT', { PORT: port }],
    ['ADMIN_PORT', { ADMIN_PORT: port }],
    ['GRPC_PORT', { GRPC_PORT: port }],
  ] as const) {
    const { code, stderr } = await start(env);
    assert.equal(code, 1, variable);
    assert.equal(
      stderr,
      `portcullis: cannot start: ${variable}: port ${port} is already in use on 127.0.0.1 (another process listens there): stop it or set ${variable} to a free port\n`,
    );
  }
});

test('no bundle at start: one line naming BUNDLE_PATH and how to build one', async () => {
  const { code, stderr } = await start({ BUNDLE_PATH: '/nonexistent/portkey.tar.gz' });
  assert.equal(code, 1);
  assert.match(stderr, /^portcullis: cannot start: no policy bundle from BUNDLE_PATH \/nonexistent\/portkey\.tar\.gz: .*make bundle/);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
});

/** The sidecar's stdout until it says it listens; then it is stopped. */
async function logsUntilListening(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH, PORT: '0', GRPC_PORT: '0', ADMIN_TOKEN: 't', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "portcullis listening" in 60 s:\n${out}`)), 60_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('portcullis listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
    });
  } finally {
    child.kill('SIGKILL');
  }
  return out;
}

test('LOG_FORMAT: JSON lines for machines, readable lines for a person', async () => {
  const json = await logsUntilListening({ LOG_FORMAT: 'json' });
  const listening = json.split('\n').find((line) => line.includes('portcullis listening'))!;
  assert.equal(JSON.parse(listening).msg, 'portcullis listening');
  const pretty = await logsUntilListening({ LOG_FORMAT: 'pretty' });
  const line = pretty.split('\n').find((l) => l.includes('portcullis listening'))!;
  assert.throws(() => JSON.parse(line), 'a readable line, not JSON');
  assert.match(line, /INFO/);
  assert.match(line, /\d{2}:\d{2}:\d{2}\.\d{3}/, 'a clock time, not epoch milliseconds');
});
