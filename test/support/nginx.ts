// A real nginx for a test: the given configuration under a private -p prefix, in the
// foreground, ready once its port accepts connections; stop() ends it and removes the prefix.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function portOpen(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  try {
    await Promise.race([once(socket, 'connect'), once(socket, 'error').then(([error]) => Promise.reject(error))]);
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

export interface RunningNginx {
  output(): string;
  stop(): Promise<void>;
}

/** Starts nginx with `config` (which must listen on `port`); waits at most 30 s for the port. */
export async function startNginx(config: string, port: number): Promise<RunningNginx> {
  const prefix = await mkdtemp(join(tmpdir(), 'portcullis-nginx-'));
  await writeFile(join(prefix, 'nginx.conf'), config);
  // As root the workers would otherwise run as nobody, who cannot enter the private temp dir.
  const globals = `daemon off;${process.getuid?.() === 0 ? ' user root;' : ''}`;
  const nginx = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', 'stderr', '-g', globals], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  nginx.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  const stop = async () => {
    if (nginx.exitCode === null && nginx.signalCode === null) {
      const exited = once(nginx, 'exit');
      nginx.kill('SIGQUIT');
      await exited;
    }
    await rm(prefix, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (!(await portOpen(port))) {
    if (nginx.exitCode !== null || Date.now() > deadline) {
      nginx.kill('SIGKILL');
      await stop();
      throw new Error(`nginx did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { output: () => output, stop };
}
