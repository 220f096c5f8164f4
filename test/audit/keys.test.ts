// The audit log's key layout: every key one organization's append touches is in one hash slot,
// whatever the organization id holds, and a decision id says that slot and its hour.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import calculateSlot from 'cluster-key-slot';
import { HOUR_MS, idIndexKey, lagKey, newDecisionId, orgSlot, placeOfDecisionId, streamKey } from '../../src/audit/keys.ts';

const ORGS = ['org-1', 'org-2', 'a}b', '{x}', 'x{}', '}', '{', '%7D', 'a%b', 'ünïcode-org', 'o'.repeat(256)];

test('every key an append touches is in the organization slot, braces or not', () => {
  for (const orgId of ORGS) {
    const slot = orgSlot(orgId);
    const stream = streamKey(orgId, 'decisions');
    for (const key of [stream, lagKey(stream), streamKey(orgId, 'settings-changes'), idIndexKey(slot, 493_000)]) {
      assert.equal(calculateSlot(key), slot, `${JSON.stringify(orgId)}: ${key}`);
    }
  }
  // Escaping is one-to-one: an id that looks like an escape does not share the other's keys.
  assert.notEqual(streamKey('}', 'decisions'), streamKey('%7D', 'decisions'));
  assert.equal(streamKey('org-1', 'settings-changes'), 'portcullis:audit:{org-1}:settings-changes');
});

test('a decision id is a UUIDv7 that carries its organization slot and its time', () => {
  const at = Date.UTC(2026, 10, 28, 6, 30);
  for (const orgId of ORGS) {
    const id = newDecisionId(orgId, at);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(placeOfDecisionId(id), { slot: orgSlot(orgId), ms: at });
    assert.equal(Math.floor(placeOfDecisionId(id)!.ms / HOUR_MS), Math.floor(at / HOUR_MS));
  }
  const ids = new Set(Array.from({ length: 10_000 }, () => newDecisionId('org-1', at)));
  assert.equal(ids.size, 10_000, 'same org, same millisecond: still distinct');
});

test('an id not made by newDecisionId has no place (a lookup answers 404 without asking Redis)', () => {
  for (const id of [
    'no-such-id',
    '',
    'f47ac10b-58cc-4372-a567-0e02b2c3d479',
    'ZZZZZZZZ-ZZZZ-7ZZZ-8ZZZ-ZZZZZZZZZZZZ',
    `${newDecisionId('org-1')}x`,
    newDecisionId('org-1').toUpperCase(),
  ]) {
    assert.equal(placeOfDecisionId(id), undefined, id);
  }
});
