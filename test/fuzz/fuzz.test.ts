// The grammar-based fuzzer, bounded for `make test`: a fixed seed and a few thousand hostile
// requests over every API of two real sidecars (see run.ts), then a short run while Redis is
// paused and resumed at random (see faults.ts); `make fuzz` runs long ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzUnderFaults } from './faults.ts';
import { fuzz, groups } from './run.ts';

test('3,000 hostile requests over every API: no 5xx, no allow for malformed input, ordinary decisions and readiness intact', async (t) => {
  const report = await fuzz({ requests: 3_000, seed: 20_250_101 });
  t.diagnostic(
    `fuzz: ${report.requests} requests in ${report.seconds.toFixed(1)} s; per API ${JSON.stringify(report.perApi)}; statuses ${JSON.stringify(report.statuses)}`,
  );
  for (const group of groups(report.violations).slice(0, 20)) t.diagnostic(`${group.count} × ${group.key}: ${group.example.input.slice(0, 300)}`);
  assert.ok(report.requests >= 3_000, 'every request was answered or accounted for');
  for (const api of ['authorize', 'opa_batch', 'gateway_grpc', 'gateway_nginx', 'admin_directory', 'audit'])
    assert.ok((report.perApi[api] ?? 0) > 100, `${api} was fuzzed`);
  assert.deepEqual(
    groups(report.violations).map((g) => `${g.count} × ${g.key}`),
    [],
  );
});

test('600 hostile decisions while Redis is paused and resumed at random: nothing allowed that healthy Redis denies', async (t) => {
  const report = await fuzzUnderFaults({ requests: 600, seed: 20_250_101 });
  t.diagnostic(
    `faults: ${report.requests} requests in ${report.seconds.toFixed(1)} s, ${report.pauses} pauses, ${report.allowedDuringFaults} allows asked again healthy, ${report.outageDenials} outage denials`,
  );
  for (const group of groups(report.violations).slice(0, 20)) t.diagnostic(`${group.count} × ${group.key}: ${group.example.input.slice(0, 300)}`);
  assert.ok(report.requests >= 600, 'every request was answered');
  assert.ok(report.pauses > 0 && report.outageDenials > 0, 'Redis was paused while requests were decided');
  assert.ok(report.allowedDuringFaults > 0, 'some requests were allowed, so the invariant was put to the test');
  assert.deepEqual(
    groups(report.violations).map((g) => `${g.count} × ${g.key}`),
    [],
  );
});
