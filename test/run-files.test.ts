// The file runner turns a hang into a failure that names the file, and stops what the file started.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-run-files-'));
});
after(() => rm(dir, { recursive: true, force: true }));

test('a file that never ends is killed at its limit, with its children, and named; the others still run', async () => {
  const pidFile = join(dir, 'child.pid');
  const hang = join(dir, 'hang.test.ts');
  await writeFile(
    hang,
    `import { spawn } from 'node:child_process';\nimport { writeFileSync } from 'node:fs';\nimport { test } from 'node:test';\n` +
      `test('never ends, and leaves a child behind', async () => {\n  const child = spawn('sleep', ['600'], { stdio: 'ignore' });\n  writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));\n  await new Promise(() => setInterval(() => undefined, 1000));\n});\n`,
  );
  const pass = join(dir, 'pass.test.ts');
  await writeFile(pass, `import { test } from 'node:test';\ntest('passes', () => undefined);\n`);
  const run = promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/run-files.ts', '--jobs', '2', '--timeout-s', '10', hang, pass], {
    timeout: 120_000,
  });
  const failure = await run.then(
    () => assert.fail('the runner exited 0'),
    (error: { code?: number; stdout?: string }) => error,
  );
  assert.equal(failure.code, 1);
  assert.match(failure.stdout ?? '', new RegExp(`### ${hang}: TIMED OUT after 10 s`));
  assert.match(failure.stdout ?? '', new RegExp(`### ${pass}: ok`));
  assert.match(failure.stdout ?? '', new RegExp(`2 test files, 1 passed\\n  timed out: ${hang}`));
  await assertNotRunning(Number(await readFile(pidFile, 'utf8')));
});

test('a file whose tests ended but left a handle open exits, and what it left running is killed', async () => {
  const pidFile = join(dir, 'leak.pid');
  const leak = join(dir, 'leak.test.ts');
  await writeFile(
    leak,
    `import { spawn } from 'node:child_process';\nimport { writeFileSync } from 'node:fs';\nimport { test } from 'node:test';\n` +
      `test('leaves a child with a pipe and a loop behind', () => {\n  const child = spawn('sleep', ['600'], { stdio: ['ignore', 'pipe', 'inherit'] });\n  writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));\n  setInterval(() => undefined, 1000);\n});\n`,
  );
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/run-files.ts', '--timeout-s', '300', leak], { timeout: 120_000 });
  assert.match(stdout, new RegExp(`### ${leak}: ok`));
  await assertNotRunning(Number(await readFile(pidFile, 'utf8')));
});

/** Gone, or a zombie waiting for a reaper that this container may not run: not running either way. */
async function assertNotRunning(pid: number): Promise<void> {
  const state = await readFile(`/proc/${pid}/stat`, 'utf8').then(
    (stat) => stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3),
    () => 'gone',
  );
  assert.ok(state === 'gone' || state === 'Z', `the file's child ${pid} is still running (state ${state})`);
}
