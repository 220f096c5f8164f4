// `portcullis settings import FILE.yaml`: settings as code. Writes every organization and
// workspace the file names through the Redis settings store, so each write bumps the
// organization's settings version and every sidecar is told; workspaces the file does
// not name are left as they are. Every workspace of the file is registered in the
// workspace directory under its organization; nothing is written when an id is not an id
// or a workspace belongs to another organization. Each change is recorded in the settings
// audit trail with the actor (--actor, default "cli:$USER"), as the admin API records its changes.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { idProblem } from '../ids.ts';
import { load as loadYaml } from 'js-yaml';
import { pino } from 'pino';
import { createMasker } from '../audit/mask.ts';
import type { SettingsOperation } from '../audit/record.ts';
import { RedisAuditLog } from '../audit/redis.ts';
import { NO_AUDIT_STATS } from '../audit/stats.ts';
import { RedisSettingsStore } from '../settings/redis.ts';
import { parseSettingsDocument, type SettingsDocument } from '../settings/validate.ts';
import type { Env, Io } from './main.ts';
import { UsageError } from './time.ts';

const RETENTION_MS = 30 * 86_400_000;

export async function settingsImport(args: string[], env: Env, io: Io): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: { redis: { type: 'string' }, actor: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError('settings import takes one settings YAML file');
  const url = values.redis ?? env.REDIS_URL;
  if (!url) throw new UsageError('the Redis to import into is needed: --redis redis://host:6379 or REDIS_URL');
  const document = parseSettingsDocument(loadYaml(await readFile(positionals[0]!, 'utf8')));
  const actor = values.actor ?? `cli:${env.USER ?? 'unknown'}`;

  const store = new RedisSettingsStore({ url, maxOrgs: 1, maxWorkspaces: 1, maxWorkspacesPerOrg: 1, maxDirectory: 1, revalidateAfterMs: 0, maxStaleMs: 0, commandTimeoutMs: 5000, reconnectMaxMs: 1000 });
  const audit = new RedisAuditLog({
    url,
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
  await store.connect();
  await audit.start();
  const record = (orgId: string, workspaceId: string | undefined, operation: SettingsOperation, before: object | null, after: object | null, version: number | null) =>
    audit.recordSettingsChange({ changeId: randomUUID(), timestamp: new Date().toISOString(), actor, orgId, ...(workspaceId ? { workspaceId } : {}), operation, before, after, version });
  try {
    await refuseForeignWorkspaces(document, store);
    for (const [orgId, { settings, workspaces }] of document.orgs) {
      const before = await store.getOrg(orgId);
      let version = await store.putOrg(orgId, settings);
      record(orgId, undefined, 'put_org', before, settings, version);
      for (const [workspaceId, values] of workspaces) {
        if ((await store.registerWorkspace(orgId, workspaceId)).created) record(orgId, workspaceId, 'register_workspace', null, null, null);
        const previous = await store.getWorkspace(orgId, workspaceId);
        version = await store.putWorkspace(orgId, workspaceId, values);
        record(orgId, workspaceId, 'put_workspace', previous, values, version);
      }
      io.stdout.write(`${orgId}: organization settings and ${workspaces.size} workspace(s) written, settings version ${version}\n`);
    }
  } finally {
    await audit.close();
    await store.close();
  }
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
