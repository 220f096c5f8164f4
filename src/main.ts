// `make run`: start the sidecar, say where it listens, stop cleanly on SIGTERM/SIGINT.
import type { AddressInfo } from 'node:net';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { BundleError } from './engine/bundle.ts';
import { createLimitedServer } from './http/limits.ts';
import { createLogger, type LogFormat } from './log.ts';
import { createSidecar } from './sidecar.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, logFormat(config.logFormat));
  const sidecar = await createSidecar(config, log);
  const server = createLimitedServer(sidecar.app, config).listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port } = server.address() as AddressInfo;
  const base = `http://${config.host}:${port}`;
  log.info({ url: base, store: sidecar.storeKind, revision: sidecar.policy.current?.revision }, 'portcullis listening');
  if (config.grpcPort > 0) {
    const grpcPort = await sidecar.grpc.listen(config.host, config.grpcPort);
    log.info({ address: `${config.host}:${grpcPort}` }, 'Envoy ext_authz gRPC listening');
  }

  if (process.stdout.isTTY || config.adminTokenGenerated) {
    process.stderr.write(
      [
        '',
        `Portcullis listening on ${base} (settings: ${sidecar.storeKind}, bundle ${sidecar.policy.current?.revision})`,
        config.adminTokenGenerated ? `Admin token (generated for this run; set ADMIN_TOKEN or ADMIN_TOKENS_FILE to choose): ${config.adminToken}` : adminTokenSources(config),
        'Try:',
        `  curl -s ${base}/v1/authorize -d '{"principal":{"id":"u-1","orgId":"org-1","orgRole":"member","workspaceRoles":{"ws-1":"manager"}},"action":"create","resource":{"type":"mcp_server","orgId":"org-1","workspaceId":"ws-1"}}'`,
        '',
      ].join('\n') + '\n',
    );
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: draining in-flight requests');
    // A keep-alive connection becomes idle only once its in-flight request is answered:
    // close each as soon as it does, and cut whatever is left when the drain time is up.
    const closeIdle = setInterval(() => server.closeIdleConnections(), 50);
    const cut = setTimeout(() => {
      log.warn({ afterMs: config.shutdownTimeoutMs }, 'drain time is up: closing the remaining connections');
      server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    server.close(async () => {
      clearInterval(closeIdle);
      clearTimeout(cut);
      await sidecar.close();
      log.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
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

main().catch((error: unknown) => {
  // Expected failures (configuration, files, a bundle that does not load) in one line; anything else with its stack.
  const expected = error instanceof ConfigError || error instanceof BundleError;
  const message = expected ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`portcullis: cannot start: ${message}\n`);
  process.exit(1);
});
