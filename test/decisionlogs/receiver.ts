// A real decision-log service for tests: an HTTP server on a loopback port that takes
// OPA's uploads (gzip-compressed JSON arrays), keeps every event it accepted, and can
// refuse (answer 503), redirect, answer a huge body, stop and start again on the same port.
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';

export interface Upload {
  headers: Record<string, string | string[] | undefined>;
  compressedBytes: number;
  events: Array<Record<string, unknown>>;
}

export class LogReceiver {
  readonly uploads: Upload[] = [];
  /** While set, uploads are answered 503 and not kept. */
  refusing = false;
  refused = 0;
  /** While set, uploads are answered with this redirect and not kept. */
  redirect: { status: number; location: string } | undefined;
  redirected = 0;
  /** While set, uploads are kept and answered 200 with a body of this many bytes, written as fast as the client reads. */
  answerBytes = 0;
  /** Bytes of those answers the client took before it closed the connection, per upload. */
  readonly answered: number[] = [];
  private server: Server | undefined;
  private waiters: Array<() => void> = [];
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/logs`;
  }

  get events(): Array<Record<string, unknown>> {
    return this.uploads.flatMap((upload) => upload.events);
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (this.refusing) {
          this.refused++;
          res.writeHead(503).end();
          return;
        }
        if (this.redirect) {
          this.redirected++;
          res.writeHead(this.redirect.status, { location: this.redirect.location }).end();
          for (const wake of this.waiters.splice(0)) wake();
          return;
        }
        const body = Buffer.concat(chunks);
        const events = JSON.parse(gunzipSync(body).toString('utf8')) as Upload['events'];
        this.uploads.push({ headers: req.headers, compressedBytes: body.length, events });
        if (this.answerBytes > 0) this.answerHuge(res, this.answerBytes);
        else res.writeHead(200).end();
        for (const wake of this.waiters.splice(0)) wake();
      });
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  private answerHuge(res: ServerResponse, bytes: number): void {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    res.writeHead(200, { 'content-length': String(bytes) });
    const at = this.answered.push(0) - 1;
    const write = () => {
      while (sent < bytes && !res.destroyed) {
        sent += chunk.length;
        this.answered[at] = sent;
        if (!res.write(chunk)) return void res.once('drain', write);
      }
      if (!res.destroyed) res.end();
    };
    res.on('close', () => res.removeAllListeners('drain'));
    write();
  }

  /** Stops listening; uploads in progress are answered first, so none is half-taken. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeIdleConnections();
    await closed;
  }

  /** Resolves when `done()` holds after an upload, or rejects after `timeoutMs` (a bound, not a measurement). */
  async until(done: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`receiver: condition not met within ${timeoutMs} ms (${this.events.length} events received)`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }
}
