// `make fuzz`: the long fuzz run. FUZZ_REQUESTS (default 100,000) and FUZZ_SEED (default fixed) choose the
// run, FUZZ_FAULT_REQUESTS (default 10,000) the run while Redis is paused and resumed at random;
// it prints what it tried per API and every invariant violation with its input, and exits
// non-zero if there was any.
import { fuzzUnderFaults } from './faults.ts';
import { fuzz, groups } from './run.ts';

const requests = Number(process.env.FUZZ_REQUESTS ?? 100_000);
const seed = Number(process.env.FUZZ_SEED ?? 20_250_101);
const faultRequests = Number(process.env.FUZZ_FAULT_REQUESTS ?? 10_000);
if (!Number.isSafeInteger(requests) || requests < 1 || !Number.isSafeInteger(faultRequests) || faultRequests < 1 || !Number.isSafeInteger(seed)) {
  console.error('FUZZ_REQUESTS and FUZZ_FAULT_REQUESTS must be positive integers and FUZZ_SEED an integer');
  process.exit(2);
}
console.log(`fuzz: ${requests} requests, FUZZ_SEED=${seed}`);
const report = await fuzz({ requests, seed, progress: (done) => console.log(`  ${done} requests…`) });
for (const v of report.violations) console.log(`VIOLATION [${v.api} on ${v.target}] ${v.invariant}: ${v.status} ${v.answer}\n  input: ${v.input}`);
console.log(`\ntried ${report.requests} inputs in ${report.seconds.toFixed(1)} s (${Math.round(report.requests / report.seconds)}/s), seed ${seed}`);
for (const [api, count] of Object.entries(report.perApi).sort())
  console.log(`  ${api.padEnd(16)} ${String(count).padStart(7)}  mean answer ${((report.msPerApi[api] ?? 0) / count).toFixed(1)} ms`);
console.log(`answers: ${JSON.stringify(report.statuses)}; connections closed by the server after a refusal: ${report.closed}`);
console.log(`\n${report.violations.length} invariant violations${report.violations.length ? ', by kind:' : ''}`);
for (const group of groups(report.violations)) console.log(`  ${String(group.count).padStart(6)} × ${group.key}`);

console.log(`\nfuzz under faults: ${faultRequests} decision requests while Redis is paused and resumed at random`);
const faults = await fuzzUnderFaults({ requests: faultRequests, seed });
for (const v of faults.violations) console.log(`VIOLATION [${v.api} on ${v.target}] ${v.invariant}: ${v.status} ${v.answer}\n  input: ${v.input}`);
console.log(
  `tried ${faults.requests} inputs in ${faults.seconds.toFixed(1)} s; ${faults.pauses} pauses; ${faults.outageDenials} outage denials; ${faults.allowedDuringFaults} allows asked again with Redis healthy`,
);
console.log(`${faults.violations.length} invariant violations under faults`);
for (const group of groups(faults.violations)) console.log(`  ${String(group.count).padStart(6)} × ${group.key}`);
process.exit(report.violations.length + faults.violations.length > 0 ? 1 : 0);
