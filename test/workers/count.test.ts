// WORKERS: a number, or auto = the cores the process may use, which a cgroup v2 CPU quota
// (a container's CPU limit) can lower below what CPU affinity shows.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/config.ts';
import { cgroupQuotaCores, MAX_WORKERS, workerCount } from '../../src/workers/count.ts';

/** A fake cgroup v2 tree: `limits` maps a cgroup path to its cpu.max; the process is in `member`. */
async function cgroupTree(t: { after(fn: () => Promise<void>): void }, member: string | undefined, limits: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-cgroup-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'sys-fs-cgroup');
  await mkdir(root);
  for (const [path, cpuMax] of Object.entries(limits)) {
    await mkdir(join(root, path), { recursive: true });
    await writeFile(join(root, path, 'cpu.max'), `${cpuMax}\n`);
  }
  const membership = join(dir, 'proc-self-cgroup');
  if (member !== undefined) await writeFile(membership, `0::${member}\n`);
  return { root, membership };
}

test('a number is that many workers; anything else is named', () => {
  assert.equal(workerCount('1'), 1);
  assert.equal(workerCount(' 4 '), 4);
  assert.equal(workerCount(String(MAX_WORKERS)), MAX_WORKERS);
  for (const bad of ['0', '-1', '1.5', 'two', '', String(MAX_WORKERS + 1)]) {
    assert.throws(
      () => workerCount(bad),
      (error: Error) => error instanceof ConfigError && error.message.includes(`got ${JSON.stringify(bad)}`),
      bad,
    );
  }
});

test("the tightest quota from the process's cgroup up to the root, in whole cores", async (t) => {
  const nested = await cgroupTree(t, '/kubepods/pod-1/container', {
    '/': 'max 100000',
    '/kubepods': '800000 100000',
    '/kubepods/pod-1/container': '250000 100000',
  });
  assert.equal(cgroupQuotaCores(nested), 2, '2.5 cores: two workers (a third would be throttled)');
  const parentTighter = await cgroupTree(t, '/a/b', { '/a': '100000 100000', '/a/b': 'max 100000' });
  assert.equal(cgroupQuotaCores(parentTighter), 1);
  const underOne = await cgroupTree(t, '/a', { '/a': '50000 100000' });
  assert.equal(cgroupQuotaCores(underOne), 1, 'half a core is still one worker');
});

test('no quota, no cgroup v2, or a container\'s own namespace ("0::/")', async (t) => {
  assert.equal(cgroupQuotaCores(await cgroupTree(t, '/a', { '/': 'max 100000', '/a': 'max 100000' })), undefined);
  assert.equal(cgroupQuotaCores(await cgroupTree(t, undefined, {})), undefined, 'no /proc/self/cgroup, no cpu.max');
  assert.equal(cgroupQuotaCores(await cgroupTree(t, '/', { '/': '300000 100000' })), 3);
});

test('auto: the cores CPU affinity allows, no more than the quota', async (t) => {
  assert.equal(workerCount('auto', await cgroupTree(t, '/a', { '/a': 'max 100000' })), availableParallelism());
  assert.equal(workerCount('auto', await cgroupTree(t, '/a', { '/a': '100000 100000' })), 1);
  assert.equal(
    workerCount('auto', await cgroupTree(t, '/a', { '/a': `${(availableParallelism() + 8) * 100000} 100000` })),
    availableParallelism(),
    'a quota above the affinity does not add cores',
  );
});
