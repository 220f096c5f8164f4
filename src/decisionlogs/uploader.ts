// Uploads decision-log events as OPA does: POST of a gzip-compressed JSON array, each
// chunk under the upload size limit (compressed, OPA's upload_size_limit_bytes), on a
// period and as soon as a chunk fills; a failed upload (any non-2xx, a network error)
// puts its events back and the next attempt waits longer (exponential backoff, jitter).
// A redirect is a failed upload, never followed: following it would send the events and
// the configured headers (credentials) to wherever the answer points, and count as
// uploaded events that no one received. Of an answer only MAX_RESPONSE_BYTES are read.
// Nothing is dropped silently: events beyond the in-memory buffer go to the append-only
// spill file (the audit log's, src/audit/spill.ts), replayed once the service answers.
// A receiver is not idempotent, so an event is sent again only when its upload failed.
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { Logger } from 'pino';
import { SpillFile } from '../audit/spill.ts';
import type { DecisionLogStats } from '../stats.ts';

const gzip = promisify(gzipCallback);

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
const JITTER = 0.2;
const DEFAULT_TIMEOUT_MS = 10_000;
/** An answer is only looked at for its status: what a service says beyond this is not read. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

interface Chunk {
  /** How many of the lines offered it holds. */
  count: number;
  body: Buffer;
}

export class DecisionLogUploader {
  /** Serialized events, oldest first. The worker takes from the front; add() appends. */
  private pending: string[] = [];
  private pendingChars = 0;
  /** Events taken from `pending` by the upload in flight; they still count against the buffer. */
  private inFlight = 0;
  private inFlightChars = 0;
  private readonly spill: SpillFile | undefined;
  private spillWrites = 0;
  /** The current spill file has lines that no replay has seen. */
  private spillDirty = false;
  private spillSettled: Array<() => void> = [];
  /** Uncompressed characters per compressed byte, learnt from every chunk built. */
  private ratio = 1;
  private retries = 0;
  private closing = false;
  private wake: (() => void) | undefined;
  private worker: Promise<void> | undefined;
  /** Drops counted since the last drop was logged (within the second that follows it). */
  private dropped: { count: number } | undefined;

  constructor(private readonly options: UploaderOptions) {
    if (options.spillDir) {
      this.spill = new SpillFile(options.spillDir, {
        onWritten: () => {
          options.stats.spilled(1);
          this.spillWriteDone();
        },
        onFailed: (error) => {
          this.drop(1, 'the spill file could not be written', error);
          this.spillWriteDone();
        },
      });
    }
  }

  /** Starts the upload loop; spill files left by an earlier run are replayed by it. */
  async start(): Promise<void> {
    await this.spill?.ensureDirectory();
    this.worker = this.loop();
  }

  /** Takes serialized events. Never throws, never waits. */
  add(lines: string[]): void {
    const maxChars = this.options.bufferBytes ?? Infinity;
    for (const line of lines) {
      const full = this.pending.length + this.inFlight >= this.options.bufferEvents || this.pendingChars + this.inFlightChars + line.length + 1 > maxChars;
      if (this.closing || full) {
        this.overflow(line);
        continue;
      }
      this.pending.push(line);
      this.pendingChars += line.length + 1;
    }
    this.counted();
    // A full chunk goes now, unless the service is failing: then the backoff decides.
    if (this.retries === 0 && this.pendingChars >= this.options.uploadSizeLimitBytes * this.ratio) this.wake?.();
  }

  /** Events waiting in memory. */
  get buffered(): number {
    return this.pending.length + this.inFlight;
  }

  private counted(): void {
    this.options.stats.buffered(this.buffered);
    this.options.stats.bufferedBytes(this.pendingChars + this.inFlightChars);
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
    const left = this.pending.splice(0);
    this.pendingChars = 0;
    for (const line of left) this.overflow(line);
    this.counted();
    await this.spillWritesSettled();
    await this.spill?.seal();
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
    const { minDelayMs, maxDelayMs } = this.options;
    const base = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(this.retries, 30));
    return Math.min(maxDelayMs, base * (1 + JITTER * (Math.random() * 2 - 1)));
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
    let budget = this.pending.length;
    while (budget > 0 && this.pending.length > 0 && (last || !this.closing)) {
      const chunk = await this.fit(this.pending);
      const lines = this.pending.splice(0, chunk.count);
      budget -= lines.length;
      const chars = lines.reduce((sum, line) => sum + line.length + 1, 0);
      this.pendingChars -= chars;
      if (chunk.body.length === 0) continue; // the one line exceeded the limit and was dropped
      this.inFlight = lines.length;
      this.inFlightChars = chars;
      this.counted();
      const ok = await this.post(chunk.body);
      this.inFlight = 0;
      this.inFlightChars = 0;
      if (!ok) {
        this.pending = lines.concat(this.pending);
        this.pendingChars += chars;
        this.options.stats.retried(lines.length);
        return false;
      }
      this.options.stats.uploaded(lines.length);
      this.counted();
    }
    return true;
  }

  /**
   * Uploads the closed spill files. A batch that fails is written back to a new spill
   * file (as is the rest of its file, unsent) before the old file goes: what the service
   * took is never sent again, what it did not take stays on disk.
   */
  private async replaySpill(): Promise<boolean> {
    const spill = this.spill;
    if (!spill) return true;
    if (!this.spillDirty && (await spill.files()).length === 0) return true;
    await this.spillWritesSettled();
    this.spillDirty = false;
    await spill.seal();
    let ok = true;
    for (const file of await spill.files()) {
      await spill.replay(file, REPLAY_BATCH, async (lines) => {
        let sent = 0;
        while (ok && !this.closing && sent < lines.length) {
          const rest = lines.slice(sent);
          const chunk = await this.fit(rest);
          if (chunk.body.length > 0 && !(await this.post(chunk.body))) {
            ok = false;
            this.options.stats.retried(rest.length);
            break;
          }
          if (chunk.body.length > 0) this.options.stats.uploaded(chunk.count);
          sent += chunk.count;
        }
        for (const line of lines.slice(sent)) this.overflow(line);
        await this.spillWritesSettled();
      });
      if (!ok || this.closing) break;
    }
    return ok;
  }

  /**
   * The longest prefix of `lines` whose gzip-compressed array stays within the size
   * limit. A first line that alone exceeds it is dropped (logged): it can never be sent.
   */
  private async fit(lines: string[]): Promise<Chunk> {
    const limit = this.options.uploadSizeLimitBytes;
    // Start from what the learnt compression ratio says fits, then halve until it does.
    let count = 0;
    for (let chars = 2; count < lines.length; count++) {
      chars += lines[count]!.length + 1;
      if (count > 0 && chars > limit * this.ratio) break;
    }
    for (;;) {
      const json = '[' + lines.slice(0, count).join(',') + ']';
      const body = await gzip(json);
      if (body.length <= limit) {
        // Aim a little below what this chunk achieved, so the next first guess usually fits.
        this.ratio = Math.max(1, (0.9 * json.length) / body.length);
        return { count, body };
      }
      if (count === 1) {
        this.drop(1, `an event is larger than the upload size limit (${limit} bytes compressed)`);
        return { count: 1, body: Buffer.alloc(0) };
      }
      count = Math.ceil(count / 2);
    }
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

  /** The buffer is full (or the uploader is closing): to disk, or dropped loudly when there is no disk. */
  private overflow(line: string): void {
    if (!this.spill) {
      this.drop(1, 'the buffer is full and no spill directory is set (DECISION_LOGS_SPILL_DIR)');
      return;
    }
    this.spillWrites++;
    this.spillDirty = true;
    this.spill.append(line);
  }

  private spillWriteDone(): void {
    if (--this.spillWrites > 0) return;
    for (const resolve of this.spillSettled.splice(0)) resolve();
  }

  /** Resolves once every spill write so far has reached the file (or failed). */
  private spillWritesSettled(): Promise<void> {
    if (this.spillWrites === 0) return Promise.resolve();
    return new Promise((resolve) => this.spillSettled.push(resolve));
  }

  /** Every drop is logged: the first at once, those that follow within a second together at its end. */
  private drop(count: number, why: string, error?: Error): void {
    this.options.stats.dropped(count);
    if (this.dropped) {
      this.dropped.count += count;
      return;
    }
    this.options.log.error({ err: error, dropped: count }, `decision-log events DROPPED: ${why}`);
    const dropped = { count: 0 };
    this.dropped = dropped;
    setTimeout(() => {
      this.dropped = undefined;
      if (dropped.count > 0) this.options.log.error({ dropped: dropped.count }, `decision-log events DROPPED in the last second: ${why}`);
    }, 1000).unref();
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
