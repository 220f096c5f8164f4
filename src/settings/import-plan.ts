// The plan of a settings import: what the store holds compared with a settings document
// (per organization, workspace and family), as lines to show and the writes that make the
// store hold what the document says. Only the differences are written, each conditional
// on the organization's version read, so an identical import writes nothing and an
// admin's concurrent change stops the import instead of being overwritten. For an
// organization or workspace the document names, a family it does not name keeps nothing
// the document does not say: stored values of it are cleared (an empty document is written).
// With `prune`, what the document does not name is removed: workspaces of its organizations
// (settings and directory entry) and other organizations' settings and workspaces.
import type { Families } from '../engine/families.ts';
import { flattenOrg, type FamilyDocument, type SettingsAdmin, type SettingsInventory, type SettingValues, type WorkspaceDirectory } from './types.ts';
import type { SettingsDocument } from './validate.ts';

/** What an import reads and writes. */
export type ImportTarget = SettingsAdmin & WorkspaceDirectory & SettingsInventory;

/** The kinds of change an import makes, as the settings audit trail names them. */
export type ImportOperation = 'put_org' | 'delete_org' | 'put_workspace' | 'delete_workspace' | 'register_workspace' | 'unregister_workspace';

/** Records one change an import made (the settings audit trail). */
export type ImportRecorder = (
  orgId: string,
  workspaceId: string | undefined,
  family: string | undefined,
  operation: ImportOperation,
  before: object | null,
  after: object | null,
  version: number | null,
) => void;

/** One organization's differences between the store and the file, and how to make them. */
export interface OrgPlan {
  orgId: string;
  lines: string[];
  /** Applies the differences from the version read; returns the version after (unchanged when nothing was written). */
  apply(record: ImportRecorder): Promise<number>;
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

/** Every workspace the store knows for the organization: its directory entries and its stored settings. */
export async function storedWorkspaces(store: WorkspaceDirectory & SettingsInventory, families: Families, orgId: string): Promise<Set<string>> {
  const ids = new Set(await store.workspaceSettingsIds(orgId, families.names));
  let after: string | undefined;
  do {
    const page = await store.listWorkspaces(orgId, after === undefined ? { limit: 1000 } : { limit: 1000, after });
    for (const id of page.workspaces) ids.add(id);
    after = page.next ?? undefined;
  } while (after !== undefined);
  return ids;
}

type Step = (record: ImportRecorder, at: number) => Promise<number>;

/**
 * What to write for one family at one level: the file's document where it names the family;
 * where it does not, an empty document replaces stored values (the file names the
 * organization or workspace, and says nothing of them). Undefined when nothing changes.
 */
function wantedDocument<T extends FamilyDocument>(stored: T | null, named: T | undefined, family: string): T | undefined {
  if (named !== undefined) return stored === null || differences(family, stored, named).length > 0 ? named : undefined;
  return stored !== null && flatten(family, stored).size > 0 ? ({} as T) : undefined;
}

export async function planImport(document: SettingsDocument, families: Families, store: ImportTarget, prune: boolean): Promise<OrgPlan[]> {
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
export async function refuseForeignWorkspaces(document: SettingsDocument, store: ImportTarget): Promise<void> {
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
