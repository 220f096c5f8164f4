// The uploader against a real local receiver: chunks under the compressed size limit,
// an event too large for any chunk dropped and counted, the bearer token file, and a
// spill file left by a stopped instance replayed by the next one exactly once.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createDecisionLogs } from '../../src/decisionlogs/sink.ts';
import { DecisionLogUploader, MAX_RESPONSE_BYTES, type UploaderOptions } from '../../src/decisionlogs/uploader.ts';
import type { DecisionLogStats } from '../../src/stats.ts';
import { decisionRecord } from '../audit/records.ts';
import { testConfig } from '../support/sidecar.ts';
import { LogReceiver } from './receiver.ts';

const receiver = new LogReceiver();
before(() => receiver.start());
after(() => receiver.stop());

function counting(): DecisionLogStats & { counts: Record<string, number> } {
  const counts: Record<string, number> = { uploaded: 0, retried: 0, spilled: 0, dropped: 0 };
  return {
    counts,
    uploaded: (n) => (counts.uploaded! += n),
    retried: (n) => (counts.retried! += n),
    spilled: (n) => (counts.spilled! += n),
    dropped: (n) => (counts.dropped! += n),
    buffered: () => undefined,
    bufferedBytes: () => undefined,
  };
}

function uploader(over: Partial<UploaderOptions> = {}): DecisionLogUploader {
  return new DecisionLogUploader({
    url: receiver.url,
    headers: async () => ({}),
    uploadSizeLimitBytes: 32_768,
    minDelayMs: 20,
    maxDelayMs: 200,
    bufferEvents: 10_000,
    spillDir: '',
    stats: counting(),
    log: pino({ level: 'silent' }),
    ...over,
  });
}

/** An event whose text does not compress much, so that chunks fill. */
const event = (id: string, size = 300) =>
  JSON.stringify({ decision_id: id, input: { noise: Array.from({ length: size / 10 }, () => Math.random().toString(36).slice(2, 10)) } });

test('uploads are gzip chunks under the compressed size limit; an event larger than any chunk is dropped and counted', async () => {
  receiver.uploads.length = 0;
  const stats = counting();
  const up = uploader({ uploadSizeLimitBytes: 2048, stats });
  await up.start();
  const ids = Array.from({ length: 200 }, (_, i) => `chunk-${i}`);
  up.add(ids.map((id) => event(id)));
  up.add([event('huge', 20_000)]);
  await receiver.until(() => receiver.events.length >= ids.length);
  await up.close();
  assert.ok(receiver.uploads.length > 1, 'more than one chunk');
  for (const upload of receiver.uploads) assert.ok(upload.compressedBytes <= 2048, `${upload.compressedBytes} bytes`);
  assert.deepEqual(
    receiver.events.map((e) => e.decision_id),
    ids,
  );
  assert.equal(stats.counts.dropped, 1);
  assert.equal(stats.counts.uploaded, ids.length);
});

test('the configured headers and the bearer token file (read at each upload) go with every upload', async () => {
  receiver.uploads.length = 0;
  const dir = mkdtempSync(join(tmpdir(), 'dl-token-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'first\n');
  const config = testConfig({
    decisionLogsUrl: receiver.url,
    decisionLogsTokenFile: tokenFile,
    decisionLogsHeaders: 'X-Tenant=acme',
    decisionLogsMinDelayMs: 20,
    decisionLogsSpillDir: '',
  });
  const sink = (await createDecisionLogs(config, counting(), pino({ level: 'silent' })))!;
  sink.record(decisionRecord());
  await receiver.until(() => receiver.uploads.length >= 1);
  writeFileSync(tokenFile, 'second\n');
  sink.record(decisionRecord());
  await receiver.until(() => receiver.uploads.length >= 2);
  await sink.close();
  assert.deepEqual(
    receiver.uploads.map((u) => [u.headers.authorization, u.headers['x-tenant']]),
    [
      ['Bearer first', 'acme'],
      ['Bearer second', 'acme'],
    ],
  );
});

test('what a closing instance could not upload is spilled, and the next instance uploads it exactly once', async () => {
  receiver.uploads.length = 0;
  const spillDir = mkdtempSync(join(tmpdir(), 'dl-spill-'));
  await receiver.stop();
  const first = uploader({ spillDir, bufferEvents: 10 });
  await first.start();
  const ids = Array.from({ length: 40 }, (_, i) => `restart-${i}`);
  first.add(ids.map((id) => event(id, 50)));
  await first.close();
  assert.ok(
    readdirSync(spillDir).some((name) => name.endsWith('.ndjson')),
    'a spill file is left',
  );

  await receiver.start();
  const stats = counting();
  const second = uploader({ spillDir, stats });
  await second.start();
  await receiver.until(() => receiver.events.length >= ids.length);
  await second.close();
  assert.deepEqual(receiver.events.map((e) => e.decision_id).sort(), [...ids].sort());
  assert.equal(stats.counts.uploaded, ids.length);
  assert.deepEqual(
    readdirSync(spillDir).filter((name) => name.endsWith('.ndjson')),
    [],
  );
});

test('a URL with a user or password is refused at start (fetch cannot send it, and a URL is logged)', async () => {
  const config = testConfig({ decisionLogsUrl: 'http://user:PW-SECRET@127.0.0.1:1/logs' });
  await assert.rejects(createDecisionLogs(config, counting(), pino({ level: 'silent' })), (error: Error) => {
    assert.match(error.message, /must not carry a user or password/);
    assert.doesNotMatch(error.message, /PW-SECRET/);
    return true;
  });
});

/** Another origin a redirect may point to; it keeps every request it gets. */
async function otherOrigin(t: { after(fn: () => Promise<void>): void }) {
  const requests: Array<{ method: string; headers: IncomingHttpHeaders }> = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method!, headers: req.headers });
    req.resume();
    res.writeHead(200).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/stolen`, requests };
}

for (const status of [301, 302, 303, 307, 308]) {
  test(`a ${status} redirect is a failed upload, retried, never followed: the headers never reach the other origin`, async (t) => {
    receiver.uploads.length = 0;
    receiver.redirected = 0;
    const elsewhere = await otherOrigin(t);
    receiver.redirect = { status, location: elsewhere.url };
    t.after(() => void (receiver.redirect = undefined));
    const stats = counting();
    const up = uploader({ stats, headers: async () => ({ 'X-Secret': 'S3CRET', Authorization: 'Bearer T0KEN' }) });
    t.after(() => up.close());
    await up.start();
    const ids = Array.from({ length: 5 }, (_, i) => `redirect-${status}-${i}`);
    up.add(ids.map((id) => event(id)));
    await receiver.until(() => receiver.redirected >= 2);
    assert.deepEqual(elsewhere.requests, [], 'nothing went to the other origin');
    assert.equal(stats.counts.uploaded, 0, 'nothing counted uploaded');
    assert.ok(stats.counts.retried! >= ids.length);
    assert.equal(up.buffered, ids.length, 'the events are still held');

    receiver.redirect = undefined;
    await receiver.until(() => stats.counts.uploaded === ids.length);
    assert.deepEqual(
      receiver.events.map((e) => e.decision_id),
      ids,
    );
    assert.deepEqual(elsewhere.requests, []);
  });
}

test('of a 200 MB answer only a small capped part is read; the upload counts and the next one goes', async (t) => {
  receiver.uploads.length = 0;
  receiver.answered.length = 0;
  receiver.answerBytes = 200 * 1024 * 1024;
  t.after(() => void (receiver.answerBytes = 0));
  const stats = counting();
  const up = uploader({ stats });
  t.after(() => up.close());
  await up.start();
  up.add([event('huge-answer-1')]);
  await receiver.until(() => stats.counts.uploaded === 1);
  up.add([event('huge-answer-2')]);
  await receiver.until(() => stats.counts.uploaded === 2);
  assert.deepEqual(
    receiver.events.map((e) => e.decision_id),
    ['huge-answer-1', 'huge-answer-2'],
  );
  // The receiver writes as fast as the client reads: what it got out before the client closed
  // is the cap plus what socket buffers hold, far from 200 MB.
  for (const sent of receiver.answered) assert.ok(sent < 32 * 1024 * 1024, `${sent} bytes of the answer were taken (cap ${MAX_RESPONSE_BYTES})`);
});

test('the memory buffer is bounded in bytes: beyond it events go to the spill file', async (t) => {
  const spillDir = mkdtempSync(join(tmpdir(), 'dl-bytes-'));
  await receiver.stop();
  t.after(() => receiver.start());
  const stats = counting();
  let heldBytes = 0;
  const up = uploader({ spillDir, stats: { ...stats, bufferedBytes: (bytes) => (heldBytes = Math.max(heldBytes, bytes)) }, bufferBytes: 10_000 });
  await up.start();
  up.add(Array.from({ length: 100 }, (_, i) => event(`bytes-${i}`, 300)));
  assert.ok(heldBytes <= 10_000, `${heldBytes} bytes held`);
  assert.ok(up.buffered < 100 && up.buffered > 0, `${up.buffered} events held`);
  await up.close();
  assert.equal(stats.counts.dropped, 0);
  assert.equal(stats.counts.spilled, 100, 'what was not held went to disk, and at close the rest');
});
