// `portcullis settings import FILE.yaml`: settings as code. Writes every organization and
// workspace the file names through the Redis settings store, so each write bumps the
// organization's settings version and every sidecar is told; workspaces the file does
// not name are left as they are. Each change is recorded in the settings audit trail
// with the actor (--actor, default "cli:$USER"), as the admin API records its changes.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { load as loadYaml } from 'js-yaml';
import { pino } from 'pino';
import { createMasker } from '../audit/mask.ts';
import type { SettingsOperation } from '../audit/record.ts';
import { RedisAuditLog } from '../audit/redis.ts';
import { NO_AUDIT_STATS } from '../audit/stats.ts';
import { RedisSettingsStore } from '../settings/redis.ts';
import { parseSettingsDocument } from '../settings/validate.ts';
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
  const record = (orgId: string, workspaceId: string | undefined, operation: SettingsOperation, before: object | null, after: object, version: number) =>
    audit.recordSettingsChange({ changeId: randomUUID(), timestamp: new Date().toISOString(), actor, orgId, ...(workspaceId ? { workspaceId } : {}), operation, before, after, version });
  try {
    for (const [orgId, { settings, workspaces }] of document.orgs) {
      const before = await store.getOrg(orgId);
      let version = await store.putOrg(orgId, settings);
      record(orgId, undefined, 'put_org', before, settings, version);
      for (const [workspaceId, values] of workspaces) {
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
