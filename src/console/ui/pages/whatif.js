// What-if: a draft of an organization's settings (toggles and workspace overrides, not
// saved), replayed over a time range of recorded decisions (POST /v1/audit/replay) to list
// the decisions that would flip; "Apply draft" saves it with If-Match.
import { api } from '../api.js';
import { formatTime, fromLocalInput, html, navigate, toLocalInput, useEffect, useState } from '../lib.js';
import { ConflictView } from '../components/conflict.js';
import { FamilySection } from '../components/family.js';
import { ErrorNote, has, ScopeNote } from '../components/notes.js';
import { OrgPicker } from '../components/orgpicker.js';
import { WorkspaceSection } from '../components/workspace.js';
import { loadOrg } from '../settings-state.js';

const DAY_MS = 24 * 3600 * 1000;

export function WhatIfPage({ who, params }) {
  const orgId = params.get('org') ?? (who?.orgs?.length === 1 ? who.orgs[0] : null);
  const ready = has(who, 'audit:read') && has(who, 'settings:read');
  return html`
    <h1>What-if</h1>
    <${OrgPicker} who=${who} orgId=${orgId} onPick=${(org) => navigate('whatif', { org })} />
    <${ScopeNote} who=${who} scope="audit:read" doing="replay recorded decisions" />
    <${ScopeNote} who=${who} scope="settings:read" doing="read the settings to draft from" />
    ${orgId && ready && html`<${Draft} key=${orgId} who=${who} orgId=${orgId} params=${params} />`}
  `;
}

/** Merges a JSON merge patch into a copy of `target` (null removes). */
function merged(target, patch) {
  const out = { ...(target ?? {}) };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (typeof value === 'object' && !Array.isArray(value)) out[key] = merged(out[key], value);
    else out[key] = value;
  }
  return out;
}

const same = (a, b) => JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});

function Draft({ who, orgId, params }) {
  const [loaded, setLoaded] = useState(null);
  const [draft, setDraft] = useState(null);
  const [from, setFrom] = useState(params.get('from') ?? new Date(Date.now() - DAY_MS).toISOString().slice(0, 16) + ':00Z');
  const [to, setTo] = useState(params.get('to') ?? '');
  const [report, setReport] = useState(null);
  const [error, setError] = useState(null);
  const [conflict, setConflict] = useState(null);
  const [status, setStatus] = useState('');
  const canWrite = has(who, 'settings:write');

  const reload = async () => {
    try {
      const state = await loadOrg(orgId);
      setLoaded(state);
      setDraft({ org: structuredClone(state.org), stored: structuredClone(state.stored) });
      setConflict(null);
      setReport(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    reload();
  }, [orgId]);
  if (!draft) return html`<${ErrorNote} error=${error} />${!error && html`<p>Loading ${orgId}…</p>`}`;

  const document = { orgs: { [orgId]: { settings: draft.org, workspaces: draft.stored } } };
  const changed =
    loaded.families.some((f) => !same(draft.org[f.name], loaded.org[f.name])) || loaded.workspaces.some((ws) => !same(draft.stored[ws], loaded.stored[ws]));

  const run = async (event) => {
    event.preventDefault();
    setError(null);
    setStatus('Replaying…');
    try {
      const filter = { orgId, from };
      if (to) filter.to = to;
      setReport(await api.replay({ filter, settings: document, examples: 1000 }));
      setStatus('');
      navigate('whatif', { org: orgId, from, to }, { replace: true });
    } catch (e) {
      setStatus('');
      setError(e);
    }
  };

  const apply = async () => {
    setError(null);
    let etag = loaded.etag;
    try {
      for (const family of loaded.families) {
        if (!same(draft.org[family.name], loaded.org[family.name])) etag = (await api.putOrgSettings(orgId, family.name, draft.org[family.name], etag)).etag;
      }
      for (const ws of loaded.workspaces) {
        for (const family of loaded.families.filter((f) => f.workspaceOverrides !== 'none')) {
          if (!same(draft.stored[ws][family.name], loaded.stored[ws][family.name]))
            etag = (await api.putWorkspaceSettings(orgId, ws, family.name, draft.stored[ws][family.name], etag)).etag;
        }
      }
      await reload();
      setStatus('The draft is saved: it is now the live settings.');
    } catch (e) {
      if (e.status === 412) setConflict({ attempted: 'apply the draft', then: loaded, now: await loadOrg(orgId) });
      else setError(e);
    }
  };

  const edit = (family, patch) => setDraft({ ...draft, org: { ...draft.org, [family]: merged(draft.org[family], patch) } });
  const editWorkspace = (ws) => (family, patch) =>
    setDraft({ ...draft, stored: { ...draft.stored, [ws]: { ...draft.stored[ws], [family]: merged(draft.stored[ws][family], patch) } } });

  return html`
    <${ConflictView} conflict=${conflict} onReload=${reload} />
    <${ErrorNote} error=${error} />
    <p class="status" role="status">${status}</p>
    <section aria-labelledby="draft-title">
      <h2 id="draft-title">Draft (not saved)</h2>
      <p class="muted">${changed ? 'The draft differs from the live settings.' : 'The draft is the live settings: change something.'}</p>
      ${loaded.families.map((family) => html`<${FamilySection} family=${family} stored=${draft.org[family.name]} canWrite=${true} save=${(patch) => edit(family.name, patch)} />`)}
      ${loaded.workspaces.map(
        (ws) =>
          html`<${WorkspaceSection} workspaceId=${ws} families=${loaded.families} orgStored=${draft.org} stored=${draft.stored[ws]} effective=${null} canWrite=${true} save=${editWorkspace(ws)} />`,
      )}
    </section>
    <form class="filters" aria-label="Replay range" onSubmit=${run}>
      <div class="field"><label for="w-from">From (UTC)</label><input id="w-from" type="datetime-local" required value=${toLocalInput(from)} onInput=${(e) => setFrom(fromLocalInput(e.target.value))} /></div>
      <div class="field"><label for="w-to">To (UTC)</label><input id="w-to" type="datetime-local" value=${toLocalInput(to)} onInput=${(e) => setTo(fromLocalInput(e.target.value))} /></div>
      <div class="field actions">
        <button type="submit">Run the replay</button>
        <button type="button" class="secondary" disabled=${!canWrite || !changed || Boolean(conflict)} onClick=${apply}>Apply draft</button>
      </div>
    </form>
    ${report && html`<${Report} report=${report} />`}
  `;
}

function Report({ report }) {
  const flips = report.flips.allowToDeny + report.flips.denyToAllow;
  return html`
    <section class="report" aria-labelledby="report-title">
      <h2 id="report-title">${flips} ${flips === 1 ? 'decision' : 'decisions'} would flip</h2>
      <p>${report.evaluated} re-evaluated (allow → deny ${report.flips.allowToDeny}, deny → allow ${report.flips.denyToAllow}), ${report.unchanged} unchanged, ${report.skipped} skipped${report.maskedInputs ? `, ${report.maskedInputs} with masked inputs` : ''}.</p>
      ${
        Object.keys(report.byReason).length > 0 &&
        html`<h3>By reason</h3><ul>${Object.entries(report.byReason).map(([k, n]) => html`<li><code>${k}</code>: ${n}</li>`)}</ul>`
      }
      ${
        report.examples.length > 0 &&
        html`<div class="table-scroll"><table aria-label="Flipped decisions">
        <thead><tr><th scope="col">Time</th><th scope="col">Principal</th><th scope="col">Workspace</th><th scope="col">Request</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
        <tbody>${report.examples.map(
          (
            f,
          ) => html`<tr data-decision=${f.decisionId}><td>${formatTime(f.timestamp)}</td><td>${f.principalId}</td><td>${f.workspaceId}</td><td>${f.action} ${f.resourceType}</td>
            <td>${outcome(f.before)}</td><td>${outcome(f.after)}</td></tr>`,
        )}</tbody></table></div>`
      }
      ${report.examples.length < flips && html`<p class="muted">Showing ${report.examples.length} of ${flips} flips.</p>`}
    </section>
  `;
}

const outcome = (o) => `${o.allow ? 'allow' : 'deny'} (${o.reason}${o.source ? `, ${o.source}` : ''})`;
