// Hot bundle reload: bundles built by the real opa CLI (the second with a changed rule)
// swapped under load, from a watched file and from a bundle server polled with ETag /
// If-None-Match. No request fails, every answer is the old policy's or the new one's
// (its revision agrees with its decision), a corrupt bundle is refused and counted while
// the previous keeps serving, and the last good bundle is used at start when the source
// is gone.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createLimitedServer } from '../../src/http/limits.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { decisionRequest, testConfig, testSidecar } from '../support/sidecar.ts';
import { authorize, buildBundle, denyReads, load } from './support.ts';

const OLD = 'rev-old';
const NEW = 'rev-new';
let dir: string;
let oldBundle: Buffer;
let newBundle: Buffer;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-reload-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const [oldPath, newPath] = await Promise.all([buildBundle(dir, { revision: OLD }), buildBundle(dir, { revision: NEW, edit: denyReads })]);
  [oldBundle, newBundle] = await Promise.all([readFile(oldPath), readFile(newPath)]);
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function serve(sidecar: Sidecar): Promise<string> {
  const server = createLimitedServer(sidecar.app, testConfig()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    server.close();
    await sidecar.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Replaces a file in one step, as a deploy tool should. */
async function replace(path: string, content: Buffer): Promise<void> {
  await writeFile(`${path}.tmp`, content);
  await rename(`${path}.tmp`, path);
}

const failures = async (sidecar: Sidecar, source: string) =>
  (await sidecar.metrics.bundleReloadFailures.get()).values.find((v) => v.labels.source === source)?.value ?? 0;

async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Member reads under load; each answer must be the old policy's (allowed) or the new one's (denied). */
function memberReads(url: string) {
  const seen = new Map<string, number>();
  const inconsistent: string[] = [];
  const body = decisionRequest({ action: 'read', workspaceRoles: { 'ws-1': 'member' } });
  const running = load(6, async () => {
    const answer = await authorize(url, body);
    if (answer.status !== 200) throw new Error(`status ${answer.status}`);
    const { bundleRevision: revision, allow } = answer.body;
    seen.set(String(revision), (seen.get(String(revision)) ?? 0) + 1);
    if (!((revision === OLD && allow === true) || (revision === NEW && allow === false))) inconsistent.push(JSON.stringify(answer.body));
  });
  return { seen, inconsistent, running };
}

test('a changed bundle file is swapped in under load; corrupt ones are refused and the active one keeps serving', async (t) => {
  const bundlePath = join(dir, 'watched.tar.gz');
  const persistDir = join(dir, 'state');
  await writeFile(bundlePath, oldBundle);
  const sidecar = await testSidecar({ bundlePath, bundleWatch: true, bundlePersistDir: persistDir });
  const url = await serve(sidecar);
  assert.equal(sidecar.policy.current?.revision, OLD);

  const reads = memberReads(url);
  try {
    await new Promise((r) => setTimeout(r, 300));
    await replace(bundlePath, newBundle);
    await until(() => sidecar.policy.current?.revision === NEW, 'the new bundle');
    await new Promise((r) => setTimeout(r, 300));
    for (const [what, bytes] of [
      ['truncated', newBundle.subarray(0, Math.floor(newBundle.length / 2))],
      ['not a tar.gz', Buffer.from('{"not": "a bundle"}')],
      ['a tar.gz whose wasm is garbage', await withGarbageWasm(oldBundle)],
    ] as const) {
      const before = await failures(sidecar, 'file');
      await replace(bundlePath, bytes);
      await until(async () => (await failures(sidecar, 'file')) > before, `the ${what} bundle to be refused`);
      assert.equal(sidecar.policy.current?.revision, NEW, what);
    }
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    await reads.running.stop();
  }
  const { stats } = reads.running;
  t.diagnostic(
    `hot reload under load: ${stats.answered} answered, ${stats.failed} failed, ${reads.inconsistent.length} inconsistent; by revision ${JSON.stringify(Object.fromEntries(reads.seen))}`,
  );
  assert.equal(stats.failed, 0, stats.errors.join('\n'));
  assert.deepEqual(reads.inconsistent, []);
  assert.ok((reads.seen.get(OLD) ?? 0) > 0 && (reads.seen.get(NEW) ?? 0) > 0, 'answers from both bundles');
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /portcullis_bundle_reload_failures_total\{source="file"\} 3/);
  assert.match(metrics, /portcullis_bundle_reloads_total\{source="file"\} 1/);

  // The last good bundle was kept: a restart whose bundle file is gone starts with it.
  const restarted = await testSidecar({ bundlePath: join(dir, 'missing.tar.gz'), bundleWatch: false, bundlePersistDir: persistDir });
  cleanups.push(() => restarted.close());
  assert.equal(restarted.policy.current?.revision, NEW);
  await assert.rejects(testSidecar({ bundlePath: join(dir, 'missing.tar.gz'), bundleWatch: false }), /ENOENT/);
});

/** A well-formed bundle archive whose policy.wasm is not WebAssembly. */
async function withGarbageWasm(archive: Buffer): Promise<Buffer> {
  const { readBundle } = await import('../../src/engine/bundle.ts');
  const { create } = await import('tar');
  const bundle = await readBundle(archive);
  const staging = await mkdtemp(join(dir, 'garbage-'));
  for (const [name, bytes] of bundle.files) await writeFile(join(staging, name), name === 'policy.wasm' ? Buffer.from('not wasm at all') : bytes);
  const out = join(staging, 'garbage.tar.gz');
  await create({ gzip: true, file: out, cwd: staging }, [...bundle.files.keys()]);
  return readFile(out);
}

test('a bundle server is polled with If-None-Match; a new bundle is activated, a bad one refused', async () => {
  let served = oldBundle;
  let etag = '"1"';
  const requests: Array<string | undefined> = [];
  const bundleServer: Server = createServer((req, res) => {
    requests.push(req.headers['if-none-match']);
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304).end();
      return;
    }
    res.writeHead(200, { etag, 'content-type': 'application/gzip' }).end(served);
  }).listen(0, '127.0.0.1');
  await once(bundleServer, 'listening');
  cleanups.push(async () => {
    bundleServer.closeAllConnections();
    bundleServer.close();
  });
  const bundleUrl = `http://127.0.0.1:${(bundleServer.address() as AddressInfo).port}/bundles/portkey.tar.gz`;
  const persistDir = join(dir, 'url-state');
  const sidecar = await testSidecar({ bundleUrl, bundlePollMs: 50, bundlePersistDir: persistDir });
  await serve(sidecar);
  assert.equal(sidecar.policy.current?.revision, OLD);
  await until(() => requests.length >= 3, 'polls');
  assert.ok(
    requests.slice(1).every((tag) => tag === '"1"'),
    'later polls are conditional',
  );

  served = newBundle;
  etag = '"2"';
  await until(() => sidecar.policy.current?.revision === NEW, 'the new bundle from the server');

  served = Buffer.from('garbage');
  etag = '"3"';
  await until(async () => (await failures(sidecar, 'url')) === 1, 'the garbage bundle to be refused');
  assert.equal(sidecar.policy.current?.revision, NEW);
  // A refused bundle is not fetched again while its ETag stays the same.
  const count = requests.length;
  await until(() => requests.length >= count + 3, 'more polls');
  assert.equal(await failures(sidecar, 'url'), 1);

  // The server gone, a restart starts from the last good bundle.
  bundleServer.closeAllConnections();
  bundleServer.close();
  const restarted = await testSidecar({ bundleUrl, bundlePollMs: 50, bundlePersistDir: persistDir });
  cleanups.push(() => restarted.close());
  assert.equal(restarted.policy.current?.revision, NEW);
});

test('a copied-in bundle (written in place, not renamed) is picked up once complete', async () => {
  const bundlePath = join(dir, 'copied.tar.gz');
  await writeFile(bundlePath, oldBundle);
  const sidecar = await testSidecar({ bundlePath, bundleWatch: true });
  cleanups.push(() => sidecar.close());
  await copyFile(join(dir, `bundle-${NEW}.tar.gz`), bundlePath);
  await until(() => sidecar.policy.current?.revision === NEW, 'the copied bundle');
});
