// OpenTelemetry traces of decisions: a span per decision (joining the caller's trace when
// it sends a W3C traceparent) with children for the settings lookup and the policy
// evaluation, and a span for every answer a gateway gives before the policy is asked,
// exported over OTLP (http/protobuf, http/json or grpc, as OTEL_EXPORTER_OTLP_PROTOCOL
// says) with the OpenTelemetry JS SDK's own exporters. Built only when an OTLP endpoint
// is configured: otherwise there is no Tracing and the decision path makes no tracer call.
import { Metadata } from '@grpc/grpc-js';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import type { Logger } from 'pino';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { DecisionRecord } from './record.ts';
import { ConfigError, type Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { PACKAGE_VERSION } from '../package.ts';

/** One decision's span; the children are ended by whoever started them. */
export interface DecisionTrace {
  /** Set only when the span is sampled (a trace id that was not exported leads nowhere). */
  readonly traceId?: string;
  readonly spanId?: string;
  child(name: 'portcullis.settings' | 'portcullis.evaluate'): Span;
  /**
   * Stamps the record with the span's trace and span ids (when sampled) and ends the span
   * with what was decided as its attributes.
   */
  finish(record: DecisionRecord, failed: boolean): void;
}

/** The W3C trace-context headers as received (either may be absent). */
export interface TraceHeaders {
  traceparent?: string;
  tracestate?: string;
}

const propagator = new W3CTraceContextPropagator();
const getter = {
  get: (carrier: TraceHeaders, key: string) => carrier[key as keyof TraceHeaders],
  keys: (carrier: TraceHeaders) => Object.keys(carrier),
};

export class Tracing {
  private readonly tracer: Tracer;

  constructor(private readonly provider: BasicTracerProvider) {
    this.tracer = provider.getTracer('portcullis', PACKAGE_VERSION);
  }

  /** Starts a decision's span, as a child of the caller's when its traceparent is valid (a bad one starts a new trace). */
  startDecision(headers: TraceHeaders | undefined): DecisionTrace {
    const parent = headers?.traceparent ? propagator.extract(ROOT_CONTEXT, headers, getter) : ROOT_CONTEXT;
    const span = this.tracer.startSpan('portcullis.decide', { kind: SpanKind.SERVER }, parent);
    const inside = trace.setSpan(ROOT_CONTEXT, span);
    const context = span.spanContext();
    const sampled = span.isRecording();
    return {
      ...(sampled ? { traceId: context.traceId, spanId: context.spanId } : {}),
      child: (name) => this.tracer.startSpan(name, { kind: SpanKind.INTERNAL }, inside),
      finish: (record, failed) => {
        if (sampled) {
          record.traceId = context.traceId;
          record.spanId = context.spanId;
        }
        span.setAttributes(attributesOf(record));
        if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: 'policy evaluation failed' });
        span.end();
      },
    };
  }

  /**
   * A span for an answer given before the policy was asked (a gateway's no_route, a
   * missing token, a forbidden header): ended at once, in the caller's trace.
   */
  refusal(headers: TraceHeaders | undefined, attributes: Attributes): void {
    const parent = headers?.traceparent ? propagator.extract(ROOT_CONTEXT, headers, getter) : ROOT_CONTEXT;
    const span = this.tracer.startSpan('portcullis.refuse', { kind: SpanKind.SERVER, attributes }, parent);
    span.end();
  }

  /** Exports every ended span now (tests; shutdown does it too). */
  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

/**
 * What a span says about a decision: the outcome and where, never secrets (no tokens, no
 * headers, no settings values, no principal id).
 */
function attributesOf(record: DecisionRecord): Attributes {
  const attributes: Attributes = {
    'portcullis.decision_id': record.decisionId,
    'portcullis.api': record.api,
    'portcullis.allow': record.allow,
    'portcullis.reason': record.reason,
    'portcullis.org_id': record.orgId,
    'portcullis.workspace_id': record.workspaceId,
    'portcullis.action': record.action,
    'portcullis.resource_type': record.resource.type,
    'portcullis.bundle_revision': record.bundleRevision,
  };
  if (record.setting) attributes['portcullis.setting'] = record.setting;
  if (record.source) attributes['portcullis.setting_source'] = record.source;
  if (record.dryRun) attributes['portcullis.dry_run'] = true;
  return attributes;
}

/** The tracer the OTEL_* configuration asks for; undefined when no OTLP endpoint is set. */
export function createTracing(config: Config, metrics: Metrics, log: Logger): Tracing | undefined {
  const protocol = config.otelExporterOtlpProtocol as Protocol;
  const url = tracesUrl(config, protocol);
  if (!url) return undefined;
  const headers = parseHeaders(config.otelExporterOtlpHeaders);
  const provider = new BasicTracerProvider({
    resource: resource(config),
    sampler: sampler(config.otelTracesSampler, config.otelTracesSamplerArg),
    spanProcessors: [new BatchSpanProcessor(new CountingExporter(exporter(protocol, url, headers), metrics, log))],
  });
  return new Tracing(provider);
}

const PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
type Protocol = (typeof PROTOCOLS)[number];

/** The SDK's exporter for the protocol; timeout, compression and certificates it reads from OTEL_EXPORTER_OTLP_* itself. */
function exporter(protocol: Protocol, url: string, headers: Record<string, string>): SpanExporter {
  switch (protocol) {
    case 'http/protobuf':
      return new ProtobufExporter({ url, headers });
    case 'http/json':
      return new JsonExporter({ url, headers });
    case 'grpc': {
      const metadata = new Metadata();
      for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
      return new GrpcExporter({ url, metadata });
    }
  }
}

/**
 * The SDK's resource (telemetry.sdk.*), then the service's name and version, then what
 * the environment says (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME), read by the SDK's own
 * detector so the variables mean what they mean for every other OpenTelemetry program.
 */
function resource(config: Config) {
  return defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.otelServiceName || 'portcullis', [ATTR_SERVICE_VERSION]: PACKAGE_VERSION }))
    .merge(detectResources({ detectors: [envDetector] }));
}

/**
 * Counts every batch that could not be exported (portcullis_trace_export_failures_total)
 * and says so in the log at most once a minute, with how many failed since: a collector
 * that is down must be visible, not flood the log.
 */
class CountingExporter implements SpanExporter {
  private failedSinceLog = 0;
  private lastLog = 0;

  constructor(
    private readonly inner: SpanExporter,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.failed(spans.length, result.error);
      done(result);
    });
  }

  private failed(spans: number, error: Error | undefined): void {
    this.metrics.traceExportFailures.inc();
    this.metrics.traceSpansDropped.inc(spans);
    this.failedSinceLog++;
    const now = Date.now();
    if (now - this.lastLog < 60_000) return;
    this.log.warn({ err: error, failedExports: this.failedSinceLog }, 'OpenTelemetry spans could not be exported; they are dropped');
    this.failedSinceLog = 0;
    this.lastLog = now;
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, else OTEL_EXPORTER_OTLP_ENDPOINT, with
 * /v1/traces appended over HTTP (the OTLP specification's rule; a gRPC endpoint has no path).
 */
function tracesUrl(config: Config, protocol: string): string | undefined {
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new ConfigError(`OTEL_EXPORTER_OTLP_PROTOCOL must be one of ${PROTOCOLS.join(', ')}; got ${JSON.stringify(protocol)}`);
  }
  const base = config.otelExporterOtlpEndpoint;
  const raw = config.otelExporterOtlpTracesEndpoint || (base && protocol !== 'grpc' ? `${base.replace(/\/+$/, '')}/v1/traces` : base);
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`the OTLP endpoint must be an http(s) URL, got ${JSON.stringify(raw)}`);
  return url.href;
}

/** OTEL_TRACES_SAMPLER and its argument, as the specification names them. */
function sampler(name: string, arg: string): Sampler {
  const ratio = () => {
    const value = arg === '' ? 1 : Number(arg);
    if (!Number.isFinite(value) || value < 0 || value > 1)
      throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got ${JSON.stringify(arg)}`);
    return new TraceIdRatioBasedSampler(value);
  };
  switch (name || 'parentbased_always_on') {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    default:
      throw new ConfigError(
        `OTEL_TRACES_SAMPLER must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio; got ${JSON.stringify(name)}`,
      );
  }
}

/** OTEL_EXPORTER_OTLP_HEADERS: comma-separated name=value, values percent-encoded (the specification's format). */
function parseHeaders(spec: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const item of spec.split(',')) {
    if (item.trim() === '') continue;
    const at = item.indexOf('=');
    const name = item.slice(0, at).trim();
    if (at <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
      throw new ConfigError(`OTEL_EXPORTER_OTLP_HEADERS must be comma-separated name=value pairs, got ${JSON.stringify(item)}`);
    try {
      headers[name] = decodeURIComponent(item.slice(at + 1).trim());
    } catch {
      throw new ConfigError(`OTEL_EXPORTER_OTLP_HEADERS: the value of ${name} is not valid percent-encoding`);
    }
  }
  return headers;
}
