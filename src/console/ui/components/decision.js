// The "why" of one recorded decision: outcome, reason, the setting (by its product label,
// from GET /v1/families) and its source, the policy's sentence for that reason (GET /v1/reasons, the active bundle's), the
// principal's roles, bundle revision, settings version, latency and the (masked) input.
import { api } from '../api.js';
import { formatTime, html, useEffect, useState } from '../lib.js';
import { labelsOf } from '../labels.js';
import { ErrorNote } from './notes.js';

export function DecisionDetail({ decisionId, onClose }) {
  const [record, setRecord] = useState(null);
  const [error, setError] = useState(null);
  const [reasons, setReasons] = useState({});
  const [labels, setLabels] = useState(() => labelsOf([]));
  useEffect(() => {
    api.families().then(
      (f) => setLabels(labelsOf(f.families)),
      () => setLabels(labelsOf([])),
    );
    // Without the sentences the panel still shows the code: a bundle may not have them.
    api.reasons().then(
      (r) => setReasons(r.reasons),
      () => setReasons({}),
    );
  }, []);
  useEffect(() => {
    setRecord(null);
    api.decision(decisionId).then(setRecord, setError);
  }, [decisionId]);

  return html`
    <section class="detail" aria-labelledby="detail-title">
      <h2 id="detail-title">Why: decision ${decisionId}</h2>
      <button type="button" class="secondary" onClick=${onClose}>Close</button>
      <${ErrorNote} error=${error} />
      ${
        record &&
        html`
        <dl>
          <dt>Outcome</dt><dd class=${record.allow ? 'allow' : 'deny'}>${record.allow ? 'allowed' : 'denied'}</dd>
          <dt>Reason</dt><dd><code>${record.reason}</code>${Object.hasOwn(reasons, record.reason) ? html`<p class="reason-message">${reasons[record.reason]}</p>` : null}</dd>
          <dt>Setting</dt><dd>${record.setting ? html`${labels.setting(record.setting)}${record.family ? ` (${labels.family(record.family)})` : ''}` : 'none decided'}</dd>
          <dt>Source</dt><dd>${record.source ?? '—'}</dd>
          <dt>Principal</dt><dd>${record.principal.id} (organization ${record.principal.orgId}, role ${record.principal.orgRole})</dd>
          <dt>Workspace roles</dt><dd>${
            Object.entries(record.principal.workspaceRoles ?? {})
              .map(([ws, role]) => `${ws}: ${role}`)
              .join(', ') || 'none'
          }</dd>
          <dt>Request</dt><dd>${record.action} ${record.resource.type} in ${record.workspaceId} (asked through ${record.api})</dd>
          <dt>Time</dt><dd>${formatTime(record.timestamp)}</dd>
          <dt>Bundle revision</dt><dd><code>${record.bundleRevision}</code></dd>
          <dt>Settings version</dt><dd>${record.settingsVersion ?? 'settings unavailable'}</dd>
          <dt>Latency</dt><dd>${Number(record.latencyMs).toFixed(2)} ms</dd>
          ${record.masked?.length ? html`<dt>Masked</dt><dd>${record.masked.join(', ')}</dd>` : null}
        </dl>
        <h3>Input (as recorded, masked)</h3>
        <pre tabindex="0" aria-label="Recorded input">${JSON.stringify(record.input, null, 2)}</pre>
      `
      }
    </section>
  `;
}
