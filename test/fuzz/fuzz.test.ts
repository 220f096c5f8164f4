// The grammar-based fuzzer, bounded for `make test`: a fixed seed and a few thousand hostile
// requests over every API of two real sidecars (see run.ts); `make fuzz` runs a long one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzz, groups } from './run.ts';

test('3,000 hostile requests over every API: no 5xx, no allow for malformed input, ordinary decisions and readiness intact', async (t) => {
  const report = await fuzz({ requests: 3_000, seed: 20_250_101 });
  t.diagnostic(`fuzz: ${report.requests} requests in ${report.seconds.toFixed(1)} s; per API ${JSON.stringify(report.perApi)}; statuses ${JSON.stringify(report.statuses)}`);
  for (const group of groups(report.violations).slice(0, 20)) t.diagnostic(`${group.count} × ${group.key}: ${group.example.input.slice(0, 300)}`);
  assert.ok(report.requests >= 3_000, 'every request was answered or accounted for');
  for (const api of ['authorize', 'opa_batch', 'gateway_grpc', 'gateway_nginx', 'admin_directory', 'audit']) assert.ok((report.perApi[api] ?? 0) > 100, `${api} was fuzzed`);
  assert.deepEqual(groups(report.violations).map((g) => `${g.count} × ${g.key}`), []);
});
