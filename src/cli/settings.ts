// `portcullis settings import FILE.yaml`: settings as code. The file is the settings
// document (per organization, one settings-API body per permission family; per
// workspace, one per family), validated against the families of the bundle the sidecars
// run (--bundle, default $BUNDLE_PATH or bundles/portkey.tar.gz). Compares the file with
// what Redis holds, per organization, workspace and family, and writes only the differences through the
// settings store (so an identical import writes nothing and bumps no version; each write
// that is made bumps the organization's version and every sidecar is told). Every
// workspace of the file is registered in the workspace directory under its organization.
// --prune also removes what the file does not name: workspaces of its organizations
// (settings and directory entry) and other organizations' settings and workspaces.
// --dry-run prints the differences and writes nothing. Nothing is written when an id is
// not an id or a workspace belongs to another organization; the writes are conditional on
// the version read, so an admin's concurrent change stops the import instead of being
// overwritten. Each change is recorded in the settings audit trail with the actor
// (--actor, default "settings-import") and the family, as the admin API records its changes.
// For an organization or workspace the file names, a family it does not name keeps nothing
// the file does not say: stored values of it are cleared (an empty document is written).
// The plan (what differs, what to write) is src/settings/import-plan.ts's.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig, parseReplicaRequirement, type Config, type ReplicaRequirement } from '../config.ts';
import { describeRedis, redisConnectionOptions, type RedisConnectionOptions } from '../redis/options.ts';
import { load as loadYaml } from 'js-yaml';
import { pino } from 'pino';
import { createMasker } from '../audit/mask.ts';
import { settingsChange } from '../decision/record.ts';
import { RedisAuditLog } from '../audit/redis.ts';
import { NO_AUDIT_STATS } from '../stats.ts';
import { PolicyEngine } from '../engine/engine.ts';
import { readBundleFile } from '../engine/bundle.ts';
import type { Families } from '../engine/families.ts';
import { RedisSettingsAdmin } from '../settings/admin.ts';
import { planImport, refuseForeignWorkspaces, type ImportRecorder } from '../settings/import-plan.ts';
import { VersionMismatchError } from '../settings/types.ts';
import { parseSettingsDocument, type SettingsDocument } from '../settings/validate.ts';
import { DEFAULT_BUNDLE } from './audit.ts';
import type { Env, Io } from './io.ts';
import { UsageError } from './time.ts';

const RETENTION_MS = 30 * 86_400_000;
const DEFAULT_ACTOR = 'settings-import';

export async function settingsImport(args: string[], env: Env, io: Io): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      redis: { type: 'string' },
      'redis-cluster': { type: 'string' },
      bundle: { type: 'string' },
      actor: { type: 'string' },
      prune: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('settings import takes one settings YAML file');
  const { redis, minReplicasAck, waitTimeoutMs } = redisOf(values, env);
  const file = positionals[0]!;
  const families = await bundleFamilies(values.bundle, env);
  const document = await readSettingsFile(file, families);
  const actor = values.actor ?? DEFAULT_ACTOR;
  const dryRun = values['dry-run'] === true;

  const store = await connectSettingsStore(redis, minReplicasAck, waitTimeoutMs);
  try {
    await refuseForeignWorkspaces(document, store);
    const plans = await planImport(document, families, store, values.prune === true);
    const changed = plans.filter((p) => p.lines.length > 0);
    for (const { orgId, lines } of changed) io.stdout.write(`${orgId}:\n${lines.map((line) => `  ${line}\n`).join('')}`);
    if (changed.length === 0) io.stdout.write('no changes: Redis already holds what the file says\n');
    if (dryRun || changed.length === 0) {
      if (dryRun && changed.length > 0) io.stdout.write('dry run: nothing was written\n');
      return;
    }
    const audit = new RedisAuditLog({
      connection: redis,
      retentionMs: RETENTION_MS,
      maxRecordsPerOrg: 1_000_000,
      batchSize: 100,
      flushIntervalMs: 1000,
      bufferRecords: 100_000,
      spillDir: '',
      maxScan: 1,
      commandTimeoutMs: 5000,
      mask: createMasker([]),
      stats: NO_AUDIT_STATS,
      log: pino({ level: 'silent' }),
    });
    await audit.start();
    const record: ImportRecorder = (orgId, workspaceId, family, operation, before, after, version) =>
      audit.recordSettingsChange(settingsChange({ actor, orgId, workspaceId, family, operation, before, after, version }));
    try {
      for (const { orgId, apply } of changed) {
        try {
          io.stdout.write(`${orgId}: written, settings version ${await apply(record)}\n`);
        } catch (error) {
          if (!(error instanceof VersionMismatchError)) throw error;
          throw new Error(
            `organization ${orgId} changed while it was being imported (now at version ${error.current}); nothing more was written: run the import again`,
          );
        }
      }
    } finally {
      await audit.close();
    }
  } finally {
    await store.close();
  }
}

/**
 * The Redis of --redis or --redis-cluster, else of the environment, read as the sidecar
 * reads it (the same variables: ACL user, TLS, replicas to confirm a write).
 */
export function redisOf(
  values: { redis?: string | undefined; 'redis-cluster'?: string | undefined },
  env: Env,
  purpose = 'import into',
): { redis: RedisConnectionOptions; minReplicasAck: number | 'auto'; waitTimeoutMs: number } {
  if (values.redis !== undefined && values['redis-cluster'] !== undefined) throw new UsageError('--redis (one node) or --redis-cluster (a cluster), not both');
  const chosen =
    values.redis !== undefined
      ? { REDIS_URL: values.redis, REDIS_CLUSTER_NODES: '' }
      : values['redis-cluster'] !== undefined
        ? { REDIS_URL: '', REDIS_CLUSTER_NODES: values['redis-cluster'] }
        : {};
  let config: Config;
  try {
    // Only the Redis fields matter here; the token is set so that none is generated.
    config = loadConfig({ ...env, ...chosen, ADMIN_TOKEN: 'unused' });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const redis = redisConnectionOptions(config);
  if (!redis)
    throw new UsageError(`the Redis to ${purpose} is needed: --redis redis://host:6379, --redis-cluster host:port,... or REDIS_URL / REDIS_CLUSTER_NODES`);
  return {
    redis: { ...redis, commandTimeoutMs: 5000, reconnectMaxMs: 1000 },
    minReplicasAck: parseReplicaRequirement(config.redisMinReplicasAck),
    waitTimeoutMs: config.redisWaitTimeoutMs,
  };
}

/** The families of the policy bundle a settings command works with: --bundle, BUNDLE_PATH or the packaged one. */
export async function bundleFamilies(option: string | undefined, env: Env): Promise<Families> {
  const bundle = option ?? env.BUNDLE_PATH ?? DEFAULT_BUNDLE;
  try {
    return (await PolicyEngine.load(await readBundleFile(bundle))).families;
  } catch (error) {
    throw new Error(`the families come from the policy bundle ${bundle} (--bundle or BUNDLE_PATH): ${(error as Error).message}`);
  }
}

/** A settings YAML file, parsed and validated against the bundle's families. */
export async function readSettingsFile(file: string, families: Families): Promise<SettingsDocument> {
  try {
    return parseSettingsDocument(loadYaml(await readFile(file, 'utf8')), families);
  } catch (error) {
    // js-yaml adds a source excerpt after the first line: the first line says it.
    throw new Error(`settings file ${file}: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** The settings of one command's Redis, connected; writes wait for `minReplicasAck` replicas as the sidecar's do. */
export async function connectSettingsStore(
  redis: RedisConnectionOptions,
  minReplicasAck: ReplicaRequirement = 0,
  waitTimeoutMs = 0,
): Promise<RedisSettingsAdmin> {
  return RedisSettingsAdmin.connect(redis, { minReplicasAck, waitTimeoutMs }).catch((error: unknown) => {
    throw new Error(
      `cannot reach ${describeRedis(redis)}: ${(error as Error).message} (is it running? --redis, --redis-cluster, REDIS_URL or REDIS_CLUSTER_NODES)`,
    );
  });
}
