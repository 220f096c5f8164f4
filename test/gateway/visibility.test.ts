// The visibility headers an allowed decision gives the upstream: what Data Visibility
// answered, as header-safe values, and nothing when it answered nothing (or something else).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { visibilityHeaders } from '../../src/gateway/visibility.ts';

test('all: the one header', () => {
  assert.deepEqual(visibilityHeaders({ visibility: 'all' }), { 'x-portcullis-visibility': 'all' });
});

test('own_api_keys: the user and the key ids it is limited to', () => {
  assert.deepEqual(visibilityHeaders({ visibility: 'own_api_keys', visibleTo: { userId: 'u-1', apiKeyIds: ['key-a', 'key-b'] } }), {
    'x-portcullis-visibility': 'own_api_keys',
    'x-portcullis-visible-user-id': 'u-1',
    'x-portcullis-visible-api-key-ids': 'key-a,key-b',
  });
  assert.deepEqual(visibilityHeaders({ visibility: 'own_api_keys', visibleTo: { userId: 'u-1', apiKeyIds: [] } }), {
    'x-portcullis-visibility': 'own_api_keys',
    'x-portcullis-visible-user-id': 'u-1',
  });
});

test('ids that a header cannot carry as they are, or that hold the list separator, are percent-encoded', () => {
  const userId = 'ü\r\nx: y';
  const headers = visibilityHeaders({ visibility: 'own_api_keys', visibleTo: { userId, apiKeyIds: ['a,b', 'c d'] } });
  assert.equal(headers['x-portcullis-visible-user-id'], encodeURIComponent(userId));
  assert.equal(headers['x-portcullis-visible-api-key-ids'], 'a%2Cb,c%20d');
  for (const value of Object.values(headers)) assert.match(value, /^[\x21-\x7e]*$/);
});

test('no visibility, or one this gateway does not know: no header', () => {
  for (const decision of [{}, { visibility: 'some' }, { visibility: ['all'] }, { visibility: null }])
    assert.deepEqual(visibilityHeaders(decision as never), {});
});
