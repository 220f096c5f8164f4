// What-if replay: recorded decision inputs evaluated again with a candidate bundle and/or
// candidate settings (the settings-as-code document), reporting the decisions that would flip.
// Candidate settings replace the recorded snapshot for what they name, family by family
// (the candidate bundle's families say which settings and toggles are a family's): a
// family named for an organization replaces the organization's recorded values of that
// family; a family named for a workspace replaces the workspace's. What the file does not
// name keeps the values it was decided with.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DECIDED_OUTSIDE_POLICY } from '../decision/decider.ts';
import type { PolicyDecision, PolicyEngine } from '../engine/engine.ts';
import type { Families } from '../engine/families.ts';
import { flattenOrg, flattenWorkspace, type FamilyDocument, type OrgSettings, type WorkspaceSettings } from '../settings/types.ts';
import type { SettingsDocument } from '../settings/validate.ts';
import type { DecisionRecord } from '../decision/record.ts';

/**
 * Longest stretch of evaluation between two turns of the event loop. Every decision of every
 * tenant waits behind a replay's synchronous work: a replay of tens of thousands of records
 * gives the loop back this often, so other requests are answered between its slices.
 */
const SLICE_MS = 5;

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
  /** Not evaluated: decided by another bundle revision than the one the replay was limited to. */
  otherRevision: number;
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
    otherRevision: 0,
    flips: { allowToDeny: 0, denyToAllow: 0 },
    byReason: {},
    examples: [],
  };

  constructor(
    private readonly candidate: Candidate,
    private readonly maxExamples = 10,
    /** Replay only the decisions recorded with this bundle revision (the others are counted in otherRevision). */
    private readonly recordedRevision?: string,
  ) {}

  /** Evaluates one recorded decision; returns the flip, if it flips. */
  add(record: DecisionRecord): Flip | undefined {
    if (this.recordedRevision !== undefined && record.bundleRevision !== this.recordedRevision) {
      this.report.otherRevision++;
      return undefined;
    }
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

  /** Evaluates `records` in slices of at most SLICE_MS, yielding to the event loop between them. */
  async addAll(records: readonly DecisionRecord[]): Promise<void> {
    let sliceStart = performance.now();
    for (const record of records) {
      this.add(record);
      if (performance.now() - sliceStart >= SLICE_MS) {
        await nextTurn();
        sliceStart = performance.now();
      }
    }
  }

  result(): ReplayReport {
    return structuredClone(this.report);
  }

  private candidateInput(record: DecisionRecord): DecisionRecord['input'] {
    const org = this.candidate.settings?.orgs.get(record.orgId);
    if (!org) return record.input;
    const { families } = this.candidate.engine;
    const recorded = record.input.settings;
    const workspace = org.workspaces.get(record.workspaceId) ?? new Map();
    return {
      ...record.input,
      settings: {
        org: { ...withoutFamilies(recorded.org, families, [...org.settings.keys()]), ...mergeToggles(recorded.org, families, org.settings) },
        workspace: { ...withoutSettingsOf(recorded.workspace, families, [...workspace.keys()]), ...flattenWorkspace(workspace.values()) },
      },
    };
  }
}

/** The names a family owns in a flat snapshot: its settings, and its toggle(s). */
function ownedBy(families: Families, names: string[]): { settings: Set<string>; toggles: Set<string> } {
  const settings = new Set(names.flatMap((name) => families.get(name)?.settings.map((s) => s.name) ?? []));
  return { settings, toggles: new Set([...settings, ...names]) };
}

function withoutSettingsOf(values: WorkspaceSettings, families: Families, names: string[]): WorkspaceSettings {
  const { settings } = ownedBy(families, names);
  return Object.fromEntries(Object.entries(values).filter(([name]) => !settings.has(name)));
}

/** The recorded org snapshot without the named families' settings and toggles. */
function withoutFamilies(org: OrgSettings, families: Families, names: string[]): OrgSettings {
  const { settings } = ownedBy(families, names);
  return Object.fromEntries(Object.entries(org).filter(([name]) => name !== 'allowWorkspaceOverrides' && !settings.has(name)));
}

/** The candidate's org values of the named families, with the toggles of the others kept from the record. */
function mergeToggles(org: OrgSettings, families: Families, candidate: Map<string, FamilyDocument>): OrgSettings {
  const { toggles } = ownedBy(families, [...candidate.keys()]);
  const kept = Object.entries(org.allowWorkspaceOverrides ?? {}).filter(([name]) => !toggles.has(name));
  const flat = flattenOrg(candidate);
  const merged = { ...Object.fromEntries(kept), ...flat.allowWorkspaceOverrides };
  return Object.keys(merged).length > 0 ? { ...flat, allowWorkspaceOverrides: merged } : flat;
}

function outcome(decision: Outcome): Outcome {
  const out: Outcome = { allow: decision.allow, reason: decision.reason };
  if (decision.setting) out.setting = decision.setting;
  if (decision.source) out.source = decision.source;
  return out;
}
