// One family's organization-level section, laid out as the product's Security tab: each
// setting's toggle with its label, and "Allow workspace-level configuration" per setting
// (integration family) or once for the family. Labels come from GET /v1/families.
import { html } from '../lib.js';

const OVERRIDES_LABEL = 'Allow workspace-level configuration';

function Toggle({ id, label, checked, disabled, onChange, describedBy }) {
  return html`
    <div class="toggle">
      <input type="checkbox" role="switch" id=${id} checked=${checked} disabled=${disabled} aria-describedby=${describedBy}
        onChange=${(e) => onChange(e.target.checked)} />
      <label for=${id}>${label}</label>
    </div>
  `;
}

/** `stored`: the org's settings body for the family (GET .../settings/{family}); `save(patch, what)` sends a merge patch. */
export function FamilySection({ family, stored, canWrite, save }) {
  const id = (suffix) => `${family.name}-${suffix}`;
  const perSetting = family.workspaceOverrides === 'setting';
  return html`
    <section class="family" aria-labelledby=${id('title')}>
      <h2 id=${id('title')}>${family.label}</h2>
      ${
        family.workspaceOverrides === 'family' &&
        html`<${Toggle} id=${id('overrides')} label=${OVERRIDES_LABEL} checked=${stored.allowWorkspaceOverrides === true} disabled=${!canWrite}
        onChange=${(v) => save({ allowWorkspaceOverrides: v }, `${family.label}: ${OVERRIDES_LABEL} → ${v ? 'On' : 'Off'}`)} />`
      }
      ${family.settings.map(
        (setting) => html`
          <div class="setting" role="group" aria-label=${setting.label}>
            <${Toggle} id=${id(setting.name)} label=${setting.label} checked=${stored[setting.name] === true} disabled=${!canWrite}
              onChange=${(v) => save({ [setting.name]: v }, `${setting.label} → ${v ? 'On' : 'Off'}`)} />
            ${
              perSetting &&
              html`<${Toggle} id=${id(`${setting.name}-overrides`)} label=${OVERRIDES_LABEL}
              checked=${stored.allowWorkspaceOverrides?.[setting.name] === true} disabled=${!canWrite}
              onChange=${(v) => save({ allowWorkspaceOverrides: { [setting.name]: v } }, `${setting.label}: ${OVERRIDES_LABEL} → ${v ? 'On' : 'Off'}`)} />`
            }
          </div>
        `,
      )}
    </section>
  `;
}

/** Whether a workspace's own value for `setting` of `family` counts now (its toggle is on). */
export function overridesAllowed(family, stored, settingName) {
  if (family.workspaceOverrides === 'setting') return stored?.allowWorkspaceOverrides?.[settingName] === true;
  if (family.workspaceOverrides === 'family') return stored?.allowWorkspaceOverrides === true;
  return false;
}
