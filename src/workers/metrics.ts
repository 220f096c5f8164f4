// /metrics across workers. A scrape reaches one worker (the primary hands connections out in
// turn), so that worker asks the primary, which collects every worker's registry as JSON,
// adds its own (workers, restarts) and merges them with prom-client's cluster aggregation:
// counters and histograms are summed, gauges as each declares (`aggregator`), so the
// answer reads as one sidecar's. One process (WORKERS=1) answers from its own registry.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { isOurs, toPrimary, type MetricsSnapshot, type PrimaryMessage, type WorkerMessage } from './messages.ts';

/** A worker stuck longer than this fails the scrape rather than making counters go backwards. */
const COLLECT_TIMEOUT_MS = 5_000;

const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
let nextRequest = 0;

/** The metrics exposition (Prometheus text) this sidecar answers /metrics with. */
export function metricsExposition(registry: Registry): Promise<string> {
  if (!cluster.isWorker) return registry.metrics();
  const id = nextRequest++;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error('the primary did not answer the metrics request'));
    }, 2 * COLLECT_TIMEOUT_MS);
    waiting.set(id, {
      resolve: (text) => (clearTimeout(timer), resolve(text)),
      reject: (error) => (clearTimeout(timer), reject(error)),
    });
    void toPrimary({ portcullis: 'metrics-request', id });
  });
}

/** In a worker: hands its registry to the primary's collections and takes the aggregated answers. */
export function serveWorkerMetrics(registry: Registry): void {
  process.on('message', (message: unknown) => {
    if (!isOurs<PrimaryMessage>(message)) return;
    if (message.portcullis === 'metrics-collect') {
      void registry.getMetricsAsJSON().then((metrics) => toPrimary({ portcullis: 'metrics-collected', id: message.id, metrics }));
    } else if (message.portcullis === 'metrics-response') {
      const request = waiting.get(message.id);
      waiting.delete(message.id);
      if ('text' in message) request?.resolve(message.text);
      else request?.reject(new Error(message.error));
    }
  });
}

/** In the primary: answers the workers' metrics requests with every worker's metrics, aggregated. */
export class MetricsAggregator {
  private nextCollection = 0;
  private readonly collections = new Map<number, { remaining: Set<number>; snapshots: MetricsSnapshot[]; done: () => void }>();

  constructor(
    private readonly own: Registry,
    /** The workers that are serving (a starting or stopping one is not asked). */
    private readonly serving: () => Worker[],
  ) {}

  /** Handles a worker's message; false when it is not a metrics message. */
  handle(from: Worker, message: WorkerMessage): boolean {
    if (message.portcullis === 'metrics-request') {
      this.aggregate().then(
        (text) => send(from, { portcullis: 'metrics-response', id: message.id, text }),
        (error: Error) => send(from, { portcullis: 'metrics-response', id: message.id, error: error.message }),
      );
      return true;
    }
    if (message.portcullis === 'metrics-collected') {
      const collection = this.collections.get(message.id);
      if (collection?.remaining.delete(from.id)) {
        collection.snapshots.push(message.metrics);
        if (collection.remaining.size === 0) collection.done();
      }
      return true;
    }
    return false;
  }

  /** A worker that exits cannot answer: its share of a collection is no longer awaited. */
  forget(worker: Worker): void {
    for (const collection of this.collections.values()) {
      if (collection.remaining.delete(worker.id) && collection.remaining.size === 0) collection.done();
    }
  }

  private async aggregate(): Promise<string> {
    const workers = this.serving();
    const id = this.nextCollection++;
    const snapshots: MetricsSnapshot[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const late = [...(this.collections.get(id)?.remaining ?? [])];
        this.collections.delete(id);
        reject(new Error(`worker ${late.join(', ')} did not hand over its metrics within ${COLLECT_TIMEOUT_MS} ms`));
      }, COLLECT_TIMEOUT_MS);
      const done = () => {
        clearTimeout(timer);
        this.collections.delete(id);
        resolve();
      };
      this.collections.set(id, { remaining: new Set(workers.map((w) => w.id)), snapshots, done });
      if (workers.length === 0) done();
      for (const worker of workers) send(worker, { portcullis: 'metrics-collect', id });
    });
    snapshots.push(await this.own.getMetricsAsJSON());
    return AggregatorRegistry.aggregate(snapshots).metrics();
  }
}

function send(worker: Worker, message: PrimaryMessage): void {
  // A worker that is going away cannot be told: the callback takes the error the channel would emit.
  if (worker.isConnected()) worker.send(message, () => undefined);
}
