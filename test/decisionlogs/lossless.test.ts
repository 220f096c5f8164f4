// Nothing lost, nothing doubled: under a steady stream of decisions the decision-log
// service refuses uploads, then goes away altogether (the buffer overflows to the spill
// file), then comes back; every decision id answered reaches it exactly once.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Sidecar } from '../../src/sidecar.ts';
import { decisionRequest, testSidecar } from '../support/sidecar.ts';
import { LogReceiver } from './receiver.ts';

const receiver = new LogReceiver();
const spillDir = mkdtempSync(join(tmpdir(), 'decision-log-spill-'));
let sidecar: Sidecar;
let server: Server;
let base: string;

before(async () => {
  await receiver.start();
  sidecar = await testSidecar({
    decisionLogsUrl: receiver.url,
    decisionLogsMinDelayMs: 20,
    decisionLogsMaxDelayMs: 200,
    decisionLogsBufferEvents: 25,
    decisionLogsUploadSizeLimitBytes: 4096,
    decisionLogsSpillDir: spillDir,
  });
  server = createServer(sidecar.app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(async () => {
  server?.close();
  await sidecar?.close();
  await receiver.stop();
});

const answered: string[] = [];

/** `count` decisions, a few at a time, as a steady stream of callers would make them. */
async function decide(count: number): Promise<void> {
  for (let i = 0; i < count; i += 5) {
    await Promise.all(
      Array.from({ length: Math.min(5, count - i) }, async (_, j) => {
        const response = await fetch(`${base}/v1/data/portkey/authz/allow`, {
          method: 'POST',
          body: JSON.stringify({ input: decisionRequest({ workspaceId: `ws-${(i + j) % 7}`, workspaceRoles: { [`ws-${(i + j) % 7}`]: 'manager' } }) }),
        });
        assert.equal(response.status, 200);
        answered.push(((await response.json()) as { decision_id: string }).decision_id);
      }),
    );
  }
}

async function metric(event: string): Promise<number> {
  const values = (await sidecar.metrics.decisionLogs.get()).values;
  return values.find((v) => v.labels.event === event)?.value ?? 0;
}

async function until(done: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`not within 30 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('a service that refuses, then vanishes, then returns gets every decision exactly once', async () => {
  await decide(100);
  await receiver.until(() => receiver.events.length >= 100);

  // Refused: every upload answered 503 while decisions go on.
  receiver.refusing = true;
  await decide(60);
  await until(async () => receiver.refused > 0 && (await metric('retried')) > 0, 'an upload refused and requeued');

  // Gone: nothing listens; the buffer (25 events) overflows to the spill file.
  await receiver.stop();
  receiver.refusing = false;
  await decide(200);
  await until(async () => (await metric('spilled')) > 0, 'events spilled to disk');

  // Back: memory and spill file are both delivered, while decisions continue.
  await receiver.start();
  await decide(100);
  await receiver.until(() => receiver.events.length >= answered.length);
  await until(async () => readdirSync(spillDir).every((name) => !name.endsWith('.ndjson')), 'spill files replayed and removed');

  const counts = new Map<string, number>();
  for (const event of receiver.events) counts.set(String(event.decision_id), (counts.get(String(event.decision_id)) ?? 0) + 1);
  const doubled = [...counts].filter(([, count]) => count > 1);
  const lost = answered.filter((id) => !counts.has(id));
  assert.deepEqual(doubled, [], 'no decision id arrives twice');
  assert.deepEqual(lost, [], 'every decision id answered arrives');
  assert.equal(counts.size, answered.length, 'nothing arrives that was not answered');
  assert.equal(await metric('dropped'), 0);
  for (const upload of receiver.uploads) assert.ok(upload.compressedBytes <= 4096, `an upload of ${upload.compressedBytes} bytes exceeds the limit`);
});
