// The decision explorer: filters kept in the URL (shareable), newest first with "More"
// (cursor paging), the why of one decision, a chart of allowed/denied over time with the
// top reasons, and an export of the current filter as NDJSON or CSV.
import { api } from '../api.js';
import { fromLocalInput, html, navigate, toLocalInput, formatTime, useEffect, usePages, useState } from '../lib.js';
import { OutcomeChart } from '../components/chart.js';
import { DecisionDetail } from '../components/decision.js';
import { download } from '../components/download.js';
import { ErrorNote, has, ScopeNote } from '../components/notes.js';

const FILTERS = ['orgId', 'workspaceId', 'principalId', 'allow', 'reason', 'resourceType', 'action', 'api', 'from', 'to'];
// The APIs a decision is asked through: DECISION_APIS of src/audit/record.ts (the audit API refuses any other).
const APIS = ['authorize', 'opa_data', 'opa_batch', 'ext_authz_http', 'ext_authz_grpc', 'permissions'];
const CHART_BUCKETS = 24;
const DAY_MS = 24 * 3600 * 1000;
const EXPORT_MAX = 100_000;
const CSV_COLUMNS = [
  'timestamp',
  'decisionId',
  'api',
  'orgId',
  'workspaceId',
  'principalId',
  'action',
  'resourceType',
  'allow',
  'reason',
  'setting',
  'source',
  'bundleRevision',
  'settingsVersion',
  'latencyMs',
];

const filterOf = (params) => Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? '']));
const defined = (filter) => Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== ''));

export function ExplorerPage({ who, params }) {
  if (!has(who, 'audit:read')) return html`<h1>Decision explorer</h1><${ScopeNote} who=${who} scope="audit:read" doing="read the decision audit" />`;
  const filter = filterOf(params);
  const decisionId = params.get('decision');
  const show = (next) => navigate('explorer', { ...defined(next) });
  return html`
    <h1>Decision explorer</h1>
    <${Filters} key=${params.toString()} who=${who} filter=${filter} onSearch=${show} />
    ${
      filter.orgId
        ? html`
        <${Summary} filter=${filter} />
        <div class=${decisionId ? 'columns' : ''}>
          <${Results} filter=${filter} selected=${decisionId} onOpen=${(id) => navigate('explorer', { ...defined(filter), decision: id })} />
          ${decisionId && html`<${DecisionDetail} decisionId=${decisionId} onClose=${() => show(filter)} />`}
        </div>`
        : html`<p>Choose an organization to see its decisions.</p>`
    }
  `;
}

function Filters({ who, filter, onSearch }) {
  const [draft, setDraft] = useState(filter);
  const [families, setFamilies] = useState([]);
  const [reasons, setReasons] = useState([]);
  useEffect(() => {
    api.families().then(
      (f) => setFamilies(f.families),
      () => setFamilies([]),
    );
    api.reasons().then(
      (r) => setReasons(Object.keys(r.reasons).sort()),
      () => setReasons([]),
    );
  }, []);
  const types = [...new Set(families.flatMap((f) => f.resourceTypes))];
  const actions = [...new Set(families.flatMap((f) => f.actions))];
  const field = (name, label, props = {}) => html`
    <div class="field">
      <label for=${`f-${name}`}>${label}</label>
      <input id=${`f-${name}`} value=${draft[name]} onInput=${(e) => setDraft({ ...draft, [name]: e.target.value })} ...${props} />
    </div>`;
  const choice = (name, label, options) => html`
    <div class="field">
      <label for=${`f-${name}`}>${label}</label>
      <select id=${`f-${name}`} value=${draft[name]} onChange=${(e) => setDraft({ ...draft, [name]: e.target.value })}>
        <option value="">any</option>
        ${options.map(([value, text]) => html`<option value=${value}>${text}</option>`)}
      </select>
    </div>`;
  const time = (name, label) => html`
    <div class="field">
      <label for=${`f-${name}`}>${label} (UTC)</label>
      <input id=${`f-${name}`} type="datetime-local" value=${toLocalInput(draft[name])} onInput=${(e) => setDraft({ ...draft, [name]: fromLocalInput(e.target.value) })} />
    </div>`;
  return html`
    <form class="filters" aria-label="Decision filters" onSubmit=${(e) => (e.preventDefault(), onSearch(draft))}>
      ${field('orgId', 'Organization', { required: true, list: 'known-orgs' })}
      <datalist id="known-orgs">${(who.orgs ?? []).map((o) => html`<option value=${o} />`)}</datalist>
      ${field('workspaceId', 'Workspace')}
      ${field('principalId', 'Principal')}
      ${choice('allow', 'Outcome', [
        ['true', 'allowed'],
        ['false', 'denied'],
      ])}
      ${choice(
        'reason',
        'Reason',
        // A reason in the URL that the bundle no longer lists stays choosable.
        [...new Set([...reasons, ...(draft.reason ? [draft.reason] : [])])].map((r) => [r, r]),
      )}
      ${choice(
        'resourceType',
        'Resource type',
        types.map((t) => [t, t]),
      )}
      ${choice(
        'action',
        'Action',
        actions.map((a) => [a, a]),
      )}
      ${choice(
        'api',
        'Asked through',
        APIS.map((a) => [a, a]),
      )}
      ${time('from', 'From')}
      ${time('to', 'To')}
      <div class="field actions"><button type="submit">Search</button></div>
    </form>
  `;
}

function Summary({ filter }) {
  const [summary, setSummary] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    // The chart needs a closed range: the filter's, or the last day.
    const to = filter.to || new Date().toISOString();
    const from = filter.from || new Date(Date.parse(to) - DAY_MS).toISOString();
    api.summary({ orgId: filter.orgId, from, to, buckets: CHART_BUCKETS }).then(setSummary, setError);
  }, [filter.orgId, filter.from, filter.to]);
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!summary) return null;
  const reasons = Object.entries(summary.byReason)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5);
  return html`
    <section class="summary" aria-labelledby="summary-title">
      <h2 id="summary-title">${summary.total} ${summary.total === 1 ? 'decision' : 'decisions'}: ${summary.byOutcome.allow} allowed, ${summary.byOutcome.deny} denied</h2>
      <div class="columns">
        <${OutcomeChart} series=${summary.series} title=${`Decisions from ${formatTime(summary.from)} to ${formatTime(summary.to)}`} />
        <div>
          <h3>Top reasons</h3>
          <ol>${reasons.map(([reason, n]) => html`<li><code>${reason}</code>: ${n}</li>`)}</ol>
        </div>
      </div>
    </section>
  `;
}

function Results({ filter, selected, onOpen }) {
  const [exporting, setExporting] = useState(null);
  const query = defined(filter);
  const pages = usePages(
    (cursor) => api.decisions(query, cursor).then((page) => ({ items: page.decisions, nextCursor: page.nextCursor })),
    JSON.stringify(query),
  );
  const { items: rows, cursor, error, setError } = pages;

  const exportAs = async (format) => {
    setExporting(`Exporting ${format.toUpperCase()}…`);
    try {
      const records = [];
      let next;
      do {
        const page = await api.decisions(query, next, 1000);
        records.push(...page.decisions);
        next = page.nextCursor;
      } while (next && records.length < EXPORT_MAX);
      const name = `decisions-${filter.orgId}.${format}`;
      if (format === 'ndjson') download(name, 'application/x-ndjson', records.map((r) => JSON.stringify(r)).join('\n') + '\n');
      else download(name, 'text/csv', toCsv(records));
      setExporting(`Exported ${records.length} decisions as ${format.toUpperCase()}.`);
    } catch (e) {
      setExporting(null);
      setError(e);
    }
  };

  return html`
    <section class="results" aria-labelledby="results-title">
      <h2 id="results-title">Decisions, newest first</h2>
      <div class="toolbar">
        <button type="button" class="secondary" onClick=${() => exportAs('ndjson')}>Export NDJSON</button>
        <button type="button" class="secondary" onClick=${() => exportAs('csv')}>Export CSV</button>
        <span role="status">${exporting ?? ''}</span>
      </div>
      <${ErrorNote} error=${error} />
      <div class="table-scroll">
        <table>
          <thead><tr><th scope="col">Time</th><th scope="col">Principal</th><th scope="col">Workspace</th><th scope="col">Request</th><th scope="col">Outcome</th><th scope="col">Reason</th><th scope="col"><span class="visually-hidden">Details</span></th></tr></thead>
          <tbody>
            ${rows.map(
              (r) => html`<tr aria-selected=${r.decisionId === selected ? 'true' : undefined}>
                <td>${formatTime(r.timestamp)}</td><td>${r.principal.id}</td><td>${r.workspaceId}</td><td>${r.action} ${r.resource.type}</td>
                <td class=${r.allow ? 'allow' : 'deny'}>${r.allow ? 'allowed' : 'denied'}</td><td><code>${r.reason}</code>${r.source ? ` (${r.source})` : ''}</td>
                <td><button type="button" class="secondary" aria-label=${`Why ${r.decisionId}`} onClick=${() => onOpen(r.decisionId)}>Why</button></td>
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
      ${rows.length === 0 && !error && html`<p class="muted">No decision matches these filters.</p>`}
      ${cursor && html`<button type="button" onClick=${pages.more}>More</button>`}
    </section>
  `;
}

function toCsv(records) {
  const cell = (v) => {
    const s = v === undefined || v === null ? '' : String(v);
    // A cell a spreadsheet would run as a formula is kept as text.
    const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  const row = (r) => ({ ...r, principalId: r.principal.id, resourceType: r.resource.type });
  return [CSV_COLUMNS.join(','), ...records.map((r) => CSV_COLUMNS.map((c) => cell(row(r)[c])).join(','))].join('\r\n') + '\r\n';
}
