// SIGTERM to a real sidecar process: it stops accepting connections, answers the request
// that is in flight (its body still arriving), closes idle keep-alive connections, closes
// the sidecar (audit flushed, Redis closed) and exits 0.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { test } from 'node:test';
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
  inFlight.write(`POST /v1/authorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 20)}`);
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
