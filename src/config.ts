// The one typed configuration, built once at start from an optional YAML file
// (PORTCULLIS_CONFIG) and the environment, which wins. Nothing else reads process.env.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { load as loadYaml } from 'js-yaml';

type Kind = 'string' | 'integer' | 'boolean';

/** Every setting: its YAML key, its environment variable, its type and default. */
const FIELDS = {
  host: { env: 'HOST', kind: 'string', default: '127.0.0.1', doc: 'address the HTTP API listens on' },
  port: { env: 'PORT', kind: 'integer', default: 8181, doc: 'HTTP port (decisions, OPA API, admin API, metrics)' },
  adminToken: { env: 'ADMIN_TOKEN', kind: 'string', default: '', doc: 'bearer token of the admin API; generated and printed at start when empty' },
  redisUrl: { env: 'REDIS_URL', kind: 'string', default: '', doc: 'Redis for settings (and audit); empty = in-memory store seeded from settingsFile' },
  settingsFile: { env: 'SETTINGS_FILE', kind: 'string', default: 'examples/settings.yaml', doc: 'settings YAML that seeds the in-memory store' },
  bundlePath: { env: 'BUNDLE_PATH', kind: 'string', default: 'bundles/portkey.tar.gz', doc: 'OPA bundle (tar.gz) with policy.wasm' },
  logLevel: { env: 'LOG_LEVEL', kind: 'string', default: 'info', doc: 'pino level: fatal, error, warn, info, debug, trace, silent' },
  bodyLimit: { env: 'BODY_LIMIT', kind: 'string', default: '64kb', doc: 'largest request body accepted' },
  settingsCacheMaxOrgs: { env: 'SETTINGS_CACHE_MAX_ORGS', kind: 'integer', default: 10_000, doc: 'organizations kept in the in-process settings cache (LRU)' },
  settingsRevalidateMs: { env: 'SETTINGS_REVALIDATE_MS', kind: 'integer', default: 5_000, doc: 'a cached entry older than this has its version checked in Redis: the bound on staleness if an invalidation message is lost' },
  redisCommandTimeoutMs: { env: 'REDIS_COMMAND_TIMEOUT_MS', kind: 'integer', default: 500, doc: 'a Redis command slower than this fails (and the decision fails closed if it needed settings)' },
  auditMemoryRecords: { env: 'AUDIT_MEMORY_RECORDS', kind: 'integer', default: 10_000, doc: 'records kept by the in-memory audit log (no Redis)' },
} as const satisfies Record<string, { env: string; kind: Kind; default: string | number | boolean; doc: string }>;

type Fields = typeof FIELDS;
type ValueOf<F extends { kind: Kind }> = F['kind'] extends 'integer' ? number : F['kind'] extends 'boolean' ? boolean : string;

export type Config = { [K in keyof Fields]: ValueOf<Fields[K]> } & {
  /** True when no ADMIN_TOKEN was configured and one was generated for this run. */
  adminTokenGenerated: boolean;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function coerce(key: string, kind: Kind, raw: unknown, from: string): string | number | boolean {
  if (kind === 'string' && (typeof raw === 'string' || typeof raw === 'number')) return String(raw);
  if (kind === 'integer') {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (Number.isSafeInteger(n) && n >= 0) return n;
  }
  if (kind === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
  }
  throw new ConfigError(`${key} (from ${from}) must be ${kind === 'integer' ? 'a non-negative integer' : `a ${kind}`}, got ${JSON.stringify(raw)}`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let file: Record<string, unknown> = {};
  const path = env.PORTCULLIS_CONFIG;
  if (path) {
    const parsed = loadYaml(readFileSync(path, 'utf8'));
    if (parsed !== undefined && (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))) {
      throw new ConfigError(`${path} must be a YAML mapping of setting: value`);
    }
    file = (parsed ?? {}) as Record<string, unknown>;
    const unknown = Object.keys(file).filter((k) => !(k in FIELDS));
    if (unknown.length > 0) throw new ConfigError(`${path}: unknown settings ${unknown.join(', ')}; known: ${Object.keys(FIELDS).join(', ')}`);
  }
  const config: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(FIELDS)) {
    const fromEnv = env[field.env];
    if (fromEnv !== undefined && fromEnv !== '') config[key] = coerce(key, field.kind, fromEnv, field.env);
    else if (file[key] !== undefined) config[key] = coerce(key, field.kind, file[key], path!);
    else config[key] = field.default;
  }
  const generated = config.adminToken === '';
  if (generated) config.adminToken = randomBytes(24).toString('base64url');
  return { ...(config as Omit<Config, 'adminTokenGenerated'>), adminTokenGenerated: generated };
}

/** For the README's configuration table. */
export const CONFIG_FIELDS = FIELDS;
