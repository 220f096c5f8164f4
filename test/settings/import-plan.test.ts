// The settings import's plan on its own, against the in-memory store: the lines it shows,
// the writes it makes (only the differences, each conditional on the version read, each
// recorded), what --prune removes, and the workspaces it refuses before writing anything.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { readBundleFile } from '../../src/engine/bundle.ts';
import { PolicyEngine } from '../../src/engine/engine.ts';
import type { Families } from '../../src/engine/families.ts';
import { planImport, refuseForeignWorkspaces, storedWorkspaces, type ImportOperation } from '../../src/settings/import-plan.ts';
import { MemorySettingsStore } from '../../src/settings/memory.ts';
import { VersionMismatchError } from '../../src/settings/types.ts';
import { parseSettingsDocument } from '../../src/settings/validate.ts';

let families: Families;
before(async () => {
  families = (await PolicyEngine.load(await readBundleFile('bundles/portkey.tar.gz'))).families;
});

const document = (orgs: object) => parseSettingsDocument({ orgs }, families);

/** Plans and applies an import; returns the plan's lines by organization and the operations recorded. */
async function imported(store: MemorySettingsStore, orgs: object, prune = false) {
  const plans = await planImport(document(orgs), families, store, prune);
  const recorded: Array<[string, string | undefined, string | undefined, ImportOperation]> = [];
  for (const plan of plans) await plan.apply((orgId, workspaceId, family, operation) => recorded.push([orgId, workspaceId, family, operation]));
  return { lines: Object.fromEntries(plans.filter((plan) => plan.lines.length > 0).map((plan) => [plan.orgId, plan.lines])), recorded };
}

const ORG_1 = {
  settings: { 'integration-access': { managersWriteMcpServers: false } },
  workspaces: { 'ws-1': {}, 'ws-2': { 'integration-access': { managersWriteMcpServers: true } } },
};

test('into an empty store: every organization and workspace added, registered and recorded; the same import again plans nothing', async () => {
  const store = new MemorySettingsStore();
  const first = await imported(store, { 'org-1': ORG_1 });
  assert.deepEqual(first.lines, {
    'org-1': [
      'organization settings added',
      'managersWriteMcpServers: (unset) → false',
      'workspace ws-1 added',
      'workspace ws-2 added: managersWriteMcpServers: (unset) → true',
    ],
  });
  assert.deepEqual(first.recorded, [
    ['org-1', undefined, 'integration-access', 'put_org'],
    ['org-1', 'ws-1', undefined, 'register_workspace'],
    ['org-1', 'ws-2', undefined, 'register_workspace'],
    ['org-1', 'ws-2', 'integration-access', 'put_workspace'],
  ]);
  assert.equal(await store.workspaceOrg('ws-1'), 'org-1');
  assert.deepEqual((await store.readWorkspace('org-1', 'ws-2', 'integration-access')).settings, { managersWriteMcpServers: true });
  const version = (await store.snapshot('org-1', 'ws-1')).version;

  const again = await imported(store, { 'org-1': ORG_1 });
  assert.deepEqual(again, { lines: {}, recorded: [] });
  assert.equal((await store.snapshot('org-1', 'ws-1')).version, version);
});

test('a changed value is one line and one write; a family the document leaves out of a named organization is cleared', async () => {
  const store = new MemorySettingsStore();
  await imported(store, { 'org-1': { settings: { ...ORG_1.settings, 'prompt-access': { membersWritePrompts: true } } } });
  const { lines, recorded } = await imported(store, { 'org-1': { settings: { 'integration-access': { managersWriteMcpServers: true } } } });
  assert.deepEqual(lines, { 'org-1': ['managersWriteMcpServers: false → true', 'membersWritePrompts: true → (unset)'] });
  assert.deepEqual(recorded, [
    ['org-1', undefined, 'integration-access', 'put_org'],
    ['org-1', undefined, 'prompt-access', 'put_org'],
  ]);
  assert.deepEqual((await store.readOrg('org-1', 'prompt-access')).settings, {});
});

test('with prune, workspaces and organizations the document does not name are removed, directory entries included', async () => {
  const store = new MemorySettingsStore();
  await imported(store, { 'org-1': ORG_1, 'org-2': { settings: { 'integration-access': { managersWriteWsIntegrations: false } } } });
  const { lines } = await imported(store, { 'org-1': { ...ORG_1, workspaces: { 'ws-1': {} } } }, true);
  assert.deepEqual(lines, { 'org-1': ['workspace ws-2 removed'], 'org-2': ['organization settings removed'] });
  assert.equal(await store.workspaceOrg('ws-2'), null);
  assert.deepEqual([...(await storedWorkspaces(store, families, 'org-1'))], ['ws-1']);
  assert.equal((await store.readOrg('org-2', 'integration-access')).settings, null);
});

test("an organization changed between the plan and its writes stops the import: the admin's change is not overwritten", async () => {
  const store = new MemorySettingsStore();
  const [plan] = await planImport(document({ 'org-1': ORG_1 }), families, store, false);
  await store.putOrg('org-1', 'integration-access', { managersWriteMcpServers: true });
  await assert.rejects(
    plan!.apply(() => undefined),
    (error) => error instanceof VersionMismatchError,
  );
  assert.deepEqual((await store.readOrg('org-1', 'integration-access')).settings, { managersWriteMcpServers: true });
});

test('a workspace of another organization, or listed under two, is refused before anything is written', async () => {
  const store = new MemorySettingsStore();
  await store.registerWorkspace('org-9', 'ws-1');
  await assert.rejects(
    refuseForeignWorkspaces(document({ 'org-1': ORG_1, 'org-2': { workspaces: { 'ws-2': {} } } }), store),
    /nothing was imported:\n {2}workspace ws-1 belongs to organization org-9, not org-1\n {2}workspace ws-2 is listed under both org-1 and org-2/,
  );
});
