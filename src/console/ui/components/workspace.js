// One workspace: per family and setting, the effective value and its source as the live
// policy computes them (GET .../effective-settings), the workspace's stored value (shown as
// ignored when it does not count), and the override control, enabled only while the
// organization allows workspace-level configuration for that setting.
import { html, onOff } from '../lib.js';
import { overridesAllowed } from './family.js';

function storedText(value, ignored) {
  if (value === undefined || value === null) return 'none (inherits)';
  return ignored ? `${onOff(value)} (stored, ignored)` : onOff(value);
}

/** `effective` null: a draft (what-if), whose effective values the replay tells, not this table. */
export function WorkspaceSection({ workspaceId, families, orgStored, stored, effective, canWrite, save }) {
  const live = effective !== null;
  const headingId = `ws-${workspaceId}-title`;
  return html`
    <section class="workspace" aria-labelledby=${headingId}>
      <h3 id=${headingId}>Workspace ${workspaceId}</h3>
      <div class="table-scroll">
        <table>
          <caption class="visually-hidden">Effective settings of workspace ${workspaceId}</caption>
          <thead>
            <tr><th scope="col">Setting</th>${live && html`<th scope="col">Effective</th><th scope="col">Source</th>`}<th scope="col">Workspace value</th><th scope="col">Override</th></tr>
          </thead>
          <tbody>
            ${families.map((family) => [
              html`<tr class="family-row"><th scope="colgroup" colspan=${live ? 5 : 3}>${family.label}</th></tr>`,
              ...family.settings.map((setting) => {
                const e = effective?.families?.[family.name]?.[setting.name];
                const own = stored?.[family.name]?.[setting.name];
                const allowed = family.workspaceOverrides !== 'none' && overridesAllowed(family, orgStored[family.name], setting.name);
                const value = own === true ? 'on' : own === false ? 'off' : 'inherit';
                const controlLabel = `Override ${setting.label} in ${workspaceId}`;
                return html`
                  <tr data-setting=${setting.name}>
                    <th scope="row">${setting.label}</th>
                    ${
                      live &&
                      html`<td>${e ? onOff(e.value) : '?'}</td>
                    <td><span class=${`source source-${e?.source}`}>${e?.source ?? '?'}</span></td>`
                    }
                    <td>${storedText(own, live ? e?.workspace_value_ignored : !allowed)}</td>
                    <td>
                      ${
                        family.workspaceOverrides === 'none'
                          ? html`<span class="muted">no workspace overrides</span>`
                          : html`<select aria-label=${controlLabel} disabled=${!canWrite || !allowed} value=${value}
                            title=${allowed ? '' : 'Allow workspace-level configuration first'}
                            onChange=${(ev) => {
                              const v = ev.target.value;
                              save(family.name, { [setting.name]: v === 'inherit' ? null : v === 'on' }, `${setting.label} in ${workspaceId} → ${v}`);
                            }}>
                            <option value="inherit">Inherit</option>
                            <option value="on">On</option>
                            <option value="off">Off</option>
                          </select>`
                      }
                    </td>
                  </tr>
                `;
              }),
            ])}
          </tbody>
        </table>
      </div>
    </section>
  `;
}
