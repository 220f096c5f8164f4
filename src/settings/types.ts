// The permission settings of every family, as stored and as handed to the policy. Which
// settings exist is the active bundle's families table (families.ts), not this file.
//
// Stored: one document per family and level, exactly as the settings API takes it.
// Handed to the policy (input.settings): every family's documents flattened into one
// organization object and one workspace object (setting names are unique across the
// families); the override toggles of a "family" family are keyed by the family's name.

/** Setting name to value. */
export type SettingValues = Record<string, boolean>;

/**
 * One family's stored organization document: its settings, plus `allowWorkspaceOverrides`
 * (per setting for integration-access, one boolean for a "family" family, absent for logs).
 */
export type FamilyDocument = Record<string, boolean | SettingValues>;

/** The organization's settings as the policy sees them (only the fields an admin set). */
export interface OrgSettings {
  [setting: string]: boolean | SettingValues | undefined;
  allowWorkspaceOverrides?: SettingValues;
}

/** A workspace's values as the policy sees them; a setting left out inherits from the organization. */
export type WorkspaceSettings = SettingValues;

/** What a decision is made with: the stored settings of one org and one of its workspaces. */
export interface SettingsSnapshot {
  org: OrgSettings;
  workspace: WorkspaceSettings;
  /** Changes on every write to the organization's settings (its workspaces' included). */
  version: number;
}

/** The organization documents of every family, flattened for the policy. */
export function flattenOrg(documents: Iterable<[family: string, document: FamilyDocument]>): OrgSettings {
  const org: OrgSettings = {};
  let toggles: SettingValues | undefined;
  for (const [family, document] of documents) {
    for (const [key, value] of Object.entries(document)) {
      if (key !== 'allowWorkspaceOverrides') org[key] = value;
      else if (typeof value === 'boolean') (toggles ??= {})[family] = value;
      else toggles = { ...toggles, ...value };
    }
  }
  if (toggles !== undefined) org.allowWorkspaceOverrides = toggles;
  return org;
}

/** The workspace documents of every family, flattened for the policy. */
export function flattenWorkspace(documents: Iterable<SettingValues>): WorkspaceSettings {
  const workspace: WorkspaceSettings = {};
  for (const document of documents) Object.assign(workspace, document);
  return workspace;
}

/** The one interface both stores implement: Redis in production, memory for `make run`. */
export interface SettingsStore extends SettingsSnapshots, SettingsAdmin, WorkspaceDirectory {
  /** Resolves when the store answers a round trip now; rejects when it does not (in time). */
  ping(): Promise<void>;
  /** True when the store can answer (Redis connected). */
  isReady(): boolean;
  close(): Promise<void>;
  /**
   * What snapshot() would answer at once, from a cache it trusts without a round trip (and
   * counting the hit as snapshot() does); undefined when snapshot() would have to ask,
   * wait, serve stale or fail — then the decision calls snapshot(). Saves the decision path
   * its promise hops; a store without a cache need not have it.
   */
  peekSnapshot?(orgId: string, workspaceId: string, minVersion?: number): SettingsSnapshot | undefined;
  /** As peekSnapshot, for workspaceOrg(): the trusted cached answer (null: unknown workspace), or undefined. */
  peekWorkspaceOrg?(workspaceId: string): string | null | undefined;
}

/** What a decision reads. */
export interface SettingsSnapshots {
  /**
   * Settings for a decision in (org, workspace). Served from cache where the store has one.
   * With `minVersion` (a version a settings write answered, for reading one's own writes on
   * any instance) a cached snapshot older than it is read again from the store of record;
   * SettingsStaleError when the store does not reach that version within its bounded wait.
   */
  snapshot(orgId: string, workspaceId: string, minVersion?: number): Promise<SettingsSnapshot>;
}

/** The stored documents, as the settings API and the command line read and write them. */
export interface SettingsAdmin {
  /** One family's stored org document and the organization's version, read together (one round trip). */
  readOrg(orgId: string, family: string): Promise<Versioned<FamilyDocument>>;
  readWorkspace(orgId: string, workspaceId: string, family: string): Promise<Versioned<SettingValues>>;
  // Writes return the organization's new version. With `ifVersion`, the write is made only
  // if the organization's version is still that one, checked and written atomically;
  // otherwise it throws VersionMismatchError and nothing is written.
  putOrg(orgId: string, family: string, settings: FamilyDocument, ifVersion?: number): Promise<number>;
  putWorkspace(orgId: string, workspaceId: string, family: string, settings: SettingValues, ifVersion?: number): Promise<number>;
  /** The organization's version after the delete; null (and no version bumped) when the workspace had no settings of the family. */
  deleteWorkspace(orgId: string, workspaceId: string, family: string, ifVersion?: number): Promise<number | null>;
  /** Removes the organization's own settings of the family (not its workspaces'); false when there were none. */
  deleteOrg(orgId: string, family: string, ifVersion?: number): Promise<boolean>;
}

/**
 * The workspace directory: which organization a workspace belongs to. A workspace belongs
 * to at most one organization; registering it under another is refused.
 */
export interface WorkspaceDirectory {
  /** The organization of a workspace, or null when the directory does not know it. Cached where the store has a cache. */
  workspaceOrg(workspaceId: string): Promise<string | null>;
  /**
   * Registers the workspace under the organization. `created` is false when it already
   * was; throws WorkspaceOwnedError when another organization holds it.
   */
  registerWorkspace(orgId: string, workspaceId: string): Promise<{ created: boolean }>;
  /** Removes the workspace from the directory; false when the organization did not hold it. */
  unregisterWorkspace(orgId: string, workspaceId: string): Promise<boolean>;
  /** The organization's workspaces in id order (those whose id starts with `prefix`, when given), `limit` at a time after `after` (exclusive). */
  listWorkspaces(orgId: string, page: WorkspacePage): Promise<{ workspaces: string[]; next: string | null }>;
}

/** One page of the directory's list of an organization's workspaces. */
export interface WorkspacePage {
  limit: number;
  after?: string;
  prefix?: string;
}

/** What the command line walks to import or export everything a store holds. */
export interface SettingsInventory {
  /** Every organization with stored settings or a workspace in the directory. */
  orgIds(): Promise<string[]>;
  /** The workspaces of the organization with stored settings of any of the families. */
  workspaceSettingsIds(orgId: string, families: readonly string[]): Promise<string[]>;
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

/** The store could not give settings as new as the version asked for: no decision may use older ones. */
export class SettingsStaleError extends Error {
  override name = 'SettingsStaleError';
  constructor(
    readonly orgId: string,
    readonly wanted: number,
    readonly current: number,
  ) {
    super(`the settings of organization ${JSON.stringify(orgId)} are at version ${current}, older than the ${wanted} asked for`);
  }
}
