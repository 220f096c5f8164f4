// The Envoy snippets of docs/gateways.md are whole, valid v3 bootstraps: a Go program built on Envoy's
// own configuration types (go-control-plane) parses each strictly, runs Envoy's validation
// rules and checks that every cluster named is defined. No Envoy binary runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CHECKER_DIR = resolve('test/conformance/envoy-config');
const GATEWAYS = 'docs/gateways.md';
let dir: string;
let checker: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-envoy-config-'));
  checker = join(dir, 'envoy-config');
  // The first build fetches go-control-plane through the Go module proxy (shared with envoy-grpc's).
  await run('go', ['build', '-o', checker, '.'], { cwd: CHECKER_DIR, env: { ...process.env, GOFLAGS: '-mod=mod' }, timeout: 300_000 });
});
after(() => rm(dir, { recursive: true, force: true }));

test('every Envoy snippet in docs/gateways.md is a valid v3 bootstrap', async () => {
  const { stdout } = await run(checker, [resolve(GATEWAYS)]);
  assert.deepEqual(stdout.trim().split('\n'), ['ok http', 'ok grpc']);
});

test('the checker refuses a snippet with an unknown field or an undefined cluster', async () => {
  const readme = await readFile(GATEWAYS, 'utf8');
  const broken = {
    'unknown-field': readme.replace('allow_partial_message', 'allow_partial_messages'),
    'undefined-cluster': readme.replace('cluster: portcullis, timeout', 'cluster: portcullis_http, timeout'),
  };
  for (const [name, text] of Object.entries(broken)) {
    assert.notEqual(text, readme, name);
    const file = join(dir, `${name}.md`);
    await writeFile(file, text);
    await assert.rejects(run(checker, [file]), (error: { code?: number; stderr?: string }) => {
      assert.equal(error.code, 1, name);
      assert.match(error.stderr ?? '', /^envoy-config: http: /, name);
      return true;
    });
  }
});
