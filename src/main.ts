// `make run`: start the sidecar — one process, or with WORKERS=N a primary and N worker
// processes sharing its ports — say where it listens, stop cleanly on SIGTERM/SIGINT.
import cluster from 'node:cluster';
import { writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError, listenProblem, loadConfig, settingName, type Config } from './config.ts';
import { BundleError } from './engine/bundle.ts';
import { createLogger, type LogFormat } from './log.ts';
import { enableStages, stageTotals } from './stages.ts';
import type { Sidecar } from './sidecar.ts';
import { workerCount } from './workers/count.ts';
import { toPrimary } from './workers/messages.ts';
import { serveWorkerMetrics } from './workers/metrics.ts';
import { STOP_BACKSTOP_MS, WorkerPool, WorkerStartupError, type Listening } from './workers/primary.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, logFormat(config.logFormat));
  if (cluster.isWorker) return runWorker(config, log.child({ worker: cluster.worker!.id, pid: process.pid }));
  const workers = workerCount(config.workers);
  if (workers === 1) {
    if (config.profileStages) profileStages(config.profileStages);
    const serving = await serve(config, log);
    announce(config, log, serving);
    onStopSignal(log, stopDeadlineMs(config), async () => {
      await serving.stop();
      return 0;
    });
    return;
  }
  const pool = new WorkerPool(config, log, workers);
  const listening = await pool.start();
  announce(config, log, listening, workers);
  onStopSignal(
    log,
    stopDeadlineMs(config) + STOP_BACKSTOP_MS,
    async () => {
      const code = await pool.stop();
      log.info('stopped');
      return code;
    },
    () => pool.kill(),
  );
}

/** Turns the stage counters on (stages.ts) and writes their totals to `file` on every SIGUSR2. */
function profileStages(file: string): void {
  enableStages();
  process.on('SIGUSR2', () => writeFileSync(file, JSON.stringify(stageTotals())));
}

/** A worker: a whole sidecar on the ports the primary shares; it tells the primary once it serves. */
async function runWorker(config: Config, log: Logger): Promise<void> {
  const serving = await serve(config, log);
  serveWorkerMetrics(serving.sidecar.metrics.registry);
  const { httpPort, grpcPort, revision, storeKind } = serving;
  await toPrimary({ portcullis: 'ready', httpPort, grpcPort, revision, storeKind });
  onStopSignal(log, stopDeadlineMs(config), async () => {
    await serving.stop();
    return 0;
  });
}

interface Serving extends Listening {
  sidecar: Sidecar;
  /** Drains in-flight requests, closes the sidecar (audit flushed); resolves when done. */
  stop(): Promise<void>;
}

async function serve(config: Config, log: Logger): Promise<Serving> {
  // Loaded here, not at the top: the primary of WORKERS=N never serves, and without the
  // sidecar's modules (engine, Redis, gateways) it stays small.
  const [{ createSidecar }, { listen }] = await Promise.all([import('./sidecar.ts'), import('./http/listener.ts')]);
  const sidecar = await createSidecar(config, log);
  const common = { host: config.host, reloadMs: config.tlsReloadMs, limits: config, drainMs: config.shutdownTimeoutMs };
  const listeners = [
    await listen(
      sidecar.app,
      { ...common, name: 'decision', setting: settingName('port', config), port: config.port, certFile: config.tlsCertFile, keyFile: config.tlsKeyFile },
      log,
    ),
  ];
  if (sidecar.adminApp) {
    listeners.push(
      await listen(
        sidecar.adminApp,
        {
          ...common,
          name: 'admin',
          setting: settingName('adminPort', config),
          port: config.adminPort,
          certFile: config.adminTlsCertFile,
          keyFile: config.adminTlsKeyFile,
        },
        log,
      ),
    );
  }
  const httpPort = listeners[0]!.port;
  const grpcPort =
    config.grpcPort > 0
      ? await sidecar.grpc.listen(config.host, config.grpcPort).catch((error: unknown) => {
          throw listenProblem(error, settingName('grpcPort', config), config.host, config.grpcPort);
        })
      : 0;

  const stop = async () => {
    await Promise.all(listeners.map((listener) => listener.stop()));
    await sidecar.close();
    log.info('stopped');
  };
  return { sidecar, httpPort, grpcPort, revision: sidecar.policy.current?.revision ?? '', storeKind: sidecar.storeKind, stop };
}

/** Says where it listens: log lines, and for a person (or a generated token) the banner. */
function announce(config: Config, log: Logger, listening: Listening, workers = 1): void {
  const base = `${config.tlsCertFile ? 'https' : 'http'}://${config.host}:${listening.httpPort}`;
  log.info({ url: base, store: listening.storeKind, revision: listening.revision, ...(workers > 1 ? { workers } : {}) }, 'portcullis listening');
  if (config.adminPort > 0)
    log.info({ url: `${config.adminTlsCertFile ? 'https' : 'http'}://${config.host}:${config.adminPort}` }, 'admin API, console and metrics listening');
  if (listening.grpcPort > 0) log.info({ address: `${config.host}:${listening.grpcPort}` }, 'Envoy ext_authz gRPC listening');

  if (process.stdout.isTTY || config.adminTokenGenerated) {
    process.stderr.write(
      [
        '',
        `Portcullis listening on ${base} (settings: ${listening.storeKind}, bundle ${listening.revision}${workers > 1 ? `, ${workers} workers` : ''})`,
        config.adminTokenGenerated
          ? `Admin token (generated for this run; set ADMIN_TOKEN or ADMIN_TOKENS_FILE to choose): ${config.adminToken}`
          : adminTokenSources(config),
        'Try:',
        `  curl -s ${base}/v1/authorize -d '{"principal":{"id":"u-1","orgId":"org-1","orgRole":"member","workspaceRoles":{"ws-1":"manager"}},"action":"create","resource":{"type":"mcp_server","orgId":"org-1","workspaceId":"ws-1"}}'`,
        '',
      ].join('\n') + '\n',
    );
  }
}

/**
 * The longest a stop may take: the drain (SHUTDOWN_TIMEOUT_MS), then as long again to close
 * the sidecar (audit flushed, Redis closed). A Redis that stopped answering must not keep a
 * process that was told to stop alive.
 */
function stopDeadlineMs(config: Config): number {
  return 2 * config.shutdownTimeoutMs;
}

/**
 * On the first SIGTERM or SIGINT: runs `stop` and exits with its code, or with 1 when it
 * fails or is still running after `deadlineMs`. A second signal exits at once (with 1,
 * after `abort`): whoever sends it has stopped waiting for the drain.
 */
function onStopSignal(log: Logger, deadlineMs: number, stop: () => Promise<number>, abort: () => void = () => undefined): void {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second stop signal: exiting without finishing the drain');
      abort();
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, deadlineMs }, 'stopping: draining in-flight requests');
    setTimeout(() => {
      log.error({ afterMs: deadlineMs }, 'stopping took longer than its deadline: exiting without finishing');
      abort();
      process.exit(1);
    }, deadlineMs);
    stop().then(
      (code) => process.exit(code),
      (error: unknown) => {
        log.error({ err: error }, 'stopping failed: exiting');
        abort();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

function logFormat(setting: string): LogFormat {
  if (setting === 'json' || setting === 'pretty') return setting;
  if (setting !== 'auto') throw new ConfigError(`LOG_FORMAT must be json, pretty or auto, got ${JSON.stringify(setting)}`);
  return process.stdout.isTTY ? 'pretty' : 'json';
}

function adminTokenSources(config: Config): string {
  const sources = [config.adminToken && 'ADMIN_TOKEN (full scope, actor "admin")', config.adminTokensFile && `ADMIN_TOKENS_FILE ${config.adminTokensFile}`];
  return `Admin tokens: from ${sources.filter(Boolean).join(' and ')}`;
}

main().catch(async (error: unknown) => {
  // Expected failures (configuration, files, a bundle that does not load) in one line; anything else with its stack.
  // A worker hands its line to the primary, which prints the first one: N workers failing alike print it once.
  const expected = error instanceof ConfigError || error instanceof BundleError || error instanceof WorkerStartupError;
  const message = expected ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  if (cluster.isWorker) await toPrimary({ portcullis: 'startup-failed', message });
  else process.stderr.write(`portcullis: cannot start: ${message}\n`);
  process.exit(1);
});
