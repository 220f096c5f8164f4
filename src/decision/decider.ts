// The decision path: settings (cache, then store) -> WASM evaluation -> answer, with
// the audit record handed off without waiting. Every API that decides comes here.
import type { Logger } from 'pino';
import { newDecisionId } from '../audit/keys.ts';
import type { AuditSink, DecisionApi, DecisionLogDetails, DecisionRecord, GatewayRequestContext } from '../audit/record.ts';
import type { ActivePolicy } from '../engine/active.ts';
import type { PolicyDecision } from '../engine/engine.ts';
import type { Metrics } from '../metrics.ts';
import type { SettingsSnapshot, SettingsStore } from '../settings/types.ts';
import { ApiError } from '../errors.ts';
import type { TraceHeaders, Tracing } from '../tracing.ts';
import type { AuthorizeRequest } from './request.ts';

/** The answer of DESIGN.md §2: the policy's decision plus its id and the bundle revision. */
export interface DecisionAnswer extends PolicyDecision {
  decisionId: string;
  bundleRevision: string;
}

export interface DecideOptions {
  /** Recorded with the decision; the answer is the real decision either way. */
  dryRun?: boolean;
  /**
   * What the workspace directory says about the resource's organization:
   *   checks  (default; the decision APIs) the request names it, and a workspace the
   *           directory places in another organization is decided cross_org;
   *   decides (gateways) it is the directory's answer whatever the request says, and a
   *           workspace the directory does not know is denied unknown_workspace;
   *   off     (GATEWAY_WORKSPACE_DIRECTORY=off) the request's, unchecked.
   */
  workspaceDirectory?: 'checks' | 'decides' | 'off';
  /** The OPA data path asked, recorded for the decision log. */
  path?: string;
  /** The caller's W3C trace context, which the decision's span joins (when tracing is on). */
  trace?: TraceHeaders;
  /** The client's address (host:port), recorded as the decision log's requested_by. */
  requestedBy?: string;
  /** The gateways' original request, recorded for the decision log. */
  gatewayRequest?: GatewayRequestContext;
  /** For the decision log: the asking HTTP request's number, the batch's id, how long parsing the input took. */
  reqId?: number;
  batchDecisionId?: string;
  inputParseNs?: number;
}

const SETTINGS_UNAVAILABLE = 'settings_unavailable';
const NO_SETTINGS = { org: {}, workspace: {} };
/** Stands for the target organization in a cross-organization record (see toRecord). */
export const OTHER_ORG = '[another organization]';

/** A decision made before the policy: the workspace directory already answers it. */
const denied = (reason: string, message: string): PolicyDecision => ({ allow: false, reason, message });

export class Decider {
  /** The active bundle's revision (503 while none is active). */
  bundleRevision(): string {
    return this.policy.require().revision;
  }

  /** The resource types a request may name: the active bundle's (503 while none is active). */
  resourceTypes(): readonly string[] {
    return this.policy.require().families.resourceTypes;
  }

  constructor(
    private readonly policy: ActivePolicy,
    private readonly store: SettingsStore,
    private readonly audit: AuditSink,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Decide with the default settings when they cannot be read (explicit opt-in, logged at start). */
    private readonly failOpen = false,
    /** Absent unless OTEL_* configures an exporter: then the decision path makes no tracer call. */
    private readonly tracing?: Tracing,
  ) {}

  private unavailableSinceLog = 0;
  private lastUnavailableLog = 0;

  /** During an outage every decision fails to read settings: say so once a second, with a count. */
  private warnSettingsUnavailable(error: unknown, orgId: string): void {
    this.unavailableSinceLog++;
    const now = Date.now();
    if (now - this.lastUnavailableLog < 1000) return;
    this.log.warn({ err: error, orgId, decisions: this.unavailableSinceLog }, 'settings unavailable; deciding without them');
    this.unavailableSinceLog = 0;
    this.lastUnavailableLog = now;
  }

  async decide(asked: AuthorizeRequest, api: DecisionApi, options: DecideOptions = {}): Promise<DecisionAnswer> {
    const started = performance.now();
    // The record is kept in the principal's organization (toRecord); the id says where.
    const decisionId = newDecisionId(asked.principal.orgId);
    const trace = this.tracing?.startDecision(options.trace);
    const lookup = trace?.child('portcullis.settings');
    const { request, verdict } = await this.placeInDirectory(asked, options);
    const crossOrg = request.principal.orgId !== request.resource.orgId;
    let snapshot: SettingsSnapshot | null = null;
    // Another organization's settings can never decide (the policy denies cross_org
    // first), so they are not read: a caller cannot make this sidecar fetch and cache
    // any organization's settings it likes, and the record cannot carry them.
    if (!verdict && !crossOrg) {
      try {
        snapshot = await this.store.snapshot(request.resource.orgId, request.resource.workspaceId);
      } catch (error) {
        this.metrics.settingsErrors.inc();
        this.warnSettingsUnavailable(error, request.resource.orgId);
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
      decision = verdict ?? engine.decide(input);
    } catch (error) {
      failure = error;
      decision = denied(EVALUATION_FAILED, 'The policy could not be evaluated for this request; denied.');
    }
    const evalNs = verdict ? undefined : Math.round((performance.now() - evalStarted) * 1e6);
    evaluation?.end();
    if (!snapshot && !verdict && !crossOrg && decision.setting && !this.failOpen) decision = failClosed(decision);

    // The decision is this request's own object (parsed from the WASM's answer or made
    // here), so it becomes the answer in place rather than by a copy.
    const answer = decision as DecisionAnswer;
    answer.decisionId = decisionId;
    answer.bundleRevision = engine.revision;
    const latencySeconds = (performance.now() - started) / 1000;
    this.metrics.countDecision(api, answer.allow, answer.reason);
    this.metrics.decisionSeconds.observe(latencySeconds);
    const record = toRecord(answer, input, api, snapshot, latencySeconds, options);
    record.log = logDetails(answer.message, evalNs, options);
    const family = answer.setting ? engine.families.familyOf(answer.setting)?.name : undefined;
    if (family) record.family = family;
    trace?.finish(record, failure !== undefined);
    this.audit.record(record);
    if (failure !== undefined) {
      this.log.error({ err: failure, decisionId, api }, 'policy evaluation failed');
      throw new ApiError(500, EVALUATION_FAILED, `the policy could not be evaluated; decision ${decisionId} was recorded as denied`, [], { decisionId });
    }
    return answer;
  }

  /**
   * Which organization the resource belongs to, by the workspace directory. Gateways take
   * the directory's answer whatever the request says (an unknown workspace is denied);
   * the decision APIs keep the caller's organization, but a directory that knows the
   * workspace under another organization makes the decision cross_org.
   */
  private async placeInDirectory(request: AuthorizeRequest, options: DecideOptions): Promise<{ request: AuthorizeRequest; verdict?: PolicyDecision }> {
    const directory = options.workspaceDirectory ?? 'checks';
    if (directory === 'off') return { request };
    const { workspaceId, orgId } = request.resource;
    let owner: string | null;
    try {
      owner = await this.store.workspaceOrg(workspaceId);
    } catch (error) {
      this.metrics.settingsErrors.inc();
      this.warnSettingsUnavailable(error, orgId);
      // Without the directory a gateway cannot know whose workspace it is: deny. The
      // decision APIs' caller named the organization; the directory only cross-checks it.
      if (directory === 'checks') return { request };
      return { request, verdict: denied(SETTINGS_UNAVAILABLE, 'The workspace directory cannot be read right now; denied until it can.') };
    }
    if (directory === 'decides') {
      if (owner === null) return { request, verdict: denied('unknown_workspace', `Workspace ${workspaceId} is not in the workspace directory.`) };
      return { request: owner === orgId ? request : { ...request, resource: { ...request.resource, orgId: owner } } };
    }
    // The policy denies cross_org whenever the principal's and the resource's organizations
    // differ: a workspace of another organization is decided so, and recorded so.
    if (owner !== null && owner !== orgId && request.principal.orgId !== owner) {
      return { request: { ...request, resource: { ...request.resource, orgId: owner } } };
    }
    return { request };
  }
}

const EVALUATION_FAILED = 'evaluation_failed';

/** Reasons of decisions made without evaluating the policy on the recorded input (replay skips them). */
export const DECIDED_OUTSIDE_POLICY: ReadonlySet<string> = new Set([SETTINGS_UNAVAILABLE, 'unknown_workspace', EVALUATION_FAILED]);

/** A setting decided but the settings could not be read: deny rather than guess. */
function failClosed(decision: PolicyDecision): PolicyDecision {
  return {
    allow: false,
    reason: SETTINGS_UNAVAILABLE,
    message: 'The organization settings that decide this request cannot be read right now; denied until they can.',
    ...(decision.setting ? { setting: decision.setting } : {}),
  };
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
  if (options.dryRun) record.dryRun = true;
  if (options.path) record.path = options.path;
  if (options.requestedBy) record.requestedBy = options.requestedBy;
  if (options.gatewayRequest) record.gatewayRequest = options.gatewayRequest;
  return record;
}
