// POST /v1/audit/replay: what-if over HTTP. The recorded decisions a filter selects are
// evaluated twice by the live engine: with the settings stored now (the baseline) and with
// the stored settings and the candidate's on top (a settings document, the JSON form of the
// `settings import` file); the report, in the shape `portcullis audit replay --format json`
// prints, counts the flips between the two, so a change saved since the decisions were
// recorded is never blamed on the candidate. Mounted behind /v1/audit's authentication (audit:read);
// a candidate also needs settings:read, since the report tells what settings would decide.
// An organization replays one at a time (per process): a replay is long and, however
// politely it yields, a tenant that starts many at once would take the whole process.
import { Router, type Request } from 'express';
import type { AuditLog, DecisionRecord, Page } from '../decision/record.ts';
import { Replay } from '../audit/replay.ts';
import type { ActivePolicy } from '../engine/active.ts';
import { ApiError, errors, invalidInput, type FieldError, CODE } from '../errors.ts';
import { isJsonObject } from '../json.ts';
import { parseSettingsDocument } from '../settings/validate.ts';
import { fromStore, parseDecisionFilter } from './audit.ts';
import { tokenOf } from './auth.ts';
import { ADMIN_PATHS, methodsOf } from './admin-routes.ts';
import { methodNotAllowed } from './directory.ts';
import { mayTouch } from '../access/tokens.ts';
import type { SettingsSnapshots } from '../settings/types.ts';

/** Records one replay examines at most: it answers within a request, so narrow the filter beyond this. */
export const MAX_REPLAY_RECORDS = 100_000;
const MAX_EXAMPLES = 1000;
const DEFAULT_EXAMPLES = 10;
const PAGE = 1000;
const BODY_KEYS = ['filter', 'settings', 'examples'];

interface ReplayRequest {
  query: Request['query'];
  /** The candidate settings as sent (the report echoes them). */
  raw: unknown;
  examples: number;
  /** filter.bundleRevision: only the decisions recorded with this bundle revision. */
  bundleRevision?: string;
}

/** The body, checked: filter values are the decisions query's parameters, as strings (allow may be a boolean). */
function parseBody(body: unknown): ReplayRequest {
  if (!isJsonObject(body)) throw invalidInput([{ field: 'body', message: 'must be a JSON object {filter, settings?, examples?}' }]);
  const problems: FieldError[] = [];
  for (const key of Object.keys(body))
    if (!BODY_KEYS.includes(key))
      problems.push({ field: key, code: 'unknown_field', message: `is not a field of the replay request (known: ${BODY_KEYS.join(', ')})` });
  const query: Record<string, string> = Object.create(null); // a `__proto__` key is a key, refused as unknown
  if (!isJsonObject(body.filter))
    problems.push({ field: 'filter', message: 'must be an object of the audit query filters, e.g. {"orgId": "org-1", "from": "2025-01-31T00:00:00Z"}' });
  else
    for (const [name, value] of Object.entries(body.filter)) {
      if (name === 'bundleRevision') {
        if (typeof value !== 'string' || value === '' || value.length > 256)
          problems.push({ field: 'filter.bundleRevision', message: 'must be a bundle revision (a non-empty string)' });
      } else if (typeof value === 'string') query[name] = value;
      else if (typeof value === 'boolean' && name === 'allow') query[name] = String(value);
      else problems.push({ field: `filter.${name}`, message: 'must be a string' });
    }
  if (isJsonObject(body.filter) && (query.from === undefined || query.from === ''))
    problems.push({ field: 'filter.from', message: 'is required: the time the replayed decisions start from' });
  for (const name of ['limit', 'cursor'])
    if (name in query) problems.push({ field: `filter.${name}`, message: 'is not a filter: the replay reads every matching record' });
  const examples = body.examples ?? DEFAULT_EXAMPLES;
  if (!(Number.isInteger(examples) && (examples as number) >= 0 && (examples as number) <= MAX_EXAMPLES))
    problems.push({ field: 'examples', message: `must be an integer from 0 to ${MAX_EXAMPLES}` });
  if (problems.length > 0) throw invalidInput(problems);
  const revision = isJsonObject(body.filter) ? body.filter.bundleRevision : undefined;
  return { query, raw: body.settings ?? null, examples: examples as number, ...(typeof revision === 'string' ? { bundleRevision: revision } : {}) };
}

/** A nested parser's 400, with its fields named under `prefix`. */
function withField<T>(prefix: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 400) throw error;
    throw invalidInput(
      error.errors.length > 0 ? error.errors.map((e) => ({ ...e, field: `${prefix}.${e.field}` })) : [{ field: prefix, message: error.message }],
    );
  }
}

export function replayRoutes(audit: AuditLog, policy: ActivePolicy, store: SettingsSnapshots): Router {
  const router = Router();
  const replaying = new Set<string>();
  router.post(ADMIN_PATHS.replay, async (req, res) => {
    const token = tokenOf(res);
    const request = parseBody(req.body);
    const engine = policy.require();
    const filter = withField('filter', () => parseDecisionFilter(request.query, engine.families.resourceTypes));
    // Read with the families of the bundle that replays them.
    const settings = request.raw === null ? undefined : withField('settings', () => parseSettingsDocument(request.raw, engine.families));
    if (!mayTouch(token, filter.orgId)) throw errors.orgNotAllowed(token.name, filter.orgId);
    if (settings) {
      if (!token.scopes.has('settings:read')) throw errors.insufficientScope(token.name, 'settings:read');
      for (const orgId of settings.orgs.keys()) if (!mayTouch(token, orgId)) throw errors.orgNotAllowed(token.name, orgId);
    }
    if (replaying.has(filter.orgId)) {
      throw new ApiError(
        409,
        CODE.replay_in_progress,
        `a replay of organization ${JSON.stringify(filter.orgId)} is already running; wait for its report, then ask again`,
      );
    }
    replaying.add(filter.orgId);
    try {
      const now = async (orgId: string, workspaceId: string) => {
        const { org, workspace } = await store.snapshot(orgId, workspaceId);
        return { org, workspace };
      };
      const replay = new Replay(settings ? { engine, settings } : { engine }, request.examples, request.bundleRevision, now);
      let cursor: string | null = null;
      let read = 0;
      do {
        const page: Page<DecisionRecord> = await fromStore(audit.queryDecisions(filter, cursor === null ? { limit: PAGE } : { limit: PAGE, cursor }));
        await replay.addAll(page.items);
        read += page.items.length;
        cursor = page.nextCursor;
        if (cursor !== null && read >= MAX_REPLAY_RECORDS) {
          throw new ApiError(
            400,
            CODE.replay_too_large,
            `the filter selects more than ${MAX_REPLAY_RECORDS} recorded decisions; narrow it (a later filter.from, or a workspace, principal or resource type)`,
          );
        }
      } while (cursor !== null);
      res.json({ candidate: { bundleRevision: engine.revision, settings: request.raw }, ...replay.result() });
    } finally {
      replaying.delete(filter.orgId);
    }
  });
  router.all(ADMIN_PATHS.replay, methodNotAllowed(methodsOf(ADMIN_PATHS.replay)));
  return router;
}
