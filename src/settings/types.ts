// The settings of DESIGN.md §1: three booleans per organization, each with a toggle
// that lets workspaces override it, and per-workspace values for any subset.

export const SETTING_NAMES = [
  'managersWriteWsIntegrations',
  'managersWriteWsMcpIntegrations',
  'managersWriteMcpServers',
] as const;

export type SettingName = (typeof SETTING_NAMES)[number];

export type SettingValues = Partial<Record<SettingName, boolean>>;

/** An organization's stored settings: only the fields an admin set are present. */
export interface OrgSettings extends SettingValues {
  allowWorkspaceOverrides?: SettingValues;
}

/** A workspace's stored values; a setting left out inherits from the organization. */
export type WorkspaceSettings = SettingValues;

/** What a decision is made with: the stored settings of one org and one of its workspaces. */
export interface SettingsSnapshot {
  org: OrgSettings;
  workspace: WorkspaceSettings;
  /** Changes on every write to the organization's settings (its workspaces' included). */
  version: number;
}

/** The org settings as the admin API shows them: every field present, defaults filled in. */
export interface EffectiveOrgSettings extends Record<SettingName, boolean> {
  allowWorkspaceOverrides: Record<SettingName, boolean>;
}

export function withDefaults(org: OrgSettings | null): EffectiveOrgSettings {
  const values = {} as Record<SettingName, boolean>;
  const toggles = {} as Record<SettingName, boolean>;
  for (const name of SETTING_NAMES) {
    values[name] = org?.[name] ?? true;
    toggles[name] = org?.allowWorkspaceOverrides?.[name] ?? false;
  }
  return { ...values, allowWorkspaceOverrides: toggles };
}

/** The one interface both stores implement: Redis in production, memory for `make run`. */
export interface SettingsStore {
  /** Settings for a decision in (org, workspace). Served from cache where the store has one. */
  snapshot(orgId: string, workspaceId: string): Promise<SettingsSnapshot>;
  getOrg(orgId: string): Promise<OrgSettings | null>;
  getWorkspace(orgId: string, workspaceId: string): Promise<WorkspaceSettings | null>;
  /** The stored org settings and the organization's version, read together (one round trip). */
  readOrg(orgId: string): Promise<Versioned<OrgSettings>>;
  readWorkspace(orgId: string, workspaceId: string): Promise<Versioned<WorkspaceSettings>>;
  // Writes return the organization's new version. With `ifVersion`, the write is made only
  // if the organization's version is still that one, checked and written atomically;
  // otherwise it throws VersionMismatchError and nothing is written.
  putOrg(orgId: string, settings: OrgSettings, ifVersion?: number): Promise<number>;
  putWorkspace(orgId: string, workspaceId: string, settings: WorkspaceSettings, ifVersion?: number): Promise<number>;
  /** The organization's version after the delete; null (and no version bumped) when the workspace had no settings. */
  deleteWorkspace(orgId: string, workspaceId: string, ifVersion?: number): Promise<number | null>;
  /** Removes the organization's own settings (not its workspaces'); false when there were none. */
  deleteOrg(orgId: string, ifVersion?: number): Promise<boolean>;
  // The workspace directory: which organization a workspace belongs to. A workspace
  // belongs to at most one organization; registering it under another is refused.
  /** The organization of a workspace, or null when the directory does not know it. Cached. */
  workspaceOrg(workspaceId: string): Promise<string | null>;
  /**
   * Registers the workspace under the organization. `created` is false when it already
   * was; throws WorkspaceOwnedError when another organization holds it.
   */
  registerWorkspace(orgId: string, workspaceId: string): Promise<{ created: boolean }>;
  /** Removes the workspace from the directory; false when the organization did not hold it. */
  unregisterWorkspace(orgId: string, workspaceId: string): Promise<boolean>;
  /** The organization's workspaces in id order, `limit` at a time after `after` (exclusive). */
  listWorkspaces(orgId: string, page: { limit: number; after?: string }): Promise<{ workspaces: string[]; next: string | null }>;
  /** Resolves when the store answers a round trip now; rejects when it does not (in time). */
  ping(): Promise<void>;
  /** True when the store can answer (Redis connected). */
  isReady(): boolean;
  close(): Promise<void>;
}

/** Stored settings (null: none stored) with the organization's settings version (0: never written). */
export interface Versioned<T> {
  settings: T | null;
  version: number;
}

/** A conditional write found the organization at another version: nothing was written. */
export class VersionMismatchError extends Error {
  override name = 'VersionMismatchError';
  constructor(readonly current: number) {
    super(`the settings are at version ${current}`);
  }
}

/** A workspace can belong to one organization only. */
export class WorkspaceOwnedError extends Error {
  override name = 'WorkspaceOwnedError';
  constructor(readonly workspaceId: string) {
    super(`workspace ${workspaceId} belongs to another organization`);
  }
}
