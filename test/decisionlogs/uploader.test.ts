// The uploader against a real local receiver: chunks under the compressed size limit,
// an event too large for any chunk dropped and counted, the bearer token file, and a
// spill file left by a stopped instance replayed by the next one exactly once.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createDecisionLogs } from '../../src/decisionlogs/sink.ts';
import { DecisionLogUploader, type DecisionLogStats, type UploaderOptions } from '../../src/decisionlogs/uploader.ts';
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
const event = (id: string, size = 300) => JSON.stringify({ decision_id: id, input: { noise: Array.from({ length: size / 10 }, () => Math.random().toString(36).slice(2, 10)) } });

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
  assert.deepEqual(receiver.events.map((e) => e.decision_id), ids);
  assert.equal(stats.counts.dropped, 1);
  assert.equal(stats.counts.uploaded, ids.length);
});

test('the configured headers and the bearer token file (read at each upload) go with every upload', async () => {
  receiver.uploads.length = 0;
  const dir = mkdtempSync(join(tmpdir(), 'dl-token-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'first\n');
  const config = testConfig({ decisionLogsUrl: receiver.url, decisionLogsTokenFile: tokenFile, decisionLogsHeaders: 'X-Tenant=acme', decisionLogsMinDelayMs: 20, decisionLogsSpillDir: '' });
  const sink = (await createDecisionLogs(config, counting(), pino({ level: 'silent' })))!;
  sink.record(decisionRecord());
  await receiver.until(() => receiver.uploads.length >= 1);
  writeFileSync(tokenFile, 'second\n');
  sink.record(decisionRecord());
  await receiver.until(() => receiver.uploads.length >= 2);
  await sink.close();
  assert.deepEqual(receiver.uploads.map((u) => [u.headers.authorization, u.headers['x-tenant']]), [['Bearer first', 'acme'], ['Bearer second', 'acme']]);
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
  assert.ok(readdirSync(spillDir).some((name) => name.endsWith('.ndjson')), 'a spill file is left');

  await receiver.start();
  const stats = counting();
  const second = uploader({ spillDir, stats });
  await second.start();
  await receiver.until(() => receiver.events.length >= ids.length);
  await second.close();
  assert.deepEqual(receiver.events.map((e) => e.decision_id).sort(), [...ids].sort());
  assert.equal(stats.counts.uploaded, ids.length);
  assert.deepEqual(readdirSync(spillDir).filter((name) => name.endsWith('.ndjson')), []);
});

test('a URL with a user or password is refused at start (fetch cannot send it, and a URL is logged)', async () => {
  const config = testConfig({ decisionLogsUrl: 'http://user:PW-SECRET@127.0.0.1:1/logs' });
  await assert.rejects(createDecisionLogs(config, counting(), pino({ level: 'silent' })), (error: Error) => {
    assert.match(error.message, /must not carry a user or password/);
    assert.doesNotMatch(error.message, /PW-SECRET/);
    return true;
  });
});
