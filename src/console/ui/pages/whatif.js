// What-if: a draft of an organization's settings and of the overrides of the workspaces
// opened (one at a time, from the directory's list; not saved), replayed over a time range of
// recorded decisions (POST /v1/audit/replay). The replay decides each recorded request twice,
// with the settings stored now and with the draft on top of them, so the flips it lists are
// the draft's own. The draft is kept as the edits made (merge patches), put on the settings
// as read again when the replay runs: a change someone saved meanwhile is in both sides.
// "Apply draft" saves it with If-Match. The replay sits in a side panel beside the draft.
import { api } from '../api.js';
import { formatTime, fromLocalInput, html, navigate, orgOf, toLocalInput, useState, useUnsaved, useEffect } from '../lib.js';
import { labelsOf, settingText } from '../labels.js';
import { ConflictView } from '../components/conflict.js';
import { FamilySection } from '../components/family.js';
import { EmptyOrgNote, ErrorNote, has, ScopeNote } from '../components/notes.js';
import { OrgPicker } from '../components/orgpicker.js';
import { WorkspaceSection } from '../components/workspace.js';
import { WorkspaceList } from '../components/workspaces.js';
import { loadOrg, loadWorkspace } from '../settings-state.js';

const DAY_MS = 24 * 3600 * 1000;

export function WhatIfPage({ who, params }) {
  const orgId = orgOf(params) ?? (who?.orgs?.length === 1 ? who.orgs[0] : null);
  const ready = has(who, 'audit:read') && has(who, 'settings:read');
  return html`
    <h1>What-if${orgId ? html` for <span class="org-name">${orgId}</span>` : ''}</h1>
    <${OrgPicker} who=${who} orgId=${orgId} onPick=${(org) => navigate('whatif', { orgId: org })} />
    <${ScopeNote} who=${who} scope="audit:read" doing="replay recorded decisions" />
    <${ScopeNote} who=${who} scope="settings:read" doing="read the settings to draft from" />
    ${orgId && ready && html`<${Draft} key=${orgId} who=${who} orgId=${orgId} params=${params} />`}
  `;
}

/** Merges a JSON merge patch into a copy of `target` (null removes). */
function merged(target, patch) {
  const out = { ...(target ?? {}) };
  for (const [key, value] of Object.entries(patch ?? {})) {
    if (value === null) delete out[key];
    else if (typeof value === 'object' && !Array.isArray(value)) out[key] = merged(out[key], value);
    else out[key] = value;
  }
  return out;
}

const same = (a, b) => JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});

function Draft({ who, orgId, params }) {
  const [loaded, setLoaded] = useState(null);
  /** The edits, per family: merge patches on the settings as read. */
  const [edits, setEdits] = useState({});
  /** The workspaces opened, as read ({stored, etag}), and their edits: {workspace: {family: patch}}. */
  const [workspaces, setWorkspaces] = useState({});
  const [wsEdits, setWsEdits] = useState({});
  const [opened, setOpened] = useState(null);
  const [workspaceCount, setWorkspaceCount] = useState(null);
  const [from, setFrom] = useState(params.get('from') ?? new Date(Date.now() - DAY_MS).toISOString().slice(0, 16) + ':00Z');
  const [to, setTo] = useState(params.get('to') ?? '');
  const [report, setReport] = useState(null);
  const [error, setError] = useState(null);
  const [conflict, setConflict] = useState(null);
  const [status, setStatus] = useState('');
  const canWrite = has(who, 'settings:write');

  const drafted = (state, family) => merged(state.org[family], edits[family]);
  const changedFamilies = loaded ? loaded.families.filter((f) => !same(drafted(loaded, f.name), loaded.org[f.name])) : [];
  const draftedWs = (stored, ws, family) => merged(stored[family], wsEdits[ws]?.[family]);
  /** [workspace, family] of every workspace document the draft changes. */
  const changedWs = Object.entries(workspaces).flatMap(([ws, read]) =>
    Object.keys(wsEdits[ws] ?? {})
      .filter((family) => !same(draftedWs(read.stored, ws, family), read.stored[family]))
      .map((family) => [ws, family]),
  );
  const changed = changedFamilies.length > 0 || changedWs.length > 0;
  useUnsaved(changed ? `The what-if draft for ${orgId} is not saved` : null);

  const reload = async () => {
    try {
      const state = await loadOrg(orgId);
      setLoaded(state);
      setEdits({});
      setWsEdits({});
      setWorkspaces(opened ? { [opened]: await loadWorkspace(orgId, opened, state.families) } : {});
      setConflict(null);
      setReport(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    reload();
  }, [orgId]);
  if (!loaded) return html`<${ErrorNote} error=${error} />${!error && html`<p>Loading ${orgId}…</p>`}`;

  const run = async (event) => {
    event.preventDefault();
    setError(null);
    setStatus('Replaying…');
    try {
      // The draft's families, as its edits make them of the settings stored now.
      const now = await loadOrg(orgId);
      const settings = Object.fromEntries(changedFamilies.map((f) => [f.name, drafted(now, f.name)]));
      const wsDocs = {};
      for (const [ws, family] of changedWs) {
        const { stored } = await loadWorkspace(orgId, ws, now.families);
        wsDocs[ws] = { ...wsDocs[ws], [family]: draftedWs(stored, ws, family) };
      }
      const filter = { orgId, from, ...(to ? { to } : {}) };
      const candidate = changed ? { settings: { orgs: { [orgId]: { settings, workspaces: wsDocs } } } } : {};
      setReport(await api.replay({ filter, ...candidate, examples: 1000 }));
      setStatus('');
      navigate('whatif', { orgId, from, to }, { replace: true });
    } catch (e) {
      setStatus('');
      setError(e);
    }
  };

  const apply = async () => {
    setError(null);
    let etag = loaded.etag;
    try {
      for (const family of changedFamilies) etag = (await api.putOrgSettings(orgId, family.name, drafted(loaded, family.name), etag)).etag;
      for (const [ws, family] of changedWs) etag = (await api.putWorkspaceSettings(orgId, ws, family, draftedWs(workspaces[ws].stored, ws, family), etag)).etag;
      await reload();
      setStatus('The draft is saved: it is now the live settings.');
    } catch (e) {
      if (e.status === 412) setConflict({ attempted: 'apply the draft', then: { ...loaded, stored: {} }, now: { ...(await loadOrg(orgId)), stored: {} } });
      else setError(e);
    }
  };

  const edit = (family, patch) => setEdits({ ...edits, [family]: merged(edits[family], patch) });
  const editWorkspace = (ws) => (family, patch) => setWsEdits({ ...wsEdits, [ws]: { ...wsEdits[ws], [family]: merged(wsEdits[ws]?.[family], patch) } });
  const open = async (ws) => {
    setOpened(ws);
    try {
      if (!workspaces[ws]) setWorkspaces({ ...workspaces, [ws]: await loadWorkspace(orgId, ws, loaded.families) });
    } catch (e) {
      setError(e);
    }
  };
  const draftedOrg = Object.fromEntries(loaded.families.map((f) => [f.name, drafted(loaded, f.name)]));
  const labels = labelsOf(loaded.families);

  return html`
    <${EmptyOrgNote} orgId=${orgId} nothingStored=${loaded.nothingStored} workspaceCount=${workspaceCount} />
    <${ConflictView} conflict=${conflict} onReload=${reload} />
    <${ErrorNote} error=${error} />
    <div class="whatif">
      <aside class="replay-panel" aria-labelledby="replay-title">
        <h2 id="replay-title">Replay the draft</h2>
        <p class="muted">${
          changed
            ? `The draft changes ${[...changedFamilies.map((f) => f.label), ...[...new Set(changedWs.map(([ws]) => ws))].map((ws) => `workspace ${ws}`)].join(', ')}.`
            : 'The draft is the live settings: change something, or replay to see that nothing flips.'
        }</p>
        <form class="filters" aria-label="Replay range" onSubmit=${run}>
          <div class="field"><label for="w-from">From (UTC)</label><input id="w-from" type="datetime-local" required value=${toLocalInput(from)} onInput=${(e) => setFrom(fromLocalInput(e.target.value))} /></div>
          <div class="field"><label for="w-to">To (UTC)</label><input id="w-to" type="datetime-local" value=${toLocalInput(to)} onInput=${(e) => setTo(fromLocalInput(e.target.value))} /></div>
          <div class="field actions">
            <button type="submit">Run the replay</button>
            <button type="button" class="secondary" disabled=${!canWrite || !changed || Boolean(conflict)} onClick=${apply}>Apply draft</button>
          </div>
        </form>
        <p class="status" role="status">${status}</p>
        ${report && html`<${Report} report=${report} labels=${labels} />`}
      </aside>
      <section class="draft" aria-labelledby="draft-title">
        <h2 id="draft-title">Draft (not saved)</h2>
        ${loaded.families.map(
          (family) =>
            html`<${FamilySection} family=${family} stored=${draftedOrg[family.name]} canWrite=${true} save=${(patch) => edit(family.name, patch)} />`,
        )}
        <${WorkspaceList} orgId=${orgId} selected=${opened} onOpen=${open} onLoaded=${setWorkspaceCount} />
        ${
          opened &&
          workspaces[opened] &&
          html`<${WorkspaceSection} workspaceId=${opened} families=${loaded.families} orgStored=${draftedOrg}
            stored=${Object.fromEntries(Object.keys(workspaces[opened].stored).map((f) => [f, draftedWs(workspaces[opened].stored, opened, f)]))}
            effective=${null} canWrite=${true} save=${editWorkspace(opened)} />`
        }
      </section>
    </div>
  `;
}

function Report({ report, labels }) {
  const flips = report.flips.allowToDeny + report.flips.denyToAllow;
  const outcome = (o) => `${o.allow ? 'allow' : 'deny'} (${o.reason}${o.setting ? `: ${settingText(labels, o.setting, o.source)}` : ''})`;
  return html`
    <section class="report" aria-labelledby="report-title">
      <h3 id="report-title">${flips} ${flips === 1 ? 'decision' : 'decisions'} would flip</h3>
      <p>Each recorded request is decided with the settings stored now and with the draft on top: only what the draft changes is counted.</p>
      <p>${report.evaluated} re-evaluated (allow → deny ${report.flips.allowToDeny}, deny → allow ${report.flips.denyToAllow}), ${report.unchanged} unchanged, ${report.skipped + report.otherRevision} not replayed${report.maskedInputs ? `, ${report.maskedInputs} with masked inputs` : ''}.</p>
      ${
        report.skips.length > 0 &&
        html`<h4>Not replayed</h4><ul aria-label="Why records were not replayed">${report.skips.map((s) => html`<li>${s.count} <code>${s.kind}</code>: ${s.message}</li>`)}</ul>`
      }
      ${
        Object.keys(report.byReason).length > 0 &&
        html`<h4>By reason</h4><ul>${Object.entries(report.byReason).map(([k, n]) => html`<li><code>${k}</code>: ${n}</li>`)}</ul>`
      }
      ${
        report.examples.length > 0 &&
        html`<ol class="flips" aria-label="Flipped decisions">${report.examples.map(
          (f) => html`<li data-decision=${f.decisionId}>
            <p>${formatTime(f.timestamp)} · ${f.principalId} in ${f.workspaceId}: ${f.action} ${f.resourceType}</p>
            <dl><dt>Now</dt><dd>${outcome(f.before)}</dd><dt>With the draft</dt><dd>${outcome(f.after)}</dd></dl>
          </li>`,
        )}</ol>`
      }
      ${report.examples.length < flips && html`<p class="muted">Showing ${report.examples.length} of ${flips} flips.</p>`}
    </section>
  `;
}
