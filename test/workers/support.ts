// Talking to a particular worker of WORKERS=N: the primary hands each new connection to
// one worker, and every request on that connection reaches the same one. A Connection is
// one keep-alive socket; it learns its worker's pid from /v1/status first.
import assert from 'node:assert/strict';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { launchSidecar, type SidecarProcess } from '../support/launch.ts';

/** A sidecar with WORKERS in `env`; ready once the primary says it listens (every worker serving), which on a loaded machine takes a while. */
export function startWorkers(env: Record<string, string>, timeoutMs = 180_000): Promise<SidecarProcess> {
  return launchSidecar(env, { timeoutMs });
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  text: string;
}

export class Connection {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private localPort: number | undefined;
  /** The worker this connection reached. */
  pid = 0;

  private constructor(private readonly port: number) {}

  static async open(port: number): Promise<Connection> {
    const connection = new Connection(port);
    const status = await connection.request('GET', '/v1/status');
    assert.equal(status.status, 200, status.text);
    connection.pid = Number(status.body.pid);
    assert.ok(connection.pid > 0, status.text);
    return connection;
  }

  /** A request on this connection; throws if it had to open another socket (its worker might differ). */
  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const started = this.start(method, path, body === undefined ? undefined : JSON.stringify(body), headers, false);
    started.finish();
    return started.answer;
  }

  /**
   * A request in flight for as long as the caller wants: `received` resolves once the worker
   * has read its head (it answered 100 Continue) and the first half of the body is sent; the
   * rest goes on `finish()`.
   */
  start(method: string, path: string, body: string | undefined, headers: Record<string, string> = {}, inFlight = true) {
    const bytes = Buffer.from(body ?? '');
    const half = inFlight ? Math.floor(bytes.length / 2) : 0;
    const sized = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(bytes.length) };
    const req = request({
      host: '127.0.0.1',
      port: this.port,
      method,
      path,
      agent: this.agent,
      headers: { ...headers, ...sized, ...(half > 0 ? { expect: '100-continue' } : {}) },
    });
    const answer = new Promise<Answer>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // Not JSON (/metrics): the text is the answer.
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    req.on('socket', (socket) => {
      const check = () => {
        if (this.localPort === undefined) this.localPort = socket.localPort;
        else if (socket.localPort !== this.localPort)
          req.destroy(new Error(`a new socket (${socket.localPort}, was ${this.localPort}): this request may reach another worker`));
      };
      if (socket.localPort !== undefined) check();
      else socket.once('connect', check);
    });
    const received = new Promise<void>((resolve, reject) => {
      if (half === 0) return resolve();
      req.once('continue', () => req.write(bytes.subarray(0, half), (error) => (error ? reject(error) : resolve())));
      answer.catch(reject);
    });
    return { answer, received, finish: () => void req.end(bytes.subarray(half)) };
  }

  close(): void {
    this.agent.destroy();
  }
}

/** One connection to each of `workers` workers (by pid), opening new ones until each has been reached. */
export async function connectionPerWorker(port: number, workers: number, attempts = 60): Promise<Map<number, Connection>> {
  const reached = new Map<number, Connection>();
  for (let i = 0; i < attempts && reached.size < workers; i++) {
    const connection = await Connection.open(port);
    if (reached.has(connection.pid)) connection.close();
    else reached.set(connection.pid, connection);
  }
  assert.equal(reached.size, workers, `${attempts} new connections reached ${reached.size} worker(s), not ${workers}`);
  return reached;
}

/**
 * Asks every worker `ask` on fresh connections until `satisfied` holds for each of them
 * (each at least once after `since`), or fails after `timeoutMs`.
 */
export async function untilEveryWorker(
  port: number,
  workers: number,
  ask: (connection: Connection) => Promise<Answer>,
  satisfied: (answer: Answer) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const done = new Set<number>();
  const seen = new Map<number, string>();
  const deadline = Date.now() + timeoutMs;
  while (done.size < workers) {
    if (Date.now() > deadline)
      assert.fail(`${what}: after ${timeoutMs} ms ${done.size} of ${workers} workers; last answers by pid: ${JSON.stringify(Object.fromEntries(seen))}`);
    const connection = await Connection.open(port);
    try {
      const answer = await ask(connection);
      seen.set(connection.pid, answer.text.slice(0, 300));
      if (satisfied(answer)) done.add(connection.pid);
    } finally {
      connection.close();
    }
    if (done.size < workers) await new Promise((r) => setTimeout(r, 20));
  }
}

/** The sum of a metric's samples in a Prometheus exposition (`name{...} value` lines). */
export function metricSum(exposition: string, name: string): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
