// The local append-only file that takes what a buffered sink (buffer.ts) cannot hold in
// memory while its store is away. One NDJSON line per item. Appends go to the current file;
// replay first closes it (new appends open a fresh one) and then reads every closed
// file in the directory, oldest first — files left by an earlier run included — and
// removes each once all its lines are stored (or written again to a newer file). A file
// whose replay was interrupted is replayed again from its start.
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const SUFFIX = '.ndjson';

export interface SpillCallbacks {
  onWritten(): void;
  onFailed(error: Error): void;
}

export class SpillFile {
  private stream: WriteStream | undefined;
  private current: string | undefined;
  private sequence = 0;

  constructor(
    readonly directory: string,
    private readonly callbacks: SpillCallbacks,
  ) {}

  /** Never throws: a failed write reaches `onFailed`. */
  append(line: string): void {
    const stream = this.open();
    stream.write(line + '\n', (error) => {
      if (error) this.callbacks.onFailed(error);
      else this.callbacks.onWritten();
    });
  }

  /** Closes the current file so that it can be replayed; waits for its writes. */
  async seal(): Promise<void> {
    const stream = this.stream;
    if (!stream) return;
    this.stream = undefined;
    this.current = undefined;
    if (stream.destroyed) return;
    await new Promise<void>((resolve) => stream.end(resolve));
  }

  /** Closed spill files, oldest first. */
  async files(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names
      .filter((name) => name.endsWith(SUFFIX))
      .map((name) => join(this.directory, name))
      .filter((path) => path !== this.current)
      .sort();
  }

  /** Reads a closed file in batches; `store` must be idempotent. Removes the file at the end. */
  async replay(path: string, batchSize: number, store: (lines: string[]) => Promise<void>): Promise<void> {
    try {
      await this.replayFile(path, batchSize, store);
    } catch (error) {
      // Another instance sharing the directory replayed it first: its records are stored.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  private async replayFile(path: string, batchSize: number, store: (lines: string[]) => Promise<void>): Promise<void> {
    const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
    let batch: string[] = [];
    for await (const line of lines) {
      if (line.trim() === '') continue;
      batch.push(line);
      if (batch.length >= batchSize) {
        await store(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await store(batch);
    await unlink(path);
  }

  async ensureDirectory(): Promise<void> {
    await mkdir(this.directory, { recursive: true });
  }

  private open(): WriteStream {
    if (this.stream && !this.stream.destroyed) return this.stream;
    // Sortable by time, unique per process and per file.
    const name = `spill-${Date.now().toString().padStart(15, '0')}-${process.pid}-${this.sequence++}${SUFFIX}`;
    this.current = join(this.directory, name);
    const stream = createWriteStream(this.current, { flags: 'a' });
    // Each write's own callback reports the failure; this only stops using the stream.
    stream.on('error', () => {
      if (this.stream === stream) this.stream = undefined;
    });
    this.stream = stream;
    return stream;
  }
}
