// What-if replay finds exactly the recorded decisions that a candidate would flip: for
// candidate settings, checked against a sidecar that really has those settings; for a
// candidate bundle built by the real opa CLI, against what the rule change means.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { dump as dumpYaml, load as loadYaml } from 'js-yaml';
import type { DecisionRecord } from '../../src/decision/record.ts';
import { Replay } from '../../src/audit/replay.ts';
import { main } from '../../src/cli/main.ts';
import { parseAuthorizeRequest } from '../../src/decision/request.ts';
import { readBundleFile } from '../../src/engine/bundle.ts';
import { PolicyEngine } from '../../src/engine/engine.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { parseSettingsDocument } from '../../src/settings/validate.ts';
import { ADMIN_TOKEN, decisionRequest, serve, testSidecar, RESOURCE_TYPES } from '../support/sidecar.ts';
import request from 'supertest';

const CANDIDATE = {
  orgs: {
    'org-1': {
      settings: {
        'integration-access': { managersWriteMcpServers: true, managersWriteWsIntegrations: false, allowWorkspaceOverrides: { managersWriteMcpServers: true } },
      },
      // ws-1 listed as the example lists it, so that the truth sidecar's directory still has it.
      workspaces: { 'ws-1': {}, 'ws-2': { 'integration-access': { managersWriteMcpServers: false } } },
    },
  },
};

const OPA = process.env.OPA_BIN ?? '.cache/bin/opa';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-replay-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A candidate bundle built by `make candidate` (the real opa CLI) from policies/ with members no longer reading. */
async function denyReadsBundle(dir: string): Promise<string> {
  const source = join(dir, 'policies');
  await cp('policies', source, { recursive: true, filter: (path) => !path.endsWith('_test.rego') });
  const rego = await readFile(join(source, 'authz.rego'), 'utf8');
  const edited = rego.replace('allowing_reasons := {"org_admin", "workspace_read"}', 'allowing_reasons := {"org_admin"}');
  assert.notEqual(edited, rego, 'the edit must change authz.rego');
  await writeFile(join(source, 'authz.rego'), edited);
  const out = join(dir, 'candidate.tar.gz');
  await promisify(execFile)('make', ['-s', 'candidate', `OPA=${resolve(OPA)}`, `POLICIES=${source}`, `CANDIDATE=${out}`]);
  return out;
}

const FILLER = 50;
const FILLER_ROLES = Object.fromEntries(Array.from({ length: FILLER }, (_, i) => [`ws-other-${i}`, 'admin']));

let recorded: Sidecar;
let records: DecisionRecord[];
let engine: PolicyEngine;

/** A grid of decisions on the example settings, recorded by the embedded sidecar. */
before(async () => {
  recorded = await testSidecar({ settingsFile: 'examples/settings.yaml' });
  engine = recorded.policy.require();
  for (const orgId of ['org-1', 'org-2']) {
    for (const workspaceId of ['ws-1', 'ws-2']) {
      for (const orgRole of ['member', 'admin']) {
        for (const role of ['manager', 'member']) {
          for (const type of ['integration', 'mcp_integration', 'mcp_server']) {
            for (const action of ['create', 'read']) {
              // Roles in other workspaces too (the other one the opposite role): the record keeps
              // only the requested workspace's, and replay must still reproduce the decision.
              const other = workspaceId === 'ws-1' ? 'ws-2' : 'ws-1';
              const workspaceRoles = { ...FILLER_ROLES, [other]: role === 'manager' ? 'member' : 'manager', [workspaceId]: role };
              const body = decisionRequest({ orgId, workspaceId, orgRole, workspaceRoles, type, action });
              await recorded.decider.decide(parseAuthorizeRequest(body, RESOURCE_TYPES), 'authorize');
            }
          }
        }
      }
    }
  }
  records = [];
  for (const orgId of ['org-1', 'org-2']) {
    // Workspaces the directory does not know put their records in the unverified bucket.
    for (const unverified of [false, true]) records.push(...(await recorded.audit.queryDecisions({ orgId, unverified }, { limit: 1000 })).items);
  }
  assert.equal(records.length, 96);
  for (const record of records) {
    assert.deepEqual(Object.keys(record.input.principal.workspaceRoles), [record.workspaceId], "only the requested workspace's role is kept");
    assert.equal(record.trimmed?.otherWorkspaceRoles, FILLER + 1);
  }
});

after(() => recorded.close());

describe('what-if replay', () => {
  test('the trimmed inputs replay to the decisions recorded: no flip without a candidate change', async () => {
    const replay = new Replay({ engine });
    for (const record of records) await replay.add(record);
    const report = replay.result();
    assert.equal(report.evaluated, records.length);
    assert.deepEqual(report.flips, { allowToDeny: 0, denyToAllow: 0 });
    // Both outcomes were recorded, so "no flip" says something.
    assert.ok(records.some((r) => r.allow) && records.some((r) => !r.allow));
  });

  test('candidate settings: exactly the decisions a sidecar with those settings would answer differently', async (t) => {
    // The truth: a sidecar whose settings are the example's with org-1 replaced by the candidate's.
    const dir = await tempDir(t);
    const example = loadYaml(await readFile('examples/settings.yaml', 'utf8')) as { orgs: Record<string, unknown> };
    const file = join(dir, 'truth.yaml');
    await writeFile(file, dumpYaml({ orgs: { ...example.orgs, ...CANDIDATE.orgs } }));
    const truth = await testSidecar({ settingsFile: file });
    t.after(() => truth.close());
    const expected = new Set<string>();
    for (const record of records) {
      const again = await truth.decider.decide(parseAuthorizeRequest(record.input, RESOURCE_TYPES), 'authorize');
      if (again.allow !== record.allow) expected.add(record.decisionId);
    }

    const replay = new Replay({ engine, settings: parseSettingsDocument(CANDIDATE, engine.families) }, 1000);
    const flipped = new Set<string>();
    for (const record of records) {
      const flip = await replay.add(record);
      if (flip) flipped.add(flip.decisionId);
    }
    const report = replay.result();

    assert.deepEqual([...flipped].sort(), [...expected].sort());
    assert.ok(report.flips.allowToDeny > 0 && report.flips.denyToAllow > 0, JSON.stringify(report.flips));
    assert.equal(report.evaluated, 96);
    assert.equal(report.unchanged + report.flips.allowToDeny + report.flips.denyToAllow, 96);
    assert.ok(records.filter((r) => flipped.has(r.decisionId)).every((r) => r.orgId === 'org-1'));
    assert.deepEqual(Object.keys(report.byReason).sort(), [
      'manager_write_disabled -> manager_write_enabled',
      'manager_write_enabled -> manager_write_disabled',
    ]);
  });

  test('candidate bundle: a rule that stops members reading flips exactly the recorded workspace reads', async (t) => {
    const dir = await tempDir(t);
    const candidate = await PolicyEngine.load(await readBundleFile(await denyReadsBundle(dir)));
    const replay = new Replay({ engine: candidate }, 5);
    for (const record of records) await replay.add(record);
    const report = replay.result();
    const reads = records.filter((r) => r.reason === 'workspace_read');
    assert.ok(reads.length > 0);
    assert.equal(report.flips.allowToDeny, reads.length);
    assert.equal(report.flips.denyToAllow, 0);
    assert.ok(Object.keys(report.byReason).every((k) => k.startsWith('workspace_read -> ')));
    assert.equal(report.examples.length, 5);
  });

  test('a candidate may change any family, and only the families it names', async () => {
    // org-3 of the example: members write prompts (org), ws-31 says they do not (workspace, toggle on).
    for (const workspaceId of ['ws-30', 'ws-31']) {
      await recorded.decider.decide(
        parseAuthorizeRequest(decisionRequest({ orgId: 'org-3', workspaceId, workspaceRoles: { [workspaceId]: 'member' }, type: 'prompt' }), RESOURCE_TYPES),
        'authorize',
      );
    }
    // ws-30 is not in the directory: its record is in the unverified bucket.
    const prompts = [];
    for (const unverified of [false, true]) prompts.push(...(await recorded.audit.queryDecisions({ orgId: 'org-3', unverified }, { limit: 10 })).items);
    assert.deepEqual(prompts.map((r) => [r.workspaceId, r.allow, r.setting, r.source]).sort(), [
      ['ws-30', true, 'membersWritePrompts', 'org'],
      ['ws-31', false, 'membersWritePrompts', 'workspace'],
    ]);
    const candidate = { orgs: { 'org-3': { settings: { 'prompt-access': { membersWritePrompts: false } } } } };
    const replay = new Replay({ engine, settings: parseSettingsDocument(candidate, engine.families) });
    const flips = [];
    for (const record of prompts) {
      const flip = await replay.add(record);
      if (flip) flips.push(flip);
    }
    assert.deepEqual(
      flips.map((f) => [f.workspaceId, f.after]),
      [['ws-30', { allow: false, reason: 'member_write_disabled', setting: 'membersWritePrompts', source: 'org' }]],
    );

    // A candidate that names only prompt-access for org-1 leaves org-1's integration settings as recorded.
    const promptsOnly = new Replay({
      engine,
      settings: parseSettingsDocument({ orgs: { 'org-1': { settings: { 'prompt-access': { membersWritePrompts: true } } } } }, engine.families),
    });
    for (const record of records) await promptsOnly.add(record);
    assert.equal(promptsOnly.result().unchanged, 96);
  });

  test('decisions made while settings were unavailable are skipped, not reported as flips', async () => {
    const failedClosed = {
      ...records[0]!,
      allow: false,
      reason: 'settings_unavailable',
      input: { ...records[0]!.input, settings: { org: {}, workspace: {} } },
    };
    const replay = new Replay({ engine });
    assert.equal(await replay.add(failedClosed), undefined);
    assert.equal(replay.result().skipped, 1);
    assert.deepEqual(
      replay.result().skips.map((s) => [s.kind, s.count]),
      [['settings_unavailable', 1]],
    );
    assert.match(replay.result().skips[0]!.message, /settings cannot be read/);
  });

  test('limited to a bundle revision: only the decisions recorded with it are replayed, the others counted', async () => {
    const same = new Replay({ engine }, 10, engine.revision);
    for (const record of records) await same.add(record);
    assert.equal(same.result().evaluated, records.length);
    assert.equal(same.result().otherRevision, 0);
    const other = new Replay({ engine }, 10, 'another-revision');
    for (const record of records) await other.add(record);
    assert.equal(other.result().evaluated, 0);
    assert.equal(other.result().otherRevision, records.length);
    const unlimited = new Replay({ engine });
    for (const record of records) await unlimited.add(record);
    assert.equal(unlimited.result().otherRevision, 0);
  });

  test('the replay API takes filter.bundleRevision, and refuses one that is not a string', async () => {
    const replay = (filter: Record<string, unknown>) =>
      request(recorded.app)
        .post('/v1/audit/replay')
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .send({ filter: { orgId: 'org-1', from: '2000-01-01T00:00:00Z', ...filter } });
    const all = (await replay({}).expect(200)).body;
    assert.ok(all.evaluated > 0);
    assert.equal(all.otherRevision, 0);
    const same = (await replay({ bundleRevision: engine.revision }).expect(200)).body;
    assert.deepEqual([same.evaluated, same.otherRevision], [all.evaluated, 0]);
    const other = (await replay({ bundleRevision: 'another-revision' }).expect(200)).body;
    assert.deepEqual([other.evaluated, other.otherRevision], [0, all.evaluated + all.skipped]);
    const bad = await replay({ bundleRevision: 7 }).expect(400);
    assert.equal(bad.body.code, 'invalid_parameter');
    assert.deepEqual(
      bad.body.errors.map((e: { field: string }) => e.field),
      ['filter.bundleRevision'],
    );
  });

  test("the CLI's audit replay --recorded-revision limits the replay the same way", async (t) => {
    const server = await serve(recorded);
    t.after(() => server.close());
    const run = async (args: string[]) => {
      let out = '';
      let err = '';
      const io = { stdout: { write: (c: string) => ((out += c), true) }, stderr: { write: (c: string) => ((err += c), true) } } as never;
      const code = await main(
        ['audit', 'replay', '--bundle', 'bundles/portkey.tar.gz', '--org', 'org-1', '--since', '1h', ...args],
        { ADMIN_TOKEN, PORTCULLIS_URL: server.url },
        io,
      );
      assert.equal(code, 0, err);
      return out;
    };
    const all = JSON.parse(await run(['--format', 'json']));
    assert.ok(all.evaluated > 0);
    const same = JSON.parse(await run(['--format', 'json', '--recorded-revision', engine.revision]));
    assert.deepEqual([same.evaluated, same.otherRevision], [all.evaluated, 0]);
    const other = JSON.parse(await run(['--format', 'json', '--recorded-revision', 'another-revision']));
    assert.deepEqual([other.evaluated, other.otherRevision], [0, all.evaluated + all.skipped]);
    assert.match(
      await run(['--recorded-revision', 'another-revision']),
      new RegExp(`${all.evaluated + all.skipped} not replayed \\(recorded with another bundle revision\\)`),
    );
  });
});
