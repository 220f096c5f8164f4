// docs/callers.md's Envoy bootstraps (a gateway presenting its decide token) are whole,
// valid v3 configurations: checked by the Go program built on Envoy's own types that checks
// the README's (test/conformance/envoy-config). No Envoy binary runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
let dir: string;
let checker: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-callers-envoy-'));
  checker = join(dir, 'envoy-config');
  await run('go', ['build', '-o', checker, '.'], {
    cwd: resolve('test/conformance/envoy-config'),
    env: { ...process.env, GOFLAGS: '-mod=mod' },
    timeout: 300_000,
  });
});
after(() => rm(dir, { recursive: true, force: true }));

test('every Envoy bootstrap in docs/callers.md is valid, with the caller token where Envoy sends it', async () => {
  const { stdout } = await run(checker, [resolve('docs/callers.md')]);
  assert.deepEqual(stdout.trim().split('\n'), ['ok callers-grpc', 'ok callers-http']);
});
