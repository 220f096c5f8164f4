// What we test in Rego is what we ship: the committed bundle's WASM, run by the
// opa-wasm SDK, must give the same decision as the opa interpreter on the policy
// sources, for every input of the matrices (one `opa eval` for each matrix): the
// integration family's, every family's from the bundle's table, and the effective settings.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readBundleFile } from '../../src/engine/bundle.ts';
import { PolicyEngine } from '../../src/engine/engine.ts';
import {
  MALFORMED_INPUTS,
  TOGGLES,
  VALUES,
  expected,
  familiesOf,
  familyMatrix,
  familyRequestOf,
  familySettingsOf,
  matrix,
  requestOf,
  settingPairs,
  settingsOf,
  toggleKey,
} from '../support/matrix.ts';

const OPA = process.env.OPA_BIN ?? '.cache/bin/opa';

const cases = [...matrix()];
const inputs: unknown[] = [...cases.map((c) => ({ ...requestOf(c), settings: settingsOf(c) })), ...MALFORMED_INPUTS];

/** The value of `query` (which reads `input.cases`) over the policy sources, by the opa interpreter. */
function interpret(query: string, cases: unknown[]): unknown[] {
  const dir = mkdtempSync(join(tmpdir(), 'parity-'));
  const inputFile = join(dir, 'input.json');
  writeFileSync(inputFile, JSON.stringify({ cases }));
  const out = execFileSync(OPA, ['eval', '--format', 'json', '--data', 'policies', '--ignore', '*_test.rego', '--input', inputFile, query], {
    maxBuffer: 1024 * 1024 * 1024,
  });
  rmSync(dir, { recursive: true, force: true });
  const parsed = JSON.parse(out.toString());
  return parsed.result[0].expressions[0].value;
}

function interpreterDecisions(): Array<{ decision: unknown; allow: unknown }> {
  const query =
    '[{"decision": d, "allow": a} | some c in input.cases; d := data.portkey.authz.decision with input as c; a := data.portkey.authz.allow with input as c]';
  return interpret(query, inputs) as Array<{ decision: unknown; allow: unknown }>;
}

test('the committed WASM bundle decides exactly as the opa interpreter over the full matrix', async () => {
  const engine = await PolicyEngine.load(await readBundleFile('bundles/portkey.tar.gz'));
  const interpreted = interpreterDecisions();
  assert.equal(interpreted.length, inputs.length);
  assert.equal(cases.length, 2592);

  const mismatches = inputs.flatMap((input, i) => {
    const wasm = { decision: engine.evaluate('portkey/authz/decision', input as object), allow: engine.evaluate('portkey/authz/allow', input as object) };
    return JSON.stringify(canonical(wasm)) === JSON.stringify(canonical(interpreted[i])) && wasm.allow === (wasm.decision as { allow: boolean }).allow
      ? []
      : [{ input, wasm, interpreter: interpreted[i] }];
  });
  assert.deepEqual(mismatches.slice(0, 3), [], `${mismatches.length} of ${inputs.length} inputs differ`);
});

test('the WASM decisions match the spec oracle on every matrix case', async () => {
  const engine = await PolicyEngine.load(await readBundleFile('bundles/portkey.tar.gz'));
  const wrong = cases.flatMap((c) => {
    const { allow, reason, setting, source } = engine.decide({ ...requestOf(c), settings: settingsOf(c) });
    const got = { allow, reason, ...(setting ? { setting } : {}), ...(source ? { source } : {}) };
    return JSON.stringify(got) === JSON.stringify(canonical(expected(c))) ? [] : [{ c, got, want: expected(c) }];
  });
  assert.deepEqual(wrong.slice(0, 3), [], `${wrong.length} cases differ from the spec`);
});

test('malformed inputs are denied by the WASM with their own reasons', async () => {
  const engine = await PolicyEngine.load(await readBundleFile('bundles/portkey.tar.gz'));
  const reasons = MALFORMED_INPUTS.map((input) => engine.decide(input as object));
  assert.ok(reasons.every((d) => d.allow === false));
  assert.deepEqual(
    reasons.map((d) => d.reason),
    [
      'invalid_input',
      'invalid_input',
      'unknown_action',
      'unknown_resource_type',
      'invalid_principal',
      'invalid_principal',
      'invalid_resource',
      'invalid_workspace_roles',
      'cross_org',
    ],
  );
});

test("the committed WASM bundle decides exactly as the opa interpreter over every family's matrix", async () => {
  const bundle = await readBundleFile('bundles/portkey.tar.gz');
  const engine = await PolicyEngine.load(bundle);
  const families = familiesOf(bundle.data);
  const familyCases = [...familyMatrix(families), ...settingPairs(families)];
  // Every family that governs resource types (Data Visibility governs what reads show; its own test covers it).
  assert.deepEqual(new Set(familyCases.map((c) => c.family.name)), new Set(families.filter((f) => f.resource_types.length > 0).map((f) => f.name)));
  const familyInputs = familyCases.map((c) => ({ ...familyRequestOf(c), settings: familySettingsOf(c) }));

  const interpreted = interpret('[d | some c in input.cases; d := data.portkey.authz.decision with input as c]', familyInputs);
  assert.equal(interpreted.length, familyInputs.length);

  const reasons = new Set<string>();
  const mismatches = familyInputs.flatMap((input, i) => {
    const decision = engine.evaluate('portkey/authz/decision', input) as { allow: boolean; reason: string };
    const allow = engine.evaluate('portkey/authz/allow', input);
    reasons.add(decision.reason);
    return JSON.stringify(canonical(decision)) === JSON.stringify(canonical(interpreted[i])) && allow === decision.allow
      ? []
      : [{ input, wasm: { decision, allow }, interpreter: interpreted[i] }];
  });
  assert.deepEqual(mismatches.slice(0, 3), [], `${mismatches.length} of ${familyInputs.length} inputs differ`);
  // The matrix reaches every way a family decision can go that the table allows today.
  for (const reason of [
    'org_admin',
    'no_workspace_access',
    'workspace_read',
    'read_only_role',
    'unsupported_action',
    'manager_read_disabled',
    'member_write_enabled',
    'org_admin_read_disabled',
  ]) {
    assert.ok(reasons.has(reason), `no case of the family matrix is decided by ${reason}`);
  }
});

test("the committed WASM bundle decides exactly as the opa interpreter for API key principals over every family's matrix", async () => {
  const bundle = await readBundleFile('bundles/portkey.tar.gz');
  const engine = await PolicyEngine.load(bundle);
  const families = familiesOf(bundle.data);
  const scopes = (bundle.data.portkey as { api_keys: { scopes: Record<string, { actions: Record<string, string> }> } }).api_keys.scopes;
  const keyInputs = [...familyMatrix(families)].flatMap((c) => {
    const { principal, ...request } = familyRequestOf(c);
    const scope = scopes[request.resource.type]?.actions[request.action] ?? 'none.none';
    const { orgId, ...user } = principal;
    const base = { type: 'api_key', id: 'k-1', orgId };
    return [
      { keyType: 'workspace-user', workspaceId: 'ws-1', scopes: [scope], user },
      { keyType: 'workspace-user', workspaceId: 'ws-1', scopes: [], user },
      { keyType: 'workspace-service', workspaceId: 'ws-1', scopes: [scope] },
      { keyType: 'workspace-service', workspaceId: 'ws-2', scopes: [scope] },
      { keyType: 'organisation-service', scopes: [scope] },
      { keyType: 'organisation-service', scopes: [scope], workspaceId: 'ws-1' },
    ].map((key) => ({ ...request, principal: { ...base, ...key }, settings: familySettingsOf(c) }));
  });
  const dataPlane = Object.entries(scopes).flatMap(([type, entry]) =>
    families.some((f) => f.resource_types.includes(type))
      ? []
      : ['organisation-service', 'workspace-service'].map((keyType) => ({
          principal: {
            type: 'api_key',
            id: 'k-1',
            orgId: 'org-1',
            keyType,
            scopes: Object.values(entry.actions),
            ...(keyType === 'workspace-service' ? { workspaceId: 'ws-1' } : {}),
          },
          action: Object.keys(entry.actions)[0],
          resource: { type, orgId: 'org-1', workspaceId: 'ws-1' },
        })),
  );
  const inputs = [...keyInputs, ...dataPlane];
  const interpreted = interpret('[d | some c in input.cases; d := data.portkey.authz.decision with input as c]', inputs);
  assert.equal(interpreted.length, inputs.length);
  const reasons = new Set<string>();
  const mismatches = inputs.flatMap((input, i) => {
    const decision = engine.evaluate('portkey/authz/decision', input) as { allow: boolean; reason: string };
    reasons.add(decision.reason);
    return JSON.stringify(canonical(decision)) === JSON.stringify(canonical(interpreted[i])) ? [] : [{ input, wasm: decision, interpreter: interpreted[i] }];
  });
  assert.deepEqual(mismatches.slice(0, 3), [], `${mismatches.length} of ${inputs.length} inputs differ`);
  for (const reason of [
    'missing_scope',
    'key_workspace_mismatch',
    'admin_api_key',
    'service_api_key',
    'admin_key_data_plane',
    'invalid_api_key',
    'manager_write_disabled',
  ]) {
    assert.ok(reasons.has(reason), `no key case is decided by ${reason}`);
  }
});

test('the committed WASM bundle computes the effective settings exactly as the opa interpreter', async () => {
  const bundle = await readBundleFile('bundles/portkey.tar.gz');
  const engine = await PolicyEngine.load(bundle);
  const inputs = familiesOf(bundle.data).flatMap((family) =>
    family.settings.flatMap((setting) =>
      VALUES.flatMap((orgValue) =>
        TOGGLES.flatMap((toggle) =>
          VALUES.map((workspaceValue) => ({
            settings: {
              org: { ...(orgValue === 'unset' ? {} : { [setting.name]: orgValue }), allowWorkspaceOverrides: { [toggleKey(family, setting)]: toggle } },
              workspace: workspaceValue === 'unset' ? {} : { [setting.name]: workspaceValue },
            },
          })),
        ),
      ),
    ),
  );
  const interpreted = interpret('[s | some c in input.cases; s := data.portkey.authz.effective_settings with input as c]', inputs);
  const mismatches = inputs.flatMap((input, i) => {
    const wasm = engine.evaluate('portkey/authz/effective_settings', input);
    return JSON.stringify(canonical(wasm)) === JSON.stringify(canonical(interpreted[i])) ? [] : [{ input, wasm, interpreter: interpreted[i] }];
  });
  assert.deepEqual(mismatches.slice(0, 3), [], `${mismatches.length} of ${inputs.length} inputs differ`);
});

/** Key order differs between the SDK's and opa's JSON; compare with sorted keys. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
