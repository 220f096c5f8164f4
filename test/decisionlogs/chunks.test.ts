// The chunk encoder on its own: gzip'd JSON arrays within the upload size limit, the longest
// prefix that fits, and an event that can never fit reported rather than sent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { encodeChunk } from '../../src/decisionlogs/chunks.ts';

/** Events that compress poorly (random bytes), so a chunk holds few of them. */
const events = (count: number, bytes = 150) =>
  Array.from({ length: count }, (_, i) => JSON.stringify({ decision_id: `${i}-${randomBytes(bytes).toString('base64')}` }));

test('a chunk is a gzip-compressed JSON array of the first lines, within the limit', async () => {
  const lines = events(3);
  const chunk = await encodeChunk(lines, 32_768, 1);
  assert.equal(chunk.count, 3);
  assert.ok(chunk.body);
  assert.ok(chunk.body.length <= 32_768);
  assert.deepEqual(
    JSON.parse(gunzipSync(chunk.body).toString()),
    lines.map((line) => JSON.parse(line)),
  );
});

test('when all the lines do not fit, the chunk is a prefix within the limit, and the rest make further chunks', async () => {
  const lines = events(400);
  const limit = 4_096;
  let at = 0;
  let ratio = 1;
  const chunks: number[] = [];
  while (at < lines.length) {
    const chunk = await encodeChunk(lines.slice(at), limit, ratio);
    assert.ok(chunk.body, 'every event fits alone');
    assert.ok(chunk.body.length <= limit, `chunk of ${chunk.body.length} bytes`);
    assert.deepEqual(
      JSON.parse(gunzipSync(chunk.body).toString()),
      lines.slice(at, at + chunk.count).map((line) => JSON.parse(line)),
    );
    assert.ok(chunk.ratio >= 1);
    chunks.push(chunk.count);
    at += chunk.count;
    ratio = chunk.ratio;
  }
  assert.ok(chunks.length > 1, 'more than one chunk');
  assert.equal(
    chunks.reduce((sum, n) => sum + n, 0),
    lines.length,
  );
});

test('a guess that is too large is halved until the chunk fits', async () => {
  // A ratio far too hopeful: the first guess takes every line.
  const chunk = await encodeChunk(events(200), 2_048, 1_000);
  assert.ok(chunk.body);
  assert.ok(chunk.body.length <= 2_048);
  assert.ok(chunk.count < 200);
});

test('a first line that alone exceeds the limit is reported, not encoded; the ratio is kept', async () => {
  const chunk = await encodeChunk(events(2, 20_000), 1_024, 3);
  assert.deepEqual({ count: chunk.count, body: chunk.body, ratio: chunk.ratio }, { count: 1, body: undefined, ratio: 3 });
});
