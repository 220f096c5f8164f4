// A real redis-server for a test file: started on a free loopback port, in memory
// only (no RDB/AOF files), stopped when the test file ends. Can be stopped and started
// again on the same port to simulate an outage, or paused (SIGSTOP) and resumed. Optionally TLS only (rediss://) and with
// extra arguments (ACL users).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

const handedOut = new Set<number>();

/**
 * A loopback port nothing listens on, chosen at random below Linux's ephemeral range
 * (32768 and up): ports from listen(0) and outgoing connections come from that range, so a
 * port from here is not taken by a client socket between the check and the child's bind.
 * Another test file may still pick the same one; starters that bind retry with a new port.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 15_000 + Math.floor(Math.random() * 17_000);
    if (handedOut.has(port)) continue;
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    server.close();
    await once(server, 'close');
    handedOut.add(port);
    return port;
  }
}

/** True when a server's start-up output says its port was taken meanwhile (start again on another). */
export function portTaken(error: unknown): boolean {
  return error instanceof Error && error.message.includes('Address already in use');
}

/** A server certificate (PEM files) and the CA that signed it. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export class RedisServer {
  private process: ChildProcess | undefined;

  /** `dataDir`: keep the data across stop()/start() (append-only file, fsync on every write). */
  private constructor(
    readonly port: number,
    private readonly dataDir?: string,
    private readonly tls?: TlsFiles,
    private readonly args: string[] = [],
  ) {}

  get url(): string {
    return `${this.tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`;
  }

  static async start(options: { dataDir?: string; tls?: TlsFiles; args?: string[] } = {}): Promise<RedisServer> {
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(await freePort(), options.dataDir, options.tls, options.args);
      try {
        await server.start();
        return server;
      } catch (error) {
        if (!portTaken(error) || attempt === 5) throw error;
      }
    }
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        ...(this.tls
          ? [
              '--port',
              '0',
              '--tls-port',
              String(this.port),
              '--tls-cert-file',
              this.tls.certFile,
              '--tls-key-file',
              this.tls.keyFile,
              '--tls-ca-cert-file',
              this.tls.caFile,
              '--tls-auth-clients',
              'no',
            ]
          : ['--port', String(this.port)]),
        ...['--bind', '127.0.0.1', '--save', '', '--protected-mode', 'yes'],
        ...(this.dataDir ? ['--dir', this.dataDir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
        ...this.args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.once('error', () => undefined);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const ready = new Promise<void>((resolve, reject) => {
      const onData = () => output.includes('Ready to accept connections') && resolve();
      child.stdout!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${output}`)));
      child.once('error', (error) => reject(new Error(`redis-server could not start: ${error.message} (is it installed?)`)));
    });
    this.process = child;
    await ready;
  }

  /** SIGSTOP: the server holds its connections and answers nothing until resume(). */
  pause(): void {
    this.process?.kill('SIGSTOP');
  }

  /** SIGCONT after pause(): the server answers what it was sent meanwhile. */
  resume(): void {
    this.process?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    this.process = undefined;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}
