// Security settings: an organization picker, then one section per permission family with
// the product's labels, the organization's workspaces (searched and paged from the
// directory) with one of them opened at a time, and the history.
import { api } from '../api.js';
import { html, navigate, orgOf, useEffect, useState } from '../lib.js';
import { AccessPanel } from '../components/access.js';
import { ConflictView } from '../components/conflict.js';
import { FamilySection } from '../components/family.js';
import { HistoryPanel } from '../components/history.js';
import { EmptyOrgNote, ErrorNote, has, ScopeNote } from '../components/notes.js';
import { OrgPicker } from '../components/orgpicker.js';
import { WorkspaceSection } from '../components/workspace.js';
import { WorkspaceList } from '../components/workspaces.js';
import { loadOrg, loadWorkspace, olderEtag } from '../settings-state.js';

export function SettingsPage({ who, params }) {
  const orgId = orgOf(params) ?? (who?.orgs?.length === 1 ? who.orgs[0] : null);
  return html`
    <h1>Security settings${orgId ? html` of <span class="org-name">${orgId}</span>` : ''}</h1>
    <${OrgPicker} who=${who} orgId=${orgId} onPick=${(org) => navigate('settings', { orgId: org })} />
    <${ScopeNote} who=${who} scope="settings:read" doing="read settings" />
    ${orgId && has(who, 'settings:read') && html`<${OrgSettings} key=${orgId} who=${who} orgId=${orgId} workspaceId=${params.get('workspaceId')} />`}
  `;
}

function OrgSettings({ who, orgId, workspaceId }) {
  const [state, setState] = useState(null);
  const [opened, setOpened] = useState(null);
  const [workspaceCount, setWorkspaceCount] = useState(null);
  const [error, setError] = useState(null);
  const [conflict, setConflict] = useState(null);
  const [saved, setSaved] = useState(null);
  const [revision, setRevision] = useState(0);
  const canWrite = has(who, 'settings:write');

  const read = async () => {
    const org = await loadOrg(orgId);
    const ws = workspaceId ? await loadWorkspace(orgId, workspaceId, org.families) : null;
    return { org, ws };
  };
  const reload = async () => {
    try {
      const { org, ws } = await read();
      setState(org);
      setOpened(ws);
      setConflict(null);
      setError(null);
    } catch (e) {
      setError(e);
    }
    setRevision((r) => r + 1);
  };
  useEffect(() => {
    reload();
  }, [orgId, workspaceId]);

  /** Sends a merge patch with If-Match; a 412 shows the conflict view instead. */
  const saveWith = async (send, attempted) => {
    try {
      await send(olderEtag(state.etag, opened?.etag));
      setSaved(`Saved: ${attempted}`);
      await reload();
    } catch (e) {
      if (e.status !== 412) return setError(e);
      setSaved(null);
      const now = await read();
      const stored = (ws) => (workspaceId ? { [workspaceId]: ws.stored } : {});
      setConflict({ attempted, then: { ...state, stored: stored(opened) }, now: { ...now.org, stored: stored(now.ws) } });
    }
  };

  if (!state) return html`<${ErrorNote} error=${error} />${!error && html`<p>Loading ${orgId}…</p>`}`;
  const open = (ws) => navigate('settings', { orgId, workspaceId: ws });
  return html`
    <${EmptyOrgNote} orgId=${orgId} nothingStored=${state.nothingStored} workspaceCount=${workspaceCount} />
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
        <${WorkspaceList} orgId=${orgId} selected=${workspaceId} onOpen=${open} onLoaded=${setWorkspaceCount} />
        ${
          workspaceId &&
          opened &&
          html`<${WorkspaceSection} workspaceId=${workspaceId} families=${state.families} orgStored=${state.org} stored=${opened.stored}
            effective=${opened.effective} canWrite=${canWrite && !conflict}
            save=${(family, patch, what) => saveWith((etag) => api.patchWorkspaceSettings(orgId, workspaceId, family, patch, etag), what)} />
          <${AccessPanel} orgId=${orgId} workspaceId=${workspaceId} families=${state.families} orgStored=${state.org} refresh=${revision} />`
        }
      </div>
      ${has(who, 'audit:read') ? html`<${HistoryPanel} orgId=${orgId} families=${state.families} refresh=${revision} />` : html`<${ScopeNote} who=${who} scope="audit:read" doing="show the history" />`}
    </div>
  `;
}
