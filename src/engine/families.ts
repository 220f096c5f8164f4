// The permission families (the Security tab's sections) as the active bundle defines them:
// data.portkey.families, read once per bundle. This is the only place TypeScript learns
// which settings exist; validation, the settings API, `settings import` and replay ask it.
import { BundleError } from './bundle.ts';
import { isJsonObject } from '../json.ts';

export type WorkspaceOverrides = 'setting' | 'family' | 'none';
export type SettingRole = 'manager' | 'member' | 'org_admin';
/** read and write allow or deny; visibility (Data Visibility) says what an allowed read may show. */
export type SettingAccess = 'read' | 'write' | 'visibility';

export interface SettingDefinition {
  name: string;
  label: string;
  default: boolean;
  role: SettingRole;
  access: SettingAccess;
  resourceTypes: string[];
}

export interface Family {
  name: string;
  label: string;
  resourceTypes: string[];
  actions: string[];
  /** "setting": a toggle per setting (integration-access); "family": one toggle for the family; "none": no workspace values. */
  workspaceOverrides: WorkspaceOverrides;
  settings: SettingDefinition[];
}

/** A resource type as a route table or a query may name one before a bundle says which exist. */
export const RESOURCE_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/** The families of one bundle, in the bundle's order (the console's). */
export class Families {
  private readonly byName: Map<string, Family>;
  /** Setting name -> its family: every decision a setting decided asks (its record names the family). */
  private readonly bySetting: Map<string, Family>;
  /** One array per bundle, so a store can tell another bundle's families by identity. */
  readonly names: readonly string[];
  /** Every resource type a decision may name, in table order: the families', then the data plane's. */
  readonly resourceTypes: readonly string[];

  constructor(
    readonly list: readonly Family[],
    /** The data plane's resource types (completions, invocations, ...), which no family governs: the scope table's. */
    readonly dataPlaneTypes: readonly string[] = [],
    /** The scope table: resource type -> action -> the scope an API key needs (data.portkey.api_keys.scopes). */
    private readonly scopes: ReadonlyMap<string, Readonly<Record<string, string>>> = new Map(),
  ) {
    this.byName = new Map(list.map((family) => [family.name, family]));
    this.bySetting = new Map(list.flatMap((family) => family.settings.map((setting) => [setting.name, family] as const)));
    this.names = list.map((family) => family.name);
    this.resourceTypes = [...new Set([...list.flatMap((family) => family.resourceTypes), ...dataPlaneTypes])];
  }

  /** The scope an API key needs to act on the resource type; undefined when the table names none (no key may). */
  scopeOf(resourceType: string, action: string): string | undefined {
    const actions = this.scopes.get(resourceType);
    return actions && Object.hasOwn(actions, action) ? actions[action] : undefined;
  }

  get(name: string): Family | undefined {
    return this.byName.get(name);
  }

  /** The family a setting belongs to (names are unique across families). */
  familyOf(setting: string): Family | undefined {
    return this.bySetting.get(setting);
  }
}

const OVERRIDES: readonly WorkspaceOverrides[] = ['setting', 'family', 'none'];
const ROLES: readonly SettingRole[] = ['manager', 'member', 'org_admin'];
const ACCESSES: readonly SettingAccess[] = ['read', 'write', 'visibility'];
/** Family names are URL path segments and Redis field suffixes. */
const FAMILY_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const SETTING_NAME = /^[A-Za-z][A-Za-z0-9]{0,99}$/;

/**
 * The families of a bundle's data. A bundle without the table has no families (its settings
 * API serves none); a table that is malformed refuses the bundle, naming what is wrong.
 */
export function familiesFromData(data: Record<string, unknown>): Families {
  const portkey = data.portkey;
  const raw = isJsonObject(portkey) ? portkey.families : undefined;
  if (raw === undefined) return new Families([]);
  if (!Array.isArray(raw)) throw new BundleError('data.portkey.families must be an array of families');
  const families: Family[] = [];
  const settingNames = new Set<string>();
  raw.forEach((entry: unknown, i) => {
    const at = `data.portkey.families[${i}]`;
    if (!isJsonObject(entry)) throw new BundleError(`${at} must be an object`);
    const name = text(entry.name, `${at}.name`);
    // "ws" would make a family's Redis field ("ws:ws:<id>") an integration-access workspace's (redis.ts).
    if (!FAMILY_NAME.test(name) || name === 'ws')
      throw new BundleError(`${at}.name ${JSON.stringify(name)} must be lower-case letters, digits and dashes (not "ws")`);
    if (families.some((f) => f.name === name)) throw new BundleError(`${at}.name ${name} is the name of an earlier family`);
    const settings = list(entry.settings, `${at}.settings`).map((s: unknown, j): SettingDefinition => {
      const sat = `${at}.settings[${j}]`;
      if (!isJsonObject(s)) throw new BundleError(`${sat} must be an object`);
      const settingName = text(s.name, `${sat}.name`);
      if (!SETTING_NAME.test(settingName)) throw new BundleError(`${sat}.name ${JSON.stringify(settingName)} must be letters and digits`);
      if (settingNames.has(settingName) || settingName === 'allowWorkspaceOverrides')
        throw new BundleError(`${sat}.name ${settingName} is not unique across the families`);
      settingNames.add(settingName);
      if (typeof s.default !== 'boolean') throw new BundleError(`${sat}.default must be true or false`);
      return {
        name: settingName,
        label: text(s.label, `${sat}.label`),
        default: s.default,
        role: oneOf(s.role, `${sat}.role`, ROLES),
        access: oneOf(s.access, `${sat}.access`, ACCESSES),
        resourceTypes: list(s.resource_types, `${sat}.resource_types`).map((t, k) => text(t, `${sat}.resource_types[${k}]`)),
      };
    });
    families.push({
      name,
      label: text(entry.label, `${at}.label`),
      resourceTypes: list(entry.resource_types, `${at}.resource_types`).map((t, k) => resourceType(t, `${at}.resource_types[${k}]`)),
      actions: list(entry.actions, `${at}.actions`).map((a, k) => text(a, `${at}.actions[${k}]`)),
      workspaceOverrides: oneOf(entry.workspace_overrides, `${at}.workspace_overrides`, OVERRIDES),
      settings,
    });
  });
  const table = scopeTable(portkey as Record<string, unknown>);
  return new Families(families, table.dataPlaneTypes, table.scopes);
}

/**
 * The bundle's scope table (data.portkey.api_keys: resource type -> {group, actions: {action:
 * scope}}; the policy reads the groups): the scope of each resource type and action, and the
 * data plane's resource types in name order (a built bundle's data keeps object keys in no
 * other order).
 */
function scopeTable(portkey: Record<string, unknown>): { dataPlaneTypes: string[]; scopes: Map<string, Record<string, string>> } {
  const scopes = new Map<string, Record<string, string>>();
  const table = portkey.api_keys;
  if (table === undefined) return { dataPlaneTypes: [], scopes };
  const entries = isJsonObject(table) ? table.scopes : undefined;
  if (!isJsonObject(entries)) throw new BundleError('data.portkey.api_keys.scopes must be an object of resource type to its scopes');
  const dataPlaneTypes = Object.entries(entries)
    .flatMap(([type, entry]) => {
      const at = `data.portkey.api_keys.scopes.${type}`;
      if (!isJsonObject(entry) || !isJsonObject(entry.actions)) throw new BundleError(`${at} must be {group, actions}`);
      const actions: Record<string, string> = Object.create(null);
      for (const [action, scope] of Object.entries(entry.actions)) actions[action] = text(scope, `${at}.actions.${action}`);
      scopes.set(type, actions);
      return text(entry.group, `${at}.group`) === 'data_plane' ? [resourceType(type, at)] : [];
    })
    .sort();
  return { dataPlaneTypes, scopes };
}

function text(value: unknown, at: string): string {
  if (typeof value !== 'string' || value === '') throw new BundleError(`${at} must be a non-empty string`);
  return value;
}

function resourceType(value: unknown, at: string): string {
  const type = text(value, at);
  if (!RESOURCE_TYPE_PATTERN.test(type)) throw new BundleError(`${at} ${JSON.stringify(type)} must be lower-case letters, digits and underscores`);
  return type;
}

function list(value: unknown, at: string): unknown[] {
  if (!Array.isArray(value)) throw new BundleError(`${at} must be an array`);
  return value;
}

function oneOf<T extends string>(value: unknown, at: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw new BundleError(`${at} must be one of ${allowed.join(', ')}`);
  return value as T;
}
