// Where bundles come from after start, and how a new one replaces the old: from a file
// watched on disk, or from a bundle server polled as OPA's bundle service protocol does
// (ETag / If-None-Match, 304 when unchanged). Every candidate is read, verified and fully
// loaded before it is activated in one assignment, so a request is answered wholly by the
// old policy or wholly by the new. A candidate that fails any step is logged and counted
// and the active policy keeps serving. The last good bundle can be kept on disk and is
// loaded at start when the configured source is unavailable.
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import type { ActivePolicy } from './active.ts';
import { BundleError, MAX_BUNDLE_BYTES, readBundle } from './bundle.ts';
import { PolicyEngine } from './engine.ts';
import type { BundleVerifier } from './signature.ts';

/** Editors and copies write a file in several steps: wait for them to settle. */
const WATCH_DEBOUNCE_MS = 150;
const FETCH_TIMEOUT_MS = 10_000;
const PERSISTED_FILE = 'last-good-bundle.tar.gz';

export type BundleSource = { kind: 'file'; path: string; watch: boolean } | { kind: 'url'; url: string; pollMs: number };

export interface BundleManagerOptions {
  source: BundleSource;
  policy: ActivePolicy;
  metrics: Metrics;
  log: Logger;
  /** When set, every bundle must carry a signature that this accepts. */
  verify?: BundleVerifier;
  /** Directory for the last good bundle; empty = not kept. */
  persistDir?: string;
}

export class BundleManager {
  private activeDigest = '';
  private etag: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Candidates are handled one at a time, in arrival order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: BundleManagerOptions) {}

  /** Activates the first bundle (from the source, else the persisted one) and starts watching or polling. */
  async start(): Promise<void> {
    try {
      const archive = await this.fetchInitial();
      await this.activate(archive, this.options.source.kind);
    } catch (sourceError) {
      const persisted = await this.readPersisted();
      if (!persisted) {
        const where = this.options.source.kind === 'file' ? `BUNDLE_PATH ${this.options.source.path}` : `BUNDLE_URL ${this.options.source.url}`;
        throw new BundleError(
          `no policy bundle from ${where}: ${(sourceError as Error).message}${sourceError instanceof BundleError ? '' : ' (build one with make bundle, or fix the path)'}`,
        );
      }
      this.options.log.warn({ err: sourceError, dir: this.options.persistDir }, 'configured bundle unavailable; starting with the last good bundle');
      await this.activate(persisted, 'persisted');
    }
    const { source } = this.options;
    if (source.kind === 'file' && source.watch) this.watchFile(source.path);
    if (source.kind === 'url') this.schedulePoll(source);
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    clearTimeout(this.timer);
  }

  /** Offers a bundle; resolves true when it became active, false when it was refused or unchanged. */
  offer(archive: Buffer, origin: string): Promise<boolean> {
    const attempt = this.queue.then(() => this.activate(archive, origin));
    this.queue = attempt.then(
      () => undefined,
      () => undefined,
    );
    return attempt.then(
      (activated) => {
        if (activated) this.options.metrics.bundleReloads.labels(origin).inc();
        return activated;
      },
      (error: unknown) => {
        this.refused(origin, error);
        return false;
      },
    );
  }

  /** Verifies, loads and activates; false when it is the bundle already active. */
  private async activate(archive: Buffer, origin: string): Promise<boolean> {
    const digest = createHash('sha256').update(archive).digest('hex');
    if (digest === this.activeDigest) return false;
    const bundle = await readBundle(archive);
    if (this.options.verify) await this.options.verify(bundle.files);
    const engine = await PolicyEngine.load(bundle, { onRebuild: (reason) => this.rebuilt(bundle.manifest.revision, reason) });
    this.options.policy.activate(engine);
    this.activeDigest = digest;
    this.options.log.info({ revision: engine.revision, origin }, 'policy bundle activated');
    await this.persist(archive);
    return true;
  }

  private rebuilt(revision: string, reason: string): void {
    this.options.metrics.engineRebuilds.inc();
    this.options.log.warn({ revision, reason }, 'policy evaluation failed; its WASM instance was discarded and rebuilt from the bundle');
  }

  private refused(origin: string, error: unknown): void {
    this.options.metrics.bundleReloadFailures.labels(origin).inc();
    const reason = error instanceof Error ? error.message : String(error);
    this.options.log.error({ origin, reason, revision: this.options.policy.current?.revision }, 'policy bundle refused; the active bundle keeps serving');
  }

  private async fetchInitial(): Promise<Buffer> {
    const { source } = this.options;
    if (source.kind === 'file') return readFile(source.path);
    const archive = await this.fetchBundle(source.url);
    if (!archive) throw new BundleError(`${source.url} answered 304 to a first request`);
    return archive;
  }

  private watchFile(path: string): void {
    const name = basename(path);
    let debounce: NodeJS.Timeout | undefined;
    // The directory is watched, not the file: a file replaced by rename is a new inode.
    this.watcher = watch(dirname(path), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        if (this.stopped) return;
        readFile(path).then(
          (archive) => this.offer(archive, 'file'),
          (error: unknown) => {
            // Removed or mid-rename: the next event brings the new file.
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.refused('file', error);
          },
        );
      }, WATCH_DEBOUNCE_MS).unref();
    });
    this.watcher.unref();
    this.watcher.on('error', (error) => this.options.log.error({ err: error, path }, 'bundle file watch failed; reloads from disk stopped'));
  }

  private schedulePoll(source: { url: string; pollMs: number }): void {
    if (this.stopped) return;
    this.timer = setTimeout(async () => {
      try {
        const archive = await this.fetchBundle(source.url);
        if (archive) await this.offer(archive, 'url');
      } catch (error) {
        this.refused('url', error);
      }
      this.schedulePoll(source);
    }, source.pollMs);
    this.timer.unref();
  }

  /** The bundle at url, or undefined when it has not changed since the last one fetched. */
  private async fetchBundle(url: string): Promise<Buffer | undefined> {
    const response = await fetch(url, {
      headers: this.etag ? { 'If-None-Match': this.etag } : {},
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (response.status === 304) return undefined;
    if (response.status !== 200) throw new BundleError(`${url} answered ${response.status}`);
    if (Number(response.headers.get('content-length') ?? 0) > MAX_BUNDLE_BYTES)
      throw new BundleError(`bundle at ${url} is larger than ${MAX_BUNDLE_BYTES} bytes`);
    const archive = Buffer.from(await response.arrayBuffer());
    if (archive.length > MAX_BUNDLE_BYTES) throw new BundleError(`bundle at ${url} is larger than ${MAX_BUNDLE_BYTES} bytes`);
    // Remembered before the bundle is checked: a refused bundle is not fetched again until it changes.
    this.etag = response.headers.get('etag') ?? undefined;
    return archive;
  }

  private async persist(archive: Buffer): Promise<void> {
    const dir = this.options.persistDir;
    if (!dir) return;
    try {
      await mkdir(dir, { recursive: true });
      const temporary = join(dir, `.${PERSISTED_FILE}.${process.pid}.tmp`);
      await writeFile(temporary, archive);
      await rename(temporary, join(dir, PERSISTED_FILE));
    } catch (error) {
      this.options.log.warn({ err: error, dir }, 'could not keep the last good bundle');
    }
  }

  private async readPersisted(): Promise<Buffer | undefined> {
    const dir = this.options.persistDir;
    if (!dir) return undefined;
    return readFile(join(dir, PERSISTED_FILE)).catch(() => undefined);
  }
}
