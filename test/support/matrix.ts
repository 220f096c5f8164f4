// The full input space of the policy tests (policies/authz_test.rego), built from the
// spec's dimensions, plus cross-tenant and malformed inputs. Shared by the WASM/interpreter
// parity test and the HTTP tests.
export const ORG_ROLES = ['owner', 'admin', 'member'] as const;
export const WORKSPACE_ROLES = ['none', 'admin', 'manager', 'member'] as const;
export const TYPES = {
  integration: 'managersWriteWsIntegrations',
  mcp_integration: 'managersWriteWsMcpIntegrations',
  mcp_server: 'managersWriteMcpServers',
} as const;
export const ACTIONS = ['create', 'update', 'delete', 'read'] as const;
export const VALUES = ['unset', true, false] as const;
export const TOGGLES = [false, true] as const;

export type Value = (typeof VALUES)[number];

export interface MatrixCase {
  orgRole: (typeof ORG_ROLES)[number];
  workspaceRole: (typeof WORKSPACE_ROLES)[number];
  type: keyof typeof TYPES;
  action: (typeof ACTIONS)[number];
  orgValue: Value;
  toggle: boolean;
  workspaceValue: Value;
}

export function* matrix(): Generator<MatrixCase> {
  for (const orgRole of ORG_ROLES)
    for (const workspaceRole of WORKSPACE_ROLES)
      for (const type of Object.keys(TYPES) as Array<keyof typeof TYPES>)
        for (const action of ACTIONS)
          for (const orgValue of VALUES)
            for (const toggle of TOGGLES) for (const workspaceValue of VALUES) yield { orgRole, workspaceRole, type, action, orgValue, toggle, workspaceValue };
}

export function principalOf(c: Pick<MatrixCase, 'orgRole' | 'workspaceRole'>) {
  const workspaceRoles: Record<string, string> = { 'ws-other': 'member' };
  if (c.workspaceRole !== 'none') workspaceRoles['ws-1'] = c.workspaceRole;
  return { id: 'u-1', orgId: 'org-1', orgRole: c.orgRole, workspaceRoles };
}

/** The stored settings of a case, in the store's shape: only set values are present. */
export function settingsOf(c: MatrixCase) {
  const name = TYPES[c.type];
  const org: Record<string, unknown> = { allowWorkspaceOverrides: { [name]: c.toggle } };
  if (c.orgValue !== 'unset') org[name] = c.orgValue;
  const workspace: Record<string, boolean> = {};
  if (c.workspaceValue !== 'unset') workspace[name] = c.workspaceValue;
  return { org, workspace };
}

export function requestOf(c: MatrixCase) {
  return {
    principal: principalOf(c),
    action: c.action,
    resource: { type: c.type, orgId: 'org-1', workspaceId: 'ws-1', id: 'r-1' },
  };
}

/** The integration-access rules (policies/README.md) as an oracle, independent of the Rego. */
export function expected(c: MatrixCase): { allow: boolean; reason: string; setting?: string; source?: string } {
  if (c.orgRole === 'owner' || c.orgRole === 'admin') return { allow: true, reason: 'org_admin' };
  if (c.workspaceRole === 'none') return { allow: false, reason: 'no_workspace_access' };
  if (c.action === 'read') return { allow: true, reason: 'workspace_read' };
  if (c.workspaceRole === 'member') return { allow: false, reason: 'read_only_role' };
  const setting = TYPES[c.type];
  let value = true;
  let source = 'default';
  if (c.toggle && c.workspaceValue !== 'unset') [value, source] = [c.workspaceValue, 'workspace'];
  else if (c.orgValue !== 'unset') [value, source] = [c.orgValue, 'org'];
  return { allow: value, reason: value ? 'manager_write_enabled' : 'manager_write_disabled', setting, source };
}

/** Inputs the policy must deny with a reason of their own (it also sees them via OPA clients). */
export const MALFORMED_INPUTS: unknown[] = [
  {},
  { principal: 'u-1', action: 'read', resource: {} },
  { principal: { id: 'u-1', orgId: 'org-1', orgRole: 'member' }, action: 'approve', resource: { type: 'mcp_server', orgId: 'org-1', workspaceId: 'ws-1' } },
  { principal: { id: 'u-1', orgId: 'org-1', orgRole: 'member' }, action: 'read', resource: { type: 'server', orgId: 'org-1', workspaceId: 'ws-1' } },
  { principal: { id: '', orgId: 'org-1', orgRole: 'member' }, action: 'read', resource: { type: 'mcp_server', orgId: 'org-1', workspaceId: 'ws-1' } },
  { principal: { id: 'u-1', orgId: 'org-1', orgRole: 'root' }, action: 'read', resource: { type: 'mcp_server', orgId: 'org-1', workspaceId: 'ws-1' } },
  { principal: { id: 'u-1', orgId: 'org-1', orgRole: 'member' }, action: 'read', resource: { type: 'mcp_server', orgId: 'org-1' } },
  {
    principal: { id: 'u-1', orgId: 'org-1', orgRole: 'member', workspaceRoles: { 'ws-1': 'owner' } },
    action: 'read',
    resource: { type: 'mcp_server', orgId: 'org-1', workspaceId: 'ws-1' },
  },
  {
    principal: { id: 'u-1', orgId: 'org-2', orgRole: 'owner', workspaceRoles: { 'ws-1': 'admin' } },
    action: 'delete',
    resource: { type: 'mcp_server', orgId: 'org-1', workspaceId: 'ws-1' },
  },
];

// Every family's matrix, built from the families table (data.portkey.families in the
// bundle) the way policies/matrix_test.rego builds it from the specs: org role
// × workspace role × resource type × action (all four, so that an action a family does not
// have is in it) × each setting that governs the type × org value × toggle × workspace
// value; and every pair of settings that govern the same type, both set at the org, in the
// four combinations of their values. A family added to the table is in it with no change here.

export interface FamilySetting {
  name: string;
  label: string;
  default: boolean;
  role: 'manager' | 'member' | 'org_admin';
  access: 'read' | 'write';
  resource_types: string[];
}

export interface Family {
  name: string;
  label: string;
  resource_types: string[];
  actions: string[];
  workspace_overrides: 'setting' | 'family' | 'none';
  settings: FamilySetting[];
}

interface FamilyCaseBase {
  family: Family;
  orgRole: (typeof ORG_ROLES)[number];
  workspaceRole: (typeof WORKSPACE_ROLES)[number];
  type: string;
  action: (typeof ACTIONS)[number];
}

/** One setting as stored (org value, toggle, workspace value), the others unset. */
export interface FamilyCase extends FamilyCaseBase {
  setting: FamilySetting;
  orgValue: Value;
  toggle: boolean;
  workspaceValue: Value;
}

/** Two settings of the same type set at the org. */
export interface SettingPairCase extends FamilyCaseBase {
  values: Array<[FamilySetting, boolean]>;
}

/** The families table of a bundle's data (data.portkey.families). */
export function familiesOf(data: Record<string, unknown>): Family[] {
  const families = (data.portkey as { families?: Family[] } | undefined)?.families;
  if (!Array.isArray(families) || families.length === 0) throw new Error('the bundle data has no portkey.families table');
  return families;
}

function* requests(families: Family[]): Generator<FamilyCaseBase & { governing: FamilySetting[] }> {
  for (const family of families)
    for (const orgRole of ORG_ROLES)
      for (const workspaceRole of WORKSPACE_ROLES)
        for (const type of family.resource_types)
          for (const action of ACTIONS)
            yield { family, orgRole, workspaceRole, type, action, governing: family.settings.filter((s) => s.resource_types.includes(type)) };
}

export function* familyMatrix(families: Family[]): Generator<FamilyCase> {
  for (const { governing, ...request } of requests(families))
    for (const setting of governing)
      for (const orgValue of VALUES)
        for (const toggle of TOGGLES) for (const workspaceValue of VALUES) yield { ...request, setting, orgValue, toggle, workspaceValue };
}

export function* settingPairs(families: Family[]): Generator<SettingPairCase> {
  for (const { governing, ...request } of requests(families))
    for (const [i, first] of governing.entries())
      for (const second of governing.slice(i + 1))
        for (const firstValue of [true, false])
          for (const secondValue of [true, false])
            yield {
              ...request,
              values: [
                [first, firstValue],
                [second, secondValue],
              ],
            };
}

/** The organization's toggle key for a setting: its own, or the family's (stored even where it does not count). */
export function toggleKey(family: Family, setting: FamilySetting): string {
  return family.workspace_overrides === 'setting' ? setting.name : family.name;
}

/** The stored settings of a family case, in the store's flat shape. */
export function familySettingsOf(c: FamilyCase | SettingPairCase) {
  if ('values' in c) return { org: Object.fromEntries(c.values.map(([s, v]) => [s.name, v])), workspace: {} };
  const org: Record<string, unknown> = {};
  if (c.orgValue !== 'unset') org[c.setting.name] = c.orgValue;
  org.allowWorkspaceOverrides = { [toggleKey(c.family, c.setting)]: c.toggle };
  const workspace: Record<string, boolean> = {};
  if (c.workspaceValue !== 'unset') workspace[c.setting.name] = c.workspaceValue;
  return { org, workspace };
}

export function familyRequestOf(c: FamilyCaseBase) {
  return {
    principal: principalOf(c),
    action: c.action,
    resource: { type: c.type, orgId: 'org-1', workspaceId: 'ws-1', id: 'r-1' },
  };
}
