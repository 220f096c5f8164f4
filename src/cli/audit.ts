// `portcullis audit ...`: query, get, export and what-if replay over the sidecar's audit API.
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { load as loadYaml } from 'js-yaml';
import { Replay, type ReplayReport } from '../audit/replay.ts';
import { DECISION_APIS, type DecisionRecord } from '../decision/record.ts';
import { ACTIONS } from '../decision/request.ts';
import { RESOURCE_TYPE_PATTERN } from '../engine/families.ts';
import { readBundleFile } from '../engine/bundle.ts';
import { PolicyEngine } from '../engine/engine.ts';
import { packagePath } from '../package.ts';
import { parseSettingsDocument } from '../settings/validate.ts';
import { AuditClient, type DecisionQuery } from './client.ts';
import { decisions, FORMATS, table, type Format } from './format.ts';
import type { Env, Io } from './io.ts';
import { parseTime, UsageError } from './time.ts';

const DEFAULT_URL = 'http://127.0.0.1:8181';
/** The bundle shipped with the package, wherever the command runs from. */
export const DEFAULT_BUNDLE = packagePath('bundles/portkey.tar.gz');
const MAX_PAGE = 1000;

const FILTERS = ['org', 'workspace', 'principal', 'denied', 'allowed', 'reason', 'type', 'action', 'api', 'since', 'until', 'unverified'];

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  org: { type: 'string' },
  workspace: { type: 'string' },
  principal: { type: 'string' },
  denied: { type: 'boolean' },
  allowed: { type: 'boolean' },
  unverified: { type: 'boolean' },
  reason: { type: 'string' },
  type: { type: 'string' },
  action: { type: 'string' },
  api: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  format: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  output: { type: 'string', short: 'o' },
  bundle: { type: 'string' },
  settings: { type: 'string' },
  examples: { type: 'string' },
  'recorded-revision': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

type Values = ReturnType<typeof parse>['values'];

/** Parses the options of one audit command; an option that command does not take is refused. */
function parse(args: string[], command: string, takes: string[]) {
  const parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const allowed = new Set(['url', 'token', ...takes]);
  for (const name of Object.keys(parsed.values)) {
    if (!allowed.has(name)) throw new UsageError(`audit ${command} does not take --${name}`);
  }
  if (command !== 'get' && parsed.positionals.length > 0) throw new UsageError(`audit ${command} takes no argument ${parsed.positionals[0]}`);
  return parsed;
}

function client(values: Values, env: Env): AuditClient {
  const token = (values.token as string | undefined) ?? env.ADMIN_TOKEN;
  if (!token) throw new UsageError('the admin token is needed: --token T or ADMIN_TOKEN');
  return new AuditClient((values.url as string | undefined) ?? env.PORTCULLIS_URL ?? DEFAULT_URL, token);
}

function oneOf<T extends string>(value: unknown, option: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`--${option} ${String(value)}: expected one of ${allowed.join(', ')}`);
  return value as T;
}

function format(values: Values, fallback: Format, allowed: readonly Format[] = FORMATS): Format {
  return oneOf(values.format, 'format', allowed) ?? fallback;
}

function query(values: Values): DecisionQuery {
  if (typeof values.org !== 'string') throw new UsageError('--org is required');
  if (values.denied && values.allowed) throw new UsageError('--denied and --allowed exclude each other');
  const q: DecisionQuery = { orgId: values.org };
  if (typeof values.workspace === 'string') q.workspaceId = values.workspace;
  if (typeof values.principal === 'string') q.principalId = values.principal;
  if (values.denied) q.allow = false;
  if (values.allowed) q.allow = true;
  if (values.unverified) q.unverified = true;
  if (typeof values.reason === 'string') q.reason = values.reason;
  // Any type name: records made under an earlier bundle may name types the active one has not.
  if (typeof values.type === 'string') {
    if (!RESOURCE_TYPE_PATTERN.test(values.type)) throw new UsageError(`--type ${values.type}: expected a resource type name (lower-case letters, digits, _)`);
    q.resourceType = values.type;
  }
  const action = oneOf(values.action, 'action', ACTIONS);
  if (action) q.action = action;
  const api = oneOf(values.api, 'api', DECISION_APIS);
  if (api) q.api = api;
  if (typeof values.since === 'string') q.from = parseTime(values.since, 'since');
  if (typeof values.until === 'string') q.to = parseTime(values.until, 'until');
  return q;
}

function positiveInteger(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${option} ${String(value)}: expected a positive integer`);
  return n;
}

export async function auditQuery(args: string[], env: Env, io: Io): Promise<void> {
  const { values } = parse(args, 'query', [...FILTERS, 'format', 'limit', 'cursor']);
  const q = query(values);
  const limit = positiveInteger(values.limit, 'limit', 100);
  const out = format(values, 'table');
  const api = client(values, env);
  const records: DecisionRecord[] = [];
  let cursor = values.cursor as string | undefined;
  // A page can be short of `limit` (the sidecar bounds each scan), so follow the cursor.
  do {
    const page = await api.page(q, Math.min(MAX_PAGE, limit - records.length), cursor);
    records.push(...page.decisions);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && records.length < limit);
  io.stdout.write(decisions(records, out));
  if (out === 'table') io.stderr.write(`${records.length} decision(s)${cursor ? `; more with --cursor ${cursor}` : ''}\n`);
}

export async function auditGet(args: string[], env: Env, io: Io): Promise<void> {
  const { values, positionals } = parse(args, 'get', ['format']);
  if (positionals.length !== 1) throw new UsageError('audit get takes one decision id');
  const record = await client(values, env).decision(positionals[0]!);
  const out = format(values, 'json');
  io.stdout.write(out === 'json' ? JSON.stringify(record, null, 2) + '\n' : decisions([record], out));
}

export async function auditExport(args: string[], env: Env, io: Io): Promise<void> {
  const { values } = parse(args, 'export', [...FILTERS, 'output']);
  const q = query(values);
  const api = client(values, env);
  const target = typeof values.output === 'string' ? createWriteStream(values.output) : io.stdout;
  const started = Date.now();
  const progress = (count: number) => {
    const rate = Math.round(count / Math.max(0.001, (Date.now() - started) / 1000));
    io.stderr.write(io.stderr.isTTY ? `\rexported ${count} records (${rate}/s)` : `exported ${count} records (${rate}/s)\n`);
  };
  let count = 0;
  for await (const record of api.all(q, MAX_PAGE, progress)) {
    count++;
    if (!target.write(JSON.stringify(record) + '\n')) await once(target, 'drain');
  }
  if (target !== io.stdout)
    await new Promise<void>((resolve, reject) =>
      (target as ReturnType<typeof createWriteStream>).end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
  io.stderr.write(`${io.stderr.isTTY ? '\n' : ''}done: ${count} records${typeof values.output === 'string' ? ` in ${values.output}` : ''}\n`);
}

export async function auditReplay(args: string[], env: Env, io: Io): Promise<void> {
  const { values } = parse(args, 'replay', [...FILTERS, 'bundle', 'settings', 'examples', 'format', 'recorded-revision']);
  if (typeof values.since !== 'string') throw new UsageError('--since is required: the recorded decisions to replay');
  if (values.bundle === undefined && values.settings === undefined) throw new UsageError('give a candidate: --bundle FILE.tar.gz and/or --settings FILE.yaml');
  const q = query(values);
  const out = format(values, 'table', ['table', 'json']);
  const engine = await PolicyEngine.load(await readBundleFile((values.bundle as string | undefined) ?? DEFAULT_BUNDLE));
  const settings = typeof values.settings === 'string' ? parseSettingsDocument(loadYaml(await readFile(values.settings, 'utf8')), engine.families) : undefined;
  const recorded = values['recorded-revision'];
  if (recorded !== undefined && (typeof recorded !== 'string' || recorded === ''))
    throw new UsageError('--recorded-revision: expected the bundle revision the replayed decisions were made with');
  const replay = new Replay(settings ? { engine, settings } : { engine }, positiveInteger(values.examples, 'examples', 10), recorded as string | undefined);
  for await (const record of client(values, env).all(q)) await replay.add(record);
  const report = replay.result();
  io.stdout.write(
    out === 'json'
      ? JSON.stringify({ candidate: { bundleRevision: engine.revision, settings: values.settings ?? null }, ...report }, null, 2) + '\n'
      : replayTable(report, engine.revision),
  );
}

function replayTable(report: ReplayReport, revision: string): string {
  const flips = report.flips.allowToDeny + report.flips.denyToAllow;
  const lines = [
    `candidate bundle ${revision}: ${report.evaluated} decisions re-evaluated, ${flips} would flip ` +
      `(allow→deny ${report.flips.allowToDeny}, deny→allow ${report.flips.denyToAllow}), ${report.unchanged} unchanged` +
      (report.skipped ? `, ${report.skipped} skipped` : '') +
      (report.maskedInputs ? `, ${report.maskedInputs} had masked inputs` : '') +
      (report.otherRevision ? `, ${report.otherRevision} not replayed (recorded with another bundle revision)` : ''),
    ...report.skips.map((s) => `  ${s.count} not replayed, ${s.kind}: ${s.message}`),
    '',
  ];
  if (flips === 0) return lines.join('\n');
  lines.push(
    table(
      ['FLIP (RECORDED -> CANDIDATE REASON)', 'COUNT'],
      Object.entries(report.byReason)
        .sort(([, a], [, b]) => b - a)
        .map(([k, n]) => [k, String(n)]),
    ),
  );
  lines.push('examples:');
  lines.push(
    table(
      ['TIME', 'DECISION ID', 'PRINCIPAL', 'ACTION', 'TYPE', 'WORKSPACE', 'RECORDED', 'CANDIDATE'],
      report.examples.map((f) => [
        f.timestamp,
        f.decisionId,
        f.principalId,
        f.action,
        f.resourceType,
        f.workspaceId,
        `${f.before.allow ? 'allow' : 'deny'} ${f.before.reason}`,
        `${f.after.allow ? 'allow' : 'deny'} ${f.after.reason}${f.after.setting ? ` (${f.after.setting}/${f.after.source})` : ''}`,
      ]),
    ),
  );
  return lines.join('\n');
}
