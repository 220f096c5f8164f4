// The messages between the primary and its workers over the cluster IPC channel. Each
// carries `portcullis` (its kind), so other listeners on the channel (prom-client's own
// cluster listener, node's internal messages) can tell them apart.
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** Worker -> primary. */
export type WorkerMessage =
  /** Serving: both ports bound, a bundle active, the settings store connected. */
  | { portcullis: 'ready'; httpPort: number; grpcPort: number; revision: string; storeKind: string }
  /** The one-line reason it could not start (ConfigError, BundleError, ...); the worker then exits 1. */
  | { portcullis: 'startup-failed'; message: string }
  /** A /metrics scrape reached this worker: it asks for every worker's metrics, aggregated. */
  | { portcullis: 'metrics-request'; id: number }
  | { portcullis: 'metrics-collected'; id: number; metrics: MetricsSnapshot };

/** Primary -> worker. */
export type PrimaryMessage =
  | { portcullis: 'metrics-collect'; id: number }
  | { portcullis: 'metrics-response'; id: number; text: string }
  | { portcullis: 'metrics-response'; id: number; error: string };

/** Whether a message on the channel is one of ours (of the kind the receiving side expects). */
export function isOurs<T extends WorkerMessage | PrimaryMessage>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { portcullis?: unknown }).portcullis === 'string';
}

/** Sends to the primary; resolves once the message has been handed to the channel. */
export function toPrimary(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, undefined, () => resolve());
  });
}
