// The README and docs/*.md cannot drift: each walkthrough (```sh blocks marked
// <!-- walkthrough: NAME -->, the README's first, then the pages' in name order) runs in bash against a fresh sidecar on free ports, with real nginx and Redis, and the
// output commented under its commands is checked (conventions in walkthrough.ts).
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, RedisServer } from '../support/redis.ts';
import { expectationPattern, parseWalkthroughs, removeScratch, runWalkthrough, scratchCheckout, type Ports } from './walkthrough.ts';

const pages = [
  'README.md',
  ...(await readdir('docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];
const walkthroughs = parseWalkthroughs((await Promise.all(pages.map((page) => readFile(page, 'utf8')))).join('\n'));

describe('the harness', () => {
  test('expectations: literal text, with ... and … matching anything across lines', () => {
    const pattern = expectationPattern('{"allow":true,...,"source":"org",…}');
    assert.match('{"allow":true,"reason":"x",\n"y":1,"source":"org","decisionId":"1"}', pattern);
    assert.doesNotMatch('{"allow":false,"source":"org"}', pattern);
    assert.doesNotMatch('{"allow":true,"source":"orgs"', expectationPattern('"source":"org"}'));
    assert.match('a, 1 flip), 2', expectationPattern('a ... 1 flip) ...'));
  });

  test('a comment directly under a command is expected output; after a blank line it is prose', () => {
    const [walk] = parseWalkthroughs('<!-- walkthrough: t -->\n```sh\n# prose\necho a\n# a\n\n# prose too\necho b\n```\n');
    assert.deepEqual(
      walk!.segments.map((s) => [s.script, s.expect.map((e) => e.text)]),
      [
        ['# prose\necho a\n', ['a']],
        ['\n# prose too\necho b\n', []],
      ],
    );
  });

  test('a wrong expectation and a failing command are reported; background jobs are stopped', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'portcullis-readme-harness-'));
    const ports: Ports = { sidecar: 1, nginx: 2, upstream: 3, redis: 4, admin: 5 };
    try {
      const [walk] = parseWalkthroughs(
        '<!-- walkthrough: t -->\n```sh\nsleep 300 &\necho $! > job.pid\necho "port 8181"\n# port 1\necho right\n# wrong\nfalse\necho never\n# never\n```\n',
      );
      const result = await runWalkthrough(walk!, { cwd, ports, timeoutMs: 60_000 });
      assert.deepEqual(
        result.segments.map((s) => s.missing.map((e) => e.text)),
        [[], ['wrong']],
      );
      assert.match(result.failure ?? '', /bash exited \(1\)/);
      const job = Number(await readFile(join(cwd, 'job.pid'), 'utf8'));
      assert.throws(() => process.kill(job, 0), { code: 'ESRCH' });
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  test('the README and docs have the walkthroughs, each checking output', () => {
    assert.deepEqual(
      walkthroughs.map((w) => w.name),
      ['api', 'deployment', 'nginx'],
    );
    for (const w of walkthroughs) assert.ok(w.segments.filter((s) => s.expect.length > 0).length >= 3, w.name);
  });
});

describe('README walkthroughs', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(() => redis.stop());

  for (const walkthrough of walkthroughs) {
    test(walkthrough.name, { timeout: 300_000 }, async () => {
      const ports: Ports = { sidecar: await freePort(), nginx: await freePort(), upstream: await freePort(), redis: redis.port, admin: await freePort() };
      const dir = await scratchCheckout(process.cwd(), ports);
      try {
        const result = await runWalkthrough(walkthrough, { cwd: dir, ports, timeoutMs: 240_000 });
        const context = () => `\n--- stderr:\n${result.stderr}\n--- sidecar log (tail):\n${result.sidecarLog.slice(-3000)}`;
        for (const { segment, output, missing } of result.segments) {
          assert.deepEqual(
            missing.map((e) => e.text),
            [],
            `${walkthrough.name}: not in the output of\n${segment.script}\n--- output:\n${output}${context()}`,
          );
        }
        assert.equal(
          result.failure,
          undefined,
          `${walkthrough.name}: ${result.failure} in\n${walkthrough.segments[result.segments.length]?.script}${context()}`,
        );
      } finally {
        await removeScratch(dir);
      }
    });
  }
});
