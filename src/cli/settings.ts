// `portcullis settings import FILE.yaml`: settings as code. Compares the file with what
// Redis holds, per organization and workspace, and writes only the differences through the
// settings store (so an identical import writes nothing and bumps no version; each write
// that is made bumps the organization's version and every sidecar is told). Every
// workspace of the file is registered in the workspace directory under its organization.
// --prune also removes what the file does not name: workspaces of its organizations
// (settings and directory entry) and other organizations' settings and workspaces.
// --dry-run prints the differences and writes nothing. Nothing is written when an id is
// not an id or a workspace belongs to another organization; the writes are conditional on
// the version read, so an admin's concurrent change stops the import instead of being
// overwritten. Each change is recorded in the settings audit trail with the actor
// (--actor, default "settings-import"), as the admin API records its changes.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { idProblem } from '../ids.ts';
import { loadConfig } from '../config.ts';
import { describeRedis, parseReplicaRequirement, redisConnectionOptions, type RedisConnectionOptions } from '../redis/connection.ts';
import { load as loadYaml } from 'js-yaml';
import { pino } from 'pino';
import { createMasker } from '../audit/mask.ts';
import type { SettingsOperation } from '../audit/record.ts';
import { RedisAuditLog } from '../audit/redis.ts';
import { NO_AUDIT_STATS } from '../audit/stats.ts';
import { RedisSettingsStore } from '../settings/redis.ts';
import { SETTING_NAMES, VersionMismatchError, type OrgSettings, type SettingValues } from '../settings/types.ts';
import { parseSettingsDocument, type SettingsDocument } from '../settings/validate.ts';
import type { Env, Io } from './io.ts';
import { UsageError } from './time.ts';

const RETENTION_MS = 30 * 86_400_000;
const DEFAULT_ACTOR = 'settings-import';

type Recorder = (orgId: string, workspaceId: string | undefined, operation: SettingsOperation, before: object | null, after: object | null, version: number | null) => void;

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
    options: { redis: { type: 'string' }, 'redis-cluster': { type: 'string' }, actor: { type: 'string' }, prune: { type: 'boolean' }, 'dry-run': { type: 'boolean' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('settings import takes one settings YAML file');
  const { redis, minReplicasAck, waitTimeoutMs } = redisOf(values, env);
  // The import records its changes in the audit log, whose cluster mode is built beside this (issue 12).
  if (!redis.url) throw new UsageError('settings import into a Redis Cluster needs the cluster-ready audit log; use --redis with a single node for now');
  const file = positionals[0]!;
  let document: SettingsDocument;
  try {
    document = parseSettingsDocument(loadYaml(await readFile(file, 'utf8')));
  } catch (error) {
    // js-yaml adds a source excerpt after the first line: the first line says it.
    throw new Error(`settings file ${file}: ${(error as Error).message.split('\n')[0]}`);
  }
  const actor = values.actor ?? DEFAULT_ACTOR;
  const dryRun = values['dry-run'] === true;

  const store = new RedisSettingsStore({ connection: redis, minReplicasAck, waitTimeoutMs, maxOrgs: 1, maxWorkspaces: 1, maxWorkspacesPerOrg: 1, maxDirectory: 1, revalidateAfterMs: 0, maxStaleMs: 0 });
  await store.connect().catch((error: unknown) => {
    throw new Error(`cannot reach ${describeRedis(redis)}: ${(error as Error).message} (is it running? --redis, --redis-cluster, REDIS_URL or REDIS_CLUSTER_NODES)`);
  });
  try {
    await refuseForeignWorkspaces(document, store);
    const plans = await plan(document, store, values.prune === true);
    const changed = plans.filter((p) => p.lines.length > 0);
    for (const { orgId, lines } of changed) io.stdout.write(`${orgId}:\n${lines.map((line) => `  ${line}\n`).join('')}`);
    if (changed.length === 0) io.stdout.write('no changes: Redis already holds what the file says\n');
    if (dryRun || changed.length === 0) {
      if (dryRun && changed.length > 0) io.stdout.write('dry run: nothing was written\n');
      return;
    }
    const audit = new RedisAuditLog({
      url: redis.url!,
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
    const record: Recorder = (orgId, workspaceId, operation, before, after, version) =>
      audit.recordSettingsChange({ changeId: randomUUID(), timestamp: new Date().toISOString(), actor, orgId, ...(workspaceId ? { workspaceId } : {}), operation, before, after, version });
    try {
      for (const { orgId, apply } of changed) {
        try {
          io.stdout.write(`${orgId}: written, settings version ${await apply(record)}\n`);
        } catch (error) {
          if (!(error instanceof VersionMismatchError)) throw error;
          throw new Error(`organization ${orgId} changed while it was being imported (now at version ${error.current}); nothing more was written: run the import again`);
        }
      }
    } finally {
      await audit.close();
    }
  } finally {
    await store.close();
  }
}

/** The stored values of a settings document as flat `name` / `allowWorkspaceOverrides.name` entries. */
function flatten(settings: OrgSettings | SettingValues | null): Map<string, boolean> {
  const flat = new Map<string, boolean>();
  const toggles = (settings as OrgSettings | null)?.allowWorkspaceOverrides;
  for (const name of SETTING_NAMES) {
    if (settings?.[name] !== undefined) flat.set(name, settings[name]!);
    if (toggles?.[name] !== undefined) flat.set(`allowWorkspaceOverrides.${name}`, toggles[name]!);
  }
  return flat;
}

const shown = (value: boolean | undefined) => (value === undefined ? '(unset)' : String(value));

/** `setting: old → new` for every stored value that differs; [] when the documents hold the same values. */
function differences(stored: OrgSettings | SettingValues | null, wanted: OrgSettings | SettingValues): string[] {
  const [a, b] = [flatten(stored), flatten(wanted)];
  const names = [...new Set([...a.keys(), ...b.keys()])].filter((name) => a.get(name) !== b.get(name));
  return names.map((name) => `${name}: ${shown(a.get(name))} → ${shown(b.get(name))}`);
}

/** Every workspace Redis knows for the organization: its directory entries and its stored settings. */
/**
 * The Redis of --redis or --redis-cluster, else of the environment, read as the sidecar
 * reads it (the same variables: ACL user, TLS, replicas to confirm a write).
 */
function redisOf(values: { redis?: string | undefined; 'redis-cluster'?: string | undefined }, env: Env): { redis: RedisConnectionOptions; minReplicasAck: number | 'auto'; waitTimeoutMs: number } {
  if (values.redis !== undefined && values['redis-cluster'] !== undefined) throw new UsageError('--redis (one node) or --redis-cluster (a cluster), not both');
  const chosen = values.redis !== undefined ? { REDIS_URL: values.redis, REDIS_CLUSTER_NODES: '' } : values['redis-cluster'] !== undefined ? { REDIS_URL: '', REDIS_CLUSTER_NODES: values['redis-cluster'] } : {};
  let config;
  try {
    // Only the Redis fields matter here; the token is set so that none is generated.
    config = loadConfig({ ...env, ...chosen, ADMIN_TOKEN: 'unused' });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const redis = redisConnectionOptions(config);
  if (!redis) throw new UsageError('the Redis to import into is needed: --redis redis://host:6379, --redis-cluster host:port,... or REDIS_URL / REDIS_CLUSTER_NODES');
  return { redis: { ...redis, commandTimeoutMs: 5000, reconnectMaxMs: 1000 }, minReplicasAck: parseReplicaRequirement(config.redisMinReplicasAck), waitTimeoutMs: config.redisWaitTimeoutMs };
}

async function storedWorkspaces(store: RedisSettingsStore, orgId: string): Promise<Set<string>> {
  const ids = new Set(await store.workspaceSettingsIds(orgId));
  let after: string | undefined;
  do {
    const page = await store.listWorkspaces(orgId, after === undefined ? { limit: 1000 } : { limit: 1000, after });
    for (const id of page.workspaces) ids.add(id);
    after = page.next ?? undefined;
  } while (after !== undefined);
  return ids;
}

async function plan(document: SettingsDocument, store: RedisSettingsStore, prune: boolean): Promise<OrgPlan[]> {
  const plans: OrgPlan[] = [];
  const orgIds = [...document.orgs.keys()];
  if (prune) for (const orgId of (await store.orgIds()).sort()) if (!document.orgs.has(orgId)) orgIds.push(orgId);
  for (const orgId of orgIds) {
    const wanted = document.orgs.get(orgId);
    const { settings: storedOrg, version } = await store.readOrg(orgId);
    const lines: string[] = [];
    const steps: Array<(record: Recorder, at: number) => Promise<number>> = [];
    if (wanted === undefined) {
      if (storedOrg !== null) {
        lines.push('organization settings removed');
        steps.push(async (record, at) => {
          await store.deleteOrg(orgId, at);
          record(orgId, undefined, 'delete_org', storedOrg, null, at + 1);
          return at + 1;
        });
      }
    } else {
      const changes = storedOrg === null ? ['organization settings added', ...differences(null, wanted.settings)] : differences(storedOrg, wanted.settings);
      if (changes.length > 0) {
        lines.push(...changes);
        steps.push(async (record, at) => {
          const next = await store.putOrg(orgId, wanted.settings, at);
          record(orgId, undefined, 'put_org', storedOrg, wanted.settings, next);
          return next;
        });
      }
    }
    const present = await storedWorkspaces(store, orgId);
    for (const [workspaceId, values] of wanted?.workspaces ?? []) {
      const stored = await store.getWorkspace(orgId, workspaceId);
      const unregistered = (await store.workspaceOrg(workspaceId)) !== orgId;
      const changes = stored === null ? [] : differences(stored, values);
      if (stored === null) lines.push(`workspace ${workspaceId} added${Object.keys(values).length > 0 ? `: ${differences(null, values).join(', ')}` : ''}`);
      else if (changes.length > 0) lines.push(`workspace ${workspaceId}: ${changes.join(', ')}`);
      else if (unregistered) lines.push(`workspace ${workspaceId} registered`);
      if (unregistered) {
        steps.push(async (record, at) => {
          if ((await store.registerWorkspace(orgId, workspaceId)).created) record(orgId, workspaceId, 'register_workspace', null, null, null);
          return at;
        });
      }
      if (stored === null || changes.length > 0) {
        steps.push(async (record, at) => {
          const next = await store.putWorkspace(orgId, workspaceId, values, at);
          record(orgId, workspaceId, 'put_workspace', stored, values, next);
          return next;
        });
      }
    }
    if (prune) {
      for (const workspaceId of [...present].sort()) {
        if (wanted?.workspaces.has(workspaceId)) continue;
        lines.push(`workspace ${workspaceId} removed`);
        steps.push(async (record, at) => {
          const stored = await store.getWorkspace(orgId, workspaceId);
          const deleted = await store.deleteWorkspace(orgId, workspaceId, at);
          if (deleted !== null) record(orgId, workspaceId, 'delete_workspace', stored, null, deleted);
          const next = deleted ?? at;
          if (await store.unregisterWorkspace(orgId, workspaceId)) record(orgId, workspaceId, 'unregister_workspace', null, null, null);
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
async function refuseForeignWorkspaces(document: SettingsDocument, store: RedisSettingsStore): Promise<void> {
  const problems: string[] = [];
  const claimedBy = new Map<string, string>();
  for (const [orgId, { workspaces }] of document.orgs) {
    const orgProblem = idProblem(orgId);
    if (orgProblem) problems.push(`organization ${JSON.stringify(orgId)}: id ${orgProblem}`);
    for (const workspaceId of workspaces.keys()) {
      const problem = idProblem(workspaceId);
      if (problem) {
        problems.push(`workspace ${JSON.stringify(workspaceId)} of ${orgId}: id ${problem}`);
        continue;
      }
      const other = claimedBy.get(workspaceId);
      if (other !== undefined) problems.push(`workspace ${workspaceId} is listed under both ${other} and ${orgId}`);
      claimedBy.set(workspaceId, orgId);
      const owner = await store.workspaceOrg(workspaceId);
      if (owner !== null && owner !== orgId) problems.push(`workspace ${workspaceId} belongs to organization ${owner}, not ${orgId}`);
    }
  }
  if (problems.length > 0) throw new Error(`nothing was imported:\n  ${problems.join('\n  ')}`);
}

