// Decision records for audit tests, built directly so that a test controls every field
// and every timestamp.
import { newDecisionId } from '../../src/audit/keys.ts';
import type { DecisionRecord } from '../../src/decision/record.ts';

export interface RecordFields {
  orgId?: string;
  workspaceId?: string;
  principalId?: string;
  allow?: boolean;
  reason?: string;
  type?: string;
  action?: string;
  timestampMs?: number;
  decisionId?: string;
}

export function decisionRecord(over: RecordFields = {}): DecisionRecord {
  const orgId = over.orgId ?? 'org-a';
  const workspaceId = over.workspaceId ?? 'ws-1';
  const principal = { id: over.principalId ?? 'u-1', orgId, orgRole: 'member' as const, workspaceRoles: { [workspaceId]: 'manager' as const } };
  const resource = { type: (over.type ?? 'mcp_server') as 'mcp_server', orgId, workspaceId };
  const action = (over.action ?? 'create') as 'create';
  const allow = over.allow ?? true;
  const timestampMs = over.timestampMs ?? Date.now();
  return {
    decisionId: over.decisionId ?? newDecisionId(orgId, timestampMs),
    timestamp: new Date(timestampMs).toISOString(),
    api: 'authorize',
    orgId,
    workspaceId,
    principal,
    action,
    resource,
    allow,
    reason: over.reason ?? (allow ? 'manager_write_enabled' : 'manager_write_disabled'),
    setting: 'managersWriteMcpServers',
    source: 'org',
    bundleRevision: 'test',
    settingsVersion: 1,
    latencyMs: 0.1,
    input: { principal, action, resource, settings: { org: {}, workspace: {} } },
  };
}

/** A varied, deterministic set: every combination of the filterable fields occurs. */
export function dataset(orgId: string, count: number, startMs: number, stepMs = 1000): DecisionRecord[] {
  const reasons: Array<[boolean, string]> = [
    [true, 'manager_write_enabled'],
    [false, 'manager_write_disabled'],
    [true, 'org_admin'],
    [false, 'read_only_role'],
    [false, 'no_workspace_access'],
  ];
  const types = ['integration', 'mcp_integration', 'mcp_server'];
  const actions = ['create', 'update', 'delete', 'read'];
  const records: DecisionRecord[] = [];
  for (let i = 0; i < count; i++) {
    const [allow, reason] = reasons[i % 5]!;
    records.push(
      decisionRecord({
        orgId,
        workspaceId: `ws-${i % 2}`,
        principalId: `u-${i % 3}`,
        allow,
        reason,
        type: types[(i % 7) % 3]!,
        action: actions[i % 4]!,
        timestampMs: startMs + i * stepMs,
      }),
    );
  }
  return records;
}
