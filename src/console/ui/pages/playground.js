// The playground: compose a decision request with form controls or as raw JSON, ask the
// live engine (POST /v1/authorize, the public decision API: no token needed) and read the
// decision with its explanation. The permalink carries the input only, never a token.
import { api } from '../api.js';
import { html, navigate, useEffect, useState } from '../lib.js';
import { ErrorNote } from '../components/notes.js';

const ORG_ROLES = ['owner', 'admin', 'member'];
const WORKSPACE_ROLES = ['admin', 'manager', 'member'];

const EXAMPLE = {
  principal: { id: 'u-1', orgId: 'org-1', orgRole: 'member', workspaceRoles: { 'ws-1': 'manager' } },
  action: 'create',
  resource: { type: 'mcp_server', orgId: 'org-1', workspaceId: 'ws-1' },
};

function inputFromUrl(params) {
  try {
    const parsed = JSON.parse(params.get('input') ?? '');
    return typeof parsed === 'object' && parsed !== null ? parsed : EXAMPLE;
  } catch {
    return EXAMPLE;
  }
}

export function PlaygroundPage({ params }) {
  const [input, setInput] = useState(() => inputFromUrl(params));
  const [text, setText] = useState(() => JSON.stringify(inputFromUrl(params), null, 2));
  const [textError, setTextError] = useState(null);
  const [answer, setAnswer] = useState(null);
  const [error, setError] = useState(null);
  const [families, setFamilies] = useState([]);
  useEffect(() => {
    api.families().then(
      (f) => setFamilies(f.families),
      () => setFamilies([]),
    );
  }, []);

  const types = [...new Set(families.flatMap((f) => f.resourceTypes))];
  const actions = [...new Set(families.flatMap((f) => f.actions))];
  const update = (next) => {
    setInput(next);
    setText(JSON.stringify(next, null, 2));
    setTextError(null);
  };
  const p = input.principal ?? {};
  const r = input.resource ?? {};
  const workspaceId = r.workspaceId ?? '';
  const workspaceRole = p.workspaceRoles?.[workspaceId] ?? '';
  const setPrincipal = (patch) => update({ ...input, principal: { ...p, ...patch } });
  const setResource = (patch) => update({ ...input, resource: { ...r, ...patch } });
  const setWorkspace = (ws) => {
    const roles = { ...(p.workspaceRoles ?? {}) };
    const role = roles[workspaceId];
    delete roles[workspaceId];
    if (ws && role) roles[ws] = role;
    update({ ...input, principal: { ...p, workspaceRoles: roles }, resource: { ...r, workspaceId: ws } });
  };
  const setWorkspaceRole = (role) => {
    const roles = { ...(p.workspaceRoles ?? {}) };
    if (role) roles[workspaceId] = role;
    else delete roles[workspaceId];
    setPrincipal({ workspaceRoles: roles });
  };
  const editText = (value) => {
    setText(value);
    try {
      setInput(JSON.parse(value));
      setTextError(null);
    } catch (e) {
      setTextError(`Not JSON: ${e.message}`);
    }
  };

  const decide = async (event) => {
    event.preventDefault();
    setError(null);
    setAnswer(null);
    let body;
    try {
      body = JSON.parse(text);
    } catch (e) {
      setTextError(`Not JSON: ${e.message}`);
      return;
    }
    navigate('playground', { input: JSON.stringify(body) }, { replace: true });
    try {
      setAnswer(await api.authorize(body));
    } catch (e) {
      setError(e);
    }
  };

  const text_ = (label, id, value, onInput) =>
    html`<div class="field"><label for=${id}>${label}</label><input id=${id} value=${value ?? ''} onInput=${(e) => onInput(e.target.value)} /></div>`;
  const select = (label, id, value, options, onChange, none) => html`
    <div class="field"><label for=${id}>${label}</label>
      <select id=${id} value=${value ?? ''} onChange=${(e) => onChange(e.target.value)}>
        ${none && html`<option value="">${none}</option>`}
        ${[...new Set([...(value ? [value] : []), ...options])].map((o) => html`<option value=${o}>${o}</option>`)}
      </select></div>`;

  return html`
    <h1>Playground</h1>
    <p>Compose a decision request, then ask the live engine. The answer is the one <code>POST /v1/authorize</code> gives (and is recorded in the audit like any decision).</p>
    <form class="playground" onSubmit=${decide} aria-label="Decision request">
      <fieldset>
        <legend>Principal</legend>
        ${text_('Principal id', 'pg-principal', p.id, (v) => setPrincipal({ id: v }))}
        ${text_('Principal organization', 'pg-principal-org', p.orgId, (v) => setPrincipal({ orgId: v }))}
        ${select('Organization role', 'pg-org-role', p.orgRole, ORG_ROLES, (v) => setPrincipal({ orgRole: v }))}
        ${select('Role in the workspace', 'pg-ws-role', workspaceRole, WORKSPACE_ROLES, setWorkspaceRole, 'none')}
      </fieldset>
      <fieldset>
        <legend>Request</legend>
        ${select('Action', 'pg-action', input.action, actions, (v) => update({ ...input, action: v }))}
        ${select('Resource type', 'pg-type', r.type, types, (v) => setResource({ type: v }))}
        ${text_('Resource organization', 'pg-resource-org', r.orgId, (v) => setResource({ orgId: v }))}
        ${text_('Workspace', 'pg-workspace', workspaceId, setWorkspace)}
      </fieldset>
      <div class="field wide">
        <label for="pg-json">Input (raw JSON)</label>
        <textarea id="pg-json" rows="14" spellcheck="false" value=${text} onInput=${(e) => editText(e.target.value)} aria-invalid=${textError ? 'true' : undefined}></textarea>
        ${textError && html`<p class="error" role="alert">${textError}</p>`}
      </div>
      <div class="field actions"><button type="submit">Decide</button></div>
    </form>
    <${ErrorNote} error=${error} />
    ${answer && html`<${Answer} answer=${answer} />`}
  `;
}

function Answer({ answer }) {
  return html`
    <section class="answer" aria-labelledby="answer-title">
      <h2 id="answer-title" class=${answer.allow ? 'allow' : 'deny'}>${answer.allow ? 'Allowed' : 'Denied'}</h2>
      <p>${answer.message}</p>
      <dl>
        <dt>Reason</dt><dd><code>${answer.reason}</code></dd>
        ${answer.setting && html`<dt>Setting</dt><dd>${answer.setting}</dd>`}
        ${answer.source && html`<dt>Source</dt><dd>${answer.source}</dd>`}
        <dt>Decision id</dt><dd><code>${answer.decisionId}</code></dd>
        <dt>Bundle revision</dt><dd><code>${answer.bundleRevision}</code></dd>
      </dl>
      <p><a href=${location.href}>Permalink to this input</a></p>
      <h3>Answer (raw JSON)</h3>
      <pre tabindex="0" aria-label="Answer JSON">${JSON.stringify(answer, null, 2)}</pre>
    </section>
  `;
}
