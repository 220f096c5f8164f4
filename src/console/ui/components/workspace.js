// One workspace: per family and setting, the effective value and its source as the live
// policy computes them (GET .../effective-settings), the workspace's own value only where it
// differs from the organization's (or is stored and ignored), and the override control,
// enabled only while the organization allows workspace-level configuration for that
// setting; a disabled control says why.
import { html, onOff } from '../lib.js';
import { overridesAllowed } from './family.js';

/**
 * Why the override of a setting cannot be changed now ({id, text}: shown once where it
 * applies — above the table, in the family's row or in the setting's), or null when it can.
 */
const TOKEN_CANNOT = { id: 'why-token', text: 'the token may not change settings' };

function whyDisabled(family, allowed, canWrite, settingName) {
  if (!canWrite) return TOKEN_CANNOT;
  if (allowed) return null;
  return family.workspaceOverrides === 'family'
    ? { id: `why-${family.name}`, text: 'the organization does not allow workspace overrides for this family' }
    : { id: `why-${family.name}-${settingName}`, text: 'the organization does not allow workspace overrides for this setting' };
}

const WhyDisabled = ({ why }) => html`<span class="why-disabled" id=${why.id}>Disabled: ${why.text}</span>`;

/** The organization's value of a setting: stored, else the family's default. */
const orgValue = (setting, orgStored) => (typeof orgStored?.[setting.name] === 'boolean' ? orgStored[setting.name] : setting.default);

/** `effective` null: a draft (what-if), whose effective values the replay tells, not this table. */
export function WorkspaceSection({ workspaceId, families, orgStored, stored, effective, canWrite, save }) {
  const live = effective !== null;
  const headingId = 'ws-detail-title';
  const rows = families.flatMap((family) =>
    family.settings.map((setting) => {
      const own = stored?.[family.name]?.[setting.name];
      const allowed = family.workspaceOverrides !== 'none' && overridesAllowed(family, orgStored[family.name], setting.name);
      const org = orgValue(setting, orgStored[family.name]);
      const why = family.workspaceOverrides === 'none' ? null : whyDisabled(family, allowed, canWrite, setting.name);
      return { family, setting, own, allowed, org, why, e: effective?.families?.[family.name]?.[setting.name] };
    }),
  );
  const differing = rows.filter((r) => typeof r.own === 'boolean' && r.own !== r.org);
  return html`
    <section class="workspace" aria-labelledby=${headingId}>
      <h3 id=${headingId}>Workspace ${workspaceId}</h3>
      <p>${
        differing.length === 0
          ? `No setting of ${workspaceId} differs from the organization's.`
          : `${differing.length} ${differing.length === 1 ? 'setting of' : 'settings of'} ${workspaceId} ${differing.length === 1 ? 'differs' : 'differ'} from the organization's: ${differing.map((r) => r.setting.label).join(', ')}.`
      }</p>
      ${!canWrite && html`<p><${WhyDisabled} why=${TOKEN_CANNOT} /></p>`}
      <div class="table-scroll" tabindex="0" role="region" aria-label=${`Settings of ${workspaceId} (scrolls sideways)`}>
        <table>
          <caption class="visually-hidden">Effective settings of workspace ${workspaceId}</caption>
          <thead>
            <tr><th scope="col">Setting</th>${live && html`<th scope="col">Effective</th><th scope="col">Source</th>`}<th scope="col">Workspace value (where it differs)</th><th scope="col">Override</th></tr>
          </thead>
          <tbody>
            ${families.map((family) => [
              html`<tr class="family-row"><th scope="colgroup" colspan=${live ? 5 : 3}>${family.label}${
                canWrite && family.workspaceOverrides === 'family' && !overridesAllowed(family, orgStored[family.name])
                  ? html` <${WhyDisabled} why=${whyDisabled(family, false, true, null)} />`
                  : ''
              }</th></tr>`,
              ...rows
                .filter((r) => r.family === family)
                .map(({ setting, own, allowed, org, why, e }) => {
                  const value = own === true ? 'on' : own === false ? 'off' : 'inherit';
                  const ownText =
                    typeof own !== 'boolean'
                      ? ''
                      : (live ? e?.workspace_value_ignored : !allowed)
                        ? `${onOff(own)} (stored, ignored)`
                        : own !== org
                          ? `${onOff(own)} (organization: ${onOff(org)})`
                          : '';
                  return html`
                  <tr data-setting=${setting.name}>
                    <th scope="row">${setting.label}</th>
                    ${
                      live &&
                      html`<td>${e ? onOff(e.value) : '?'}</td>
                    <td><span class=${`source source-${e?.source}`}>${e?.source ?? '?'}</span></td>`
                    }
                    <td>${ownText}</td>
                    <td>
                      ${
                        family.workspaceOverrides === 'none'
                          ? html`<span class="muted">no workspace overrides</span>`
                          : html`<select aria-label=${`Override ${setting.label} in ${workspaceId}`} disabled=${Boolean(why)} value=${value}
                            aria-describedby=${why?.id}
                            onChange=${(ev) => {
                              const v = ev.target.value;
                              save(family.name, { [setting.name]: v === 'inherit' ? null : v === 'on' }, `${setting.label} in ${workspaceId} → ${v}`);
                            }}>
                            <option value="inherit">Inherit</option>
                            <option value="on">On</option>
                            <option value="off">Off</option>
                          </select>
                          ${why?.id.endsWith(`-${setting.name}`) && html`<${WhyDisabled} why=${why} />`}`
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
