// Assembles a sidecar from its config: bundle -> engine, settings store, audit log,
// decider, HTTP app. main.ts runs it; tests and benchmarks build it the same way.
import { requestObserver } from './http/observe.ts';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { RequestListener } from 'node:http';
import { load as loadYaml } from 'js-yaml';
import type { Logger } from 'pino';
import { createAuditLog } from './audit/factory.ts';
import { newDecisionId } from './audit/keys.ts';
import type { AuditLog, AuditSink } from './decision/record.ts';
import { ConfigError, parseReplicaRequirement, type Config } from './config.ts';
import { trimRecord } from './audit/trim.ts';
import { Decider } from './decision/decider.ts';
import { createDecisionLogs } from './decisionlogs/sink.ts';
import { ActivePolicy } from './engine/active.ts';
import { BundleManager } from './engine/reload.ts';
import { createBundleVerifier, type BundleVerifier } from './engine/signature.ts';
import { prepareGateway, type Gateway } from './gateway/gateway.ts';
import { GrpcExtAuthz } from './gateway/grpc.ts';
import { createApp } from './http/app.ts';
import { Callers } from './access/callers.ts';
import { decisionApi } from './http/decide.ts';
import { loadAdminTokens } from './access/tokens.ts';
import { Metrics } from './metrics.ts';
import { describeRedis, redisConnectionOptions } from './redis/options.ts';
import { MemorySettingsStore } from './settings/memory.ts';
import { RedisSettingsStore } from './settings/redis.ts';
import type { SettingsStore } from './settings/types.ts';
import type { KeyRegistry } from './apikeys/registry.ts';
import { MemoryKeyRegistry } from './apikeys/memory.ts';
import { RedisKeyRegistry } from './apikeys/redis.ts';
import type { Families } from './engine/families.ts';
import { parseSettingsDocument } from './settings/validate.ts';
import { createTracing, type Tracing } from './decision/tracing.ts';
import { configWarnings, enforceProfile, logWarnings, redisPersistenceWarning, type StartupWarning } from './warnings.ts';

export interface Sidecar {
  /** The decision port's HTTP surface: the decision APIs, then the Express app for everything else (all of it unless adminApp is set). */
  app: RequestListener;
  /** With ADMIN_PORT: the admin API, console, audit API, status and metrics, which app then leaves out. */
  adminApp?: RequestListener;
  /** The dangerous modes this instance runs in, as /v1/status lists them. */
  warnings: readonly StartupWarning[];
  decider: Decider;
  policy: ActivePolicy;
  store: SettingsStore;
  storeKind: 'redis' | 'memory';
  /** The API-key registry, in the settings store (Redis or memory). */
  keys: KeyRegistry;
  audit: AuditLog;
  metrics: Metrics;
  gateway: Gateway;
  /** Envoy's gRPC ext_authz service, not yet listening: main.ts binds it to grpcPort. */
  grpc: GrpcExtAuthz;
  /** Present when OTEL_* configures an exporter. */
  tracing?: Tracing;
  close(): Promise<void>;
}

export async function loadSettingsFile(path: string, families: Families) {
  try {
    return parseSettingsDocument(loadYaml(await readFile(path, 'utf8')), families);
  } catch (error) {
    // js-yaml adds a source excerpt after the first line: the first line says it.
    throw new ConfigError(`settings file ${path} (SETTINGS_FILE): ${(error as Error).message.split('\n')[0]}`);
  }
}

export async function createSidecar(config: Config, log: Logger): Promise<Sidecar> {
  // Before anything starts: the production profile refuses the unsafe modes here.
  const warnings = configWarnings(config);
  enforceProfile(config, warnings);
  const gatewayFor = await prepareGateway(config, log);
  // Read first, like the gateway's files: a bad OTEL_* setting stops the sidecar before anything has started.
  const metrics = new Metrics();
  const tracing = createTracing(config, metrics, log);
  if (tracing) log.info({ protocol: config.otelExporterOtlpProtocol }, 'OpenTelemetry tracing on: a span per decision and per refusal, exported over OTLP');
  const adminTokens = loadAdminTokens(config);
  // Before anything starts: a bad ALLOWED_ORIGINS stops the sidecar with nothing to undo.
  const callers = new Callers({ config, tokens: adminTokens, metrics });
  if (callers.status.decideAuth === 'required')
    log.info('DECIDE_AUTH=required: the decision APIs and gateway endpoints answer only callers with a decide-scope token');
  const policy = new ActivePolicy();
  policy.onActivate((engine) => metrics.setBundle(engine.revision));
  metrics.watchWasmMemory(() => policy.current?.memoryBytes);
  const bundles = new BundleManager({
    source: config.bundleUrl
      ? { kind: 'url', url: config.bundleUrl, pollMs: config.bundlePollMs }
      : { kind: 'file', path: config.bundlePath, watch: config.bundleWatch },
    policy,
    metrics,
    log,
    verify: bundleVerifier(config),
    persistDir: config.bundlePersistDir,
  });
  await bundles.start();

  let store: SettingsStore;
  let keys: KeyRegistry;
  let storeKind: Sidecar['storeKind'];
  const redis = redisConnectionOptions(config);
  if (redis) {
    const minReplicasAck = parseReplicaRequirement(config.redisMinReplicasAck);
    const redisStore = new RedisSettingsStore({
      connection: redis,
      minReplicasAck,
      waitTimeoutMs: config.redisWaitTimeoutMs,
      maxOrgs: config.settingsCacheMaxOrgs,
      maxWorkspaces: config.settingsCacheMaxWorkspaces,
      maxWorkspacesPerOrg: config.settingsCacheMaxWorkspacesPerOrg,
      maxDirectory: config.directoryCacheMax,
      revalidateAfterMs: config.settingsRevalidateMs,
      maxStaleMs: config.settingsMaxStaleMs,
      minVersionWaitMs: config.settingsMinVersionWaitMs,
      familyNames: () => policy.require().families.names,
      stats: metrics.cacheStats,
    });
    await redisStore.connect().catch((error: unknown) => {
      bundles.stop();
      throw new ConfigError(
        `${describeRedis(redis)} is not reachable (${(error as Error).message}): start it, or point ${redis.url ? 'REDIS_URL' : 'REDIS_CLUSTER_NODES'} at one`,
      );
    });
    store = redisStore;
    storeKind = 'redis';
    keys = new RedisKeyRegistry(redisStore.redis, { minReplicasAck, waitTimeoutMs: config.redisWaitTimeoutMs });
    const persistence = await redisPersistenceWarning(redisStore.redis, log);
    if (persistence) warnings.push(persistence);
    metrics.watchCacheSizes(() => redisStore.cacheSizes());
  } else {
    store = MemorySettingsStore.seeded(config.settingsFile ? await loadSettingsFile(config.settingsFile, policy.require().families) : { orgs: new Map() });
    storeKind = 'memory';
    keys = new MemoryKeyRegistry();
    metrics.settingsStoreUp.set(1);
  }

  const audit = await createAuditLog(config, metrics.auditStats, log);
  logWarnings(log, warnings);
  const auditSink: AuditSink = config.auditEnabled ? audit : { record: () => undefined };
  // Built only when configured, so an unconfigured sidecar's decision path is unchanged.
  const decisionLogs = await createDecisionLogs(config, metrics.decisionLogStats, log);
  // Trimmed once, before any buffer holds it: every copy a sink keeps is bounded in bytes.
  const maxRecordBytes = config.auditRecordMaxBytes;
  const sink: AuditSink = decisionLogs
    ? {
        record: (r) => {
          const trimmed = trimRecord(r, maxRecordBytes);
          auditSink.record(trimmed);
          decisionLogs.record(trimmed);
        },
      }
    : { record: (r) => auditSink.record(trimRecord(r, maxRecordBytes)) };
  const decider = new Decider(policy, store, sink, newDecisionId, metrics, log, {
    failOpen: config.settingsFailOpen,
    workspaceDirectory: config.workspaceDirectory,
    decisionCacheMax: config.decisionCacheMax,
    ...(tracing ? { tracing } : {}),
  });
  const gateway = gatewayFor(decider, keys, policy.require().families, metrics, callers, tracing);
  const grpc = new GrpcExtAuthz(gateway, log);
  // Child at info whatever LOG_LEVEL says: ACCESS_LOG=on asks for the lines.
  const observer = requestObserver(metrics, config.accessLog === 'on' ? log.child({ log: 'access' }, { level: 'info' }) : undefined);
  const appDeps = {
    observer,
    policy,
    store,
    storeKind,
    keys,
    workspaceDirectory: config.workspaceDirectory,
    audit,
    metrics,
    log,
    adminTokens,
    bodyLimit: config.bodyLimit,
    jsonMaxDepth: config.jsonMaxDepth,
    gateway,
    consoleEnabled: config.consoleEnabled,
    warnings,
    callers,
  };
  const separateAdmin = config.adminPort > 0;
  const express = createApp({ ...appDeps, surface: separateAdmin ? 'decisions' : 'all' });
  const app = decisionApi(
    decider,
    {
      bodyLimit: config.bodyLimit,
      bodyLimitBytes: config.bodyLimitBytes,
      jsonMaxDepth: config.jsonMaxDepth,
      log,
      callers,
      observer,
      ...(decisionLogs ? { decisionLog: decisionLogs } : {}),
    },
    express,
  );
  const adminApp = separateAdmin ? createApp({ ...appDeps, surface: 'admin' }) : undefined;
  return {
    app,
    ...(adminApp ? { adminApp } : {}),
    warnings,
    decider,
    policy,
    store,
    storeKind,
    keys,
    audit,
    metrics,
    gateway,
    grpc,
    ...(tracing ? { tracing } : {}),
    close: async () => {
      bundles.stop();
      await grpc.close();
      await decisionLogs?.close();
      await tracing?.shutdown();
      await audit.close();
      await store.close();
    },
  };
}

function bundleVerifier(config: Config): BundleVerifier | undefined {
  const key = config.bundleVerificationKey || (config.bundleVerificationKeyFile ? readFileSync(config.bundleVerificationKeyFile, 'utf8') : '');
  if (!key) return undefined;
  return createBundleVerifier({ key, alg: config.bundleVerificationAlg, keyId: config.bundleVerificationKeyId, scope: config.bundleVerificationScope });
}
