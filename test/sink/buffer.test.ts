// The buffered sink on its own, with a real spill directory: what does not fit is spilled or
// dropped and counted, a refused batch goes back to the front, and a replay hands the
// spilled lines to the store, keeping on disk what the store did not take.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { SinkBuffer } from '../../src/sink/buffer.ts';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function counting() {
  const counts = { held: 0, bytes: 0, spilled: 0, dropped: 0 };
  return {
    counts,
    stats: {
      held: (items: number, bytes: number) => ((counts.held = items), (counts.bytes = bytes)),
      spilled: (n: number) => (counts.spilled += n),
      dropped: (n: number) => (counts.dropped += n),
    },
  };
}

async function buffer(maxItems: number, spill = true, maxBytes?: number) {
  const spillDir = spill ? await mkdtemp(join(tmpdir(), 'sink-')) : '';
  if (spill) dirs.push(spillDir);
  const { counts, stats } = counting();
  const sink = new SinkBuffer<string>({
    maxItems,
    ...(maxBytes === undefined ? {} : { maxBytes }),
    sizeOf: (line) => line.length,
    toLine: (line) => line,
    spillDir,
    noSpillDir: 'no spill directory',
    stats,
    log: pino({ level: 'silent' }),
    lost: 'LOST',
  });
  await sink.start();
  return { sink, counts };
}

/** Everything the spill files hold, replayed through a store that takes all. */
async function replayAll(sink: SinkBuffer<string>): Promise<string[]> {
  const got: string[] = [];
  assert.equal(
    await sink.replay(100, async (lines) => {
      got.push(...lines);
      return lines.length;
    }),
    true,
  );
  return got;
}

test('beyond the bounds in items or bytes, items go to the spill file; without one they are dropped and counted', async () => {
  const { sink, counts } = await buffer(2);
  assert.deepEqual(
    ['a', 'b', 'c'].map((item) => sink.add(item)),
    [true, true, false],
  );
  assert.deepEqual({ held: sink.held, queued: [...sink.queued] }, { held: 2, queued: ['a', 'b'] });
  await sink.seal();
  assert.equal(counts.spilled, 1);
  assert.deepEqual(await replayAll(sink), ['c']);

  const bytes = await buffer(10, true, 5);
  assert.deepEqual(
    ['abc', 'de', 'f'].map((item) => bytes.sink.add(item)),
    [true, true, false],
  );
  assert.equal(bytes.counts.bytes, 5);
  await bytes.sink.seal();

  const none = await buffer(1, false);
  none.sink.add('a');
  none.sink.add('b');
  assert.deepEqual({ dropped: none.counts.dropped, held: none.sink.held }, { dropped: 1, held: 1 });
});

test('a batch the store refused goes back to the front, but for what the writer says not to keep; one it took is gone', async () => {
  const { sink, counts } = await buffer(10);
  for (const item of ['a', 'b', 'c', 'd']) sink.add(item);
  assert.deepEqual(sink.take(3), ['a', 'b', 'c']);
  assert.deepEqual({ held: counts.held, inFlight: [...sink.inFlight], queued: [...sink.queued] }, { held: 4, inFlight: ['a', 'b', 'c'], queued: ['d'] });
  sink.failed((item) => item !== 'b');
  assert.deepEqual({ held: counts.held, bytes: counts.bytes, queued: [...sink.queued] }, { held: 3, bytes: 3, queued: ['a', 'c', 'd'] });
  sink.take(2);
  sink.sent();
  assert.deepEqual({ held: counts.held, queued: [...sink.queued] }, { held: 1, queued: ['d'] });
  assert.deepEqual(sink.removeFront(1), ['d']);
  assert.equal(counts.held, 0);
});

test('a replay keeps on disk what the store did not take, and hands it over again next time', async () => {
  const { sink } = await buffer(0);
  for (const item of ['a', 'b', 'c', 'd', 'e']) sink.add(item);
  await sink.seal();
  const first: string[] = [];
  const ok = await sink.replay(2, async (lines) => {
    first.push(lines[0]!);
    return 1; // took only the first line of each batch it was offered
  });
  assert.equal(ok, false);
  assert.deepEqual(first, ['a']);
  assert.deepEqual(await replayAll(sink), ['b', 'c', 'd', 'e']);
  assert.deepEqual(await replayAll(sink), []);
});

test('a store that throws leaves the file as it was, replayed again whole', async () => {
  const { sink } = await buffer(0);
  for (const item of ['a', 'b', 'c']) sink.add(item);
  await sink.seal();
  let calls = 0;
  await assert.rejects(
    sink.replay(2, async (lines) => {
      if (++calls === 2) throw new Error('store away');
      return lines.length;
    }),
    /store away/,
  );
  assert.deepEqual(await replayAll(sink), ['a', 'b', 'c']);
});
