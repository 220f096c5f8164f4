// `portcullis settings export`: the settings document (the YAML `settings import` takes)
// of what a Redis holds, or of the settings file that seeds the in-memory store, so that
// settings changed through the admin API can go back into Git. The output is canonical —
// organizations and workspaces sorted, families and settings in the bundle's order, a
// document that says nothing left out — so exporting what an export imported gives the
// same bytes, and a diff of two exports shows only what changed.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { dump as dumpYaml } from 'js-yaml';
import { loadConfig } from '../config.ts';
import type { Families, Family } from '../engine/families.ts';
import type { FamilyDocument, SettingValues } from '../settings/types.ts';
import type { SettingsDocument } from '../settings/validate.ts';
import type { Env, Io } from './io.ts';
import { storedWorkspaces } from '../settings/import-plan.ts';
import { bundleFamilies, connectSettingsStore, readSettingsFile, redisOf } from './settings.ts';
import { UsageError } from './time.ts';

const HEADER = '# Settings as code, written by `portcullis settings export`; `portcullis settings import FILE` takes it back.\n';

export async function settingsExport(args: string[], env: Env, io: Io): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      redis: { type: 'string' },
      'redis-cluster': { type: 'string' },
      'settings-file': { type: 'string' },
      bundle: { type: 'string' },
      output: { type: 'string' },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`settings export takes no file argument (--output FILE writes to a file); got ${positionals.join(' ')}`);
  const fromRedis = values.redis !== undefined || values['redis-cluster'] !== undefined;
  if (fromRedis && values['settings-file'] !== undefined)
    throw new UsageError("--settings-file (the in-memory store's file) or --redis/--redis-cluster, not both");
  const families = await bundleFamilies(values.bundle, env);
  // As the sidecar chooses its store: Redis when one is named, else the settings file.
  const redisNamed = fromRedis || (values['settings-file'] === undefined && Boolean(env.REDIS_URL || env.REDIS_CLUSTER_NODES));
  const document = redisNamed ? await readRedis(values, env, families) : await readSettingsFile(values['settings-file'] ?? settingsFileOf(env), families);
  const text = HEADER + dumpYaml(canonical(document, families), { lineWidth: -1, noRefs: true });
  if (values.output !== undefined) {
    await writeFile(values.output, text);
    io.stderr.write(`${document.orgs.size} organizations written to ${values.output}\n`);
  } else {
    io.stdout.write(text);
  }
}

/** SETTINGS_FILE as the sidecar reads it (with its default, the package's demo settings). */
function settingsFileOf(env: Env): string {
  try {
    return loadConfig({ ...env, ADMIN_TOKEN: 'unused' }).settingsFile;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function readRedis(
  values: { redis?: string | undefined; 'redis-cluster'?: string | undefined },
  env: Env,
  families: Families,
): Promise<SettingsDocument> {
  const { redis } = redisOf(values, env, 'export from');
  const store = await connectSettingsStore(redis);
  try {
    const orgs: SettingsDocument['orgs'] = new Map();
    for (const orgId of await store.orgIds()) {
      const settings = new Map<string, FamilyDocument>();
      for (const { name } of families.list) {
        const { settings: stored } = await store.readOrg(orgId, name);
        if (stored !== null) settings.set(name, stored);
      }
      const workspaces = new Map<string, Map<string, SettingValues>>();
      for (const workspaceId of await storedWorkspaces(store, families, orgId)) {
        const byFamily = new Map<string, SettingValues>();
        for (const family of families.list) {
          if (family.workspaceOverrides === 'none') continue;
          const { settings: stored } = await store.readWorkspace(orgId, workspaceId, family.name);
          if (stored !== null) byFamily.set(family.name, stored);
        }
        workspaces.set(workspaceId, byFamily);
      }
      orgs.set(orgId, { settings, workspaces });
    }
    return { orgs };
  } finally {
    await store.close();
  }
}

/** A family's values in the bundle's order, only those set; undefined when none is. */
function ordered(family: Family, values: SettingValues | undefined): SettingValues | undefined {
  const out: SettingValues = {};
  for (const { name } of family.settings) if (typeof values?.[name] === 'boolean') out[name] = values[name];
  return Object.keys(out).length > 0 ? out : undefined;
}

function orgDocument(family: Family, document: FamilyDocument): FamilyDocument | undefined {
  const { allowWorkspaceOverrides: toggles, ...values } = document;
  const out: FamilyDocument = { ...ordered(family, values as SettingValues) };
  if (typeof toggles === 'boolean') out.allowWorkspaceOverrides = toggles;
  else if (toggles !== undefined) {
    const set = ordered(family, toggles);
    if (set) out.allowWorkspaceOverrides = set;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The document as plain data in one order; a family document that sets nothing is left out (it means the defaults, as leaving it out does). */
function canonical(document: SettingsDocument, families: Families): object {
  const orgs: Record<string, object> = {};
  for (const orgId of [...document.orgs.keys()].sort()) {
    const { settings, workspaces } = document.orgs.get(orgId)!;
    const entry: { settings?: Record<string, FamilyDocument>; workspaces?: Record<string, Record<string, SettingValues>> } = {};
    for (const family of families.list) {
      const stored = settings.get(family.name);
      const out = stored && orgDocument(family, stored);
      if (out) (entry.settings ??= {})[family.name] = out;
    }
    for (const workspaceId of [...workspaces.keys()].sort()) {
      const byFamily: Record<string, SettingValues> = {};
      for (const family of families.list) {
        const out = ordered(family, workspaces.get(workspaceId)!.get(family.name));
        if (out) byFamily[family.name] = out;
      }
      (entry.workspaces ??= {})[workspaceId] = byFamily;
    }
    orgs[orgId] = entry;
  }
  return { orgs };
}
