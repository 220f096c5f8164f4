// The npm package as a user gets it (slow: it compiles, packs and installs): `npm pack`,
// the tarball installed into an empty directory (npm fetches its dependencies), and the
// installed `portcullis serve`, started from yet another directory, answers a decision with
// the bundle, settings, console files and protos it finds in the package. Also `npm start`
// in the checkout: one process that stops on SIGTERM.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { stopProcess } from '../support/launch.ts';
import { freePort } from '../support/redis.ts';
import { decisionRequest } from '../support/sidecar.ts';

const run = promisify(execFile);
const ROOT = process.cwd();
const MINUTES = 60_000;

/** Polls url until it answers 200; fails at the deadline or when the process exits. */
async function waitUntilServing(url: string, child: ChildProcess, output: () => string, ms = 2 * MINUTES): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited (${child.exitCode}) before it served:\n${output()}`);
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    if (Date.now() > deadline) throw new Error(`not serving ${url} after ${ms / 1000} s:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function started(command: string, args: string[], options: { cwd: string; env: Record<string, string> }) {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

describe('npm pack, installed into an empty directory', { timeout: 20 * MINUTES }, () => {
  let dir: string;
  let installed: string;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-pack-'));
    const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, timeout: 10 * MINUTES, maxBuffer: 16 * 1024 * 1024 });
    const tarball = join(dir, stdout.trim().split('\n').pop()!);
    installed = join(dir, 'app');
    await mkdir(installed);
    // --prefer-offline: what npm has in its cache is used; the rest comes from the registry.
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=dev', tarball], { cwd: installed, timeout: 10 * MINUTES });
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the installed package is JavaScript with its runtime files, and no TypeScript tooling', async () => {
    const pkg = join(installed, 'node_modules', 'portcullis');
    assert.ok(existsSync(join(pkg, 'dist', 'main.js')));
    assert.ok(existsSync(join(pkg, 'bundles', 'portkey.tar.gz')));
    assert.ok(existsSync(join(pkg, 'src', 'console', 'ui', 'index.html')));
    assert.ok(existsSync(join(pkg, 'src', 'gateway', 'envoy', 'ext_authz.proto')));
    assert.ok(existsSync(join(pkg, 'LICENSE')));
    const sources = readdirSync(pkg, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'));
    assert.deepEqual(sources, []);
    for (const tool of ['tsx', 'typescript', 'esbuild']) assert.equal(existsSync(join(installed, 'node_modules', tool)), false, `${tool} was installed`);
    const { stdout } = await run(join(installed, 'node_modules', '.bin', 'portcullis'), ['--version'], { cwd: dir });
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(stdout.trim(), `portcullis ${version}`);
  });

  test('portcullis serve, started from another directory, answers a decision and stops on SIGTERM', async () => {
    const [port, grpcPort] = [await freePort(), await freePort()];
    const elsewhere = await mkdtemp(join(dir, 'cwd-'));
    const serving = started(join(installed, 'node_modules', '.bin', 'portcullis'), ['serve'], {
      cwd: elsewhere,
      env: {
        PORT: String(port),
        GRPC_PORT: String(grpcPort),
        ADMIN_TOKEN: 'pack-test-token',
        LOG_FORMAT: 'json',
        AUDIT_SPILL_DIR: '',
        DECISION_LOGS_SPILL_DIR: '',
      },
    });
    children.push(serving.child);
    const url = `http://127.0.0.1:${port}`;
    await waitUntilServing(`${url}/health/ready`, serving.child, serving.output);

    // org-1 of the package's demo settings turns managersWriteMcpServers off.
    const res = await fetch(`${url}/v1/authorize`, { method: 'POST', body: JSON.stringify(decisionRequest()) });
    assert.equal(res.status, 200);
    const decision = (await res.json()) as Record<string, unknown>;
    assert.equal(decision.allow, false);
    assert.equal(decision.reason, 'manager_write_disabled');
    assert.equal(decision.setting, 'managersWriteMcpServers');
    assert.equal(decision.source, 'org');

    const console = await fetch(`${url}/console/`);
    assert.equal(console.status, 200);
    assert.match(await console.text(), /<html/i);
    const status = (await (await fetch(`${url}/v1/status`)).json()) as { warnings: Array<{ code: string }> };
    assert.deepEqual(
      status.warnings.map((w) => w.code),
      ['demo_settings'],
    );

    assert.equal(await stopProcess(serving.child), 0);
    assert.match(serving.output(), /"msg":"stopped"/);
  });
});

test('npm start runs one process that stops on SIGTERM', { timeout: 5 * MINUTES }, async (t) => {
  const port = await freePort();
  const npm = started('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: { PORT: String(port), GRPC_PORT: '0', ADMIN_TOKEN: 't', LOG_FORMAT: 'json', AUDIT_SPILL_DIR: '', DECISION_LOGS_SPILL_DIR: '' },
  });
  t.after(() => {
    if (npm.child.exitCode === null) npm.child.kill('SIGKILL');
  });
  const url = `http://127.0.0.1:${port}/health`;
  await waitUntilServing(url, npm.child, npm.output);
  await stopProcess(npm.child);
  // Once npm has exited, the sidecar has too: nothing answers on its port any more.
  assert.match(npm.output(), /"msg":"stopped"/);
  assert.equal(
    await fetch(url).then(
      () => 'answered',
      () => 'refused',
    ),
    'refused',
  );
});
