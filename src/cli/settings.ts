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
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig, parseReplicaRequirement, type Config, type ReplicaRequirement } from '../config.ts';
import { describeRedis, redisConnectionOptions, type RedisConnectionOptions } from '../redis/connection.ts';
import { load as loadYaml } from 'js-yaml';
import { pino } from 'pino';
import { createMasker } from '../audit/mask.ts';
import { settingsChange, type SettingsOperation } from '../decision/record.ts';
import { RedisAuditLog } from '../audit/redis.ts';
import { NO_AUDIT_STATS } from '../stats.ts';
import { PolicyEngine } from '../engine/engine.ts';
import { readBundleFile } from '../engine/bundle.ts';
import type { Families } from '../engine/families.ts';
import { RedisSettingsAdmin } from '../settings/admin.ts';
import { flattenOrg, VersionMismatchError, type FamilyDocument, type SettingValues } from '../settings/types.ts';
import { parseSettingsDocument, type SettingsDocument } from '../settings/validate.ts';
import { DEFAULT_BUNDLE } from './audit.ts';
import type { Env, Io } from './io.ts';
import { UsageError } from './time.ts';

const RETENTION_MS = 30 * 86_400_000;
const DEFAULT_ACTOR = 'settings-import';

type Recorder = (
  orgId: string,
  workspaceId: string | undefined,
  family: string | undefined,
  operation: SettingsOperation,
  before: object | null,
  after: object | null,
  version: number | null,
) => void;

/** One organization's differences between Redis and the file, and how to make them. */
interface OrgPlan {
  orgId: string;
  lines: string[];
  /** Applies the differences from the version read; returns the version after (unchanged when nothing was written). */
  apply(record: Recorder): Promise<number>;
}

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
    const plans = await plan(document, families, store, values.prune === true);
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
    const record: Recorder = (orgId, workspaceId, family, operation, before, after, version) =>
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
 * The stored values of one family's document as flat entries named as the policy sees them:
 * `setting`, `allowWorkspaceOverrides.setting` or `allowWorkspaceOverrides.<family>`
 * (setting names are unique across the families, so a line needs no family).
 */
function flatten(family: string, document: FamilyDocument | null): Map<string, boolean> {
  const flat = new Map<string, boolean>();
  const { allowWorkspaceOverrides: toggles, ...values } = flattenOrg(document ? [[family, document]] : []);
  for (const [name, value] of Object.entries(values)) flat.set(name, value as boolean);
  for (const [name, value] of Object.entries(toggles ?? {})) flat.set(`allowWorkspaceOverrides.${name}`, value);
  return flat;
}

const shown = (value: boolean | undefined) => (value === undefined ? '(unset)' : String(value));

/** `setting: old → new` for every stored value that differs; [] when the documents hold the same values. */
function differences(family: string, stored: FamilyDocument | null, wanted: FamilyDocument | null): string[] {
  const [a, b] = [flatten(family, stored), flatten(family, wanted)];
  const names = [...new Set([...a.keys(), ...b.keys()])].filter((name) => a.get(name) !== b.get(name));
  return names.map((name) => `${name}: ${shown(a.get(name))} → ${shown(b.get(name))}`);
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

/** Every workspace Redis knows for the organization: its directory entries and its stored settings. */
export async function storedWorkspaces(store: RedisSettingsAdmin, families: Families, orgId: string): Promise<Set<string>> {
  const ids = new Set(await store.workspaceSettingsIds(orgId, families.names));
  let after: string | undefined;
  do {
    const page = await store.listWorkspaces(orgId, after === undefined ? { limit: 1000 } : { limit: 1000, after });
    for (const id of page.workspaces) ids.add(id);
    after = page.next ?? undefined;
  } while (after !== undefined);
  return ids;
}

type Step = (record: Recorder, at: number) => Promise<number>;

/**
 * What to write for one family at one level: the file's document where it names the family;
 * where it does not, an empty document replaces stored values (the file names the
 * organization or workspace, and says nothing of them). Undefined when nothing changes.
 */
function wantedDocument<T extends FamilyDocument>(stored: T | null, named: T | undefined, family: string): T | undefined {
  if (named !== undefined) return stored === null || differences(family, stored, named).length > 0 ? named : undefined;
  return stored !== null && flatten(family, stored).size > 0 ? ({} as T) : undefined;
}

async function plan(document: SettingsDocument, families: Families, store: RedisSettingsAdmin, prune: boolean): Promise<OrgPlan[]> {
  const plans: OrgPlan[] = [];
  const orgIds = [...document.orgs.keys()];
  if (prune) for (const orgId of (await store.orgIds()).sort()) if (!document.orgs.has(orgId)) orgIds.push(orgId);
  for (const orgId of orgIds) {
    const wanted = document.orgs.get(orgId);
    let version = 0;
    const lines: string[] = [];
    const steps: Step[] = [];
    const storedOrg = new Map<string, FamilyDocument | null>();
    for (const { name } of families.list) {
      const read = await store.readOrg(orgId, name);
      storedOrg.set(name, read.settings);
      version = read.version;
    }
    const anyStored = [...storedOrg.values()].some((d) => d !== null);
    if (wanted === undefined) {
      if (anyStored) lines.push('organization settings removed');
      for (const [family, stored] of storedOrg) {
        if (stored === null) continue;
        steps.push(async (record, at) => {
          await store.deleteOrg(orgId, family, at);
          record(orgId, undefined, family, 'delete_org', stored, null, at + 1);
          return at + 1;
        });
      }
    } else {
      const changes: string[] = [];
      for (const [family, stored] of storedOrg) {
        const next = wantedDocument(stored, wanted.settings.get(family), family);
        if (next === undefined) continue;
        changes.push(...(stored === null && flatten(family, next).size === 0 ? [`${family} settings added`] : differences(family, stored, next)));
        steps.push(async (record, at) => {
          const after = await store.putOrg(orgId, family, next, at);
          record(orgId, undefined, family, 'put_org', stored, next, after);
          return after;
        });
      }
      if (changes.length > 0) lines.push(...(anyStored ? changes : ['organization settings added', ...changes]));
    }
    const present = await storedWorkspaces(store, families, orgId);
    const workspaceFamilies = families.list.filter((f) => f.workspaceOverrides !== 'none').map((f) => f.name);
    for (const [workspaceId, byFamily] of wanted?.workspaces ?? []) {
      const stored = new Map<string, SettingValues | null>();
      for (const family of workspaceFamilies) stored.set(family, (await store.readWorkspace(orgId, workspaceId, family)).settings);
      const unregistered = (await store.workspaceOrg(workspaceId)) !== orgId;
      // A workspace the file only registers (no settings) is new until it is registered.
      const isNew = unregistered && [...stored.values()].every((values) => values === null);
      const changes: string[] = [];
      const writes: Step[] = [];
      for (const [family, values] of stored) {
        const next = wantedDocument(values, byFamily.get(family), family);
        if (next === undefined) continue;
        changes.push(...differences(family, values, next));
        writes.push(async (record, at) => {
          const after = await store.putWorkspace(orgId, workspaceId, family, next, at);
          record(orgId, workspaceId, family, 'put_workspace', values, next, after);
          return after;
        });
      }
      if (isNew) lines.push(`workspace ${workspaceId} added${changes.length > 0 ? `: ${changes.join(', ')}` : ''}`);
      else if (changes.length > 0) lines.push(`workspace ${workspaceId}: ${changes.join(', ')}`);
      else if (unregistered) lines.push(`workspace ${workspaceId} registered`);
      if (unregistered) {
        steps.push(async (record, at) => {
          if ((await store.registerWorkspace(orgId, workspaceId)).created) record(orgId, workspaceId, undefined, 'register_workspace', null, null, null);
          return at;
        });
      }
      steps.push(...writes);
    }
    if (prune) {
      for (const workspaceId of [...present].sort()) {
        if (wanted?.workspaces.has(workspaceId)) continue;
        lines.push(`workspace ${workspaceId} removed`);
        steps.push(async (record, at) => {
          let next = at;
          for (const family of families.names) {
            const { settings: stored } = await store.readWorkspace(orgId, workspaceId, family);
            const deleted = await store.deleteWorkspace(orgId, workspaceId, family, next);
            if (deleted !== null) record(orgId, workspaceId, family, 'delete_workspace', stored, null, deleted);
            next = deleted ?? next;
          }
          if (await store.unregisterWorkspace(orgId, workspaceId)) record(orgId, workspaceId, undefined, 'unregister_workspace', null, null, null);
          return next;
        });
      }
    }
    plans.push({
      orgId,
      lines,
      apply: async (record) => {
        let at = version;
        for (const step of steps) at = await step(record, at);
        return at;
      },
    });
  }
  return plans;
}

/** Before anything is written: every id is an id, and no workspace of the file is another organization's. */
async function refuseForeignWorkspaces(document: SettingsDocument, store: RedisSettingsAdmin): Promise<void> {
  const problems: string[] = [];
  const claimedBy = new Map<string, string>();
  // Every id was checked when the document was parsed (parseSettingsDocument).
  for (const [orgId, { workspaces }] of document.orgs) {
    for (const workspaceId of workspaces.keys()) {
      const other = claimedBy.get(workspaceId);
      if (other !== undefined) problems.push(`workspace ${workspaceId} is listed under both ${other} and ${orgId}`);
      claimedBy.set(workspaceId, orgId);
      const owner = await store.workspaceOrg(workspaceId);
      if (owner !== null && owner !== orgId) problems.push(`workspace ${workspaceId} belongs to organization ${owner}, not ${orgId}`);
    }
  }
  if (problems.length > 0) throw new Error(`nothing was imported:\n  ${problems.join('\n  ')}`);
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
