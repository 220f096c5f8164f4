// The decision path: settings (cache, then store) -> WASM evaluation -> answer, with
// the audit record handed off without waiting. Every API that decides comes here.
import type { Logger } from 'pino';
import type { AuditSink, DecisionApi, DecisionIdFactory, DecisionLogDetails, DecisionRecord, GatewayRequestContext } from './record.ts';
import type { ActivePolicy } from '../engine/active.ts';
import type { PolicyDecision } from '../engine/engine.ts';
import type { Metrics } from '../metrics.ts';
import { SettingsStaleError, type SettingsSnapshot, type SettingsStore } from '../settings/types.ts';
import { ApiError, CODE } from '../errors.ts';
import { errorSummary } from '../log.ts';
import type { TraceHeaders, Tracing } from './tracing.ts';
import { settingsStale } from './freshness.ts';
import type { PermissionCell, PermissionMatrix, PermissionsRequest } from './permissions.ts';
import type { AuthorizeRequest } from './request.ts';
import { DecisionCache } from './cache.ts';
import { stageClock, stageEnd, stagesOn } from '../stages.ts';

/** The answer to a decision request: the policy's decision plus its id and the bundle revision. */
export interface DecisionAnswer extends PolicyDecision {
  decisionId: string;
  bundleRevision: string;
  /** The organization's settings version the decision used; absent when it used none (read none, or could not). */
  settingsVersion?: number;
}

/** The answer of POST /v1/permissions: every cell, and what they were decided with. */
export interface PermissionsAnswer {
  workspaces: PermissionMatrix;
  /** The oldest settings version a cell used (all are at least this new); null when none were read. */
  settingsVersion: number | null;
  bundleRevision: string;
  decisionId: string;
}

export const PERMISSIONS_ENTRYPOINT = 'portkey/authz/permissions';

export interface DecideOptions {
  /** Recorded with the decision; the answer is the real decision either way. */
  dryRun?: boolean;
  /** The OPA data path asked, recorded for the decision log. */
  path?: string;
  /** The caller's W3C trace context, which the decision's span joins (when tracing is on). */
  trace?: TraceHeaders;
  /** The client's address (host:port), recorded as the decision log's requested_by. */
  requestedBy?: string;
  /** The gateways' original request, recorded for the decision log. */
  gatewayRequest?: GatewayRequestContext;
  /** Decide only with settings at least this new (read-your-writes); 503 settings_stale otherwise. */
  minSettingsVersion?: number;
  /** For the decision log: the asking HTTP request's number, the batch's id, how long parsing the input took. */
  reqId?: number;
  batchDecisionId?: string;
  inputParseNs?: number;
}

export interface DeciderOptions {
  /** Decide with the default settings when they cannot be read (explicit opt-in, logged at start). */
  failOpen?: boolean;
  /**
   * The workspace directory says which organization a resource's workspace belongs to
   * (the default). false (WORKSPACE_DIRECTORY=off, for deployments without one): the
   * request's word is taken, unchecked.
   */
  workspaceDirectory?: boolean;
  /** Absent unless OTEL_* configures an exporter: then the decision path makes no tracer call. */
  tracing?: Tracing;
  /** Decisions kept by the decision cache (cache.ts); 0 or absent = every decision is evaluated. */
  decisionCacheMax?: number;
}

const SETTINGS_UNAVAILABLE = 'settings_unavailable';
const DIRECTORY_UNAVAILABLE = 'directory_unavailable';
const UNKNOWN_WORKSPACE = 'unknown_workspace';
const EVALUATION_FAILED = 'evaluation_failed';
/** The reason of a permissions record: a summary of many cells, not one decision. */
export const PERMISSIONS_SUMMARY = 'permissions_summary';

/**
 * The reasons of decisions made here rather than by the policy, with the sentence each
 * answers with. GET /v1/reasons lists them beside the policy's own; replay skips them, as
 * the recorded input alone does not decide them.
 */
export const OUTSIDE_POLICY_MESSAGES: Readonly<Record<string, string>> = {
  [UNKNOWN_WORKSPACE]: 'The workspace is not in the workspace directory, so no organization can be trusted for it; denied.',
  [DIRECTORY_UNAVAILABLE]: "The workspace directory cannot be read right now, so the workspace's organization is unknown; denied until it can be read.",
  [SETTINGS_UNAVAILABLE]: "The organization's settings cannot be read right now; denied until they can be read.",
  [EVALUATION_FAILED]: 'The policy could not be evaluated for this request; denied.',
  [PERMISSIONS_SUMMARY]: 'A permissions call: the record sums up the cells it answered, each decided as its own request would be.',
};

/** Reasons of decisions made without evaluating the policy on the recorded input (replay skips them). */
export const DECIDED_OUTSIDE_POLICY: ReadonlySet<string> = new Set(Object.keys(OUTSIDE_POLICY_MESSAGES));

const NO_SETTINGS = { org: {}, workspace: {} };
/** Stands for the target organization in a cross-organization record (see toRecord). */
export const OTHER_ORG = '[another organization]';

/** A decision made outside the policy, with its listed sentence. */
const denied = (reason: string): PolicyDecision => ({ allow: false, reason, message: OUTSIDE_POLICY_MESSAGES[reason]! });

/** Where the workspace directory placed a request; orgUnverified when it could not confirm the organization. */
interface Placed {
  request: AuthorizeRequest;
  verdict?: PolicyDecision;
  orgUnverified?: true;
}

/**
 * During an outage every decision meets the same error: one warning a second, with the
 * count since the last, saying what is decided; only the error's message and code.
 */
class OutageWarning {
  private since = 0;
  private last = 0;

  constructor(
    private readonly log: Logger,
    private readonly message: string,
  ) {}

  note(error: unknown, orgId: string): void {
    this.since++;
    const now = Date.now();
    if (now - this.last < 1000) return;
    this.log.warn({ error: errorSummary(error), orgId, decisions: this.since }, this.message);
    this.since = 0;
    this.last = now;
  }
}

export class Decider {
  /** The active bundle's revision (503 while none is active). */
  bundleRevision(): string {
    return this.policy.require().revision;
  }

  /** The resource types a request may name: the active bundle's (503 while none is active). */
  resourceTypes(): readonly string[] {
    return this.policy.require().families.resourceTypes;
  }

  private readonly failOpen: boolean;
  private readonly workspaceDirectory: boolean;
  private readonly tracing?: Tracing;
  private readonly settingsOutage: OutageWarning;
  private readonly directoryOutage: OutageWarning;
  private readonly cache: DecisionCache;

  constructor(
    private readonly policy: ActivePolicy,
    private readonly store: SettingsStore,
    private readonly audit: AuditSink,
    /** Makes each decision's id; the audit's factory encodes where its record will be kept. */
    private readonly newDecisionId: DecisionIdFactory,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    options: DeciderOptions = {},
  ) {
    this.failOpen = options.failOpen ?? false;
    this.workspaceDirectory = options.workspaceDirectory ?? true;
    this.cache = new DecisionCache(options.decisionCacheMax ?? 0, metrics.decisionCacheCounts);
    if (options.tracing) this.tracing = options.tracing;
    this.settingsOutage = new OutageWarning(
      log,
      this.failOpen
        ? 'settings unavailable; deciding with the default settings (SETTINGS_FAIL_OPEN)'
        : 'settings unavailable and not cached within the staleness bound; denying (settings_unavailable)',
    );
    this.directoryOutage = new OutageWarning(log, 'workspace directory unavailable and not cached within the staleness bound; denying (directory_unavailable)');
  }

  async decide(asked: AuthorizeRequest, api: DecisionApi, options: DecideOptions = {}): Promise<DecisionAnswer> {
    const started = performance.now();
    // The record is kept in the principal's organization (toRecord); the id says where.
    const decisionId = this.newDecisionId(asked.principal.orgId);
    const trace = this.tracing?.startDecision(options.trace);
    const lookup = trace?.child('portcullis.settings');
    let clock = stagesOn ? stageClock() : 0;
    // A trusted cached answer is taken at once; otherwise the store is asked (and awaited).
    const placedNow = this.placeFromCache(asked);
    const placing = placedNow ? undefined : this.placeInDirectory(asked);
    if (stagesOn) stageEnd('settings + directory lookup', clock);
    const placed = placedNow ?? (await placing!);
    const { request } = placed;
    let verdict = placed.verdict;
    const crossOrg = request.principal.orgId !== request.resource.orgId;
    let snapshot: SettingsSnapshot | null = null;
    // Another organization's settings can never decide (the policy denies cross_org
    // first), so they are not read: a caller cannot make this sidecar fetch and cache
    // any organization's settings it likes, and the record cannot carry them.
    if (!verdict && !crossOrg) {
      try {
        if (stagesOn) clock = stageClock();
        const { orgId, workspaceId } = request.resource;
        const cached = this.store.peekSnapshot?.(orgId, workspaceId, options.minSettingsVersion);
        const reading = cached ? undefined : this.store.snapshot(orgId, workspaceId, options.minSettingsVersion);
        if (stagesOn) stageEnd('settings + directory lookup', clock);
        snapshot = cached ?? (await reading!);
      } catch (error) {
        if (error instanceof SettingsStaleError) throw settingsStale(error);
        this.metrics.settingsErrors.inc();
        this.settingsOutage.note(error, request.resource.orgId);
        // Every decision, not only those a setting decides: which decisions need no
        // setting is the policy's to say, and a bundle may change it.
        if (!this.failOpen) verdict = denied(SETTINGS_UNAVAILABLE);
      }
    }
    lookup?.end();
    // The engine is read after the await, so a decision uses one bundle from here on.
    const engine = this.policy.require();
    const settings = snapshot ? { org: snapshot.org, workspace: snapshot.workspace } : NO_SETTINGS;
    const input = { principal: request.principal, action: request.action, resource: request.resource, settings };
    let decision: PolicyDecision;
    let failure: unknown;
    const evaluation = verdict ? undefined : trace?.child('portcullis.evaluate');
    const evalStarted = performance.now();
    try {
      if (verdict) decision = verdict;
      else {
        if (stagesOn) clock = stageClock();
        const inputJson = JSON.stringify(input);
        if (stagesOn) clock = stageEnd('input encoding', clock);
        decision = this.cache.decide(engine, inputJson);
      }
    } catch (error) {
      failure = error;
      decision = denied(EVALUATION_FAILED);
    }
    const evalNs = verdict ? undefined : Math.round((performance.now() - evalStarted) * 1e6);
    evaluation?.end();

    // The decision is this request's own object (parsed from the WASM's answer or made
    // here), so it becomes the answer in place rather than by a copy.
    const answer = decision as DecisionAnswer;
    answer.decisionId = decisionId;
    answer.bundleRevision = engine.revision;
    if (snapshot) answer.settingsVersion = snapshot.version;
    const latencySeconds = (performance.now() - started) / 1000;
    if (stagesOn) clock = stageClock();
    this.metrics.countDecision(api, answer.allow, answer.reason);
    this.metrics.decisionSeconds.observe(latencySeconds);
    if (stagesOn) clock = stageEnd('metrics', clock);
    const record = toRecord(answer, input, api, snapshot, latencySeconds, options);
    record.log = logDetails(answer.message, evalNs, options);
    const family = answer.setting ? engine.families.familyOf(answer.setting)?.name : undefined;
    if (family) record.family = family;
    // Anyone can name any organization: a record the directory did not place in its own
    // organization (workspace unknown, unreadable, or another organization's) goes to the
    // audit's unverified bucket, so made-up organizations never displace known ones.
    if (placed.orgUnverified || (this.workspaceDirectory && crossOrg)) record.orgUnverified = true;
    trace?.finish(record, failure !== undefined);
    this.audit.record(record);
    if (stagesOn) stageEnd('record building', clock);
    if (failure !== undefined) {
      this.log.error({ err: failure, decisionId, api }, 'policy evaluation failed');
      throw new ApiError(500, CODE.evaluation_failed, `the policy could not be evaluated; decision ${decisionId} was recorded as denied`, [], { decisionId });
    }
    return answer;
  }

  /**
   * Every cell of a principal's workspaces x types x actions, evaluated by the policy's
   * permissions entrypoint in one call. Each workspace is placed by the workspace directory
   * as a decision is (placeInDirectory) and read with the settings a decision would use, and
   * a cell decided outside the policy (the directory's denial, settings unreadable) is the
   * denial decide() would give: each cell equals the decision of the same request. Recorded
   * as one audit record whose summary counts the cells.
   */
  async permissions(asked: PermissionsRequest, options: DecideOptions = {}): Promise<PermissionsAnswer> {
    const started = performance.now();
    const { principal } = asked;
    const decisionId = this.newDecisionId(principal.orgId);
    const places: Record<string, { orgId: string; settings: typeof NO_SETTINGS }> = Object.create(null);
    const verdicts = new Map<string, PolicyDecision>();
    const unread = new Set<string>();
    let oldest: number | null = null;
    await Promise.all(
      asked.workspaceIds.map(async (workspaceId) => {
        const probe: AuthorizeRequest = { principal, action: 'read', resource: { type: asked.resourceTypes[0]!, orgId: principal.orgId, workspaceId } };
        const { request, verdict } = await this.placeInDirectory(probe);
        if (verdict) return void verdicts.set(workspaceId, verdict);
        const orgId = request.resource.orgId;
        // As in decide(): another organization's settings are never read.
        if (orgId !== principal.orgId) return void (places[workspaceId] = { orgId, settings: NO_SETTINGS });
        try {
          const snapshot = await this.store.snapshot(orgId, workspaceId, options.minSettingsVersion);
          places[workspaceId] = { orgId, settings: { org: snapshot.org, workspace: snapshot.workspace } };
          oldest = oldest === null ? snapshot.version : Math.min(oldest, snapshot.version);
        } catch (error) {
          if (error instanceof SettingsStaleError) throw settingsStale(error);
          this.metrics.settingsErrors.inc();
          this.settingsOutage.note(error, orgId);
          places[workspaceId] = { orgId, settings: NO_SETTINGS };
          unread.add(workspaceId);
        }
      }),
    );
    const engine = this.policy.require();
    let matrix: PermissionMatrix;
    try {
      matrix = (engine.evaluate(PERMISSIONS_ENTRYPOINT, { principal, resourceTypes: asked.resourceTypes, actions: asked.actions, workspaces: places }) ??
        {}) as PermissionMatrix;
    } catch (error) {
      this.log.error({ err: error, decisionId, api: 'permissions' }, 'policy evaluation failed');
      throw new ApiError(500, CODE.evaluation_failed, 'the policy could not be evaluated for this permissions request', [], { decisionId });
    }
    const workspaces: PermissionMatrix = Object.create(null);
    let allowed = 0;
    let cells = 0;
    for (const workspaceId of asked.workspaceIds) {
      const verdict = verdicts.get(workspaceId);
      const byType: PermissionMatrix[string] = (workspaces[workspaceId] = Object.create(null));
      for (const type of asked.resourceTypes) {
        const byAction: Record<string, PermissionCell> = (byType[type] = Object.create(null));
        for (const action of asked.actions) {
          let cell: PermissionCell = verdict ? { allow: false, reason: verdict.reason } : matrix[workspaceId]![type]![action]!;
          // As decide(): unreadable settings deny every cell, not only those a setting decides.
          if (unread.has(workspaceId) && !this.failOpen) cell = { allow: false, reason: SETTINGS_UNAVAILABLE };
          byAction[action] = cell;
          cells++;
          if (cell.allow) allowed++;
        }
      }
    }
    const answer: PermissionsAnswer = { workspaces, settingsVersion: oldest, bundleRevision: engine.revision, decisionId };
    const latencySeconds = (performance.now() - started) / 1000;
    this.metrics.decisionSeconds.observe(latencySeconds);
    const record = permissionsRecord(answer, asked, { allowed, denied: cells - allowed }, latencySeconds, options);
    // Kept in the principal's organization only when the directory placed one of the asked
    // workspaces there; otherwise that organization is the caller's word (as in decide()).
    const placedInOwnOrg = Object.values(places).some((place) => place.orgId === principal.orgId);
    if (this.workspaceDirectory && !placedInOwnOrg) record.orgUnverified = true;
    this.audit.record(record);
    return answer;
  }

  /**
   * Which organization the resource belongs to: the workspace directory's answer, whatever
   * the request says, for every API that decides. A workspace the directory does not know
   * is denied; so is one it cannot place right now (no answer confirmed within the
   * staleness bound): the caller's word is never taken for it. The policy then denies
   * cross_org when the principal is of another organization.
   */
  private async placeInDirectory(request: AuthorizeRequest): Promise<Placed> {
    if (!this.workspaceDirectory) return { request };
    let owner: string | null;
    try {
      owner = await this.store.workspaceOrg(request.resource.workspaceId);
    } catch (error) {
      this.metrics.settingsErrors.inc();
      this.directoryOutage.note(error, request.resource.orgId);
      return { request, verdict: denied(DIRECTORY_UNAVAILABLE), orgUnverified: true };
    }
    return placedIn(request, owner);
  }

  /** placeInDirectory's answer when the store has a trusted cached one (peekWorkspaceOrg); undefined when it must be asked. */
  private placeFromCache(request: AuthorizeRequest): Placed | undefined {
    if (!this.workspaceDirectory) return { request };
    const owner = this.store.peekWorkspaceOrg?.(request.resource.workspaceId);
    return owner === undefined ? undefined : placedIn(request, owner);
  }
}

/** Where the directory's answer (the workspace's organization; null: unknown) places a request. */
function placedIn(request: AuthorizeRequest, owner: string | null): Placed {
  if (owner === null) return { request, verdict: denied(UNKNOWN_WORKSPACE), orgUnverified: true };
  return { request: owner === request.resource.orgId ? request : { ...request, resource: { ...request.resource, orgId: owner } } };
}

let lastMs = 0;
let lastIso = new Date(0).toISOString();
/** The time as ISO 8601, formatted once per millisecond: many decisions share one. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** The decision log's part of a record; the clock read with microseconds, as OPA's event times have more than milliseconds. */
function logDetails(message: string, evalNs: number | undefined, options: DecideOptions): DecisionLogDetails {
  const details: DecisionLogDetails = { message, epochMicros: Math.round((performance.timeOrigin + performance.now()) * 1000) };
  if (options.reqId !== undefined) details.reqId = options.reqId;
  if (options.batchDecisionId !== undefined) details.batchDecisionId = options.batchDecisionId;
  if (options.inputParseNs !== undefined) details.inputParseNs = options.inputParseNs;
  if (evalNs !== undefined) details.evalNs = evalNs;
  return details;
}

/**
 * The record of a decision. A decision about another organization's resource is kept in
 * the principal's organization (whose auditors should see what their people tried), and
 * names the target organization only as OTHER_ORG: neither organization's auditors learn
 * the other's names from it.
 */
function toRecord(
  answer: DecisionAnswer,
  input: DecisionRecord['input'],
  api: DecisionApi,
  snapshot: SettingsSnapshot | null,
  latencySeconds: number,
  options: DecideOptions,
): DecisionRecord {
  const crossOrg = input.principal.orgId !== input.resource.orgId;
  const resource = crossOrg ? { ...input.resource, orgId: OTHER_ORG } : input.resource;
  const recorded = crossOrg ? { ...input, resource } : input;
  const record: DecisionRecord = {
    decisionId: answer.decisionId,
    timestamp: isoNow(),
    api,
    orgId: crossOrg ? input.principal.orgId : input.resource.orgId,
    workspaceId: input.resource.workspaceId,
    principal: input.principal,
    action: input.action,
    resource,
    allow: answer.allow,
    reason: answer.reason,
    bundleRevision: answer.bundleRevision,
    settingsVersion: snapshot?.version ?? null,
    latencyMs: latencySeconds * 1000,
    input: recorded,
  };
  if (answer.setting) record.setting = answer.setting;
  if (answer.source) record.source = answer.source;
  if (answer.scope) record.scope = answer.scope;
  if (answer.visibility) record.visibility = answer.visibility;
  if (answer.visibleTo) record.visibleTo = answer.visibleTo;
  if (options.dryRun) record.dryRun = true;
  if (options.path) record.path = options.path;
  if (options.requestedBy) record.requestedBy = options.requestedBy;
  if (options.gatewayRequest) record.gatewayRequest = options.gatewayRequest;
  return record;
}

/**
 * The one record of a permissions call. Its cells are many decisions, so the record holds
 * their summary (counts and the workspaces asked) rather than each: `allow` says that every
 * cell allowed, the resource and action are "*" (all that were asked), and the workspace is
 * the first one asked (each is listed in `permissions.workspaceIds`).
 */
function permissionsRecord(
  answer: PermissionsAnswer,
  asked: PermissionsRequest,
  counts: { allowed: number; denied: number },
  latencySeconds: number,
  options: DecideOptions,
): DecisionRecord {
  const { principal } = asked;
  const resource = { type: '*', orgId: principal.orgId, workspaceId: asked.workspaceIds[0] ?? '*' };
  const record: DecisionRecord = {
    decisionId: answer.decisionId,
    timestamp: isoNow(),
    api: 'permissions',
    orgId: principal.orgId,
    workspaceId: resource.workspaceId,
    principal,
    action: '*',
    resource,
    allow: counts.denied === 0,
    reason: PERMISSIONS_SUMMARY,
    bundleRevision: answer.bundleRevision,
    settingsVersion: answer.settingsVersion,
    latencyMs: latencySeconds * 1000,
    input: { principal, action: '*', resource, settings: NO_SETTINGS } as unknown as DecisionRecord['input'],
    permissions: { workspaceIds: asked.workspaceIds, resourceTypes: asked.resourceTypes, actions: asked.actions, ...counts },
  };
  if (options.requestedBy) record.requestedBy = options.requestedBy;
  return record;
}
