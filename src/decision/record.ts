// What is recorded for every decision, whichever API asked,
// and for every settings change made through the admin API.
import { randomUUID } from 'node:crypto';
import type { AuthorizeRequest, Principal } from './request.ts';
import type { SettingSource, Visibility, VisibleTo } from '../engine/engine.ts';
import type { SettingsSnapshot } from '../settings/types.ts';

/** The APIs a decision can be asked through (an audit query filters by them). */
export const DECISION_APIS = ['authorize', 'opa_data', 'opa_batch', 'ext_authz_http', 'ext_authz_grpc', 'permissions'] as const;
export type DecisionApi = (typeof DECISION_APIS)[number];

export interface DecisionRecord {
  decisionId: string;
  timestamp: string;
  api: DecisionApi;
  orgId: string;
  workspaceId: string;
  /** A user, or an API key by its id and type (never the key itself). */
  principal: Principal;
  action: string;
  resource: { type: string; orgId: string; workspaceId: string; id?: string };
  allow: boolean;
  reason: string;
  setting?: string;
  source?: SettingSource;
  /** The permission family of the setting that decided (the active bundle's families table). */
  family?: string;
  /** The scope the request needed (API key principals). */
  scope?: string;
  /** What data a read may show (Data Visibility), and whose. */
  visibility?: Visibility;
  visibleTo?: VisibleTo;
  bundleRevision: string;
  /** null when the settings could not be read (the decision then failed closed if it needed them). */
  settingsVersion: number | null;
  latencyMs: number;
  /** Everything needed to evaluate the decision again: the request and the settings used. */
  input: AuthorizeRequest & { settings: Pick<SettingsSnapshot, 'org' | 'workspace'> };
  /** Set by the API that asked, e.g. dry-run or the gateway route. */
  dryRun?: boolean;
  /** The OPA data path asked (e.g. portkey/authz/allow), when the API names one; for the decision log. */
  path?: string;
  /** Input paths whose values were replaced before the record was stored (see audit/mask.ts). */
  masked?: string[];
  /** The decision's OpenTelemetry span, when tracing is on and the span was sampled. */
  traceId?: string;
  spanId?: string;
  /** The address of the client that asked (host:port), as OPA's requested_by. */
  requestedBy?: string;
  /** For the gateways: the original request as described by Envoy or nginx, credentials removed. */
  gatewayRequest?: GatewayRequestContext;
  /**
   * The workspace directory did not confirm the record's organization (an unknown workspace,
   * a directory that could not answer, or a workspace of another organization than the
   * principal's): orgId is the caller's word, and the record goes to the audit's unverified
   * bucket. Absent when the directory placed the workspace in orgId, and when it is off
   * (WORKSPACE_DIRECTORY=off).
   */
  orgUnverified?: true;
  /** What trimRecord (audit/trim.ts) left out to bound the record. */
  trimmed?: RecordTrim;
  /** A permissions call's summary: what it asked and how many of its cells allowed and denied. */
  permissions?: PermissionsSummary;
  /** What only the decision log carries; the audit trail does not store it (see decisionFields). */
  log?: DecisionLogDetails;
}

export interface PermissionsSummary {
  workspaceIds: string[];
  resourceTypes: string[];
  actions: string[];
  allowed: number;
  denied: number;
}

export interface RecordTrim {
  /** Workspace roles of the principal other than the requested workspace's, not kept. */
  otherWorkspaceRoles?: number;
  /** Free-text strings (gateway request, client address) shortened to fit the byte cap. */
  truncated?: number;
  /** Still larger than the cap after every cut: what is left is the decision itself. */
  overCap?: true;
}

/** The parts of OPA's decision-log event that the audit trail has no use for. */
export interface DecisionLogDetails {
  /** The decision document's sentence for the reason. */
  message: string;
  /** When the decision was made, in microseconds since the epoch (the event's timestamp). */
  epochMicros: number;
  /** The instance's number of the HTTP request that asked (OPA's req_id); absent for gRPC. */
  reqId?: number;
  /** The id of the batch request this decision was one item of. */
  batchDecisionId?: string;
  /** Measured: parsing the input into a typed request, and evaluating the policy (absent when no policy ran). */
  inputParseNs?: number;
  evalNs?: number;
}

/** The original request a gateway decision was asked about; header names lower-case. */
export interface GatewayRequestContext {
  method: string;
  /** The path as received, without the query string (which may carry keys). */
  path: string;
  /** The route table entry that matched, e.g. "/v1/mcp-servers/:id". */
  route: string;
  /** Every header but those that carry credentials (see gateway.ts). */
  headers: Record<string, string>;
}

export type SettingsOperation =
  | 'put_org'
  | 'patch_org'
  /** The organization's own settings removed (`settings import --prune`). */
  | 'delete_org'
  | 'put_workspace'
  | 'patch_workspace'
  | 'delete_workspace'
  | 'register_workspace'
  | 'unregister_workspace'
  /** The API-key registry: `after` is the key's record (never the key or its hash). */
  | 'register_api_key'
  | 'rotate_api_key'
  | 'revoke_api_key';

/** One change made through the settings admin API: who, when, where, before and after. */
export interface SettingsChangeRecord {
  changeId: string;
  timestamp: string;
  /** The name of the admin token that made the change (the CLI: its --actor). */
  actor: string;
  /** Who the caller says acted (its X-Actor header), masked and bounded: a hint, not an identity. */
  note?: string;
  orgId: string;
  /** Absent for organization-level changes. */
  workspaceId?: string;
  /** The permission family whose settings changed (e.g. prompt-access); absent for the directory operations. */
  family?: string;
  operation: SettingsOperation;
  /** The stored settings before and after; null when there were none (or none remain), and for the directory operations. */
  before: object | null;
  after: object | null;
  /** The organization's settings version after the change. */
  version: number | null;
}

type Optional<T> = { [K in keyof T]: T[K] | undefined };

/** A settings-change record made now (a new id and timestamp); optional fields given as undefined are left out. */
export function settingsChange(
  change: Omit<SettingsChangeRecord, 'changeId' | 'timestamp' | 'note' | 'workspaceId' | 'family'> &
    Partial<Optional<Pick<SettingsChangeRecord, 'note' | 'workspaceId' | 'family'>>>,
): SettingsChangeRecord {
  const { note, workspaceId, family, ...required } = change;
  return {
    changeId: randomUUID(),
    timestamp: new Date().toISOString(),
    ...required,
    ...(note !== undefined ? { note } : {}),
    ...(workspaceId ? { workspaceId } : {}),
    ...(family ? { family } : {}),
  };
}

/** Makes a decision's id for the organization that asked (the audit's factory places its record by it). */
export type DecisionIdFactory = (orgId: string) => string;

/** Where decision records go. `record` must never block or throw: it is on the decision path. */
export interface AuditSink {
  record(record: DecisionRecord): void;
}

/** Filters of a decision query; every field but orgId is optional and they combine with AND. */
export interface DecisionFilter {
  orgId: string;
  workspaceId?: string;
  principalId?: string;
  /** Decisions of the API key of this id (a key principal's id is its key id). */
  keyId?: string;
  /** Decisions of API keys of this type (organisation-service, workspace-service, workspace-user). */
  keyType?: string;
  allow?: boolean;
  reason?: string;
  resourceType?: string;
  action?: string;
  api?: DecisionApi;
  /** Search the unverified bucket (records whose organization the directory did not confirm) for orgId's records instead of its own stream. */
  unverified?: boolean;
  /** Inclusive bounds, milliseconds since the epoch. */
  from?: number;
  to?: number;
}

export interface PageRequest {
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** null when the scan reached the end of the range; otherwise pass it back to continue. */
  nextCursor: string | null;
}

export interface Summary {
  orgId: string;
  from: string | null;
  to: string | null;
  total: number;
  byOutcome: { allow: number; deny: number };
  byReason: Record<string, number>;
  byResourceType: Record<string, number>;
}

/** The audit trail: a sink on the decision path plus the queries behind /v1/audit. */
export interface AuditLog extends AuditSink {
  recordSettingsChange(change: SettingsChangeRecord): void;
  queryDecisions(filter: DecisionFilter, page: PageRequest): Promise<Page<DecisionRecord>>;
  getDecision(decisionId: string): Promise<DecisionRecord | null>;
  summary(filter: Pick<DecisionFilter, 'orgId' | 'from' | 'to'>): Promise<Summary>;
  querySettingsChanges(filter: Pick<DecisionFilter, 'orgId' | 'workspaceId' | 'from' | 'to'>, page: PageRequest): Promise<Page<SettingsChangeRecord>>;
  /** Writes everything recorded so far (or, if the store is away, spills it to disk). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
