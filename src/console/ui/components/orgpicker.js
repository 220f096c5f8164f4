// The organization picker: the organizations the token is limited to, or any id typed in.
import { html, useState } from '../lib.js';

export function OrgPicker({ who, orgId, onPick }) {
  const [value, setValue] = useState(orgId ?? '');
  const submit = (event) => {
    event.preventDefault();
    if (value.trim()) onPick(value.trim());
  };
  return html`
    <form class="org-picker" onSubmit=${submit}>
      <label for="org-picker">Organization</label>
      <input id="org-picker" list="org-picker-known" required value=${value} onInput=${(e) => setValue(e.target.value)} placeholder="org-1" />
      <datalist id="org-picker-known">${(who?.orgs ?? []).map((o) => html`<option value=${o} />`)}</datalist>
      <button type="submit">Open</button>
    </form>
  `;
}
