// In-process settings store: the embedded default of `make run` and of tests that
// are not about Redis. Same semantics as the Redis store, including versions.
import { VersionMismatchError, WorkspaceOwnedError, type Versioned, type OrgSettings, type SettingsSnapshot, type SettingsStore, type WorkspaceSettings } from './types.ts';
import type { SettingsDocument } from './validate.ts';

interface OrgEntry {
  settings: OrgSettings | null;
  workspaces: Map<string, WorkspaceSettings>;
  version: number;
}

export class MemorySettingsStore implements SettingsStore {
  private readonly orgs = new Map<string, OrgEntry>();
  /** The workspace directory: workspace id -> organization id. */
  private readonly directory = new Map<string, string>();

  static seeded(document: SettingsDocument): MemorySettingsStore {
    const store = new MemorySettingsStore();
    for (const [orgId, { settings, workspaces }] of document.orgs) {
      store.orgs.set(orgId, { settings, workspaces: new Map(workspaces), version: 1 });
      for (const workspaceId of workspaces.keys()) store.directory.set(workspaceId, orgId);
    }
    return store;
  }

  async snapshot(orgId: string, workspaceId: string): Promise<SettingsSnapshot> {
    const entry = this.orgs.get(orgId);
    return {
      org: entry?.settings ?? {},
      workspace: entry?.workspaces.get(workspaceId) ?? {},
      version: entry?.version ?? 0,
    };
  }

  async getOrg(orgId: string): Promise<OrgSettings | null> {
    return this.orgs.get(orgId)?.settings ?? null;
  }

  async readOrg(orgId: string): Promise<Versioned<OrgSettings>> {
    const entry = this.orgs.get(orgId);
    return { settings: entry?.settings ?? null, version: entry?.version ?? 0 };
  }

  async readWorkspace(orgId: string, workspaceId: string): Promise<Versioned<WorkspaceSettings>> {
    const entry = this.orgs.get(orgId);
    return { settings: entry?.workspaces.get(workspaceId) ?? null, version: entry?.version ?? 0 };
  }

  async putOrg(orgId: string, settings: OrgSettings, ifVersion?: number): Promise<number> {
    const entry = this.entry(orgId, ifVersion);
    entry.settings = settings;
    return ++entry.version;
  }

  async deleteOrg(orgId: string, ifVersion?: number): Promise<boolean> {
    const entry = this.entry(orgId, ifVersion);
    if (entry.settings === null) return false;
    entry.settings = null;
    entry.version++;
    return true;
  }

  async getWorkspace(orgId: string, workspaceId: string): Promise<WorkspaceSettings | null> {
    return this.orgs.get(orgId)?.workspaces.get(workspaceId) ?? null;
  }

  async putWorkspace(orgId: string, workspaceId: string, settings: WorkspaceSettings, ifVersion?: number): Promise<number> {
    const entry = this.entry(orgId, ifVersion);
    entry.workspaces.set(workspaceId, settings);
    return ++entry.version;
  }

  async deleteWorkspace(orgId: string, workspaceId: string, ifVersion?: number): Promise<number | null> {
    const entry = this.entry(orgId, ifVersion);
    if (!entry.workspaces.delete(workspaceId)) return null;
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

  async listWorkspaces(orgId: string, page: { limit: number; after?: string }): Promise<{ workspaces: string[]; next: string | null }> {
    // Byte order of the UTF-8 ids, as Redis lists them.
    const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
    const all = [...this.directory].filter(([, owner]) => owner === orgId).map(([workspaceId]) => workspaceId).sort(byBytes);
    const start = page.after === undefined ? 0 : all.findIndex((id) => byBytes(id, page.after!) > 0);
    const workspaces = start < 0 ? [] : all.slice(start, start + page.limit);
    return { workspaces, next: start >= 0 && start + page.limit < all.length ? workspaces.at(-1)! : null };
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
      entry = { settings: null, workspaces: new Map(), version: 0 };
      this.orgs.set(orgId, entry);
    }
    return entry;
  }
}
