// Parsing of settings from the wire and from YAML, against the active bundle's families:
// unknown fields and non-boolean values are refused with the field named (and the nearest
// known name), so a typo never silently inherits.
import { invalidInput, FIELD_CODE, type FieldError } from '../errors.ts';
import { idProblem, quoted } from '../ids.ts';
import { isJsonObject } from '../json.ts';
import { nearest } from '../suggest.ts';
import type { Families, Family } from '../engine/families.ts';
import type { FamilyDocument, SettingValues } from './types.ts';

const TOGGLES = 'allowWorkspaceOverrides';

function unknown(field: string, what: string, key: string, known: readonly string[]): FieldError {
  const suggestion = nearest(key, known);
  return {
    field,
    code: FIELD_CODE.unknown,
    message: suggestion ? `unknown ${what}; did you mean \`${suggestion}\`?` : `unknown ${what}; expected one of ${known.join(', ')}`,
  };
}

function parseValues(family: Family, raw: Record<string, unknown>, prefix: string, errors: FieldError[], extra: string[] = []): SettingValues {
  const names = family.settings.map((s) => s.name);
  const values: SettingValues = {};
  for (const [key, value] of Object.entries(raw)) {
    if (extra.includes(key)) continue;
    if (!names.includes(key)) errors.push(unknown(prefix + key, 'setting', key, [...names, ...extra]));
    else if (typeof value !== 'boolean') errors.push({ field: prefix + key, message: 'must be true or false' });
    else values[key] = value;
  }
  return values;
}

/** A family's organization document: its settings and, unless it has no workspace overrides, its toggle(s). */
export function parseOrgDocument(family: Family, raw: unknown, prefix = ''): FamilyDocument {
  const errors: FieldError[] = [];
  if (!isJsonObject(raw)) throw invalidInput([{ field: prefix.replace(/\.$/, '') || 'body', message: 'must be a JSON object' }]);
  const hasToggles = family.workspaceOverrides !== 'none';
  const document: FamilyDocument = parseValues(family, raw, prefix, errors, hasToggles ? [TOGGLES] : []);
  const toggles = raw[TOGGLES];
  if (hasToggles && toggles !== undefined) {
    if (family.workspaceOverrides === 'family') {
      if (typeof toggles === 'boolean') document[TOGGLES] = toggles;
      else errors.push({ field: `${prefix}${TOGGLES}`, message: `must be true or false (one toggle for all of ${family.name})` });
    } else if (isJsonObject(toggles)) {
      document[TOGGLES] = parseValues(family, toggles, `${prefix}${TOGGLES}.`, errors);
    } else {
      errors.push({ field: `${prefix}${TOGGLES}`, message: 'must be an object of setting: true|false' });
    }
  }
  if (errors.length > 0) throw invalidInput(errors);
  return document;
}

/** A workspace's values of one family: any subset of its settings. */
export function parseWorkspaceDocument(family: Family, raw: unknown, prefix = ''): SettingValues {
  const errors: FieldError[] = [];
  if (!isJsonObject(raw)) throw invalidInput([{ field: prefix.replace(/\.$/, '') || 'body', message: 'must be a JSON object' }]);
  const settings = parseValues(family, raw, prefix, errors);
  if (errors.length > 0) throw invalidInput(errors);
  return settings;
}

/** A family's organization document as the admin API shows it: every field present, defaults filled in. */
export function withDefaults(family: Family, stored: FamilyDocument | null): FamilyDocument {
  const document: FamilyDocument = {};
  for (const setting of family.settings) document[setting.name] = (stored?.[setting.name] as boolean | undefined) ?? setting.default;
  if (family.workspaceOverrides === 'family') document[TOGGLES] = (stored?.[TOGGLES] as boolean | undefined) ?? false;
  if (family.workspaceOverrides === 'setting') {
    const toggles: SettingValues = {};
    const storedToggles = stored?.[TOGGLES] as SettingValues | undefined;
    for (const setting of family.settings) toggles[setting.name] = storedToggles?.[setting.name] ?? false;
    document[TOGGLES] = toggles;
  }
  return document;
}

/** The settings-as-code document: per organization, one settings-API body per family, and per workspace one per family. */
export interface SettingsDocument {
  orgs: Map<string, { settings: Map<string, FamilyDocument>; workspaces: Map<string, Map<string, SettingValues>> }>;
}

/** The name of a family key, or an error naming why it is not one (a setting written without its family gets told so). */
function familyAt(families: Families, key: string, field: string, errors: FieldError[], level: 'org' | 'workspace'): Family | undefined {
  const family = families.get(key);
  if (family && (level === 'org' || family.workspaceOverrides !== 'none')) return family;
  if (family) {
    errors.push({ field, message: `${family.name} has no workspace overrides: its settings are the organization's only` });
    return undefined;
  }
  const owner = families.familyOf(key);
  if (owner) {
    errors.push({ field, code: FIELD_CODE.unknown, message: `unknown settings family: ${key} is a setting of ${owner.name}; write it under ${owner.name}` });
    return undefined;
  }
  const error = unknown(field, 'settings family', key, families.names);
  const setting = nearest(
    key,
    families.list.flatMap((f) => f.settings.map((s) => s.name)),
  );
  if (setting && !error.message.includes('did you mean'))
    error.message += ` (settings go under their family: did you mean ${families.familyOf(setting)!.name}.${setting}?)`;
  errors.push(error);
  return undefined;
}

export function parseSettingsDocument(raw: unknown, families: Families): SettingsDocument {
  const orgs: SettingsDocument['orgs'] = new Map();
  if (!isJsonObject(raw) || !isJsonObject(raw.orgs)) {
    throw invalidInput([{ field: 'orgs', message: 'must be a map of organization id to {settings, workspaces}' }]);
  }
  const errors: FieldError[] = [];
  // A misspelt key would otherwise be ignored, and the document read as if it said nothing.
  const onlyKnown = (object: Record<string, unknown>, at: string, known: readonly string[]) => {
    for (const key of Object.keys(object)) if (!known.includes(key)) errors.push(unknown(at + (at ? '.' : '') + key, 'field', key, known));
  };
  const badId = (id: string, at: string, what: string): boolean => {
    const problem = idProblem(id);
    if (problem !== undefined) errors.push({ field: at, message: `the ${what} id ${quoted(id)} ${problem}` });
    return problem !== undefined;
  };
  onlyKnown(raw, '', ['orgs']);
  const collect = <T>(parse: () => T): T | undefined => {
    try {
      return parse();
    } catch (error) {
      const fieldErrors = (error as { errors?: FieldError[] }).errors;
      if (!fieldErrors) throw error;
      errors.push(...fieldErrors);
      return undefined;
    }
  };
  for (const [orgId, entry] of Object.entries(raw.orgs)) {
    const at = `orgs.${orgId}`;
    if (badId(orgId, 'orgs', 'organization')) continue;
    if (!isJsonObject(entry)) throw invalidInput([{ field: at, message: 'must be an object with settings and workspaces' }]);
    onlyKnown(entry, at, ['settings', 'workspaces']);
    const settings = new Map<string, FamilyDocument>();
    const rawSettings = entry.settings ?? {};
    if (!isJsonObject(rawSettings)) throw invalidInput([{ field: `${at}.settings`, message: 'must be a map of family name to its settings' }]);
    for (const [key, body] of Object.entries(rawSettings)) {
      const family = familyAt(families, key, `${at}.settings.${key}`, errors, 'org');
      const document = family && collect(() => parseOrgDocument(family, body, `${at}.settings.${key}.`));
      if (family && document) settings.set(family.name, document);
    }
    const workspaces = new Map<string, Map<string, SettingValues>>();
    const rawWorkspaces = entry.workspaces ?? {};
    if (!isJsonObject(rawWorkspaces)) throw invalidInput([{ field: `${at}.workspaces`, message: 'must be a map of workspace id to {family: settings}' }]);
    for (const [workspaceId, byFamily] of Object.entries(rawWorkspaces)) {
      const wat = `${at}.workspaces.${workspaceId}`;
      if (badId(workspaceId, `${at}.workspaces`, 'workspace')) continue;
      const values = new Map<string, SettingValues>();
      if (byFamily !== null && !isJsonObject(byFamily)) {
        errors.push({ field: wat, message: "must be a map of family name to the workspace's settings" });
        continue;
      }
      for (const [key, body] of Object.entries(byFamily ?? {})) {
        const family = familyAt(families, key, `${wat}.${key}`, errors, 'workspace');
        const document = family && collect(() => parseWorkspaceDocument(family, body, `${wat}.${key}.`));
        if (family && document) values.set(family.name, document);
      }
      workspaces.set(workspaceId, values);
    }
    orgs.set(orgId, { settings, workspaces });
  }
  if (errors.length > 0) throw invalidInput(errors);
  return { orgs };
}
