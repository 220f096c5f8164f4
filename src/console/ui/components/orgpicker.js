// The organization picker: exactly the organizations a limited token may touch (a list), or
// any id typed in. It always shows the organization of the URL, also after back/forward.
import { html, useEffect, useState } from '../lib.js';

export function OrgPicker({ who, orgId, onPick }) {
  const [value, setValue] = useState(orgId ?? '');
  useEffect(() => setValue(orgId ?? ''), [orgId]);
  const submit = (event) => {
    event.preventDefault();
    if (value.trim()) onPick(value.trim());
    // Shows the URL's organization again if the move was refused (unsaved edits kept).
    setValue(orgId ?? '');
  };
  if (Array.isArray(who?.orgs)) {
    return html`
      <form class="org-picker" onSubmit=${submit}>
        <label for="org-picker">Organization</label>
        <select id="org-picker" required value=${who.orgs.includes(orgId) ? orgId : ''} onChange=${(e) => e.target.value && onPick(e.target.value)}>
          <option value="" disabled>Choose one of the token's organizations</option>
          ${who.orgs.map((o) => html`<option value=${o}>${o}</option>`)}
        </select>
      </form>
    `;
  }
  return html`
    <form class="org-picker" onSubmit=${submit}>
      <label for="org-picker">Organization</label>
      <input id="org-picker" required value=${value} onInput=${(e) => setValue(e.target.value)} autocomplete="off" spellcheck="false" />
      <button type="submit">Open</button>
    </form>
  `;
}
