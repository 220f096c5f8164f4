// Parsing of settings from the wire and from YAML: unknown fields and non-boolean
// values are refused with the field named, so a typo never silently inherits.
import { invalidInput, type FieldError } from '../errors.ts';
import { SETTING_NAMES, type OrgSettings, type SettingValues, type WorkspaceSettings } from './types.ts';
import { isJsonObject } from '../json.ts';

function parseValues(raw: Record<string, unknown>, prefix: string, errors: FieldError[], extra: string[] = []): SettingValues {
  const values: SettingValues = {};
  for (const [key, value] of Object.entries(raw)) {
    if (extra.includes(key)) continue;
    const name = SETTING_NAMES.find((n) => n === key);
    if (name === undefined) {
      errors.push({ field: prefix + key, message: `unknown setting; expected one of ${SETTING_NAMES.join(', ')}` });
    } else if (typeof value !== 'boolean') {
      errors.push({ field: prefix + key, message: 'must be true or false' });
    } else {
      values[name] = value;
    }
  }
  return values;
}

export function parseOrgSettings(raw: unknown, prefix = ''): OrgSettings {
  const errors: FieldError[] = [];
  if (!isJsonObject(raw)) throw invalidInput([{ field: prefix || 'body', message: 'must be a JSON object' }]);
  const settings: OrgSettings = parseValues(raw, prefix, errors, ['allowWorkspaceOverrides']);
  const toggles = raw.allowWorkspaceOverrides;
  if (toggles !== undefined) {
    if (isJsonObject(toggles)) settings.allowWorkspaceOverrides = parseValues(toggles, `${prefix}allowWorkspaceOverrides.`, errors);
    else errors.push({ field: `${prefix}allowWorkspaceOverrides`, message: 'must be an object of setting: true|false' });
  }
  if (errors.length > 0) throw invalidInput(errors);
  return settings;
}

export function parseWorkspaceSettings(raw: unknown, prefix = ''): WorkspaceSettings {
  const errors: FieldError[] = [];
  if (!isJsonObject(raw)) throw invalidInput([{ field: prefix || 'body', message: 'must be a JSON object' }]);
  const settings = parseValues(raw, prefix, errors);
  if (errors.length > 0) throw invalidInput(errors);
  return settings;
}

/** The settings-as-code file: `orgs: {orgId: {settings: {...}, workspaces: {wsId: {...}}}}`. */
export interface SettingsDocument {
  orgs: Map<string, { settings: OrgSettings; workspaces: Map<string, WorkspaceSettings> }>;
}

export function parseSettingsDocument(raw: unknown): SettingsDocument {
  const orgs: SettingsDocument['orgs'] = new Map();
  if (!isJsonObject(raw) || !isJsonObject(raw.orgs)) {
    throw invalidInput([{ field: 'orgs', message: 'must be a map of organization id to {settings, workspaces}' }]);
  }
  for (const [orgId, entry] of Object.entries(raw.orgs)) {
    const at = `orgs.${orgId}`;
    if (!isJsonObject(entry)) throw invalidInput([{ field: at, message: 'must be an object with settings and workspaces' }]);
    const settings = parseOrgSettings(entry.settings ?? {}, `${at}.settings.`);
    const workspaces = new Map<string, WorkspaceSettings>();
    const rawWorkspaces = entry.workspaces ?? {};
    if (!isJsonObject(rawWorkspaces)) throw invalidInput([{ field: `${at}.workspaces`, message: 'must be a map of workspace id to settings' }]);
    for (const [workspaceId, values] of Object.entries(rawWorkspaces)) {
      workspaces.set(workspaceId, parseWorkspaceSettings(values, `${at}.workspaces.${workspaceId}.`));
    }
    orgs.set(orgId, { settings, workspaces });
  }
  return { orgs };
}
