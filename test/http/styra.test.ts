// Every path the OPA-compatible API serves, driven by OPA's own TypeScript client
// (@styra/opa) on good and bad input: each call ends in a result or in one of the client's
// typed errors (ClientError here), never in SDKValidationError (an answer the client cannot
// read). Shapes the client refuses to send (e.g. `inputs` not an object) are in opa-api.test.ts;
// a 5xx cannot be provoked with real parts (the edge refuses what would fail the policy, and
// a sidecar does not start without a bundle), so its shape is the 4xx's, pinned there.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OPAClient } from '@styra/opa';
import { ClientError, SDKValidationError } from '@styra/opa/sdk/models/errors';
import { OpaApiClient } from '@styra/opa/sdk/sdk.js';
import { decisionRequest, servedTestSidecar } from '../support/sidecar.ts';

let url: string;
let close: () => Promise<void>;
before(async () => ({ url, close } = await servedTestSidecar((s) => s.store.putOrg('org-1', 'integration-access', { managersWriteMcpServers: false }))));
after(() => close());

const manager = decisionRequest();
const owner = decisionRequest({ orgRole: 'owner', workspaceRoles: {} });
const typo = { ...manager, principal: { id: 'u-1', orgId: 'org-1', orgRole: 'member', workspaceRole: { 'ws-1': 'manager' } } };
const PATHS = ['portkey/authz/allow', 'portkey/authz/decision'];

/** The error a call ends in; fails when the call succeeds or ends in SDKValidationError. */
async function failure(call: Promise<unknown>): Promise<Error> {
  const error = await call.then(
    (value) => assert.fail(`expected an error, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  assert.ok(!(error instanceof SDKValidationError), `the client could not read the answer: ${String(error)}`);
  assert.ok(error instanceof Error, `a typed error, not ${String(error)}`);
  return error;
}

const itemCodes = (error: ClientError) => (error.errors ?? []).map((item) => item.code);

for (const path of PATHS) {
  test(`evaluate ${path}: a good input gets the rule's value`, async () => {
    const client = new OPAClient(url);
    const manages = await client.evaluate<typeof manager, unknown>(path, manager);
    const owns = await client.evaluate<typeof owner, unknown>(path, owner);
    if (path.endsWith('allow')) assert.deepEqual([manages, owns], [false, true]);
    else {
      assert.equal((manages as { reason: string }).reason, 'manager_write_disabled');
      assert.equal((owns as { allow: boolean }).allow, true);
    }
  });

  test(`evaluate ${path}: bad input is a ClientError whose items all carry a code`, async () => {
    const client = new OPAClient(url);
    const bad: Array<[unknown, string, string]> = [
      [{ action: 'x' }, 'invalid_value', 'input.action'],
      [{ ...manager, action: 'approve' }, 'invalid_value', 'input.action'],
      [typo, 'unknown_field', 'input.principal.workspaceRole'],
      [{ ...manager, actions: ['read'] }, 'unknown_field', 'input.actions'],
      [{ ...manager, principal: { ...manager.principal, id: '' } }, 'invalid_value', 'input.principal.id'],
      ['a string', 'invalid_type', 'input'],
    ];
    for (const [input, code, field] of bad) {
      const error = await failure(client.evaluate(path, input as Record<string, unknown>));
      assert.ok(error instanceof ClientError, `${JSON.stringify(input)}: ${error.name}`);
      assert.equal(error.code, 'invalid_parameter');
      assert.ok(itemCodes(error).includes(code), `${JSON.stringify(input)}: ${JSON.stringify(error.errors)}`);
      assert.ok(error.message.includes(field), error.message);
    }
    const suggested = await failure(client.evaluate(path, typo));
    assert.match(suggested.message, /did you mean `workspaceRoles`\?/);
  });

  test(`evaluate ${path} with no input (GET) is a ClientError naming input`, async () => {
    const error = await failure(new OPAClient(url).evaluate(path));
    assert.ok(error instanceof ClientError);
    assert.deepEqual(
      error.errors?.map((item) => item.code),
      ['missing_field'],
    );
    assert.match(error.message, /input/);
  });

  test(`evaluateBatch ${path}: all good is one result per input`, async () => {
    const results = await new OPAClient(url).evaluateBatch<typeof manager, unknown>(path, { manager, owner });
    if (path.endsWith('allow')) assert.deepEqual(results, { manager: false, owner: true });
    else assert.deepEqual([(results.manager as { reason: string }).reason, (results.owner as { allow: boolean }).allow], ['manager_write_disabled', true]);
  });

  test(`evaluateBatch ${path}: a bad item fails alone, readable by the client`, async () => {
    const client = new OPAClient(url);
    const results = await client.evaluateBatch<Record<string, unknown>, unknown>(path, { owner, typo, bad: { action: 'approve' } });
    assert.equal(path.endsWith('allow') ? results.owner : (results.owner as { allow: boolean }).allow, true);
    for (const key of ['typo', 'bad']) {
      const item = results[key] as { httpStatusCode: string; code: string; errors: Array<{ code: string }> };
      assert.deepEqual([item.httpStatusCode, item.code], ['500', 'invalid_parameter'], JSON.stringify(item));
      assert.ok(item.errors.length > 0 && item.errors.every((e) => typeof e.code === 'string'));
    }
    assert.equal((results.typo as { errors: Array<{ code: string }> }).errors[0]!.code, 'unknown_field');
    // Every item bad is still a client's problem, not a 5xx: the answer is 207 and readable.
    const allBad = await client.evaluateBatch<Record<string, unknown>, unknown>(path, { a: typo, b: {} });
    assert.deepEqual(Object.keys(allBad).sort(), ['a', 'b']);
    const rejected = await client.evaluateBatch(path, { owner, typo }, { rejectMixed: true }).then(
      () => assert.fail('rejectMixed should reject'),
      (e: unknown) => e as { code: string },
    );
    assert.equal(rejected.code, 'invalid_parameter');
  });
}

test('a data path with no rule answers as OPA does: no result, not an error', async () => {
  const client = new OPAClient(url);
  assert.equal(await client.evaluate('portkey/authz/nothing', manager), undefined);
  assert.equal(await client.evaluate('portkey/authz/nothing'), undefined);
  assert.deepEqual(await client.evaluateBatch('portkey/authz/nothing', { a: manager }), { a: undefined });
});

test('evaluateDefault (POST /): no default decision, a ClientError as OPA answers without one', async () => {
  const error = await failure(new OPAClient(url).evaluateDefault(manager));
  assert.ok(error instanceof ClientError, error.name);
  assert.equal(error.code, 'undefined_document');
  assert.match(error.message, /portkey\/authz\/decision/);
});

test('health through the low-level client: 200 with a bundle, with and without ?bundles', async () => {
  const sdk = new OpaApiClient({ serverURL: url });
  assert.equal((await sdk.health()).httpMeta.response.status, 200);
  assert.equal((await sdk.health(true)).httpMeta.response.status, 200);
});
