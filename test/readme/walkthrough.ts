// Runs the README's walkthroughs as a reader would: every ```sh block marked
// <!-- walkthrough: NAME --> is executed with bash, the blocks of one NAME in order in one
// shell, in a scratch copy of the repository with the README's ports replaced by free ones;
// the commented output under a command is checked against what the commands printed.
//
// Conventions (README.md says the same in "How the README and docs are tested"):
// - `# text` lines directly under a command line (no blank line between) are its expected
//   output: each must be found in what the commands since the previous expectation printed
//   on stdout; `...` and `…` (with the spaces around them) match anything, across lines;
//   everything else is literal.
//   A comment after a blank line, or at the top of a block, is prose.
// - `make run` is run as the command it stands for (`node --import tsx src/main.ts`) with its
//   log in .cache/sidecar.log; PORT is the free port that replaced 8181; GRPC_PORT=0.
// - 8000, 8080, 6379 and 8182 (an ADMIN_PORT) become free ports too; dist/ starts absent.
// - The whole shell is its own process group, killed at the end with everything it started.
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface Expectation {
  text: string;
  pattern: RegExp;
}

/** Commands, then the output they must print. */
export interface Segment {
  script: string;
  expect: Expectation[];
}

export interface Walkthrough {
  name: string;
  segments: Segment[];
}

const MARKED_BLOCK = /<!-- walkthrough: ([a-z0-9-]+) -->\s*```sh\n([\s\S]*?)\n```/g;
const SEGMENT_END = '@@readme-segment-end@@';
const WALKTHROUGH_END = '@@readme-walkthrough-end@@';

export function expectationPattern(text: string): RegExp {
  const literal = (part: string) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(
    text
      .split(/\s*(?:\.\.\.|…)\s*/)
      .map(literal)
      .join('[\\s\\S]*'),
  );
}

/** The marked blocks of a README, grouped by walkthrough name in the order they appear. */
export function parseWalkthroughs(readme: string): Walkthrough[] {
  const byName = new Map<string, Walkthrough>();
  for (const [, name, body] of readme.matchAll(MARKED_BLOCK)) {
    let walkthrough = byName.get(name!);
    if (!walkthrough) byName.set(name!, (walkthrough = { name: name!, segments: [] }));
    let current: Segment = { script: '', expect: [] };
    let previous: 'blank' | 'command' | 'prose' | 'expect' = 'blank';
    for (const line of body!.split('\n')) {
      const comment = /^#( |$)/.test(line);
      if (comment && (previous === 'command' || previous === 'expect')) {
        const text = line.slice(1).trim();
        current.expect.push({ text, pattern: expectationPattern(text) });
        previous = 'expect';
        continue;
      }
      if (previous === 'expect') {
        walkthrough.segments.push(current);
        current = { script: '', expect: [] };
      }
      current.script += line + '\n';
      previous = line.trim() === '' ? 'blank' : comment ? 'prose' : 'command';
    }
    walkthrough.segments.push(current);
  }
  return [...byName.values()];
}

export interface Ports {
  sidecar: number;
  nginx: number;
  upstream: number;
  redis: number;
  /** What 8182 (an ADMIN_PORT) becomes. */
  admin: number;
}

/** The README's ports, as a reader's machine has them, to this run's free ones. */
function withPorts(text: string, ports: Ports): string {
  return text
    .replace(/\b8181\b/g, String(ports.sidecar))
    .replace(/\b8000\b/g, String(ports.nginx))
    .replace(/\b8080\b/g, String(ports.upstream))
    .replace(/\b6379\b/g, String(ports.redis))
    .replace(/\b8182\b/g, String(ports.admin));
}

/**
 * A scratch checkout: the repository's files linked, except what a walkthrough writes
 * (.cache, with the shared opa binary linked in; policies, which `cd policies && ../.cache`
 * leaves through; examples, whose nginx.conf gets this run's ports; dist, which
 * `npm run build` writes, absent until it does).
 */
export async function scratchCheckout(repo: string, ports: Ports): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-readme-'));
  for (const entry of await readdir(repo)) {
    if (['.cache', '.git', 'policies', 'examples', 'dist'].includes(entry)) continue;
    await symlink(join(repo, entry), join(dir, entry));
  }
  await mkdir(join(dir, '.cache'));
  await symlink(join(repo, '.cache', 'bin'), join(dir, '.cache', 'bin'));
  await cp(join(repo, 'policies'), join(dir, 'policies'), { recursive: true });
  await cp(join(repo, 'examples'), join(dir, 'examples'), { recursive: true });
  // As root nginx's workers would run as nobody, who cannot enter the scratch directory.
  const nginx = withPorts(await readFile(join(repo, 'examples', 'nginx.conf'), 'utf8'), ports);
  await writeFile(join(dir, 'examples', 'nginx.conf'), process.getuid?.() === 0 ? `user root;\n${nginx}` : nginx);
  return dir;
}

export interface SegmentResult {
  segment: Segment;
  output: string;
  missing: Expectation[];
}

export interface RunResult {
  segments: SegmentResult[];
  /** Set when the shell failed or timed out before the last command. */
  failure?: string;
  stderr: string;
  sidecarLog: string;
}

export async function runWalkthrough(walkthrough: Walkthrough, options: { cwd: string; ports: Ports; timeoutMs: number }): Promise<RunResult> {
  const script = [
    'set -e',
    ...walkthrough.segments.map(
      (s) =>
        `${withPorts(s.script, options.ports).replace(/\bmake run\b/g, 'node --import tsx src/main.ts >>.cache/sidecar.log 2>&1')}\nprintf '\\n${SEGMENT_END}\\n'`,
    ),
    `printf '${WALKTHROUGH_END}\\n'`,
  ].join('\n');
  const sidecar = String(options.ports.sidecar);
  // PORTCULLIS_URL: where the CLI finds the sidecar, as 127.0.0.1:8181 is its default.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C.UTF-8',
    PORT: sidecar,
    GRPC_PORT: '0',
    PORTCULLIS_URL: `http://127.0.0.1:${sidecar}`,
  };
  const shell = spawn('bash', ['-c', script], { cwd: options.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  shell.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Background jobs keep the pipes open after bash exits: done is the end mark, or bash's exit.
  const failure = await new Promise<string | undefined>((resolveRun) => {
    const timer = setTimeout(() => resolveRun(`timed out after ${options.timeoutMs} ms`), options.timeoutMs);
    const finish = (why: string | undefined) => {
      clearTimeout(timer);
      resolveRun(why);
    };
    shell.stdout.on('data', () => stdout.includes(WALKTHROUGH_END) && finish(undefined));
    shell.once('exit', (code, signal) =>
      setTimeout(() => finish(stdout.includes(WALKTHROUGH_END) ? undefined : `bash exited (${code ?? signal}) before the last command`), 200),
    );
  });
  await killGroup(shell.pid!);
  const outputs = stdout.split(`\n${SEGMENT_END}\n`);
  const ran = failure ? outputs.length - 1 : walkthrough.segments.length;
  const segments = walkthrough.segments.slice(0, ran).map((segment, i) => {
    const output = outputs[i]!;
    return { segment, output, missing: segment.expect.filter((e) => !e.pattern.test(output)) };
  });
  const sidecarLog = await readFile(join(options.cwd, '.cache', 'sidecar.log'), 'utf8').catch(() => '');
  return failure ? { segments, failure, stderr, sidecarLog } : { segments, stderr, sidecarLog };
}

/** SIGTERM to the whole group (sidecar, nginx, the upstream), SIGKILL to what is left. */
async function killGroup(pgid: number): Promise<void> {
  const signal = (name: NodeJS.Signals | 0) => {
    try {
      process.kill(-pgid, name);
      return true;
    } catch {
      return false; // the group is gone
    }
  };
  if (!signal('SIGTERM')) return;
  for (let waited = 0; waited < 10_000; waited += 100) {
    await new Promise((r) => setTimeout(r, 100));
    if (!signal(0)) return;
  }
  signal('SIGKILL');
}

export async function removeScratch(dir: string): Promise<void> {
  await rm(resolve(dir), { recursive: true, force: true });
}
