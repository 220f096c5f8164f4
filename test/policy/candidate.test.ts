// `make candidate POLICIES=dir` builds a bundle from a copy of policies/ being edited: the real
// opa CLI, the entrypoints of the copy's METADATA (the committed bundle's), and the copy's own
// revision, into CANDIDATE; the committed bundle is not touched.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { readBundleFile } from '../../src/engine/bundle.ts';
import { familiesFromData } from '../../src/engine/families.ts';

const run = promisify(execFile);
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-candidate-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** The revision scheme of the Makefile: the hash of the sha256sum lines of the sources, in C order. */
async function revisionOf(policies: string): Promise<string> {
  const names = (await readdir(policies, { recursive: true })).filter((n) => (n.endsWith('.rego') && !n.endsWith('_test.rego')) || n.endsWith('.json')).sort();
  const lines = await Promise.all(
    names.map(
      async (n) =>
        `${createHash('sha256')
          .update(await readFile(join(policies, n)))
          .digest('hex')}  ${n}\n`,
    ),
  );
  return createHash('sha256').update(lines.join('')).digest('hex').slice(0, 16);
}

test('a candidate from an edited copy: its revision, the committed entrypoints, the edited table', { timeout: 180_000 }, async () => {
  const policies = join(dir, 'policies');
  await cp('policies', policies, { recursive: true });
  const data = JSON.parse(await readFile(join(policies, 'data.json'), 'utf8'));
  data.portkey.families[1].settings.find((s: { name: string }) => s.name === 'membersWritePrompts').default = true;
  await writeFile(join(policies, 'data.json'), `${JSON.stringify(data, null, 2)}\n`);
  const committedBefore = await readFile('bundles/portkey.tar.gz');
  const output = join(dir, 'candidate.tar.gz');

  const { stdout } = await run('make', ['-s', 'candidate', `POLICIES=${policies}`, `CANDIDATE=${output}`], { maxBuffer: 1 << 20 });
  const revision = await revisionOf(policies);
  assert.match(stdout, new RegExp(`revision ${revision}$`, 'm'));

  const candidate = await readBundleFile(output);
  const committed = await readBundleFile('bundles/portkey.tar.gz');
  assert.equal(candidate.manifest.revision, revision);
  assert.notEqual(candidate.manifest.revision, committed.manifest.revision);
  const entrypoints = (bundle: typeof candidate) => (bundle.manifest.wasm ?? []).map((w) => w.entrypoint).sort();
  assert.deepEqual(entrypoints(candidate), entrypoints(committed));
  const setting = familiesFromData(candidate.data)
    .familyOf('membersWritePrompts')!
    .settings.find((s) => s.name === 'membersWritePrompts')!;
  assert.equal(setting.default, true);
  assert.deepEqual(await readFile('bundles/portkey.tar.gz'), committedBefore, 'the committed bundle is not touched');
  assert.equal(committed.manifest.revision, await revisionOf('policies'), "the committed bundle's revision is the same scheme");
});

test('POLICIES that is not a directory is refused, naming it', async () => {
  await assert.rejects(
    run('make', ['-s', 'candidate', `POLICIES=${join(dir, 'missing')}`, `CANDIDATE=${join(dir, 'x.tar.gz')}`]),
    (error: { stdout?: string }) => /is not a directory/.test(error.stdout ?? ''),
  );
});
