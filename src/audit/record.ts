// What is recorded for every decision, whichever API asked (DESIGN.md §2 "Decision audit").
import type { AuthorizeRequest } from '../decision/request.ts';
import type { SettingSource } from '../engine/engine.ts';
import type { SettingsSnapshot } from '../settings/types.ts';

/** The API a decision was asked through. */
export type DecisionApi = 'authorize' | 'opa_data' | 'opa_batch' | 'ext_authz_http' | 'ext_authz_grpc';

export interface DecisionRecord {
  decisionId: string;
  timestamp: string;
  api: DecisionApi;
  orgId: string;
  workspaceId: string;
  principal: { id: string; orgId: string; orgRole: string; workspaceRoles: Record<string, string> };
  action: string;
  resource: { type: string; orgId: string; workspaceId: string; id?: string };
  allow: boolean;
  reason: string;
  setting?: string;
  source?: SettingSource;
  bundleRevision: string;
  /** null when the settings could not be read (the decision then failed closed if it needed them). */
  settingsVersion: number | null;
  latencyMs: number;
  /** Everything needed to evaluate the decision again: the request and the settings used. */
  input: AuthorizeRequest & { settings: Pick<SettingsSnapshot, 'org' | 'workspace'> };
  /** Set by the API that asked, e.g. dry-run or the gateway route. */
  dryRun?: boolean;
}

/** Where decision records go. `record` must never block or throw: it is on the decision path. */
export interface AuditSink {
  record(record: DecisionRecord): void;
}
