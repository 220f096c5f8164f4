// Runs test files with node --test, each in its own process with a time limit: a file that
// hangs (a loop or a child it never stopped) is killed with everything it started and
// reported by name, instead of holding the run until an outer limit. A file whose tests have
// all ended exits even if it left a handle open (--test-force-exit), and whatever it started
// and left running is killed with it. Files run JOBS at a
// time; a file's output is printed as one piece when it ends, so parallel output never
// interleaves. Exits 1 when any file failed or ran out of time.
//   node --import tsx test/run-files.ts [--jobs N] [--timeout-s S] FILE...
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values, positionals: files } = parseArgs({
  allowPositionals: true,
  options: { jobs: { type: 'string', default: '1' }, 'timeout-s': { type: 'string', default: '600' } },
});
const jobs = Math.max(1, Number(values.jobs));
const timeoutMs = Number(values['timeout-s']) * 1000;

// A runner started from inside a test (its own test does that) must not report to that test's runner.
const { NODE_TEST_CONTEXT: _parent, ...fileEnv } = process.env;

interface Outcome {
  file: string;
  code: number | null;
  timedOut: boolean;
  seconds: number;
}

function runFile(file: string): Promise<Outcome> {
  const started = Date.now();
  // Its own process group, so a timeout takes down the redis-servers, nginx and sidecars it started.
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit', file], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: fileEnv,
  });
  const output: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
  let timedOut = false;
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  // What the file left running goes with it (a child holding its output would hold 'close' too).
  child.on('exit', killGroup);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      const seconds = Math.round((Date.now() - started) / 1000);
      process.stdout.write(Buffer.concat(output));
      const verdict = timedOut ? `TIMED OUT after ${timeoutMs / 1000} s (killed with everything it started)` : code === 0 ? 'ok' : `FAILED (exit ${code})`;
      process.stdout.write(`\n### ${file}: ${verdict}, ${seconds} s\n\n`);
      resolve({ file, code, timedOut, seconds });
    });
  });
}

const queue = [...files];
const outcomes: Outcome[] = [];
await Promise.all(
  Array.from({ length: Math.min(jobs, queue.length) }, async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) outcomes.push(await runFile(file));
  }),
);
const bad = outcomes.filter((outcome) => outcome.timedOut || outcome.code !== 0);
console.log(`${outcomes.length} test files, ${outcomes.length - bad.length} passed`);
for (const outcome of bad) console.log(`  ${outcome.timedOut ? 'timed out' : 'failed'}: ${outcome.file}`);
process.exit(bad.length > 0 ? 1 : 0);
