// SIGTERM to a real sidecar process: it stops accepting connections, answers the request
// that is in flight (its body still arriving), closes idle keep-alive connections, closes
// the sidecar (audit flushed, Redis closed) and exits 0. A stop that cannot finish in time,
// or a second SIGTERM, ends the process anyway (status 1).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisServer } from '../support/redis.ts';
import { decisionRequest } from '../support/sidecar.ts';
import { launchSidecar } from '../support/launch.ts';

test('SIGTERM drains the in-flight request, refuses new ones and exits 0', async () => {
  const sidecar = await launchSidecar({ BUNDLE_WATCH: 'false' }, { readyPath: '/health' });
  const port = Number(new URL(sidecar.url).port);

  // An idle keep-alive connection must not hold the shutdown up.
  const idle = connect(port, '127.0.0.1');
  await once(idle, 'connect');
  idle.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(idle, 'data');

  // A request in flight: head sent, half the body sent.
  const body = JSON.stringify(decisionRequest());
  const inFlight = connect(port, '127.0.0.1');
  await once(inFlight, 'connect');
  let answer = '';
  inFlight.on('data', (chunk) => (answer += chunk.toString()));
  const closed = once(inFlight, 'close');
  inFlight.write(
    `POST /v1/authorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 20)}`,
  );
  await new Promise((r) => setTimeout(r, 100));

  const exited = once(sidecar.child, 'exit');
  sidecar.child.kill('SIGTERM');
  // Stopped accepting: a new connection is refused.
  await new Promise((r) => setTimeout(r, 200));
  await assert.rejects(fetch(`${sidecar.url}/health`), 'new connections are refused after SIGTERM');
  assert.equal(sidecar.child.exitCode, null, 'still draining the in-flight request');

  inFlight.write(body.slice(20));
  await closed;
  assert.match(answer, /^HTTP\/1\.1 200/);
  assert.match(answer, /"decisionId":"[0-9a-f-]{36}"/);
  const [code] = await exited;
  assert.equal(code, 0);
  assert.match(sidecar.output(), /"msg":"stopped"/);
  idle.destroy();
});

/** Waits (bounded) until `output()` matches `pattern`; fails naming what was seen. */
async function outputMatches(output: () => string, pattern: RegExp, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!pattern.test(output())) {
    if (Date.now() > deadline) assert.fail(`${what} not seen within 30 s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The exit code of `child`, or a failure when it is still running after `ms` (then it is killed). */
async function exitWithin(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  assert.notEqual(signal, 'SIGKILL', `still running ${ms} ms after it was told to stop`);
  return code;
}

test('a second SIGTERM during the drain exits at once, with a non-zero status', async (t) => {
  // A drain time far beyond the test's patience: only the second signal can end it in time.
  const sidecar = await launchSidecar({ BUNDLE_WATCH: 'false', SHUTDOWN_TIMEOUT_MS: '600000' }, { readyPath: '/health' });
  t.after(() => sidecar.child.kill('SIGKILL'));
  const port = Number(new URL(sidecar.url).port);
  // A request whose body never finishes holds the drain.
  const inFlight = connect(port, '127.0.0.1');
  t.after(() => inFlight.destroy());
  await once(inFlight, 'connect');
  inFlight.write('POST /v1/authorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"principal":');

  sidecar.child.kill('SIGTERM');
  await outputMatches(sidecar.output, /stopping: draining in-flight requests/, 'the first SIGTERM');
  assert.equal(sidecar.child.exitCode, null, 'still draining after the first SIGTERM');
  sidecar.child.kill('SIGTERM');
  const code = await exitWithin(sidecar.child, 30_000);
  assert.equal(code, 1);
  assert.match(sidecar.output(), /second stop signal/);
});

test('a stop that cannot finish (Redis paused while the audit flushes) exits with status 1 after its deadline', async (t) => {
  const redis = await RedisServer.start();
  const client = new Redis(redis.url);
  const pid = Number(/process_id:(\d+)/.exec(await client.info('server'))![1]);
  client.disconnect();
  t.after(async () => {
    process.kill(pid, 'SIGCONT');
    await redis.stop();
  });
  const sidecar = await launchSidecar({ BUNDLE_WATCH: 'false', REDIS_URL: redis.url, SHUTDOWN_TIMEOUT_MS: '1000' }, { readyPath: '/health/ready' });
  t.after(() => sidecar.child.kill('SIGKILL'));
  // Decisions to flush, then Redis stops answering.
  for (let i = 0; i < 20; i++) await fetch(`${sidecar.url}/v1/authorize`, { method: 'POST', body: JSON.stringify(decisionRequest()) }).then((r) => r.text());
  process.kill(pid, 'SIGSTOP');

  sidecar.child.kill('SIGTERM');
  // Drain 1 s plus closing 1 s: well within the bound, on any machine.
  const code = await exitWithin(sidecar.child, 60_000);
  assert.notEqual(code, 0, `exited ${code}:\n${sidecar.output()}`);
  assert.match(sidecar.output(), /stopping took longer than its deadline|stopping failed/);
});
