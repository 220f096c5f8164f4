// OpenTelemetry traces across the gateway hop: a decision asked with a W3C traceparent
// (decision API, gateway HTTP, gRPC Check) has its span exported to a real OTLP/HTTP
// receiver as a child of the caller's span, with the settings-lookup and evaluation
// children and the decision's attributes; the audit record and the decision-log event
// carry the same trace id.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { DecisionRecord } from '../../src/decision/record.ts';
import { ConfigError } from '../../src/config.ts';
import { Metrics } from '../../src/metrics.ts';
import { createTracing } from '../../src/decision/tracing.ts';
import { pino } from 'pino';
import { LogReceiver } from '../decisionlogs/receiver.ts';
import { freePort } from '../support/redis.ts';
import { decisionRequest, testConfig, testSidecar } from '../support/sidecar.ts';
import { listeningSidecar, PRINCIPALS, signToken, type RunningSidecar } from '../gateway/support.ts';
import { OtlpReceiver, type ReceivedSpan } from './otlp-receiver.ts';

const PROTO = fileURLToPath(new URL('../../src/gateway/envoy/ext_authz.proto', import.meta.url));
type CheckClient = grpc.Client & {
  Check(
    request: unknown,
    callback: (error: grpc.ServiceError | null, response: { okResponse?: { headers: { header: { key: string; value: string } }[] } }) => void,
  ): void;
};

/** A fresh caller span: what Envoy (or any traced client) sends. */
function callerContext(): { traceId: string; parentId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { traceId, parentId, traceparent: `00-${traceId}-${parentId}-01` };
}

const otlp = new OtlpReceiver();
const logs = new LogReceiver();
let sidecar: RunningSidecar;
let grpcPort: number;
let token: string;

before(async () => {
  await otlp.start();
  await logs.start();
  sidecar = await listeningSidecar({
    forwardAuthHeaders: 'envoy',
    otelExporterOtlpEndpoint: otlp.url,
    // This receiver reads OTLP/JSON; the protobuf and gRPC exporters are tested against a real collector (test/gateways).
    otelExporterOtlpProtocol: 'http/json',
    otelServiceName: 'portcullis-under-test',
    decisionLogsUrl: logs.url,
    decisionLogsMinDelayMs: 50,
    decisionLogsMaxDelayMs: 500,
    decisionLogsSpillDir: '',
  });
  grpcPort = await sidecar.sidecar.grpc.listen('127.0.0.1', 0);
  token = `Bearer ${await signToken(PRINCIPALS.manager)}`;
});

after(async () => {
  await sidecar?.close();
  await otlp.stop();
  await logs.stop();
});

/** The decision's span once the exporter has delivered it (flushed, then a bounded wait). */
async function decisionSpan(decisionId: string): Promise<ReceivedSpan> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    await sidecar.sidecar.tracing!.flush();
    const span = otlp.spans.find((s) => s.attributes['portcullis.decision_id'] === decisionId);
    if (span) return span;
    if (Date.now() > deadline) throw new Error(`no span for decision ${decisionId} within 30 s (${otlp.spans.length} spans received)`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function decisionEvent(decisionId: string): Promise<Record<string, unknown>> {
  await logs.until(() => logs.events.some((e) => e.decision_id === decisionId));
  return logs.events.find((e) => e.decision_id === decisionId)!;
}

async function record(decisionId: string): Promise<DecisionRecord> {
  await sidecar.sidecar.audit.flush();
  const found = await sidecar.sidecar.audit.getDecision(decisionId);
  assert.ok(found, `audit record of ${decisionId}`);
  return found;
}

/** Everything the issue asks of one traced decision. */
async function assertJoined(
  decisionId: string,
  caller: ReturnType<typeof callerContext>,
  expected: { api: string; allow: boolean; reason: string },
): Promise<{ span: ReceivedSpan; event: Record<string, unknown>; record: DecisionRecord }> {
  const span = await decisionSpan(decisionId);
  assert.equal(span.name, 'portcullis.decide');
  assert.equal(span.traceId, caller.traceId, 'the span continues the trace of the traceparent');
  assert.equal(span.parentSpanId, caller.parentId, 'the span is a child of the span in the traceparent');
  assert.equal(span.resource['service.name'], 'portcullis-under-test');
  const children = otlp.spans.filter((s) => s.parentSpanId === span.spanId);
  assert.deepEqual(children.map((c) => c.name).sort(), ['portcullis.evaluate', 'portcullis.settings']);
  for (const child of children) assert.equal(child.traceId, caller.traceId);
  assert.equal(span.attributes['portcullis.api'], expected.api);
  assert.equal(span.attributes['portcullis.allow'], expected.allow);
  assert.equal(span.attributes['portcullis.reason'], expected.reason);
  assert.equal(span.attributes['portcullis.org_id'], 'org-1');
  assert.equal(span.attributes['portcullis.workspace_id'], 'ws-1');
  assert.equal(span.attributes['portcullis.bundle_revision'], sidecar.sidecar.policy.require().revision);
  // No secrets: no attribute carries a token (every JWT starts "eyJ") or a header.
  for (const value of Object.values(span.attributes)) assert.ok(!String(value).includes('eyJ') && !String(value).includes('Bearer'), String(value));

  const audited = await record(decisionId);
  assert.equal(audited.traceId, caller.traceId);
  assert.equal(audited.spanId, span.spanId);
  assert.match(audited.requestedBy ?? '', /^(127\.0\.0\.1|ipv4:127\.0\.0\.1|::ffff:127\.0\.0\.1):\d+$/);

  const event = await decisionEvent(decisionId);
  assert.equal(event.trace_id, caller.traceId);
  assert.equal(event.span_id, span.spanId);
  assert.equal(event.requested_by, audited.requestedBy);
  return { span, event, record: audited };
}

describe('a traceparent continues through a decision', () => {
  test('decision API: POST /v1/authorize and POST /v1/data', async () => {
    const caller = callerContext();
    const res = await fetch(`${sidecar.url}/v1/authorize`, {
      method: 'POST',
      headers: { traceparent: caller.traceparent },
      body: JSON.stringify(decisionRequest()),
    });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { decisionId: string; allow: boolean; reason: string };
    await assertJoined(answer.decisionId, caller, { api: 'authorize', allow: answer.allow, reason: answer.reason });

    const second = callerContext();
    const data = await fetch(`${sidecar.url}/v1/data/portkey/authz/allow`, {
      method: 'POST',
      headers: { traceparent: second.traceparent },
      body: JSON.stringify({ input: decisionRequest() }),
    });
    const { decision_id } = (await data.json()) as { decision_id: string };
    const { event } = await assertJoined(decision_id, second, { api: 'opa_data', allow: answer.allow, reason: answer.reason });
    assert.equal((event.input as Record<string, unknown>).attributes, undefined, 'no gateway request context outside the gateways');
  });

  test('gateway HTTP (Envoy ext_authz): traceparent of the original request; the request context in the event, without credentials', async () => {
    const caller = callerContext();
    const res = await fetch(`${sidecar.url}/ext_authz/v1/mcp-servers?x=1`, {
      method: 'POST',
      headers: { authorization: token, 'x-portkey-workspace-id': 'ws-1', traceparent: caller.traceparent, cookie: 'session=s3cret', 'x-request-id': 'req-7' },
    });
    // A denial too joins the caller's trace (rather than showing up as a gap in it).
    assert.equal(res.status, 403);
    const decisionId = res.headers.get('x-portcullis-decision-id')!;
    const { event, record: audited } = await assertJoined(decisionId, caller, {
      api: 'ext_authz_http',
      allow: false,
      reason: res.headers.get('x-portcullis-reason')!,
    });
    const http = (event.input as { attributes: { request: { http: { method: string; path: string; headers: Record<string, string> } } } }).attributes.request
      .http;
    assert.equal(http.method, 'POST');
    assert.equal(http.path, '/v1/mcp-servers', 'without the query string, which may carry keys');
    assert.equal(http.headers['x-request-id'], 'req-7');
    assert.equal(http.headers['x-portkey-workspace-id'], 'ws-1');
    assert.equal(http.headers.traceparent, caller.traceparent);
    assert.equal(http.headers.authorization, undefined);
    assert.equal(http.headers.cookie, undefined);
    assert.ok(!JSON.stringify(event).includes(token.slice('Bearer '.length)), 'the token is nowhere in the event');
    assert.ok(!JSON.stringify(audited).includes('s3cret'), 'the cookie is nowhere in the record');
  });

  test('gRPC Check: traceparent in the CheckRequest headers', async () => {
    const caller = callerContext();
    const owner = `Bearer ${await signToken(PRINCIPALS.owner)}`;
    const definition = protoLoader.loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
    const root = grpc.loadPackageDefinition(definition) as unknown as {
      envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } };
    };
    const client = new root.envoy.service.auth.v3.Authorization(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as unknown as CheckClient;
    try {
      const headers = [
        ['authorization', owner],
        ['x-portkey-workspace-id', 'ws-1'],
        ['traceparent', caller.traceparent],
      ].map(([key, value]) => ({ key, value }));
      const response = await new Promise<{ okResponse?: { headers: { header: { key: string; value: string } }[] } }>((resolve, reject) =>
        client.Check({ attributes: { request: { http: { method: 'DELETE', path: '/v1/mcp-servers/s-1', headers } } } }, (error, answer) =>
          error ? reject(error) : resolve(answer),
        ),
      );
      assert.ok(response.okResponse, `allowed: ${JSON.stringify(response)}`);
      const answered = Object.fromEntries(response.okResponse!.headers.map(({ header }) => [header.key, header.value]));
      const { event } = await assertJoined(answered['x-portcullis-decision-id']!, caller, {
        api: 'ext_authz_grpc',
        allow: true,
        reason: answered['x-portcullis-reason']!,
      });
      const http = (event.input as { attributes: { request: { http: { method: string; path: string } } } }).attributes.request.http;
      assert.deepEqual([http.method, http.path], ['DELETE', '/v1/mcp-servers/s-1']);
    } finally {
      client.close();
    }
  });

  test("a gateway answer given before the policy (no token, no route) has its own span in the caller's trace, and is counted by reason", async () => {
    for (const [path, headers, reason] of [
      ['/ext_authz/v1/mcp-servers', { 'x-portkey-workspace-id': 'ws-1' }, 'missing_token'],
      ['/ext_authz/nowhere/at-all', { authorization: token }, 'no_route'],
    ] as const) {
      const caller = callerContext();
      const res = await fetch(`${sidecar.url}${path}`, { method: 'POST', headers: { ...headers, traceparent: caller.traceparent } });
      assert.equal(res.headers.get('x-portcullis-reason'), reason);
      const deadline = Date.now() + 30_000;
      let span: ReceivedSpan | undefined;
      while (!(span = otlp.spans.find((s) => s.traceId === caller.traceId))) {
        assert.ok(Date.now() < deadline, `no span for the ${reason} refusal within 30 s`);
        await sidecar.sidecar.tracing!.flush();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(span.name, 'portcullis.refuse');
      assert.equal(span.parentSpanId, caller.parentId);
      assert.equal(span.attributes['portcullis.reason'], reason);
      assert.equal(span.attributes['http.response.status_code'], res.status);
      assert.equal(span.resource['telemetry.sdk.language'], 'nodejs');
      assert.equal(span.resource['telemetry.sdk.name'], 'opentelemetry');
      const metrics = await sidecar.sidecar.metrics.registry.metrics();
      assert.match(metrics, new RegExp(`portcullis_gateway_refusals_total\\{api="ext_authz_http",reason="${reason}"\\} [1-9]`));
    }
  });

  test('a malformed traceparent is ignored (a new trace starts), never an error', async () => {
    const res = await fetch(`${sidecar.url}/v1/authorize`, {
      method: 'POST',
      headers: { traceparent: '00-zz-not-a-trace-01' },
      body: JSON.stringify(decisionRequest()),
    });
    assert.equal(res.status, 200);
    const { decisionId } = (await res.json()) as { decisionId: string };
    const span = await decisionSpan(decisionId);
    assert.equal(span.parentSpanId, '');
    assert.match(span.traceId, /^[0-9a-f]{32}$/);
    assert.equal((await record(decisionId)).traceId, span.traceId);
  });
});

test('exported as OTLP JSON (the exporter, not hand-rolled)', () => {
  assert.ok(otlp.contentTypes.length > 0);
  for (const type of otlp.contentTypes) assert.match(type, /^application\/json/);
});

test('spans that cannot be exported (no collector) are counted in /metrics and logged', async () => {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  const metrics = new Metrics();
  const tracing = createTracing(
    testConfig({ otelExporterOtlpEndpoint: `http://127.0.0.1:${await freePort()}`, otelExporterOtlpProtocol: 'http/json' }),
    metrics,
    log,
  )!;
  try {
    tracing.refusal(undefined, { 'portcullis.reason': 'no_route' });
    // The SDK's flush rejects with the export's error; what a platform sees is the counters and the log.
    await assert.rejects(tracing.flush());
    const text = await metrics.registry.metrics();
    assert.match(text, /portcullis_trace_export_failures_total [1-9]/);
    assert.match(text, /portcullis_trace_spans_dropped_total [1-9]/);
    assert.ok(
      lines.some((line) => line.includes('could not be exported')),
      lines.join(''),
    );
  } finally {
    await tracing.shutdown().catch(() => undefined);
  }
});

test('tracing is off without an OTLP endpoint: no tracer, no trace ids recorded', async () => {
  const plain = await testSidecar();
  try {
    assert.equal(plain.tracing, undefined);
    const answer = await plain.decider.decide(decisionRequest() as never, 'authorize', { trace: { traceparent: callerContext().traceparent } });
    await plain.audit.flush();
    const audited = await plain.audit.getDecision(answer.decisionId);
    assert.equal(audited?.traceId, undefined);
    assert.equal(audited?.spanId, undefined);
  } finally {
    await plain.close();
  }
});

test('a sampler that does not sample records no trace id; bad OTEL_* settings are refused at start, naming the variable', async () => {
  const off = await testSidecar({ otelExporterOtlpEndpoint: otlp.url, otelExporterOtlpProtocol: 'http/json', otelTracesSampler: 'always_off' });
  try {
    const answer = await off.decider.decide(decisionRequest() as never, 'authorize');
    await off.audit.flush();
    assert.equal((await off.audit.getDecision(answer.decisionId))?.traceId, undefined);
  } finally {
    await off.close();
  }
  const bad: [Partial<Parameters<typeof testConfig>[0]>, RegExp][] = [
    [{ otelTracesSampler: 'sometimes' }, /OTEL_TRACES_SAMPLER must be one of/],
    [{ otelTracesSampler: 'traceidratio', otelTracesSamplerArg: '1.5' }, /OTEL_TRACES_SAMPLER_ARG/],
    [{ otelExporterOtlpEndpoint: 'not a url' }, /OTEL_EXPORTER_OTLP_ENDPOINT/],
    [{ otelExporterOtlpHeaders: 'no-equals-sign' }, /OTEL_EXPORTER_OTLP_HEADERS/],
    [{ otelExporterOtlpProtocol: 'http' }, /OTEL_EXPORTER_OTLP_PROTOCOL must be one of http\/protobuf, http\/json, grpc/],
  ];
  for (const [overrides, message] of bad) {
    assert.throws(
      () => createTracing(testConfig({ otelExporterOtlpEndpoint: otlp.url, ...overrides }), new Metrics(), pino({ level: 'silent' })),
      (error: unknown) => error instanceof ConfigError && message.test(error.message),
    );
  }
});
