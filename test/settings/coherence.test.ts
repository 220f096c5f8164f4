// The cache-coherence protocol on its own, with a clock the test moves: when a cached answer
// is used as it is, checked, fetched again whole, served stale or forgotten.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheCoherence, type CoherenceOptions } from '../../src/settings/coherence.ts';
import type { SettingsSnapshot } from '../../src/settings/types.ts';

const REVALIDATE_MS = 1_000;
const MAX_STALE_MS = 5_000;

function protocol(over: Partial<CoherenceOptions> = {}) {
  const clock = { now: 0 };
  const coherence = new CacheCoherence({
    maxOrgs: 10,
    maxWorkspaces: 100,
    maxWorkspacesPerOrg: 10,
    maxDirectory: 10,
    revalidateAfterMs: REVALIDATE_MS,
    maxStaleMs: MAX_STALE_MS,
    now: () => clock.now,
    ...over,
  });
  return { clock, coherence };
}

const snapshot = (version: number, value = true): SettingsSnapshot => ({ org: { managersWriteMcpServers: value }, workspace: {}, version });

/** A read that left now and came back with `answer`. */
function read(coherence: CacheCoherence, orgId: string, workspaceId: string, answer: SettingsSnapshot): void {
  coherence.remember(orgId, workspaceId, answer, coherence.ticket());
}

test('an answer read while subscribed is used as it is until revalidateAfterMs, then its version is checked', () => {
  const { clock, coherence } = protocol();
  coherence.onSubscribed();
  read(coherence, 'org-1', 'ws-1', snapshot(3));
  assert.equal(coherence.lookup('org-1', 'ws-1')?.check, 'trusted');
  assert.deepEqual(coherence.lookup('org-1', 'ws-1')?.snapshot, snapshot(3));
  clock.now = REVALIDATE_MS;
  const expired = coherence.lookup('org-1', 'ws-1')!;
  assert.equal(expired.check, 'version');
  // Redis still holds version 3: confirmed as of the check, trusted again.
  assert.equal(coherence.confirm(expired.entry, coherence.ticket(), 3), true);
  assert.equal(coherence.lookup('org-1', 'ws-1')?.check, 'trusted');
});

test('a version check that finds another version does not confirm the entry', () => {
  const { clock, coherence } = protocol();
  coherence.onSubscribed();
  read(coherence, 'org-1', 'ws-1', snapshot(3));
  clock.now = REVALIDATE_MS;
  const expired = coherence.lookup('org-1', 'ws-1')!;
  assert.equal(coherence.confirm(expired.entry, coherence.ticket(), 4), false);
  assert.equal(coherence.lookup('org-1', 'ws-1')?.check, 'version');
});

test('an answer read while not subscribed is never used without a check', () => {
  const { coherence } = protocol();
  read(coherence, 'org-1', 'ws-1', snapshot(1));
  assert.equal(coherence.lookup('org-1', 'ws-1')?.check, 'version');
  // Subscribing later does not vouch for what was read before: a message may have been missed.
  coherence.onSubscribed();
  assert.equal(coherence.lookup('org-1', 'ws-1')?.check, 'version');
});

test('a change message forgets the organization, and an answer that overlapped it is used but not kept', () => {
  const { coherence } = protocol();
  coherence.onSubscribed();
  read(coherence, 'org-1', 'ws-1', snapshot(1));
  read(coherence, 'org-2', 'ws-2', snapshot(1));
  coherence.onChange({ orgId: 'org-1' });
  assert.equal(coherence.lookup('org-1', 'ws-1'), undefined);
  assert.equal(coherence.lookup('org-2', 'ws-2')?.check, 'trusted');

  const ticket = coherence.ticket();
  coherence.onChange({ orgId: 'org-3' });
  coherence.remember('org-1', 'ws-1', snapshot(2), ticket);
  assert.equal(coherence.lookup('org-1', 'ws-1'), undefined);
});

test('a subscription break makes every entry fetched again whole, even after the subscription is back', () => {
  const { coherence } = protocol();
  coherence.onSubscribed();
  read(coherence, 'org-1', 'ws-1', snapshot(5));
  const during = coherence.ticket();
  coherence.onBreak();
  assert.equal(coherence.listening, false);
  assert.equal(coherence.lookup('org-1', 'ws-1')?.check, 'whole');
  // A read that overlapped the break is not kept.
  coherence.remember('org-1', 'ws-2', snapshot(5), during);
  assert.equal(coherence.lookup('org-1', 'ws-2'), undefined);
  coherence.onSubscribed();
  assert.equal(coherence.lookup('org-1', 'ws-1')?.check, 'whole');
  // What is read again after the break replaces the entry, a lower version included (a lost write).
  read(coherence, 'org-1', 'ws-1', snapshot(4, false));
  assert.deepEqual(coherence.lookup('org-1', 'ws-1'), { entry: coherence.lookup('org-1', 'ws-1')!.entry, snapshot: snapshot(4, false), check: 'trusted' });
});

test('a topology change makes every entry fetched again whole', () => {
  const { coherence } = protocol();
  coherence.onSubscribed();
  read(coherence, 'org-1', 'ws-1', snapshot(1));
  coherence.onTopologyChange();
  assert.equal(coherence.listening, true);
  assert.equal(coherence.lookup('org-1', 'ws-1')?.check, 'whole');
});

test('within one topology an older answer does not replace a newer entry; one of the same version adds its workspace', () => {
  const { coherence } = protocol();
  coherence.onSubscribed();
  read(coherence, 'org-1', 'ws-1', snapshot(7));
  read(coherence, 'org-1', 'ws-2', snapshot(6, false));
  assert.equal(coherence.lookup('org-1', 'ws-2'), undefined);
  assert.equal(coherence.version('org-1'), 7);
  read(coherence, 'org-1', 'ws-2', snapshot(7));
  assert.equal(coherence.lookup('org-1', 'ws-2')?.check, 'trusted');
  assert.deepEqual(coherence.sizes(), { orgs: 1, workspaces: 2, directory: 0 });
});

test('an entry may stand in for Redis for maxStaleMs after it was confirmed, not longer', () => {
  const { clock, coherence } = protocol();
  read(coherence, 'org-1', 'ws-1', snapshot(1));
  const { entry } = coherence.lookup('org-1', 'ws-1')!;
  clock.now = MAX_STALE_MS;
  assert.equal(coherence.servableStale(entry), true);
  clock.now = MAX_STALE_MS + 1;
  assert.equal(coherence.servableStale(entry), false);
});

test('directory answers follow the same rules and are forgotten by a message naming the workspace', () => {
  const { clock, coherence } = protocol();
  coherence.onSubscribed();
  coherence.rememberOwner('ws-1', 'org-1', coherence.ticket());
  coherence.rememberOwner('ws-unknown', null, coherence.ticket());
  assert.deepEqual([coherence.owner('ws-1')?.trusted, coherence.owner('ws-1')?.entry.orgId, coherence.owner('ws-unknown')?.entry.orgId], [true, 'org-1', null]);
  coherence.onChange({ workspaceId: 'ws-1' });
  assert.equal(coherence.owner('ws-1'), undefined);
  coherence.forgetOwner('ws-unknown');
  assert.equal(coherence.owner('ws-unknown'), undefined);

  const ticket = coherence.ticket();
  coherence.onChange({});
  coherence.rememberOwner('ws-2', 'org-1', ticket);
  assert.equal(coherence.owner('ws-2'), undefined);

  coherence.rememberOwner('ws-3', 'org-1', coherence.ticket());
  clock.now = REVALIDATE_MS;
  assert.equal(coherence.owner('ws-3')?.trusted, false);
});

test('the cache is bounded per organization, in organizations and in workspaces overall', () => {
  const { coherence } = protocol({ maxOrgs: 2, maxWorkspaces: 3, maxWorkspacesPerOrg: 2, maxDirectory: 2 });
  coherence.onSubscribed();
  for (const ws of ['ws-1', 'ws-2', 'ws-3']) read(coherence, 'org-1', ws, snapshot(1));
  assert.deepEqual(coherence.sizes(), { orgs: 1, workspaces: 2, directory: 0 });
  assert.equal(coherence.lookup('org-1', 'ws-1'), undefined);
  for (const org of ['org-2', 'org-3']) read(coherence, org, 'ws-1', snapshot(1));
  assert.ok(coherence.sizes().orgs <= 2);
  assert.ok(coherence.sizes().workspaces <= 3);
  for (const ws of ['ws-1', 'ws-2', 'ws-3']) coherence.rememberOwner(ws, 'org-1', coherence.ticket());
  assert.equal(coherence.sizes().directory, 2);
});

test('new families drop the cache; the same list keeps it', () => {
  const { coherence } = protocol();
  const families = ['integration-access'];
  coherence.useFamilies(families);
  read(coherence, 'org-1', 'ws-1', snapshot(1));
  coherence.useFamilies(families);
  assert.notEqual(coherence.lookup('org-1', 'ws-1'), undefined);
  coherence.useFamilies([...families, 'prompt-access']);
  assert.equal(coherence.lookup('org-1', 'ws-1'), undefined);
});

test('this instance forgets an organization it wrote', () => {
  const { coherence } = protocol();
  read(coherence, 'org-1', 'ws-1', snapshot(1));
  coherence.forgetOrg('org-1');
  assert.equal(coherence.version('org-1'), undefined);
});
