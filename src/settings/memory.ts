// In-process settings store: the embedded default of `make run` and of tests that
// are not about Redis. Same semantics as the Redis store, including versions.
import {
  flattenOrg,
  flattenWorkspace,
  SettingsStaleError,
  VersionMismatchError,
  WorkspaceOwnedError,
  type FamilyDocument,
  type SettingValues,
  type SettingsSnapshot,
  type SettingsInventory,
  type SettingsStore,
  type Versioned,
  type WorkspacePage,
} from './types.ts';
import type { SettingsDocument } from './validate.ts';

interface OrgEntry {
  /** Family name -> the organization's document. */
  settings: Map<string, FamilyDocument>;
  /** Workspace id -> family name -> the workspace's values. */
  workspaces: Map<string, Map<string, SettingValues>>;
  version: number;
}

export class MemorySettingsStore implements SettingsStore, SettingsInventory {
  private readonly orgs = new Map<string, OrgEntry>();
  /** The workspace directory: workspace id -> organization id. */
  private readonly directory = new Map<string, string>();

  static seeded(document: SettingsDocument): MemorySettingsStore {
    const store = new MemorySettingsStore();
    for (const [orgId, { settings, workspaces }] of document.orgs) {
      store.orgs.set(orgId, { settings: new Map(settings), workspaces: new Map([...workspaces].map(([id, values]) => [id, new Map(values)])), version: 1 });
      for (const workspaceId of workspaces.keys()) store.directory.set(workspaceId, orgId);
    }
    return store;
  }

  async snapshot(orgId: string, workspaceId: string, minVersion?: number): Promise<SettingsSnapshot> {
    const entry = this.orgs.get(orgId);
    // This store is the store of record: a version it has not reached is not on its way.
    if (minVersion !== undefined && (entry?.version ?? 0) < minVersion) throw new SettingsStaleError(orgId, minVersion, entry?.version ?? 0);
    return {
      org: flattenOrg(entry?.settings ?? []),
      workspace: flattenWorkspace(entry?.workspaces.get(workspaceId)?.values() ?? []),
      version: entry?.version ?? 0,
    };
  }

  async readOrg(orgId: string, family: string): Promise<Versioned<FamilyDocument>> {
    const entry = this.orgs.get(orgId);
    return { settings: entry?.settings.get(family) ?? null, version: entry?.version ?? 0 };
  }

  async readWorkspace(orgId: string, workspaceId: string, family: string): Promise<Versioned<SettingValues>> {
    const entry = this.orgs.get(orgId);
    return { settings: entry?.workspaces.get(workspaceId)?.get(family) ?? null, version: entry?.version ?? 0 };
  }

  async putOrg(orgId: string, family: string, settings: FamilyDocument, ifVersion?: number): Promise<number> {
    const entry = this.entry(orgId, ifVersion);
    entry.settings.set(family, settings);
    return ++entry.version;
  }

  async deleteOrg(orgId: string, family: string, ifVersion?: number): Promise<boolean> {
    const entry = this.entry(orgId, ifVersion);
    if (!entry.settings.delete(family)) return false;
    entry.version++;
    return true;
  }

  async putWorkspace(orgId: string, workspaceId: string, family: string, settings: SettingValues, ifVersion?: number): Promise<number> {
    const entry = this.entry(orgId, ifVersion);
    let values = entry.workspaces.get(workspaceId);
    if (!values) entry.workspaces.set(workspaceId, (values = new Map()));
    values.set(family, settings);
    return ++entry.version;
  }

  async deleteWorkspace(orgId: string, workspaceId: string, family: string, ifVersion?: number): Promise<number | null> {
    const entry = this.entry(orgId, ifVersion);
    const values = entry.workspaces.get(workspaceId);
    if (!values?.delete(family)) return null;
    if (values.size === 0) entry.workspaces.delete(workspaceId);
    return ++entry.version;
  }

  async workspaceOrg(workspaceId: string): Promise<string | null> {
    return this.directory.get(workspaceId) ?? null;
  }

  async registerWorkspace(orgId: string, workspaceId: string): Promise<{ created: boolean }> {
    const owner = this.directory.get(workspaceId);
    if (owner !== undefined && owner !== orgId) throw new WorkspaceOwnedError(workspaceId);
    this.directory.set(workspaceId, orgId);
    return { created: owner === undefined };
  }

  async unregisterWorkspace(orgId: string, workspaceId: string): Promise<boolean> {
    if (this.directory.get(workspaceId) !== orgId) return false;
    return this.directory.delete(workspaceId);
  }

  async listWorkspaces(orgId: string, page: WorkspacePage): Promise<{ workspaces: string[]; next: string | null }> {
    // Byte order of the UTF-8 ids, as Redis lists them.
    const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
    const all = [...this.directory]
      .filter(([workspaceId, owner]) => owner === orgId && workspaceId.startsWith(page.prefix ?? ''))
      .map(([workspaceId]) => workspaceId)
      .sort(byBytes);
    const start = page.after === undefined ? 0 : all.findIndex((id) => byBytes(id, page.after!) > 0);
    const workspaces = start < 0 ? [] : all.slice(start, start + page.limit);
    return { workspaces, next: start >= 0 && start + page.limit < all.length ? workspaces.at(-1)! : null };
  }

  async orgIds(): Promise<string[]> {
    return [...new Set([...this.orgs.keys(), ...this.directory.values()])];
  }

  async workspaceSettingsIds(orgId: string, families: readonly string[]): Promise<string[]> {
    const workspaces = this.orgs.get(orgId)?.workspaces ?? new Map<string, Map<string, SettingValues>>();
    return [...workspaces].filter(([, values]) => families.some((family) => values.has(family))).map(([workspaceId]) => workspaceId);
  }

  async ping(): Promise<void> {}

  isReady(): boolean {
    return true;
  }

  async close(): Promise<void> {}

  /** The organization's entry, after the version check of a conditional write (synchronous with the write: atomic here). */
  private entry(orgId: string, ifVersion?: number): OrgEntry {
    let entry = this.orgs.get(orgId);
    if (ifVersion !== undefined && ifVersion !== (entry?.version ?? 0)) throw new VersionMismatchError(entry?.version ?? 0);
    if (!entry) {
      entry = { settings: new Map(), workspaces: new Map(), version: 0 };
      this.orgs.set(orgId, entry);
    }
    return entry;
  }
}
