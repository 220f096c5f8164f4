// What-if replay: recorded decision inputs evaluated again with a candidate bundle and/or
// candidate settings, reporting the decisions that would flip. Candidate settings replace
// the recorded snapshot for what they name: an organization named in the file takes the
// file's organization settings; a workspace named under it takes the file's workspace
// values; a workspace not named keeps the values it was decided with.
import { DECIDED_OUTSIDE_POLICY } from '../decision/decider.ts';
import type { PolicyDecision, PolicyEngine } from '../engine/engine.ts';
import type { SettingsDocument } from '../settings/validate.ts';
import type { DecisionRecord } from './record.ts';


type Outcome = Pick<PolicyDecision, 'allow' | 'reason' | 'setting' | 'source'>;

export interface Flip {
  decisionId: string;
  timestamp: string;
  workspaceId: string;
  principalId: string;
  action: string;
  resourceType: string;
  before: Outcome;
  after: Outcome;
}

export interface ReplayReport {
  evaluated: number;
  unchanged: number;
  /** Not evaluated: the recorded decision was not the policy's (settings or directory unavailable, unknown workspace, failed evaluation). */
  skipped: number;
  /** Evaluated although some input paths were masked when recorded. */
  maskedInputs: number;
  flips: { allowToDeny: number; denyToAllow: number };
  /** "before reason -> after reason": count, over the flips. */
  byReason: Record<string, number>;
  examples: Flip[];
}

export interface Candidate {
  engine: PolicyEngine;
  settings?: SettingsDocument;
}

export class Replay {
  private readonly report: ReplayReport = {
    evaluated: 0,
    unchanged: 0,
    skipped: 0,
    maskedInputs: 0,
    flips: { allowToDeny: 0, denyToAllow: 0 },
    byReason: {},
    examples: [],
  };

  constructor(
    private readonly candidate: Candidate,
    private readonly maxExamples = 10,
  ) {}

  /** Evaluates one recorded decision; returns the flip, if it flips. */
  add(record: DecisionRecord): Flip | undefined {
    // Made without settings, or without the policy: replaying them says nothing.
    if (DECIDED_OUTSIDE_POLICY.has(record.reason)) {
      this.report.skipped++;
      return undefined;
    }
    this.report.evaluated++;
    if (record.masked && record.masked.length > 0) this.report.maskedInputs++;
    const after = this.candidate.engine.decide(this.candidateInput(record));
    if (after.allow === record.allow) {
      this.report.unchanged++;
      return undefined;
    }
    const flip: Flip = {
      decisionId: record.decisionId,
      timestamp: record.timestamp,
      workspaceId: record.workspaceId,
      principalId: record.principal.id,
      action: record.action,
      resourceType: record.resource.type,
      before: outcome(record),
      after: outcome(after),
    };
    this.report.flips[record.allow ? 'allowToDeny' : 'denyToAllow']++;
    const key = `${record.reason} -> ${after.reason}`;
    this.report.byReason[key] = (this.report.byReason[key] ?? 0) + 1;
    if (this.report.examples.length < this.maxExamples) this.report.examples.push(flip);
    return flip;
  }

  result(): ReplayReport {
    return structuredClone(this.report);
  }

  private candidateInput(record: DecisionRecord): DecisionRecord['input'] {
    const org = this.candidate.settings?.orgs.get(record.orgId);
    if (!org) return record.input;
    return {
      ...record.input,
      settings: { org: org.settings, workspace: org.workspaces.get(record.workspaceId) ?? record.input.settings.workspace },
    };
  }
}

function outcome(decision: Outcome): Outcome {
  const out: Outcome = { allow: decision.allow, reason: decision.reason };
  if (decision.setting) out.setting = decision.setting;
  if (decision.source) out.source = decision.source;
  return out;
}
