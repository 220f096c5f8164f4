// Security settings: an organization picker, then one section per permission family with
// the product's labels, each workspace's effective values and sources, and the history.
import { api } from '../api.js';
import { html, navigate, useEffect, useState } from '../lib.js';
import { AccessPanel } from '../components/access.js';
import { ConflictView } from '../components/conflict.js';
import { FamilySection } from '../components/family.js';
import { HistoryPanel } from '../components/history.js';
import { ErrorNote, has, ScopeNote } from '../components/notes.js';
import { OrgPicker } from '../components/orgpicker.js';
import { WorkspaceSection } from '../components/workspace.js';
import { loadOrg } from '../settings-state.js';

export function SettingsPage({ who, params }) {
  const orgId = params.get('org') ?? (who?.orgs?.length === 1 ? who.orgs[0] : null);
  return html`
    <h1>Security settings</h1>
    <${OrgPicker} who=${who} orgId=${orgId} onPick=${(org) => navigate('settings', { org })} />
    <${ScopeNote} who=${who} scope="settings:read" doing="read settings" />
    ${orgId && has(who, 'settings:read') && html`<${OrgSettings} key=${orgId} who=${who} orgId=${orgId} />`}
  `;
}

function OrgSettings({ who, orgId }) {
  const [state, setState] = useState(null);
  const [error, setError] = useState(null);
  const [conflict, setConflict] = useState(null);
  const [saved, setSaved] = useState(null);
  const [revision, setRevision] = useState(0);
  const canWrite = has(who, 'settings:write');

  const reload = async () => {
    try {
      setState(await loadOrg(orgId));
      setConflict(null);
      setError(null);
    } catch (e) {
      setError(e);
    }
    setRevision((r) => r + 1);
  };
  useEffect(() => {
    reload();
  }, [orgId]);

  /** Sends a merge patch with If-Match; a 412 shows the conflict view instead. */
  const saveWith = async (send, attempted) => {
    try {
      await send(state.etag);
      setSaved(`Saved: ${attempted}`);
      await reload();
    } catch (e) {
      if (e.status === 412) setConflict({ attempted, then: state, now: await loadOrg(orgId) });
      else setError(e);
    }
  };

  if (!state) return html`<${ErrorNote} error=${error} />${!error && html`<p>Loading ${orgId}…</p>`}`;
  return html`
    <${ScopeNote} who=${who} scope="settings:write" doing="change settings" />
    <${ConflictView} conflict=${conflict} onReload=${reload} />
    <${ErrorNote} error=${error} />
    <p class="status" role="status">${saved ?? ''}</p>
    <div class="columns">
      <div>
        ${state.families.map(
          (family) => html`<${FamilySection} family=${family} stored=${state.org[family.name]} canWrite=${canWrite && !conflict}
            save=${(patch, what) => saveWith((etag) => api.patchOrgSettings(orgId, family.name, patch, etag), what)} />`,
        )}
        <h2>Workspaces</h2>
        ${state.workspaces.length === 0 && html`<p class="muted">No workspace of ${orgId} is registered.</p>`}
        ${state.workspaces.map(
          (ws) => html`<${WorkspaceSection} workspaceId=${ws} families=${state.families} orgStored=${state.org} stored=${state.stored[ws]}
            effective=${state.effective[ws]} canWrite=${canWrite && !conflict}
            save=${(family, patch, what) => saveWith((etag) => api.patchWorkspaceSettings(orgId, ws, family, patch, etag), what)} />
            <${AccessPanel} orgId=${orgId} workspaceId=${ws} families=${state.families} orgStored=${state.org} refresh=${revision} />`,
        )}
      </div>
      ${has(who, 'audit:read') ? html`<${HistoryPanel} orgId=${orgId} refresh=${revision} />` : html`<${ScopeNote} who=${who} scope="audit:read" doing="show the history" />`}
    </div>
  `;
}
