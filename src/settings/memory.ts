// In-process settings store: the embedded default of `make run` and of tests that
// are not about Redis. Same semantics as the Redis store, including versions.
import type { OrgSettings, SettingsSnapshot, SettingsStore, WorkspaceSettings } from './types.ts';
import type { SettingsDocument } from './validate.ts';

interface OrgEntry {
  settings: OrgSettings | null;
  workspaces: Map<string, WorkspaceSettings>;
  version: number;
}

export class MemorySettingsStore implements SettingsStore {
  private readonly orgs = new Map<string, OrgEntry>();

  static seeded(document: SettingsDocument): MemorySettingsStore {
    const store = new MemorySettingsStore();
    for (const [orgId, { settings, workspaces }] of document.orgs) {
      store.orgs.set(orgId, { settings, workspaces: new Map(workspaces), version: 1 });
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

  async putOrg(orgId: string, settings: OrgSettings): Promise<number> {
    const entry = this.entry(orgId);
    entry.settings = settings;
    return ++entry.version;
  }

  async getWorkspace(orgId: string, workspaceId: string): Promise<WorkspaceSettings | null> {
    return this.orgs.get(orgId)?.workspaces.get(workspaceId) ?? null;
  }

  async putWorkspace(orgId: string, workspaceId: string, settings: WorkspaceSettings): Promise<number> {
    const entry = this.entry(orgId);
    entry.workspaces.set(workspaceId, settings);
    return ++entry.version;
  }

  async deleteWorkspace(orgId: string, workspaceId: string): Promise<boolean> {
    const entry = this.orgs.get(orgId);
    if (!entry?.workspaces.delete(workspaceId)) return false;
    entry.version++;
    return true;
  }

  isReady(): boolean {
    return true;
  }

  async close(): Promise<void> {}

  private entry(orgId: string): OrgEntry {
    let entry = this.orgs.get(orgId);
    if (!entry) {
      entry = { settings: null, workspaces: new Map(), version: 0 };
      this.orgs.set(orgId, entry);
    }
    return entry;
  }
}
