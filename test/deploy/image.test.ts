// The container image (`make image-test`, after `make image`): started as a container
// (buildah run, chroot isolation, the host's network), decides through it, reports ready,
// passes its own HEALTHCHECK, and on SIGTERM to its process drains, says so and exits 0.
// Also what the image is: a non-root user, labels, a health check, no dev dependencies.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../support/redis.ts';
import { decisionRequest } from '../support/sidecar.ts';

const run = promisify(execFile);
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const IMAGE = process.env.IMAGE ?? `localhost/portcullis:${VERSION}`;
const BIN = '/app/node_modules/portcullis/bin/portcullis.mjs';

let container: string;
let serving: ChildProcess | undefined;
let output = '';
let port: number;

/** The processes below pid (its children, theirs, ...), from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent is the 2nd field after the command, which is in parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // It exited while we looked.
    }
  }
  const found: number[] = [];
  const pending = [pid];
  while (pending.length > 0) for (const child of children.get(pending.pop()!) ?? []) found.push(child), pending.push(child);
  return found;
}

before(async () => {
  port = await freePort();
  container = (await run('buildah', ['from', IMAGE])).stdout.trim();
  serving = spawn(
    'buildah',
    [
      'run',
      '--isolation',
      'chroot',
      '--network',
      'host',
      '--env',
      `PORT=${port}`,
      '--env',
      'GRPC_PORT=0',
      '--env',
      'HOST=127.0.0.1',
      '--env',
      'ADMIN_TOKEN=image-test',
      container,
      '--',
      'node',
      BIN,
      'serve',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  serving.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  serving.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (serving.exitCode !== null) throw new Error(`the container exited (${serving.exitCode}):\n${output}`);
    if (
      await fetch(`http://127.0.0.1:${port}/health/ready`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) throw new Error(`the container was not ready after 120 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
});

after(async () => {
  if (serving && serving.exitCode === null) {
    for (const pid of descendants(serving.pid!)) process.kill(pid, 'SIGKILL');
    serving.kill('SIGKILL');
  }
  if (container) await run('buildah', ['rm', container]).catch(() => undefined);
});

test('the image: a numeric non-root user, version and revision labels, a health check', async () => {
  const info = JSON.parse((await run('buildah', ['inspect', '--type', 'image', IMAGE], { maxBuffer: 64 * 1024 * 1024 })).stdout) as {
    Docker: { config: { User: string; Labels: Record<string, string>; Healthcheck: { Test: string[] } } };
  };
  const config = info.Docker.config;
  assert.equal(config.User, '10001:10001');
  assert.equal(config.Labels['org.opencontainers.image.version'], VERSION);
  assert.match(config.Labels['org.opencontainers.image.revision'] ?? '', /^[0-9a-f]{40}$/);
  assert.deepEqual(config.Healthcheck.Test, ['CMD', 'node', '/app/healthcheck.mjs']);
  const installed = (await run('buildah', ['run', '--isolation', 'chroot', container, '--', 'ls', '/app/node_modules'])).stdout.split('\n');
  for (const dev of ['tsx', 'typescript', 'esbuild', 'puppeteer-core', 'supertest']) assert.ok(!installed.includes(dev), `${dev} is in the image`);
  assert.ok(installed.includes('portcullis'));
});

test('decides through the container, is ready, and passes its own health check', async () => {
  const res = await fetch(`http://127.0.0.1:${port}/v1/authorize`, { method: 'POST', body: JSON.stringify(decisionRequest()) });
  assert.equal(res.status, 200);
  const decision = (await res.json()) as { allow: boolean; reason: string };
  assert.deepEqual([decision.allow, decision.reason], [false, 'manager_write_disabled']);
  const ready = (await (await fetch(`http://127.0.0.1:${port}/health/ready`)).json()) as { ready: boolean };
  assert.equal(ready.ready, true);
  const check = await run('buildah', [
    'run',
    '--isolation',
    'chroot',
    '--network',
    'host',
    '--env',
    `PORT=${port}`,
    container,
    '--',
    'node',
    '/app/healthcheck.mjs',
  ]).then(
    () => 0,
    (error: { code: number }) => error.code,
  );
  assert.equal(check, 0);
});

test('SIGTERM to the sidecar in the container: it drains, stops and exits 0', async () => {
  // The node process itself (its argv[0] is node), not buildah's helper that carries the command as arguments.
  const node = descendants(serving!.pid!).find((pid) => {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return /(^|\/)node$/.test(argv[0]!) && argv.includes(BIN);
  });
  assert.ok(node, 'the sidecar process runs under buildah');
  const exited = new Promise<number | null>((resolve) => serving!.once('exit', resolve));
  process.kill(node, 'SIGTERM');
  assert.equal(await exited, 0, output);
  assert.match(output, /"msg":"stopping: draining in-flight requests"/);
  assert.match(output, /"msg":"stopped"/);
  assert.equal(
    await fetch(`http://127.0.0.1:${port}/health`).then(
      () => 'answered',
      () => 'refused',
    ),
    'refused',
  );
});
