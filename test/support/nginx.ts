// A real nginx for a test: the given configuration under a private -p prefix, in the
// foreground, ready once its port accepts connections; stop() ends it and removes the prefix.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayProcess } from '../gateway/support.ts';

export interface RunningNginx {
  output(): string;
  stop(): Promise<void>;
}

/** Starts nginx with `config` (which must listen on `port`); waits at most a minute for the port. */
export async function startNginx(config: string, port: number): Promise<RunningNginx> {
  const prefix = await mkdtemp(join(tmpdir(), 'portcullis-nginx-'));
  await writeFile(join(prefix, 'nginx.conf'), config);
  // As root the workers would otherwise run as nobody, who cannot enter the private temp dir.
  const globals = `daemon off;${process.getuid?.() === 0 ? ' user root;' : ''}`;
  try {
    const nginx = await startGatewayProcess('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', 'stderr', '-g', globals], port, {
      signal: 'SIGQUIT',
    });
    return {
      output: nginx.output,
      stop: async () => {
        await nginx.stop();
        await rm(prefix, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(prefix, { recursive: true, force: true });
    throw error;
  }
}
