// Modes that are convenient on a laptop and dangerous in production say what they are:
// each is logged as a warning at start and listed in /v1/status, and the production
// profile refuses to start in the unsafe ones unless PORTCULLIS_ALLOW_UNSAFE names them.
import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import { ConfigError, type Config } from './config.ts';
import type { RedisClient } from './redis/clients.ts';

export interface StartupWarning {
  code: string;
  message: string;
}

/** The modes the production profile refuses, by the name PORTCULLIS_ALLOW_UNSAFE accepts, and the warning each is. */
const UNSAFE = { demo: 'demo_settings', 'fail-open': 'settings_fail_open', 'dry-run': 'gateway_dry_run' } as const;

/** What the configuration alone says (Redis persistence needs a connection: see redisPersistenceWarning). */
export function configWarnings(config: Config): StartupWarning[] {
  const warnings: StartupWarning[] = [];
  const warn = (code: string, message: string) => warnings.push({ code, message });
  if (!config.redisUrl && !config.redisClusterNodes) {
    warn(
      'demo_settings',
      `no Redis (REDIS_URL, REDIS_CLUSTER_NODES): settings and the workspace directory are held in this process, seeded from ${config.settingsFile || 'nothing'}; changes are lost at restart and not shared with other instances`,
    );
  }
  if (config.settingsFailOpen)
    warn('settings_fail_open', 'SETTINGS_FAIL_OPEN: when settings cannot be read, decisions use the defaults (managers may write) instead of denying');
  if (config.gatewayDryRun)
    warn('gateway_dry_run', 'GATEWAY_DRY_RUN: the gateway endpoints allow every request, whatever the decision (the real one is logged and audited)');
  if (config.gatewayIdentity === 'headers') {
    warn(
      'gateway_identity_headers',
      'GATEWAY_IDENTITY=headers: the gateway principal is whoever the x-portkey-* headers say; only a gateway that authenticates callers and strips those headers may reach this sidecar',
    );
  }
  if (!config.workspaceDirectory) {
    warn(
      'workspace_directory_off',
      "WORKSPACE_DIRECTORY is off: a resource's organization is taken from the request (or the gateway token or route) unchecked, so a principal naming a workspace of another organization is decided as if it were its own",
    );
  }
  if (!config.auditEnabled) warn('audit_disabled', 'AUDIT_ENABLED=false: decisions are not recorded (meant for measuring the cost of recording only)');
  return warnings;
}

/**
 * The production profile's check: refuses the unsafe modes that are on and not allowed.
 * An unknown name in PORTCULLIS_ALLOW_UNSAFE is refused too, so that a typo allows nothing silently.
 */
export function enforceProfile(config: Config, warnings: readonly StartupWarning[]): void {
  const allowed = config.allowUnsafe
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = allowed.filter((name) => !(name in UNSAFE));
  if (unknown.length > 0) throw new ConfigError(`PORTCULLIS_ALLOW_UNSAFE: unknown ${unknown.join(', ')}; known: ${Object.keys(UNSAFE).join(', ')}`);
  if (config.profile !== 'production') return;
  const refused = Object.entries(UNSAFE).filter(([name, code]) => !allowed.includes(name) && warnings.some((w) => w.code === code));
  if (refused.length === 0) return;
  const why = refused.map(([, code]) => warnings.find((w) => w.code === code)!.message).join('; ');
  throw new ConfigError(
    `PORTCULLIS_PROFILE=production refuses to start in the ${refused.map(([name]) => name).join(', ')} mode: ${why} (set PORTCULLIS_ALLOW_UNSAFE=${refused.map(([name]) => name).join(',')} to start anyway)`,
  );
}

/**
 * A Redis that neither appends (AOF) nor snapshots (RDB) loses every setting when it
 * restarts, and the next decisions quietly use the defaults. Asked once at start, of every
 * master; a Redis that does not allow CONFIG (some managed services) is not judged.
 */
export async function redisPersistenceWarning(client: RedisClient, log: Logger): Promise<StartupWarning | undefined> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const volatile: string[] = [];
  for (const node of nodes) {
    try {
      const appendonly = (await node.config('GET', 'appendonly')) as string[];
      const save = (await node.config('GET', 'save')) as string[];
      if (appendonly[1] !== 'yes' && (save[1] ?? '').trim() === '') volatile.push(`${node.options.host}:${node.options.port}`);
    } catch (error) {
      log.info({ err: error }, 'could not read the Redis persistence settings (CONFIG GET); not checked');
      return undefined;
    }
  }
  if (volatile.length === 0) return undefined;
  return {
    code: 'redis_not_persistent',
    message: `Redis ${volatile.join(', ')} has neither AOF (appendonly) nor RDB snapshots (save): a restart loses every setting and the directory, and decisions then use the defaults`,
  };
}

export function logWarnings(log: Logger, warnings: readonly StartupWarning[]): void {
  for (const warning of warnings) log.warn({ code: warning.code }, warning.message);
}
