// The decision APIs: Portcullis's own (POST /v1/authorize) and the OPA-compatible data
// and batch APIs, so OPA clients (e.g. @styra/opa) work unchanged. All of them parse
// the same request, ask the same Decider, and so are recorded the same way.
import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import type { DecisionApi } from '../audit/record.ts';
import type { DecisionAnswer, Decider } from '../decision/decider.ts';
import { parseAuthorizeRequest } from '../decision/request.ts';
import type { PolicyDecision } from '../engine/engine.ts';
import { ApiError, errors, invalidInput } from '../errors.ts';

/** The data paths served, and how each turns a decision into the rule's value. */
const DOCUMENTS: Record<string, (answer: DecisionAnswer) => unknown> = {
  'portkey/authz/allow': (answer) => answer.allow,
  'portkey/authz/decision': ({ decisionId: _id, bundleRevision: _revision, ...decision }): PolicyDecision => decision,
};

const MAX_BATCH = 1000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function documentFor(path: string): (answer: DecisionAnswer) => unknown {
  const document = DOCUMENTS[path];
  if (!document) {
    throw new ApiError(404, 'undefined_document', `data path ${path} is not served; use one of ${Object.keys(DOCUMENTS).join(', ')}`);
  }
  return document;
}

const dataPath = (req: Request) => (req.params as { path: string[] }).path.join('/');

/** Deep merge for the batch API's common_input: the item's own fields win. */
function mergeInput(common: unknown, own: unknown): unknown {
  if (!isObject(common) || !isObject(own)) return own === undefined ? common : own;
  const merged: Record<string, unknown> = Object.create(null);
  for (const key of new Set([...Object.keys(common), ...Object.keys(own)])) merged[key] = mergeInput(common[key], own[key]);
  return merged;
}

export function decisionRoutes(decider: Decider): Router {
  const router = Router();

  router.post('/v1/authorize', async (req, res) => {
    const request = parseAuthorizeRequest(req.body);
    res.json(await decider.decide(request, 'authorize'));
  });

  router.post('/v1/data/*path', async (req, res) => {
    const path = dataPath(req);
    const document = documentFor(path);
    if (!isObject(req.body) || req.body.input === undefined) {
      throw invalidInput([{ field: 'input', message: 'is required: POST {"input": <decision request>}' }]);
    }
    const answer = await decider.decide(parseAuthorizeRequest(req.body.input, 'input.'), 'opa_data');
    const body: Record<string, unknown> = { result: document(answer), decision_id: answer.decisionId };
    if (req.query.provenance !== undefined) body.provenance = { bundles: { portkey: { revision: answer.bundleRevision } } };
    res.json(body);
  });

  // OPA answers GET /v1/data/{path} with no input; these rules need one.
  router.get('/v1/data/*path', (req) => {
    documentFor(dataPath(req));
    throw invalidInput([{ field: 'input', message: 'is required: POST {"input": <decision request>}' }]);
  });

  router.post('/v1/batch/data/*path', async (req, res) => {
    const document = documentFor(dataPath(req));
    const inputs = isObject(req.body) ? req.body.inputs : undefined;
    if (!isObject(inputs)) throw invalidInput([{ field: 'inputs', message: 'is required: an object of id to input' }]);
    const ids = Object.keys(inputs);
    if (ids.length > MAX_BATCH) throw invalidInput([{ field: 'inputs', message: `must have at most ${MAX_BATCH} entries` }]);
    const common = req.body.common_input;
    const responses: Record<string, unknown> = {};
    let failed = 0;
    await Promise.all(
      ids.map(async (id) => {
        try {
          const request = parseAuthorizeRequest(mergeInput(common, inputs[id]), `inputs.${id}.`);
          const answer = await decider.decide(request, 'opa_batch' satisfies DecisionApi);
          responses[id] = { result: document(answer), decision_id: answer.decisionId, http_status_code: '200' };
        } catch (error) {
          failed++;
          const apiError = error instanceof ApiError ? error : errors.internal();
          responses[id] = { ...apiError.toJSON(), http_status_code: String(apiError.status) };
        }
      }),
    );
    res.status(failed === 0 ? 200 : 207).json({ batch_decision_id: randomUUID(), responses });
  });

  return router;
}
