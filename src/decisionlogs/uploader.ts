// Uploads decision-log events as OPA does: POST of a gzip-compressed JSON array, each
// chunk under the upload size limit (compressed, OPA's upload_size_limit_bytes), on a
// period and as soon as a chunk fills; a failed upload (any non-2xx, a network error)
// puts its events back and the next attempt waits longer (exponential backoff, jitter).
// A redirect is a failed upload, never followed: following it would send the events and
// the configured headers (credentials) to wherever the answer points, and count as
// uploaded events that no one received. Of an answer only MAX_RESPONSE_BYTES are read.
// Nothing is dropped silently: events beyond the in-memory buffer go to the append-only
// spill file, replayed once the service answers (the buffered sink, src/sink/buffer.ts,
// which the audit log's writer is built on too). A receiver is not idempotent, so an event
// is sent again only when its upload failed.
import type { Logger } from 'pino';
import { retryDelay, SinkBuffer } from '../sink/buffer.ts';
import type { DecisionLogStats } from '../stats.ts';
import { encodeChunk } from './chunks.ts';

export interface UploaderOptions {
  url: string;
  /** The request headers of an upload, read at each one (a token file may rotate). */
  headers: () => Promise<Record<string, string>>;
  uploadSizeLimitBytes: number;
  minDelayMs: number;
  maxDelayMs: number;
  bufferEvents: number;
  /** Bytes of events held in memory (with those of the upload in flight); absent = by events only. */
  bufferBytes?: number;
  /** Empty: no spill file; events beyond the buffer are dropped (and logged). */
  spillDir: string;
  stats: DecisionLogStats;
  log: Logger;
  /** One upload's deadline. */
  timeoutMs?: number;
}

/** Lines read from a spill file per replay batch. */
const REPLAY_BATCH = 1_000;
const DEFAULT_TIMEOUT_MS = 10_000;
/** An answer is only looked at for its status: what a service says beyond this is not read. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

interface Chunk {
  /** How many of the lines offered it holds. */
  count: number;
  /** Empty when the one line exceeded the limit and was dropped. */
  body: Buffer;
}

export class DecisionLogUploader {
  /** Serialized events, oldest first. The worker takes from the front; add() appends. */
  private readonly buffer: SinkBuffer<string>;
  /** Uncompressed characters per compressed byte, learnt from every chunk built. */
  private ratio = 1;
  private retries = 0;
  private closing = false;
  private wake: (() => void) | undefined;
  private worker: Promise<void> | undefined;

  constructor(private readonly options: UploaderOptions) {
    const { stats } = options;
    this.buffer = new SinkBuffer({
      maxItems: options.bufferEvents,
      ...(options.bufferBytes === undefined ? {} : { maxBytes: options.bufferBytes }),
      sizeOf: (line) => line.length + 1,
      toLine: (line) => line,
      spillDir: options.spillDir,
      noSpillDir: 'the buffer is full and no spill directory is set (DECISION_LOGS_SPILL_DIR)',
      stats: { held: (events, bytes) => (stats.buffered(events), stats.bufferedBytes(bytes)), spilled: stats.spilled, dropped: stats.dropped },
      log: options.log,
      lost: 'decision-log events DROPPED',
    });
  }

  /** Starts the upload loop; spill files left by an earlier run are replayed by it. */
  async start(): Promise<void> {
    await this.buffer.start();
    this.worker = this.loop();
  }

  /** Takes serialized events. Never throws, never waits. */
  add(lines: string[]): void {
    for (const line of lines) {
      if (this.closing) this.buffer.overflow(line);
      else this.buffer.add(line);
    }
    // A full chunk goes now, unless the service is failing: then the backoff decides.
    if (this.retries === 0 && this.buffer.queuedBytes >= this.options.uploadSizeLimitBytes * this.ratio) this.wake?.();
  }

  /** Events waiting in memory. */
  get buffered(): number {
    return this.buffer.held;
  }

  /**
   * Stops the loop after the upload in flight, makes one last attempt to upload what is
   * in memory, and spills what the service did not take (replayed at the next start).
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.wake?.();
    await this.worker;
    await this.uploadMemory(true);
    for (const line of this.buffer.removeFront(this.buffer.queued.length)) this.buffer.overflow(line);
    await this.buffer.seal();
  }

  private async loop(): Promise<void> {
    while (!this.closing) {
      await this.sleep(this.delay());
      if (this.closing) return;
      let ok: boolean;
      try {
        ok = (await this.uploadMemory()) && (await this.replaySpill());
      } catch (error) {
        this.options.log.error({ err: error }, 'decision-log upload cycle failed');
        ok = false;
      }
      this.retries = ok ? 0 : this.retries + 1;
    }
  }

  /** The period after a success; after failures, exponential backoff up to the max, with jitter. */
  private delay(): number {
    return retryDelay(this.retries, this.options.minDelayMs, this.options.maxDelayMs);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  /**
   * Uploads the memory buffer chunk by chunk; false when an upload failed (its events are
   * back at the front). The loop stops early when closing; close() then calls it `last`.
   */
  private async uploadMemory(last = false): Promise<boolean> {
    // What is pending now, not what arrives meanwhile: under steady load the spill file gets its turn.
    let budget = this.buffer.queued.length;
    while (budget > 0 && this.buffer.queued.length > 0 && (last || !this.closing)) {
      const chunk = await this.fit(this.buffer.queued);
      const lines = this.buffer.take(chunk.count);
      budget -= lines.length;
      if (chunk.body.length === 0) {
        this.buffer.sent(); // the one line exceeded the limit and was dropped
        continue;
      }
      if (!(await this.post(chunk.body))) {
        this.buffer.failed();
        this.options.stats.retried(lines.length);
        return false;
      }
      this.buffer.sent();
      this.options.stats.uploaded(lines.length);
    }
    return true;
  }

  /**
   * Uploads the closed spill files. A batch that fails is written back to a new spill
   * file (as is the rest of its file, unsent) before the old file goes: what the service
   * took is never sent again, what it did not take stays on disk.
   */
  private replaySpill(): Promise<boolean> {
    return this.buffer.replay(REPLAY_BATCH, async (lines) => {
      let sent = 0;
      while (!this.closing && sent < lines.length) {
        const rest = lines.slice(sent);
        const chunk = await this.fit(rest);
        if (chunk.body.length > 0 && !(await this.post(chunk.body))) {
          this.options.stats.retried(rest.length);
          break;
        }
        if (chunk.body.length > 0) this.options.stats.uploaded(chunk.count);
        sent += chunk.count;
      }
      return sent;
    });
  }

  /** The next chunk of `lines` (encodeChunk); a first line that alone exceeds the limit is dropped (logged): it can never be sent. */
  private async fit(lines: readonly string[]): Promise<Chunk> {
    const limit = this.options.uploadSizeLimitBytes;
    const chunk = await encodeChunk(lines, limit, this.ratio);
    if (chunk.body === undefined) {
      this.buffer.drop(1, `an event is larger than the upload size limit (${limit} bytes compressed)`);
      return { count: 1, body: Buffer.alloc(0) };
    }
    this.ratio = chunk.ratio;
    return chunk;
  }

  private async post(body: Buffer): Promise<boolean> {
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: { ...(await this.options.headers()), 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
        body: new Uint8Array(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
      await drainCapped(response);
      if (response.ok) return true;
      const redirect = response.status >= 300 && response.status < 400;
      this.options.log.warn(
        { status: response.status, url: loggable(this.options.url), retries: this.retries },
        redirect
          ? 'decision-log upload answered with a redirect, which is not followed (set DECISION_LOGS_URL to the final URL); will retry'
          : 'decision-log upload refused; will retry',
      );
    } catch (error) {
      this.options.log.warn({ err: error, url: loggable(this.options.url), retries: this.retries }, 'decision-log upload failed; will retry');
    }
    return false;
  }
}

/** Reads at most MAX_RESPONSE_BYTES of an answer and lets the rest go, so a huge answer costs no memory. */
async function drainCapped(response: Response): Promise<void> {
  const reader = response.body?.getReader();
  if (!reader) return;
  let read = 0;
  try {
    while (read <= MAX_RESPONSE_BYTES) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // A connection cut mid-answer: the status was already read.
  }
}

/** The upload URL as it may be logged: without its query string, which can carry a key. */
function loggable(url: string): string {
  return url.split('?')[0]!;
}
