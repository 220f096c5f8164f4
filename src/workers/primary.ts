// The primary process of WORKERS=N: forks N workers (node:cluster), each a whole sidecar
// (its own settings cache and subscription, audit writer, bundle watcher or poller, WASM
// instance) sharing the HTTP and gRPC ports, whose connections the primary hands out in
// turn. It answers /metrics scrapes for all of them (metrics.ts), restarts a worker that
// dies (with backoff), and on SIGTERM has every worker drain and waits for them. It serves
// nothing itself, so it never holds a request.
import cluster, { type Worker } from 'node:cluster';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Config } from '../config.ts';
import { isOurs, type WorkerMessage } from './messages.ts';
import { MetricsAggregator } from './metrics.ts';

const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker that served this long before it died is restarted without waiting (its backoff starts over). */
const STABLE_MS = 10_000;
/** After SIGTERM, a worker still alive this long after its own drain time is killed. */
export const STOP_BACKSTOP_MS = 30_000;

export interface Listening {
  httpPort: number;
  grpcPort: number;
  revision: string;
  storeKind: string;
}

/** A worker could not start: `message` is its one-line reason, as a single process would print it. */
export class WorkerStartupError extends Error {
  override name = 'WorkerStartupError';
}

/** One of the N places a worker runs in; its replacement after a crash takes the same place. */
interface Slot {
  index: number;
  worker?: Worker;
  startedAt: number;
  serving?: Listening;
  /** Consecutive short-lived runs, for the restart backoff. */
  failures: number;
  restart?: NodeJS.Timeout;
}

export class WorkerPool {
  private readonly slots: Slot[];
  private readonly registry = new Registry();
  private readonly restarts = new Counter({
    name: 'portcullis_worker_restarts_total',
    help: 'Worker processes that exited unasked and were started again (WORKERS > 1).',
    registers: [this.registry],
  });
  private readonly serving: Gauge = new Gauge({
    name: 'portcullis_workers',
    help: 'Worker processes serving (WORKERS > 1).',
    registers: [this.registry],
    collect: () => {
      this.serving.set(this.servingWorkers().length);
    },
  });
  private readonly metrics = new MetricsAggregator(this.registry, () => this.servingWorkers());
  private startup: { resolve: (listening: Listening) => void; reject: (error: Error) => void } | undefined;
  private stopped: Promise<number> | undefined;
  private onAllExited: (() => void) | undefined;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    count: number,
  ) {
    this.slots = Array.from({ length: count }, (_, i) => ({ index: i + 1, startedAt: 0, failures: 0 }));
  }

  /** Forks every worker; resolves once all of them serve, rejects with the first one's startup failure. */
  start(): Promise<Listening> {
    cluster.on('message', (worker, message: unknown) => {
      if (isOurs<WorkerMessage>(message)) this.onMessage(worker, message);
    });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    return new Promise((resolve, reject) => {
      this.startup = { resolve, reject };
      for (const slot of this.slots) this.fork(slot);
    });
  }

  /** Every worker drains (as a single process does on SIGTERM); resolves with the exit code for the primary. */
  stop(): Promise<number> {
    this.stopped ??= new Promise<number>((resolve) => {
      let failed = false;
      const backstop = setTimeout(() => {
        for (const slot of this.slots) {
          if (!slot.worker) continue;
          this.log.warn({ worker: slot.worker.id, pid: slot.worker.process.pid }, 'worker still running long after its drain time: killing it');
          slot.worker.process.kill('SIGKILL');
        }
      }, this.config.shutdownTimeoutMs + STOP_BACKSTOP_MS);
      this.onAllExited = () => {
        clearTimeout(backstop);
        resolve(failed ? 1 : 0);
      };
      // A worker still starting has no SIGTERM handler yet: ended by that signal, it did nothing wrong.
      cluster.on('exit', (_worker, code, signal) => (failed ||= !(code === 0 || signal === 'SIGTERM')));
      for (const slot of this.slots) {
        clearTimeout(slot.restart);
        slot.worker?.process.kill('SIGTERM');
      }
      this.checkAllExited();
    });
    return this.stopped;
  }

  /** Ends every worker at once (SIGKILL): the primary is leaving without waiting for their drain. */
  kill(): void {
    for (const slot of this.slots) {
      clearTimeout(slot.restart);
      slot.worker?.process.kill('SIGKILL');
    }
  }

  private fork(slot: Slot): void {
    slot.restart = undefined;
    slot.serving = undefined;
    slot.startedAt = Date.now();
    slot.worker = cluster.fork(this.environment(slot));
  }

  /** What a worker's configuration differs in: its own spill files, and the admin token all of them share. */
  private environment(slot: Slot): Record<string, string> {
    const env: Record<string, string> = {};
    // A generated token must be the one printed, whichever worker answers.
    if (this.config.adminTokenGenerated) env.ADMIN_TOKEN = this.config.adminToken;
    // A spill file directory must have one writer: a process replays every closed file in
    // its directory, and another's current file is not closed. The first worker keeps the
    // configured directory (so WORKERS=1's leftovers are replayed); the others get their own
    // beneath it, which their replacements after a crash take over and replay.
    const own = (dir: string) => (slot.index === 1 || dir === '' ? dir : join(dir, `worker-${slot.index}`));
    if (this.config.auditSpillDir) env.AUDIT_SPILL_DIR = own(this.config.auditSpillDir);
    if (this.config.decisionLogsSpillDir) env.DECISION_LOGS_SPILL_DIR = own(this.config.decisionLogsSpillDir);
    return env;
  }

  private onMessage(worker: Worker, message: WorkerMessage): void {
    if (this.metrics.handle(worker, message)) return;
    const slot = this.slots.find((s) => s.worker === worker);
    if (!slot) return;
    if (message.portcullis === 'ready') {
      const { httpPort, grpcPort, revision, storeKind } = message;
      slot.serving = { httpPort, grpcPort, revision, storeKind };
      if (this.startup) this.startedIfAllServe();
      else this.log.info({ worker: worker.id, pid: worker.process.pid, revision }, 'worker serving again');
    } else if (message.portcullis === 'startup-failed') {
      if (this.startup) this.failStartup(message.message);
      else this.log.error({ worker: worker.id, pid: worker.process.pid, reason: message.message }, 'worker could not start');
    }
  }

  private startedIfAllServe(): void {
    const serving = this.slots.map((s) => s.serving);
    if (!this.startup || serving.some((s) => s === undefined)) return;
    const [first] = serving as Listening[];
    // node:cluster shares a port among workers by address and port; a server that bound its
    // own port per worker would split the clients between workers that do not know of each other.
    const split = (serving as Listening[]).find((s) => s.httpPort !== first!.httpPort || s.grpcPort !== first!.grpcPort);
    if (split)
      return this.failStartup(
        `workers did not share their ports: HTTP ${first!.httpPort} and ${split.httpPort}, gRPC ${first!.grpcPort} and ${split.grpcPort}`,
      );
    // The in-memory store and audit log would be one per worker: a settings write would reach
    // one worker, an audit query would see one worker's decisions.
    if (first!.storeKind !== 'redis')
      return this.failStartup(
        `WORKERS=${this.slots.length} needs Redis (REDIS_URL): without it each worker keeps its own settings and audit log; set REDIS_URL, or WORKERS=1`,
      );
    this.startup.resolve(first!);
    this.startup = undefined;
  }

  private failStartup(message: string): void {
    this.startup?.reject(new WorkerStartupError(message));
    this.startup = undefined;
    void this.stop();
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    this.metrics.forget(worker);
    const slot = this.slots.find((s) => s.worker === worker);
    if (!slot) return;
    slot.worker = undefined;
    slot.serving = undefined;
    if (this.stopped) return this.checkAllExited();
    if (this.startup) return this.failStartup(`worker ${worker.id} exited (${signal ?? `code ${code}`}) before it was serving`);
    if (Date.now() - slot.startedAt >= STABLE_MS) slot.failures = 0;
    const delay = Math.min(RESTART_MIN_MS * 2 ** slot.failures, RESTART_MAX_MS);
    slot.failures++;
    this.restarts.inc();
    this.log.error({ worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delay }, 'worker exited; starting another in its place');
    slot.restart = setTimeout(() => this.fork(slot), delay);
  }

  private checkAllExited(): void {
    if (this.slots.every((s) => !s.worker)) this.onAllExited?.();
  }

  private servingWorkers(): Worker[] {
    return this.slots.flatMap((s) => (s.worker && s.serving ? [s.worker] : []));
  }
}
