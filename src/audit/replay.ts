// What-if replay: recorded decision inputs evaluated again with a candidate bundle and/or
// candidate settings (the settings-as-code document), reporting the decisions that would flip.
// Candidate settings replace the baseline's values for what they name, family by family
// (the candidate bundle's families say which settings and toggles are a family's): a
// family named for an organization replaces the organization's values of that family; a
// family named for a workspace replaces the workspace's. What the file does not name keeps
// the baseline's values.
//
// The baseline is either the recorded decisions as they were made (a candidate bundle is
// compared with what was decided), or, given the current settings, the same requests decided
// again with the settings stored now: then a flip is one the candidate causes, never one a
// change saved since the decisions were recorded caused.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DECIDED_OUTSIDE_POLICY, OUTSIDE_POLICY_MESSAGES } from '../decision/decider.ts';
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
type Settings = DecisionRecord['input']['settings'];

/** The settings stored now for a workspace of an organization: what a decision made now would read. */
export type CurrentSettings = (orgId: string, workspaceId: string) => Promise<Settings>;

/** Why records were not replayed, one entry per kind. */
export interface Skip {
  /** A recorded reason decided outside the policy, or other_revision, other_organization, unreadable. */
  kind: string;
  count: number;
  message: string;
}

const SKIP_MESSAGES: Readonly<Record<string, string>> = {
  other_revision: 'recorded with another bundle revision than the one the replay is limited to',
  other_organization: "a request for a resource of another organization: its settings are not this organization's to replay with",
  unreadable: 'the recorded input cannot be evaluated by the active policy (recorded with another bundle, or masked where the policy reads it)',
};

const skipMessage = (kind: string): string =>
  SKIP_MESSAGES[kind] ?? `decided outside the policy, which the recorded input alone does not decide again: ${OUTSIDE_POLICY_MESSAGES[kind] ?? kind}`;

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
  /** What the flips are counted against: the recorded outcomes, or the same requests decided with the current settings. */
  baseline: 'recorded' | 'current';
  evaluated: number;
  unchanged: number;
  /** Not evaluated: the recorded decision was not the policy's (settings or directory unavailable, unknown workspace, failed evaluation). */
  skipped: number;
  /** Evaluated although some input paths were masked when recorded. */
  maskedInputs: number;
  /** Not evaluated: decided by another bundle revision than the one the replay was limited to. */
  otherRevision: number;
  /** Every record not evaluated, by why (skipped and otherRevision, told apart). */
  skips: Skip[];
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
  private readonly report: Omit<ReplayReport, 'skips' | 'baseline'> = {
    evaluated: 0,
    unchanged: 0,
    skipped: 0,
    maskedInputs: 0,
    otherRevision: 0,
    flips: { allowToDeny: 0, denyToAllow: 0 },
    byReason: {},
    examples: [],
  };
  private readonly skips = new Map<string, number>();
  /** One read of the current settings per workspace: the replay compares with one view of them. */
  private readonly current = new Map<string, Promise<Settings>>();

  constructor(
    private readonly candidate: Candidate,
    private readonly maxExamples = 10,
    /** Replay only the decisions recorded with this bundle revision (the others are counted in otherRevision). */
    private readonly recordedRevision?: string,
    /** Given: the baseline is the current settings, not the recorded outcomes. */
    private readonly currentSettings?: CurrentSettings,
  ) {}

  /** Evaluates one recorded decision; returns the flip, if it flips. */
  async add(record: DecisionRecord): Promise<Flip | undefined> {
    if (this.recordedRevision !== undefined && record.bundleRevision !== this.recordedRevision) {
      this.report.otherRevision++;
      return this.skip('other_revision');
    }
    // Made without settings, or without the policy: replaying them says nothing.
    if (DECIDED_OUTSIDE_POLICY.has(record.reason)) return this.skip(record.reason);
    let baseline: Outcome = record;
    let after: Outcome;
    try {
      if (this.currentSettings) {
        // Another organization's settings are never read for a replay, as a decision never reads them.
        if (record.resource.orgId !== record.orgId || record.principal.orgId !== record.orgId) return this.skip('other_organization');
        const input = { ...record.input, settings: await this.settingsNow(record.orgId, record.workspaceId) };
        baseline = this.candidate.engine.decide(input);
        after = this.candidate.engine.decide(this.candidateInput(record.orgId, record.workspaceId, input));
      } else {
        after = this.candidate.engine.decide(this.candidateInput(record.orgId, record.workspaceId, record.input));
      }
    } catch {
      return this.skip('unreadable');
    }
    this.report.evaluated++;
    if (record.masked && record.masked.length > 0) this.report.maskedInputs++;
    if (after.allow === baseline.allow) {
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
      before: outcome(baseline),
      after: outcome(after),
    };
    this.report.flips[baseline.allow ? 'allowToDeny' : 'denyToAllow']++;
    const key = `${baseline.reason} -> ${after.reason}`;
    this.report.byReason[key] = (this.report.byReason[key] ?? 0) + 1;
    if (this.report.examples.length < this.maxExamples) this.report.examples.push(flip);
    return flip;
  }

  /** Evaluates `records` in slices of at most SLICE_MS, yielding to the event loop between them. */
  async addAll(records: readonly DecisionRecord[]): Promise<void> {
    let sliceStart = performance.now();
    for (const record of records) {
      await this.add(record);
      if (performance.now() - sliceStart >= SLICE_MS) {
        await nextTurn();
        sliceStart = performance.now();
      }
    }
  }

  result(): ReplayReport {
    const skips = [...this.skips].map(([kind, count]) => ({ kind, count, message: skipMessage(kind) }));
    return { baseline: this.currentSettings ? 'current' : 'recorded', ...structuredClone(this.report), skips };
  }

  private skip(kind: string): undefined {
    if (kind !== 'other_revision') this.report.skipped++;
    this.skips.set(kind, (this.skips.get(kind) ?? 0) + 1);
    return undefined;
  }

  private settingsNow(orgId: string, workspaceId: string): Promise<Settings> {
    const key = JSON.stringify([orgId, workspaceId]);
    let settings = this.current.get(key);
    if (!settings) this.current.set(key, (settings = this.currentSettings!(orgId, workspaceId)));
    return settings;
  }

  /** `input` with the candidate's settings for what they name, the input's own for the rest. */
  private candidateInput(orgId: string, workspaceId: string, input: DecisionRecord['input']): DecisionRecord['input'] {
    const org = this.candidate.settings?.orgs.get(orgId);
    if (!org) return input;
    const { families } = this.candidate.engine;
    const recorded = input.settings;
    const workspace = org.workspaces.get(workspaceId) ?? new Map();
    return {
      ...input,
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
