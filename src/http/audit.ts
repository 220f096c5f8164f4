// The audit API (admin token): decision records by filter, one by id, a summary for
// dashboards (optionally in time buckets, for a chart), and the settings changes made through the admin API. Query parameters are
// parsed here once; a bad or unknown one is a 400 that names it.
import { Router, type Request } from 'express';
import { MAX_TIME_MS } from '../audit/query.ts';
import { DECISION_APIS, type AuditLog, type DecisionApi, type DecisionFilter } from '../decision/record.ts';
import { ACTIONS, KEY_TYPES } from '../decision/request.ts';
import type { ActivePolicy } from '../engine/active.ts';
import { ApiError, errors, invalidInput, type FieldError } from '../errors.ts';
import { idProblem, isId, MAX_ID_LENGTH } from '../ids.ts';
import { nearest } from '../suggest.ts';
import { ADMIN_PATHS } from './admin-routes.ts';

const MAX_LIMIT = 1000;
const DEFAULT_LIMIT = 100;
const MAX_BUCKETS = 200;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

class QueryReader {
  readonly errors: FieldError[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly query: Request['query']) {}

  string(name: string, required = false): string | undefined {
    this.seen.add(name);
    const value = this.query[name];
    if (value === undefined || value === '') {
      if (required) this.errors.push({ field: name, message: 'is required' });
      return undefined;
    }
    if (typeof value !== 'string') {
      this.errors.push({ field: name, message: 'must be given once' });
      return undefined;
    }
    if (value.length > MAX_ID_LENGTH && name !== 'cursor') {
      this.errors.push({ field: name, message: `must be at most ${MAX_ID_LENGTH} characters` });
      return undefined;
    }
    return value;
  }

  /** An organization, workspace or principal id: the one id rule (src/ids.ts). */
  id(name: string, required = false): string | undefined {
    const value = this.string(name, required);
    const problem = value === undefined ? undefined : idProblem(value);
    if (problem !== undefined) this.errors.push({ field: name, message: problem });
    return problem === undefined ? value : undefined;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const value = this.string(name);
    if (value === undefined || allowed.includes(value as T)) return value as T | undefined;
    const suggestion = nearest(value, allowed);
    this.errors.push({ field: name, message: `must be one of ${allowed.join(', ')}${suggestion === undefined ? '' : `; did you mean ${suggestion}?`}` });
    return undefined;
  }

  time(name: string): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const ms = ISO_8601.test(value) ? Date.parse(value) : NaN;
    if (Number.isNaN(ms)) {
      this.errors.push({ field: name, message: 'must be an ISO-8601 time, e.g. 2025-01-31T12:00:00Z' });
      return undefined;
    }
    // Stream ids are unsigned: a time before 1970 cannot be asked of Redis, and the memory
    // log must answer as Redis does (a 400, not a clamped range).
    if (ms < 0 || ms > MAX_TIME_MS) {
      this.errors.push({ field: name, message: 'must be from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z' });
      return undefined;
    }
    return ms;
  }

  limit(): number {
    const value = this.string('limit');
    if (value === undefined) return DEFAULT_LIMIT;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= 1 && n <= MAX_LIMIT)) this.errors.push({ field: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}` });
    return n;
  }

  /** The summary's `buckets` (allowed/denied per equal slice of from..to, for a chart); needs from and to. */
  buckets(range: { from?: number; to?: number }): number | undefined {
    const value = this.string('buckets');
    if (value === undefined) return undefined;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= 1 && n <= MAX_BUCKETS)) this.errors.push({ field: 'buckets', message: `must be an integer from 1 to ${MAX_BUCKETS}` });
    else if (range.from === undefined || range.to === undefined)
      this.errors.push({ field: 'buckets', message: 'needs from and to: the range the buckets divide' });
    return n;
  }

  /** Throws the 400 if anything was wrong, or if a parameter the route does not take was given. */
  done(): void {
    for (const name of Object.keys(this.query)) {
      if (!this.seen.has(name)) this.errors.push({ field: name, message: 'is not a parameter of this query' });
    }
    if (this.errors.length > 0) throw invalidInput(this.errors);
  }
}

function timeRange(read: QueryReader): { from?: number; to?: number } {
  const range: { from?: number; to?: number } = {};
  const from = read.time('from');
  const to = read.time('to');
  if (from !== undefined) range.from = from;
  if (to !== undefined) range.to = to;
  if (from !== undefined && to !== undefined && from > to) read.errors.push({ field: 'from', message: 'must not be after to' });
  return range;
}

/** The decision filters of a query (the replay API reads its body's filter with it too); throws the 400. */
export function parseDecisionFilter(query: Request['query'], resourceTypes: readonly string[]): DecisionFilter {
  const read = new QueryReader(query);
  const filter = decisionFilter(read, resourceTypes);
  read.done();
  return filter;
}

function decisionFilter(read: QueryReader, resourceTypes: readonly string[]): DecisionFilter {
  const filter: DecisionFilter = { orgId: read.id('orgId', true) ?? '', ...timeRange(read) };
  const workspaceId = read.id('workspaceId');
  const principalId = read.id('principalId');
  const keyId = read.id('keyId');
  const keyType = read.oneOf('keyType', KEY_TYPES);
  const allow = read.oneOf('allow', ['true', 'false']);
  const reason = read.string('reason');
  const resourceType = read.oneOf('resourceType', resourceTypes);
  const action = read.oneOf('action', ACTIONS);
  const api: DecisionApi | undefined = read.oneOf('api', DECISION_APIS);
  // The records that named orgId but whose organization the workspace directory did not confirm.
  const unverified = read.oneOf('unverified', ['true', 'false']);
  if (unverified === 'true') filter.unverified = true;
  if (workspaceId !== undefined) filter.workspaceId = workspaceId;
  if (principalId !== undefined) filter.principalId = principalId;
  if (keyId !== undefined) filter.keyId = keyId;
  if (keyType !== undefined) filter.keyType = keyType;
  if (allow !== undefined) filter.allow = allow === 'true';
  if (reason !== undefined) filter.reason = reason;
  if (resourceType !== undefined) filter.resourceType = resourceType;
  if (action !== undefined) filter.action = action;
  if (api !== undefined) filter.api = api;
  return filter;
}

function page(read: QueryReader): { limit: number; cursor?: string } {
  const limit = read.limit();
  const cursor = read.string('cursor');
  return cursor === undefined ? { limit } : { limit, cursor };
}

/** Reading the store can fail (Redis away): that is a 503, not a 500. */
export async function fromStore<T>(query: Promise<T>): Promise<T> {
  try {
    return await query;
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw errors.unavailable('the audit store cannot be read right now; try again');
  }
}

/** `policy`: the active bundle, whose families name the resource types a query may filter by. */
export function auditRoutes(audit: AuditLog, policy: ActivePolicy): Router {
  const router = Router();

  router.get(ADMIN_PATHS.auditDecisions, async (req, res) => {
    const read = new QueryReader(req.query);
    const filter = decisionFilter(read, policy.require().families.resourceTypes);
    const request = page(read);
    read.done();
    const { items, nextCursor } = await fromStore(audit.queryDecisions(filter, request));
    res.json({ decisions: items, nextCursor });
  });

  router.get(ADMIN_PATHS.auditDecision, async (req, res) => {
    const { decisionId } = req.params as { decisionId: string };
    const record = isId(decisionId) ? await fromStore(audit.getDecision(decisionId)) : null;
    if (!record) throw errors.notFound(`decision ${decisionId}`);
    res.json(record);
  });

  router.get(ADMIN_PATHS.auditSummary, async (req, res) => {
    const read = new QueryReader(req.query);
    const filter = { orgId: read.id('orgId', true) ?? '', ...timeRange(read) };
    const buckets = read.buckets(filter);
    read.done();
    const summary = await fromStore(audit.summary(filter));
    if (buckets === undefined) return res.json(summary);
    // Each bucket is a summary of its own time range: the scan reads only that range.
    const series: Array<{ from: string; to: string; allow: number; deny: number }> = [];
    const width = Math.ceil((filter.to! - filter.from! + 1) / buckets);
    for (let from = filter.from!; from <= filter.to!; from += width) {
      const to = Math.min(from + width - 1, filter.to!);
      const { byOutcome } = await fromStore(audit.summary({ orgId: filter.orgId, from, to }));
      series.push({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), ...byOutcome });
    }
    res.json({ ...summary, series });
  });

  router.get(ADMIN_PATHS.auditSettingsChanges, async (req, res) => {
    const read = new QueryReader(req.query);
    const filter: { orgId: string; workspaceId?: string; from?: number; to?: number } = { orgId: read.id('orgId', true) ?? '', ...timeRange(read) };
    const workspaceId = read.id('workspaceId');
    if (workspaceId !== undefined) filter.workspaceId = workspaceId;
    const request = page(read);
    read.done();
    const { items, nextCursor } = await fromStore(audit.querySettingsChanges(filter, request));
    res.json({ changes: items, nextCursor });
  });

  return router;
}
