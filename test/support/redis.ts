// A real redis-server for a test file: started on a free loopback port, in memory
// only (no RDB/AOF files), stopped when the test file ends. Can be stopped and started
// again on the same port to simulate an outage, or paused (SIGSTOP) and resumed. Optionally TLS only (rediss://) and with
// extra arguments (ACL users).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
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
    const server = new RedisServer(await freePort(), options.dataDir, options.tls, options.args);
    await server.start();
    return server;
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
