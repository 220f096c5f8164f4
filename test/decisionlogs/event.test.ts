// The OPA event of a decision record: path and result by API, the audit's masking with
// OPA's erased/masked lists, labels; the console line; no sink when nothing is configured.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { createMasker, parseMaskPaths, MASKED } from '../../src/audit/mask.ts';
import { ConsoleDecisionLogger } from '../../src/decisionlogs/console.ts';
import { createEventBuilder, rfc3339Nano, undefinedQueryEvent } from '../../src/decisionlogs/event.ts';
import { createDecisionLogs } from '../../src/decisionlogs/sink.ts';
import { ConfigError } from '../../src/config.ts';
import { Metrics } from '../../src/metrics.ts';
import { decisionRecord } from '../audit/records.ts';
import { testConfig } from '../support/sidecar.ts';

const labels = { id: 'instance-1', version: '0.1.0', env: 'test' };

test('an /v1/authorize decision is logged at portkey/authz/decision with the decision document', () => {
  const build = createEventBuilder({ labels, mask: createMasker([]) });
  const record = decisionRecord({ allow: false, reason: 'manager_write_disabled' });
  const event = build(record);
  assert.equal(event.path, 'portkey/authz/decision');
  assert.deepEqual(event.result, { allow: false, reason: 'manager_write_disabled', setting: 'managersWriteMcpServers', source: 'org' });
  assert.equal(event.decision_id, record.decisionId);
  assert.deepEqual(event.bundles, { portkey: { revision: 'test' } });
  assert.deepEqual(event.labels, labels);
  assert.equal(event.metrics.timer_server_handler_ns, 100_000);
  assert.equal(event.timestamp, record.timestamp);
  assert.equal(event.requested_by, '');
  assert.deepEqual(event.input, record.input);
  assert.ok(!('erased' in event) && !('masked' in event));
});

test('the data path asked decides path and result; gateways log the boolean at portkey/authz/allow', () => {
  const build = createEventBuilder({ labels, mask: createMasker([]) });
  assert.deepEqual(
    [build({ ...decisionRecord(), api: 'opa_data', path: 'portkey/authz/allow' })].map((e) => [e.path, e.result]),
    [['portkey/authz/allow', true]],
  );
  assert.deepEqual(
    [build({ ...decisionRecord({ allow: false }), api: 'ext_authz_grpc' })].map((e) => [e.path, e.result]),
    [['portkey/authz/allow', false]],
  );
});

test("req_id, batch_decision_id, the measured timers and the message come from the record's decision-log part", () => {
  const build = createEventBuilder({ labels, mask: createMasker([]) });
  const log = {
    message: 'Workspace managers may not.',
    epochMicros: 1_765_134_000_120_400,
    reqId: 7,
    batchDecisionId: 'b-1',
    inputParseNs: 1200,
    evalNs: 34_000,
  };
  const event = build({ ...decisionRecord({ allow: false, reason: 'manager_write_disabled' }), log });
  assert.equal(event.req_id, 7);
  assert.equal(event.batch_decision_id, 'b-1');
  assert.equal((event.result as { message: string }).message, log.message);
  assert.equal(event.metrics.timer_rego_input_parse_ns, 1200);
  assert.equal(event.metrics.timer_rego_query_eval_ns, 34_000);
  assert.equal(event.timestamp, '2025-12-07T19:00:00.1204Z');
  // No req_id for a decision no HTTP request asked (gRPC): OPA leaves a zero out.
  assert.ok(!('req_id' in build({ ...decisionRecord(), log: { message: 'm', epochMicros: 0 } })));
});

test("timestamps print as Go's RFC3339Nano: UTC, trailing zeros dropped, no fraction on a whole second", () => {
  assert.equal(rfc3339Nano(1_765_134_000_000_000), '2025-12-07T19:00:00Z');
  assert.equal(rfc3339Nano(1_765_134_000_500_000), '2025-12-07T19:00:00.5Z');
  assert.equal(rfc3339Nano(1_765_134_000_000_001), '2025-12-07T19:00:00.000001Z');
  assert.equal(rfc3339Nano(1_765_134_000_123_450), '2025-12-07T19:00:00.12345Z');
});

test('a question about a data path with no rule is an event with no result (and no input when none was sent)', () => {
  const options = { labels, mask: createMasker(parseMaskPaths('principal.id')) };
  const query = {
    decisionId: 'd-1',
    path: 'portkey/authz/nothing',
    bundleRevision: 'r',
    requestedBy: '127.0.0.1:1',
    reqId: 3,
    epochMicros: 1_765_134_000_000_000,
    handlerNs: 5000,
  };
  const event = undefinedQueryEvent({ ...query, input: { principal: { id: 'u-1' } } }, options);
  assert.ok(!('result' in event));
  assert.equal(JSON.stringify(event.input), JSON.stringify({ principal: { id: MASKED } }));
  assert.deepEqual(event.masked, ['/input/principal/id']);
  assert.equal(event.req_id, 3);
  assert.ok(!('input' in undefinedQueryEvent(query, options)));
});

test("requested_by, trace_id/span_id and a gateway's request context come from the record; masking is unaffected by them", () => {
  const build = createEventBuilder({ labels, mask: createMasker(parseMaskPaths('principal.id')) });
  const plain = build(decisionRecord());
  assert.ok(!('trace_id' in plain) && !('span_id' in plain), 'no trace ids without a sampled span');
  const record = {
    ...decisionRecord({ allow: false }),
    api: 'ext_authz_http' as const,
    requestedBy: '10.0.0.7:51234',
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    gatewayRequest: { method: 'POST', path: '/v1/mcp-servers', route: '/v1/mcp-servers', headers: { 'x-request-id': 'r-1' } },
  };
  const event = build(record);
  assert.equal(event.requested_by, '10.0.0.7:51234');
  assert.equal(event.trace_id, record.traceId);
  assert.equal(event.span_id, record.spanId);
  const input = event.input as Record<string, unknown> & { principal: { id: string } };
  const { method, path, headers } = record.gatewayRequest;
  assert.deepEqual(input.attributes, { request: { http: { method, path, headers } } }, 'where OPA-Envoy puts the request');
  assert.equal(input.principal.id, MASKED);
  assert.deepEqual(event.masked, ['/input/principal/id']);
  assert.equal(event.erased, undefined);
  assert.ok(!('attributes' in record.input), 'the record itself is not changed');
});

test('the input is masked by the audit rules, and erased/masked list what was, as JSON pointers', () => {
  const build = createEventBuilder({ labels, mask: createMasker(parseMaskPaths('principal.id,resource.id')) });
  const record = decisionRecord();
  const input = { ...record.input, principal: { ...record.input.principal, token: 'secret' }, resource: { ...record.input.resource, id: 'r/1' } };
  const event = build({ ...record, input } as typeof record);
  const logged = event.input as { principal: Record<string, unknown>; resource: Record<string, unknown> };
  assert.equal(logged.principal.id, MASKED);
  assert.equal(logged.resource.id, MASKED);
  assert.ok(!('token' in logged.principal));
  assert.deepEqual(event.erased, ['/input/principal/token']);
  assert.deepEqual(event.masked, ['/input/principal/id', '/input/resource/id']);
  // The record itself is untouched: the audit masks its own copy.
  assert.equal(input.principal.token, 'secret');
});

test('the console logger writes one OPA "Decision Log" line per event, the event at top level', () => {
  let out = '';
  const sink = new Writable({ write: (chunk, _encoding, done) => ((out += chunk.toString()), done()) });
  const build = createEventBuilder({ labels, mask: createMasker([]) });
  const events = [build(decisionRecord()), build(decisionRecord())];
  new ConsoleDecisionLogger(sink).write(events);
  const lines = out
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  for (const [i, line] of lines.entries()) {
    assert.equal(line.msg, 'Decision Log');
    assert.equal(line.level, 'info');
    assert.equal(line.type, 'openpolicyagent.org/decision_logs');
    assert.equal(line.decision_id, events[i]!.decision_id);
    assert.deepEqual(line.input, events[i]!.input);
    assert.deepEqual(Object.keys(line), [...Object.keys(line)].sort());
  }
});

test('no decision-log sink exists unless a URL or the console is configured; bad settings are refused at start', async () => {
  const log = pino({ level: 'silent' });
  assert.equal(await createDecisionLogs(testConfig(), new Metrics().decisionLogStats, log), undefined);
  await assert.rejects(createDecisionLogs(testConfig({ decisionLogsUrl: 'ftp://x/logs' }), new Metrics().decisionLogStats, log), ConfigError);
  await assert.rejects(
    createDecisionLogs(testConfig({ decisionLogsConsole: true, decisionLogsLabels: 'novalue' }), new Metrics().decisionLogStats, log),
    ConfigError,
  );
  await assert.rejects(
    createDecisionLogs(testConfig({ decisionLogsUrl: 'http://127.0.0.1:1/logs', decisionLogsHeaders: 'bad name=x' }), new Metrics().decisionLogStats, log),
    ConfigError,
  );
});
