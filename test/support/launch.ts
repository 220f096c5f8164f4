// The one way tests start a sidecar process: `node --import tsx src/main.ts` on a free
// port, ready when its log says "portcullis listening" (every worker serving), with its
// output kept for the failure message and a stop that waits for the exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { freePort } from './redis.ts';
import { ADMIN_TOKEN } from './sidecar.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const LISTENING = '"msg":"portcullis listening"';

export interface SidecarProcess {
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  /** The "portcullis listening" log line. */
  listening: Record<string, unknown>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export interface LaunchOptions {
  /** Beyond the log line, a path that must answer 2xx before the process counts as ready. */
  readyPath?: string;
  timeoutMs?: number;
  /** Started from this working directory, as `node <repo>/bin/portcullis.mjs serve` (as a user runs it), instead of from the repository with tsx. */
  cwd?: string;
}

/**
 * Starts a sidecar with `env` over a minimal environment (JSON logs at info, the test admin
 * token, no settings file, no gRPC port); throws with its output when it exits or is not
 * ready in time, after killing it.
 */
export async function launchSidecar(env: Record<string, string>, { readyPath, timeoutMs = 60_000, cwd }: LaunchOptions = {}): Promise<SidecarProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, cwd ? [resolve(ROOT, 'bin/portcullis.mjs'), 'serve'] : ['--import', 'tsx', 'src/main.ts'], {
    cwd: cwd ?? ROOT,
    env: { PATH: process.env.PATH, PORT: String(port), GRPC_PORT: '0', ADMIN_TOKEN, LOG_LEVEL: 'info', SETTINGS_FILE: '', ...env, LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  const fail = (why: string): never => {
    child.kill('SIGKILL');
    throw new Error(`sidecar ${why}:\n${output}`);
  };
  let line: string | undefined;
  while (!(line = output.split('\n').find((l) => l.includes(LISTENING)))) {
    if (child.exitCode !== null) fail(`exited (${child.exitCode})`);
    if (Date.now() > deadline) fail(`said no "portcullis listening" in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  while (
    readyPath &&
    !(await fetch(url + readyPath).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null) fail(`exited (${child.exitCode})`);
    if (Date.now() > deadline) fail(`not ready at ${readyPath} in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, port, child, output: () => output, listening: JSON.parse(line) as Record<string, unknown>, stop: () => stopProcess(child) };
}

/** SIGTERM, then its exit code (null when a signal ended it); at once when it has exited already. */
export async function stopProcess(child: ChildProcess): Promise<number | null> {
  // A process a signal ended has no exit code, only a signal code: it has exited all the same.
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}
