// The buffered sink that both record writers are built on (the audit log's Redis writer and
// the decision-log uploader): what a writer that must never block its caller, and never
// lose anything quietly, holds between being handed an item and a store taking it.
//
// Items wait in a queue bounded in items and in bytes (counting the batch on its way to the
// store); an item that does not fit goes to the spill file (spill.ts), or, with no spill
// directory or when the file cannot be written, is dropped — counted, and logged at once,
// the drops of the second that follows together at its end. A batch is taken from the
// front of the queue; when the store refuses it, it goes back to the front. Once the store
// answers again the spill files are replayed through it, oldest first. The writer owns the
// loop that decides when to send, and the send itself ("write this batch"): this module
// knows no store. retryDelay is the backoff a writer waits after a failed attempt.
import type { Logger } from 'pino';
import { SpillFile } from './spill.ts';

export interface SinkStats {
  /** What is held in memory now: items queued or on their way, and their bytes. */
  held(items: number, bytes: number): void;
  /** Items written to the spill file. */
  spilled(count: number): void;
  /** Items lost. */
  dropped(count: number): void;
}

export interface BufferOptions<T> {
  maxItems: number;
  /** Absent: bounded by items only. */
  maxBytes?: number;
  sizeOf(item: T): number;
  /** The item as a line of the spill file (what a replay hands the store). */
  toLine(item: T): string;
  /** Where the spill files live; empty = no spill file (what does not fit is dropped). */
  spillDir: string;
  /** Why an item that does not fit is dropped when there is no spill directory (names the setting). */
  noSpillDir: string;
  stats: SinkStats;
  log: Logger;
  /** How the log names a loss, e.g. "decision-log events DROPPED". */
  lost: string;
}

const JITTER = 0.2;

/** The wait before the attempt after `retries` failed ones: `minMs`, doubled per failure up to `maxMs`, with jitter. */
export function retryDelay(retries: number, minMs: number, maxMs: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(retries, 30));
  return Math.min(maxMs, base * (1 + JITTER * (Math.random() * 2 - 1)));
}

export class SinkBuffer<T> {
  private queue: T[] = [];
  private queueBytes = 0;
  /** The batch taken for the store: out of the queue, still held (and counted) until settled. */
  private batch: T[] = [];
  private batchBytes = 0;
  private readonly spill: SpillFile | undefined;
  private spillWrites = 0;
  private spillSettled: Array<() => void> = [];
  /** True while there may be closed spill files to replay (at start: files of an earlier run). */
  private spillPending = true;
  /** Drops counted since the last drop was logged (within the second that follows it). */
  private drops: { count: number } | undefined;

  constructor(private readonly options: BufferOptions<T>) {
    this.spill = options.spillDir
      ? new SpillFile(options.spillDir, {
          onWritten: () => {
            options.stats.spilled(1);
            this.spillWriteDone();
          },
          onFailed: (error) => {
            this.drop(1, 'the spill file could not be written', error);
            this.spillWriteDone();
          },
        })
      : undefined;
  }

  async start(): Promise<void> {
    await this.spill?.ensureDirectory();
  }

  /** Items waiting in the queue, oldest first (not the batch on its way). */
  get queued(): readonly T[] {
    return this.queue;
  }

  get queuedBytes(): number {
    return this.queueBytes;
  }

  /** The batch on its way to the store. */
  get inFlight(): readonly T[] {
    return this.batch;
  }

  /** Items held in memory: queued and on their way. */
  get held(): number {
    return this.queue.length + this.batch.length;
  }

  /** Queues the item; false when it did not fit and went to the spill file (or was dropped). */
  add(item: T): boolean {
    const bytes = this.options.sizeOf(item);
    if (this.held >= this.options.maxItems || this.queueBytes + this.batchBytes + bytes > (this.options.maxBytes ?? Infinity)) {
      this.overflow(item);
      return false;
    }
    this.queue.push(item);
    this.queueBytes += bytes;
    this.counted();
    return true;
  }

  /** Takes up to `count` items from the front of the queue as the batch for the store (one batch at a time). */
  take(count: number): T[] {
    this.batch = this.queue.splice(0, count);
    this.batchBytes = 0;
    for (const item of this.batch) this.batchBytes += this.options.sizeOf(item);
    this.queueBytes -= this.batchBytes;
    this.counted();
    return this.batch;
  }

  /** The store took the batch (or it was dropped). */
  sent(): void {
    this.batch = [];
    this.batchBytes = 0;
    this.counted();
  }

  /** The store did not take the batch: its items go back to the front of the queue, but for those `keep` refuses. */
  failed(keep: (item: T) => boolean = () => true): void {
    const back = this.batch.filter(keep);
    this.queue = back.concat(this.queue);
    for (const item of back) this.queueBytes += this.options.sizeOf(item);
    this.sent();
  }

  /** Removes the first `count` queued items (to spill them, say) and returns them. */
  removeFront(count: number): T[] {
    const removed = this.queue.splice(0, count);
    for (const item of removed) this.queueBytes -= this.options.sizeOf(item);
    this.counted();
    return removed;
  }

  /** To the spill file, or dropped (loudly) when there is none. */
  overflow(item: T): void {
    if (!this.spill) {
      this.drop(1, this.options.noSpillDir);
      return;
    }
    this.spillLine(this.options.toLine(item));
  }

  /** Every drop is counted and logged: the first at once, those that follow within a second together at its end. */
  drop(count: number, why: string, error?: Error): void {
    this.options.stats.dropped(count);
    if (this.drops) {
      this.drops.count += count;
      return;
    }
    const { log, lost, spillDir } = this.options;
    log.error({ err: error, dropped: count, spillDir }, `${lost}: ${why}`);
    const drops = { count: 0 };
    this.drops = drops;
    setTimeout(() => {
      this.drops = undefined;
      if (drops.count > 0) log.error({ dropped: drops.count, spillDir }, `${lost} in the last second: ${why}`);
    }, 1000).unref();
  }

  /**
   * Replays the closed spill files through `send`, oldest first, `batchSize` lines at a time.
   * `send` returns how many lines from the front of its batch the store took; those it did
   * not take are written to a new spill file before the old one goes, and the replay stops
   * (false). When `send` throws, the file stays as it is and is replayed again from its
   * start later (for a store that keeps each item once however often it is sent).
   */
  async replay(batchSize: number, send: (lines: string[]) => Promise<number>): Promise<boolean> {
    const spill = this.spill;
    if (!spill || !this.spillPending) return true;
    await this.spillWritesSettled();
    this.spillPending = false;
    let ok = true;
    try {
      await spill.seal();
      for (const file of await spill.files()) {
        await spill.replay(file, batchSize, async (lines) => {
          const taken = ok ? await send(lines) : 0;
          if (taken < lines.length) ok = false;
          for (const line of lines.slice(taken)) this.spillLine(line);
          await this.spillWritesSettled();
        });
        if (!ok) break;
      }
    } catch (error) {
      this.spillPending = true;
      throw error;
    }
    return ok;
  }

  /** Waits for the spill writes made so far and closes the spill file (what it holds is replayed at the next start). */
  async seal(): Promise<void> {
    await this.spillWritesSettled();
    await this.spill?.seal();
  }

  private counted(): void {
    this.options.stats.held(this.held, this.queueBytes + this.batchBytes);
  }

  private spillLine(line: string): void {
    this.spillWrites++;
    this.spillPending = true;
    this.spill!.append(line);
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
}
