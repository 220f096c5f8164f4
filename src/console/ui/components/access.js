// Who can do what in one workspace, by role, as the policy answers it (GET .../access), and
// what a change to one organization setting would change (POST .../access with a draft,
// nothing written): the sentences come from the API's list of changed cells.
import { api } from '../api.js';
import { html, useEffect, useState } from '../lib.js';
import { labelsOf } from '../labels.js';
import { ErrorNote } from './notes.js';

const ROLE_LABELS = {
  owner: 'organization owners',
  admin: 'organization admins',
  member: 'organization members without a workspace role',
  workspace_admin: 'workspace admins',
  workspace_manager: 'workspace managers',
  workspace_member: 'workspace members',
};

const allowedActions = (actions) =>
  Object.entries(actions)
    .filter(([, cell]) => cell.allow)
    .map(([action]) => action)
    .join(', ') || 'none';
const whyNot = (actions, labels) =>
  Object.entries(actions)
    .filter(([, cell]) => !cell.allow)
    .map(([action, cell]) => `${action}: ${cell.reason}${cell.setting ? ` (${labels.setting(cell.setting)}, ${cell.source ?? 'unreadable'})` : ''}`)
    .join('\n');

export function AccessPanel({ orgId, workspaceId, families, orgStored, refresh }) {
  const [review, setReview] = useState(null);
  const [error, setError] = useState(null);
  const [preview, setPreview] = useState(null);
  const settings = families.flatMap((family) => family.settings.map((setting) => ({ family: family.name, ...setting })));
  const [choice, setChoice] = useState(`${settings[0]?.name}:off`);

  useEffect(() => {
    api.access(orgId, workspaceId).then(setReview, setError);
    setPreview(null);
  }, [orgId, workspaceId, refresh]);

  const runPreview = async () => {
    const [name, value] = choice.split(':');
    const setting = settings.find((s) => s.name === name);
    const { stored: _stored, ...document } = orgStored[setting.family] ?? {};
    try {
      const draft = await api.accessDraft(orgId, workspaceId, { [setting.family]: { org: { ...document, [name]: value === 'on' } } });
      setPreview({ label: `${setting.label} → ${value === 'on' ? 'On' : 'Off'}`, changes: draft.changes });
      setError(null);
    } catch (e) {
      setError(e);
    }
  };

  const headingId = `access-${workspaceId}-title`;
  if (!review) return html`<${ErrorNote} error=${error} />`;
  const types = Object.keys(review.roles.owner ?? {});
  return html`
    <section class="access" aria-labelledby=${headingId}>
      <h4 id=${headingId}>Who can do what in ${workspaceId}</h4>
      <${ErrorNote} error=${error} />
      <div class="table-scroll" tabindex="0" role="region" aria-label=${`Access by role in ${workspaceId}`}>
        <table>
          <caption class="visually-hidden">Allowed actions by role in workspace ${workspaceId}</caption>
          <thead><tr><th scope="col">Role</th>${types.map((type) => html`<th scope="col">${type}</th>`)}</tr></thead>
          <tbody>
            ${Object.entries(review.roles).map(
              ([role, byType]) => html`<tr data-role=${role}><th scope="row">${ROLE_LABELS[role] ?? role}</th>
                ${types.map((type) => html`<td title=${whyNot(byType[type], labelsOf(families))}>${allowedActions(byType[type])}</td>`)}</tr>`,
            )}
          </tbody>
        </table>
      </div>
      <p>
        <label>Preview a change in ${workspaceId}
          <select value=${choice} onChange=${(ev) => setChoice(ev.target.value)}>
            ${settings.flatMap((s) => ['off', 'on'].map((v) => html`<option value=${`${s.name}:${v}`}>${s.label} → ${v === 'on' ? 'On' : 'Off'}</option>`))}
          </select>
        </label>
        <button type="button" onClick=${runPreview}>Preview</button>
      </p>
      ${
        preview &&
        html`<ul aria-label=${`What ${preview.label} changes in ${workspaceId}`}>
        ${preview.changes.length === 0 && html`<li>With this change, nobody's access in ${workspaceId} changes.</li>`}
        ${preview.changes.map(
          (c) =>
            html`<li>With this change, ${ROLE_LABELS[c.role] ?? c.role} in ${workspaceId} ${c.after.allow ? 'can' : 'can no longer'} ${c.action} ${c.type}.</li>`,
        )}
      </ul>`
      }
    </section>
  `;
}
