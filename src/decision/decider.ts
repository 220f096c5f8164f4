// The decision path: settings (cache, then store) -> WASM evaluation -> answer, with
// the audit record handed off without waiting. Every API that decides comes here.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditSink, DecisionApi, DecisionRecord } from '../audit/record.ts';
import type { ActivePolicy } from '../engine/active.ts';
import type { PolicyDecision } from '../engine/engine.ts';
import type { Metrics } from '../metrics.ts';
import type { SettingsSnapshot, SettingsStore } from '../settings/types.ts';
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
   * Gateways: the resource's organization is the workspace directory's answer, whatever
   * the request says; a workspace the directory does not know is denied unknown_workspace.
   */
  orgFromDirectory?: boolean;
}

const SETTINGS_UNAVAILABLE = 'settings_unavailable';
const NO_SETTINGS = { org: {}, workspace: {} };

export class Decider {
  constructor(
    private readonly policy: ActivePolicy,
    private readonly store: SettingsStore,
    private readonly audit: AuditSink,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Decide with the default settings when they cannot be read (explicit opt-in, logged at start). */
    private readonly failOpen = false,
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

  async decide(request: AuthorizeRequest, api: DecisionApi, options: DecideOptions = {}): Promise<DecisionAnswer> {
    const started = performance.now();
    let snapshot: SettingsSnapshot | null = null;
    try {
      snapshot = await this.store.snapshot(request.resource.orgId, request.resource.workspaceId);
    } catch (error) {
      this.metrics.settingsErrors.inc();
      this.warnSettingsUnavailable(error, request.resource.orgId);
    }
    // The engine is read after the await, so a decision uses one bundle from here on.
    const engine = this.policy.require();
    const settings = snapshot ? { org: snapshot.org, workspace: snapshot.workspace } : NO_SETTINGS;
    const input = { principal: request.principal, action: request.action, resource: request.resource, settings };
    let decision = engine.decide(input);
    if (!snapshot && decision.setting && !this.failOpen) decision = failClosed(decision);

    const answer: DecisionAnswer = { ...decision, decisionId: randomUUID(), bundleRevision: engine.revision };
    const latencySeconds = (performance.now() - started) / 1000;
    this.metrics.decisions.labels(api, String(answer.allow), answer.reason).inc();
    this.metrics.decisionSeconds.observe(latencySeconds);
    this.audit.record(toRecord(answer, input, api, snapshot, latencySeconds, options));
    return answer;
  }
}

/** A setting decided but the settings could not be read: deny rather than guess. */
function failClosed(decision: PolicyDecision): PolicyDecision {
  return {
    allow: false,
    reason: SETTINGS_UNAVAILABLE,
    message: 'The organization settings that decide this request cannot be read right now; denied until they can.',
    ...(decision.setting ? { setting: decision.setting } : {}),
  };
}

function toRecord(
  answer: DecisionAnswer,
  input: DecisionRecord['input'],
  api: DecisionApi,
  snapshot: SettingsSnapshot | null,
  latencySeconds: number,
  options: DecideOptions,
): DecisionRecord {
  const record: DecisionRecord = {
    decisionId: answer.decisionId,
    timestamp: new Date().toISOString(),
    api,
    orgId: input.resource.orgId,
    workspaceId: input.resource.workspaceId,
    principal: input.principal,
    action: input.action,
    resource: input.resource,
    allow: answer.allow,
    reason: answer.reason,
    bundleRevision: answer.bundleRevision,
    settingsVersion: snapshot?.version ?? null,
    latencyMs: latencySeconds * 1000,
    input,
  };
  if (answer.setting) record.setting = answer.setting;
  if (answer.source) record.source = answer.source;
  if (options.dryRun) record.dryRun = true;
  return record;
}
