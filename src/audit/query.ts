// Query semantics shared by the Redis and the in-memory audit logs, so that both answer
// a query the same way: how records become stream entries, how filters match them,
// what a cursor means, and the scan that turns a range of entries into a page.
//
// Entries live in one stream per organization and kind, ordered by stream id
// "<ms>-<seq>". The id's ms is the record's own timestamp unless the stream already
// holds a later one (a record replayed after an outage), in which case it is the
// stream's top ms: ids only grow, so a cursor (the last id a page looked at) stays
// correct while records arrive. `maxLagMs` per stream bounds how far an id's ms can
// be past its record's timestamp, which is how far past `to` a scan has to start.
import { createHash } from 'node:crypto';
import { ApiError, CODE } from '../errors.ts';
import type { DecisionFilter, DecisionRecord, Page, SettingsChangeRecord, Summary } from '../decision/record.ts';

/** A stream entry: its id and flat string fields (as XADD stores them). */
export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

/**
 * Three fields per entry, since every field is a string Redis copies and the writer
 * encodes: `ts`; `k`, what the filters look at, as one JSON array (see `keysOf`); and
 * `r`, the record's JSON without what the other two or its input already say: the
 * top-level principal and resource (the input's own), the workspace, action, outcome and
 * reason (in `k`), the timestamp when `ts` gives it back exactly, and the organization
 * when it is the input's resource's. recordOf puts them back, in the record's order.
 */
export function decisionFields(record: DecisionRecord): Record<string, string> {
  return {
    ts: String(Date.parse(record.timestamp)),
    // The unverified bucket holds many organizations: its entries name theirs as an eighth key
    // ('' elsewhere when a key follows); a key principal's id and type are the ninth and tenth.
    k: JSON.stringify([
      record.workspaceId,
      record.principal.id,
      record.allow ? '1' : '0',
      record.reason,
      record.resource.type,
      record.action,
      record.api,
      ...keyKeys(record),
    ]),
    r: encodeDecision(record).json,
  };
}

/** The keys after the API: the unverified bucket's organization, then a key principal's id and key type. */
function keyKeys(record: DecisionRecord): string[] {
  const { principal } = record;
  const org = record.orgUnverified ? record.orgId : '';
  if (principal.type !== 'api_key') return org ? [org] : [];
  return [org, principal.id, principal.keyType];
}

/**
 * A decision's `r` field and the byte size of the whole record's JSON, encoded once:
 * trimRecord measures a record by it (recordBytes) and the writer stores it, so the
 * decision path pays one JSON.stringify of the record, not two. Records are not changed
 * once recorded; a WeakMap lets the record's own life bound it.
 */
const encoded = new WeakMap<DecisionRecord, { json: string; bytes: number }>();

export function encodeDecision(record: DecisionRecord): { json: string; bytes: number } {
  let done = encoded.get(record);
  if (done === undefined) {
    const { principal, resource, log, workspaceId, action, allow, reason, timestamp, orgId, ...rest } = record;
    const stored: Record<string, unknown> = rest;
    let apart = 0;
    const leave = (key: string, value: unknown) => {
      if (value !== undefined) apart += key.length + 4 + Buffer.byteLength(JSON.stringify(value));
    };
    // Put back in the record's order (see recordOf); kept whenever it could not be given back exactly.
    const keep: Record<string, unknown> = {};
    if (typeof timestamp === 'string' && new Date(Date.parse(timestamp)).toISOString() === timestamp) leave('timestamp', timestamp);
    else keep.timestamp = timestamp;
    if (typeof orgId === 'string' && orgId === record.input?.resource?.orgId) leave('orgId', orgId);
    else keep.orgId = orgId;
    if (typeof workspaceId === 'string') leave('workspaceId', workspaceId);
    else keep.workspaceId = workspaceId;
    if (typeof action === 'string') leave('action', action);
    else keep.action = action;
    if (typeof allow === 'boolean') leave('allow', allow);
    else keep.allow = allow;
    if (typeof reason === 'string') leave('reason', reason);
    else keep.reason = reason;
    leave('principal', principal);
    leave('resource', resource);
    leave('log', log);
    const json = JSON.stringify(Object.keys(keep).length === 0 ? stored : { ...keep, ...stored });
    done = { json, bytes: Buffer.byteLength(json) + apart };
    encoded.set(record, done);
  }
  return done;
}

/**
 * The filter keys of a decision entry: workspace, principal, allow ('1'|'0'), reason, resource
 * type, action, API, in the unverified bucket the organization, and for a key principal its id and key type. Entries written before the
 * API was a key have six: their API is read from the record, so a filter by API still finds them.
 */
function keysOf(fields: Record<string, string>): [string, string, string, string, string, string, string, string?, string?, string?] {
  const keys = JSON.parse(fields.k!) as string[];
  if (keys.length < 7) keys[6] = (JSON.parse(fields.r!) as { api: string }).api;
  return keys as [string, string, string, string, string, string, string, string?, string?, string?];
}

export function settingsChangeFields(change: SettingsChangeRecord): Record<string, string> {
  return { ts: String(Date.parse(change.timestamp)), ws: change.workspaceId ?? '', r: JSON.stringify(change) };
}

export function recordOf<T>(entry: StreamEntry): T {
  const record = JSON.parse(entry.fields.r!) as { input?: { principal?: unknown; resource?: { orgId?: unknown } } };
  if (entry.fields.k === undefined || !record.input) return record as T;
  // What decisionFields left out of `r`, from `k`, `ts` and the input, in the record's order.
  const keys = JSON.parse(entry.fields.k) as string[];
  const {
    decisionId,
    timestamp = new Date(Number(entry.fields.ts)).toISOString(),
    api,
    orgId = record.input.resource?.orgId,
    workspaceId = keys[0],
    action = keys[5],
    allow = keys[2] === '1',
    reason = keys[3],
    ...rest
  } = record as Record<string, unknown>;
  // A decision's principal and resource are stored once, in its input.
  return {
    decisionId,
    timestamp,
    api,
    orgId,
    workspaceId,
    action,
    allow,
    reason,
    ...rest,
    principal: record.input.principal,
    resource: record.input.resource,
  } as T;
}

export type Matcher = (fields: Record<string, string>) => boolean;

function inRange(fields: Record<string, string>, from?: number, to?: number): boolean {
  const ts = Number(fields.ts);
  return (from === undefined || ts >= from) && (to === undefined || ts <= to);
}

export function decisionMatcher(filter: DecisionFilter): Matcher {
  const allow = filter.allow === undefined ? undefined : filter.allow ? '1' : '0';
  const keyed = [
    filter.workspaceId,
    filter.principalId,
    allow,
    filter.reason,
    filter.resourceType,
    filter.action,
    filter.api,
    filter.unverified ? filter.orgId : undefined,
    filter.keyId,
    filter.keyType,
  ];
  if (keyed.every((wanted) => wanted === undefined)) return (f) => inRange(f, filter.from, filter.to);
  return (f) => {
    if (!inRange(f, filter.from, filter.to)) return false;
    const keys = keysOf(f);
    return keyed.every((wanted, i) => wanted === undefined || keys[i] === wanted);
  };
}

export function settingsChangeMatcher(filter: { workspaceId?: string; from?: number; to?: number }): Matcher {
  return (f) => inRange(f, filter.from, filter.to) && (filter.workspaceId === undefined || f.ws === filter.workspaceId);
}

export function timeBounds(filter: { from?: number; to?: number }): { from?: number; to?: number } {
  const out: { from?: number; to?: number } = {};
  if (filter.from !== undefined) out.from = filter.from;
  if (filter.to !== undefined) out.to = filter.to;
  return out;
}

// ---- stream ids ----

export function parseStreamId(id: string): [number, number] {
  const dash = id.indexOf('-');
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

export function compareStreamIds(a: string, b: string): number {
  const [am, as] = parseStreamId(a);
  const [bm, bs] = parseStreamId(b);
  return am - bm || as - bs;
}

/** The id Redis gives `XADD key <tsMs>-*` after the script has raised tsMs to the top's ms. */
export function nextStreamId(top: string | undefined, tsMs: number): string {
  if (top === undefined) return `${tsMs}-0`;
  const [topMs, topSeq] = parseStreamId(top);
  return tsMs > topMs ? `${tsMs}-0` : `${topMs}-${topSeq + 1}`;
}

// ---- cursors ----

/** An opaque cursor: the last stream id a page looked at, bound to the query's filters. */
export function encodeCursor(id: string, filterHash: string): string {
  return Buffer.from(JSON.stringify({ id, h: filterHash })).toString('base64url');
}

export function decodeCursor(cursor: string, filterHash: string): string {
  let decoded: { id?: unknown; h?: unknown };
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as typeof decoded;
  } catch {
    throw cursorError('is not a cursor returned by this API');
  }
  if (typeof decoded?.id !== 'string' || !isStreamIdInRange(decoded.id)) throw cursorError('is not a cursor returned by this API');
  if (decoded.h !== filterHash) throw cursorError('belongs to a query with other filters; repeat the same filters or drop the cursor');
  return decoded.id;
}

/**
 * The latest time a query can name (the end of year 9999, as for `from`/`to`), and so the
 * largest ms a stream id of ours can have. A cursor past it is no cursor of ours, and Redis
 * would refuse its id (ids are two unsigned 64-bit numbers): both logs answer 400.
 */
export const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function isStreamIdInRange(id: string): boolean {
  const match = /^(\d{1,16})-(\d{1,16})$/.exec(id);
  return match !== null && Number(match[1]) <= MAX_TIME_MS && Number.isSafeInteger(Number(match[2]));
}

const cursorError = (message: string) => new ApiError(400, CODE.invalid_parameter, `cursor: ${message}`, [{ field: 'cursor', message }]);

/** Hash of everything that selects records, so a cursor cannot be replayed against other filters. */
export function filterHash(kind: string, filter: object): string {
  const sorted = Object.fromEntries(
    Object.entries(filter)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  return createHash('sha256').update(kind).update(JSON.stringify(sorted)).digest('base64url').slice(0, 16);
}

// ---- scanning ----

/** One step of a newest-first scan: entries with id < `before` (if set), id ms ≤ maxMs, id ms ≥ minMs. */
export interface ScanRange {
  before?: string;
  maxMs?: number;
  minMs?: number;
}

export type ScanDescending = (range: ScanRange, count: number) => Promise<StreamEntry[]>;

export interface ScanOptions {
  from?: number;
  to?: number;
  /** The stream's maxLagMs (see the top of this file). */
  lagMs: number;
  /** Entries examined per request at most; a page may then be short, with a cursor to go on. */
  maxScan: number;
}

const FIRST_CHUNK = 64;
const MAX_CHUNK = 5000;

export async function queryPage<T>(
  scan: ScanDescending,
  matches: Matcher,
  limit: number,
  cursor: string | undefined,
  hash: string,
  options: ScanOptions,
): Promise<Page<T>> {
  const range: ScanRange = {};
  if (cursor !== undefined) range.before = decodeCursor(cursor, hash);
  if (options.to !== undefined) range.maxMs = options.to + options.lagMs;
  if (options.from !== undefined) range.minMs = options.from;
  const items: T[] = [];
  let scanned = 0;
  let chunk = Math.min(Math.max(limit + 1, FIRST_CHUNK), MAX_CHUNK);
  for (;;) {
    const entries = await scan(range, chunk);
    for (const entry of entries) {
      scanned++;
      range.before = entry.id;
      if (!matches(entry.fields)) continue;
      items.push(recordOf<T>(entry));
      if (items.length === limit) return { items, nextCursor: encodeCursor(entry.id, hash) };
    }
    if (entries.length < chunk) return { items, nextCursor: null };
    if (scanned >= options.maxScan) return { items, nextCursor: encodeCursor(range.before!, hash) };
    chunk = Math.min(chunk * 4, MAX_CHUNK);
  }
}

export async function summarize(scan: ScanDescending, filter: Pick<DecisionFilter, 'orgId' | 'from' | 'to'>, lagMs: number): Promise<Summary> {
  const summary: Summary = {
    orgId: filter.orgId,
    from: filter.from === undefined ? null : new Date(filter.from).toISOString(),
    to: filter.to === undefined ? null : new Date(filter.to).toISOString(),
    total: 0,
    byOutcome: { allow: 0, deny: 0 },
    byReason: {},
    byResourceType: {},
  };
  const matches = decisionMatcher(filter);
  const range: ScanRange = {};
  if (filter.to !== undefined) range.maxMs = filter.to + lagMs;
  if (filter.from !== undefined) range.minMs = filter.from;
  for (;;) {
    const entries = await scan(range, MAX_CHUNK);
    for (const { id, fields } of entries) {
      range.before = id;
      if (!matches(fields)) continue;
      const [, , allowed, reason, resourceType] = keysOf(fields);
      summary.total++;
      summary.byOutcome[allowed === '1' ? 'allow' : 'deny']++;
      summary.byReason[reason] = (summary.byReason[reason] ?? 0) + 1;
      summary.byResourceType[resourceType] = (summary.byResourceType[resourceType] ?? 0) + 1;
    }
    if (entries.length < MAX_CHUNK) return summary;
  }
}
