// Spans through a real OpenTelemetry Collector (built by `make otelcol` with the collector's
// own builder): the sidecar runs as a process configured only by the standard OTEL_*
// variables and exports over gRPC, OTLP/HTTP protobuf and OTLP/HTTP JSON; the collector
// receives them and hands them on, as OTLP/JSON, to this test's receiver. Each span must
// continue the caller's traceparent and carry the SDK's and the environment's resource.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchSidecar, stopProcess, type SidecarProcess } from '../support/launch.ts';
import { freePort } from '../support/redis.ts';
import { decisionRequest } from '../support/sidecar.ts';
import { OtlpReceiver, type ReceivedSpan } from '../tracing/otlp-receiver.ts';

const OTELCOL = process.env.OTELCOL_BIN ?? '.cache/bin/otelcol-portcullis';

const sink = new OtlpReceiver();
let collector: ChildProcess | undefined;
let collectorOut = '';
let grpcPort: number;
let httpPort: number;
const sidecars: SidecarProcess[] = [];

before(async () => {
  await sink.start();
  [grpcPort, httpPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'otelcol-'));
  const config = join(dir, 'config.yaml');
  // JSON is YAML: the collector reads it as its config file.
  writeFileSync(
    config,
    JSON.stringify({
      receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${grpcPort}` }, http: { endpoint: `127.0.0.1:${httpPort}` } } } },
      exporters: { otlphttp: { endpoint: sink.url, encoding: 'json', compression: 'none' }, debug: { verbosity: 'basic' } },
      service: {
        pipelines: { traces: { receivers: ['otlp'], exporters: ['otlphttp', 'debug'] } },
        // The collector's own metrics would listen on :8888, which a parallel run may hold.
        telemetry: { metrics: { level: 'none' } },
      },
    }),
  );
  collector = spawn(OTELCOL, ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  collector.stdout!.on('data', (chunk: Buffer) => (collectorOut += chunk.toString()));
  collector.stderr!.on('data', (chunk: Buffer) => (collectorOut += chunk.toString()));
  const deadline = Date.now() + 60_000;
  while (!collectorOut.includes('Everything is ready')) {
    if (collector.exitCode !== null || Date.now() > deadline) throw new Error(`the collector did not start:\n${collectorOut}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

after(async () => {
  for (const sidecar of sidecars) await sidecar.stop();
  if (collector) await stopProcess(collector);
  await sink.stop();
});

function callerContext(): { traceId: string; parentId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { traceId, parentId, traceparent: `00-${traceId}-${parentId}-01` };
}

/** The spans of a trace once the collector has handed them on (a bounded wait, not a measurement). */
async function spansOf(traceId: string, names: string[]): Promise<ReceivedSpan[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const spans = sink.spans.filter((span) => span.traceId === traceId);
    if (names.every((name) => spans.some((span) => span.name === name))) return spans;
    if (Date.now() > deadline)
      throw new Error(
        `trace ${traceId}: spans ${JSON.stringify(spans.map((s) => s.name))} within 60 s, wanted ${names.join(', ')}\n${collectorOut.slice(-2000)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

for (const protocol of ['grpc', 'http/protobuf', 'http/json'] as const) {
  test(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: a decision and a refusal reach the collector in the caller's trace, with the resource the environment names`, async () => {
    const endpoint = protocol === 'grpc' ? `http://127.0.0.1:${grpcPort}` : `http://127.0.0.1:${httpPort}`;
    const sidecar = await launchSidecar(
      {
        FORWARD_AUTH_HEADERS: 'envoy',
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_SERVICE_NAME: 'portcullis-collector-test',
        OTEL_RESOURCE_ATTRIBUTES: `deployment.environment.name=gateway-test,portcullis.test.protocol=${protocol.replace('/', '-')}`,
        // The SDK's own variable: export after 200 ms rather than 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '200',
      },
      { readyPath: '/health/ready' },
    );
    sidecars.push(sidecar);

    const decided = callerContext();
    const answer = await fetch(`${sidecar.url}/v1/authorize`, {
      method: 'POST',
      headers: { traceparent: decided.traceparent },
      body: JSON.stringify(decisionRequest()),
    });
    assert.equal(answer.status, 200);
    const { decisionId } = (await answer.json()) as { decisionId: string };
    const refused = callerContext();
    const refusal = await fetch(`${sidecar.url}/ext_authz/v1/mcp-servers`, {
      method: 'POST',
      headers: { traceparent: refused.traceparent, 'x-portkey-workspace-id': 'ws-1' },
    });
    assert.equal(refusal.status, 401);

    const [decide] = (await spansOf(decided.traceId, ['portcullis.decide'])).filter((span) => span.name === 'portcullis.decide');
    assert.equal(decide!.parentSpanId, decided.parentId, "the decision span is a child of the caller's span");
    assert.equal(decide!.attributes['portcullis.decision_id'], decisionId);
    const [refuse] = (await spansOf(refused.traceId, ['portcullis.refuse'])).filter((span) => span.name === 'portcullis.refuse');
    assert.equal(refuse!.parentSpanId, refused.parentId);
    assert.equal(refuse!.attributes['portcullis.reason'], refusal.headers.get('x-portcullis-reason'));

    for (const span of [decide!, refuse!]) {
      assert.equal(span.resource['service.name'], 'portcullis-collector-test');
      assert.equal(span.resource['deployment.environment.name'], 'gateway-test');
      assert.equal(span.resource['portcullis.test.protocol'], protocol.replace('/', '-'));
      assert.equal(span.resource['telemetry.sdk.language'], 'nodejs');
      assert.equal(span.resource['telemetry.sdk.name'], 'opentelemetry');
      assert.match(String(span.resource['telemetry.sdk.version']), /^\d+\.\d+\.\d+/);
    }
  });
}
