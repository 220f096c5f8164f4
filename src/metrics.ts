// Prometheus metrics. One registry per app instance, so tests can build several apps.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditStats, DecisionLogStats } from './stats.ts';
import { PACKAGE_VERSION } from './package.ts';

export class Metrics {
  readonly registry = new Registry();

  /**
   * Decisions counted by countDecision since the last read, by label set. prom-client hashes
   * the labels on every inc (a child from labels() too), which the decision path pays per
   * request; a plain count per label set is added to the counter when it is read instead.
   */
  private readonly decisionCounts = new Map<string, { labels: { api: string; allow: string; reason: string }; count: number }>();

  readonly decisions = new Counter({
    name: 'portcullis_decisions_total',
    help: 'Decisions made, by API, outcome and reason.',
    labelNames: ['api', 'allow', 'reason'] as const,
    registers: [this.registry],
    collect: () => {
      for (const counted of this.decisionCounts.values()) {
        if (counted.count === 0) continue;
        this.decisions.inc(counted.labels, counted.count);
        counted.count = 0;
      }
    },
  });

  /** Counts a decision in portcullis_decisions_total (the reasons are the policy's: a bounded set). */
  countDecision(api: string, allow: boolean, reason: string): void {
    const key = `${api} ${allow} ${reason}`;
    const counted = this.decisionCounts.get(key);
    if (counted) counted.count++;
    else this.decisionCounts.set(key, { labels: { api, allow: String(allow), reason }, count: 1 });
  }

  readonly decisionSeconds = new Histogram({
    name: 'portcullis_decision_duration_seconds',
    help: 'Time to decide, from parsed request to answer (settings lookup and policy evaluation).',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
    registers: [this.registry],
  });

  /** Settings lookups since the last read, by result: counted per decision like decisionCounts. */
  private readonly cacheCounts = { hit: 0, miss: 0, stale: 0 };

  readonly settingsCache = new Counter({
    name: 'portcullis_settings_cache_total',
    help: 'Settings lookups by cache result (hit, miss, or stale: served from cache while Redis was unreachable).',
    labelNames: ['result'] as const,
    registers: [this.registry],
    collect: () => {
      for (const result of ['hit', 'miss', 'stale'] as const) {
        if (this.cacheCounts[result] === 0) continue;
        this.settingsCache.inc({ result }, this.cacheCounts[result]);
        this.cacheCounts[result] = 0;
      }
    },
  });

  /** Decision cache lookups since the last read (src/decision/cache.ts counts them per decision). */
  readonly decisionCacheCounts = { hit: 0, miss: 0 };

  readonly decisionCache = new Counter({
    name: 'portcullis_decision_cache_total',
    help: 'Decisions by decision cache result: hit (the policy was not evaluated again), miss (it was). Decisions made without the policy, and every decision while DECISION_CACHE_MAX=0, are not counted.',
    labelNames: ['result'] as const,
    registers: [this.registry],
    collect: () => {
      for (const result of ['hit', 'miss'] as const) {
        if (this.decisionCacheCounts[result] === 0) continue;
        this.decisionCache.inc({ result }, this.decisionCacheCounts[result]);
        this.decisionCacheCounts[result] = 0;
      }
    },
  });

  /** Filled at scrape time from the counter above, for dashboards that want the ratio directly. */
  readonly settingsCacheHitRatio = new Gauge({
    name: 'portcullis_settings_cache_hit_ratio',
    help: 'Share of settings lookups answered from the in-process cache since start (hit + stale over all).',
    registers: [this.registry],
    aggregator: 'average',
    collect: async () => {
      const values = (await this.settingsCache.get()).values;
      const count = (result: string) => values.find((v) => v.labels.result === result)?.value ?? 0;
      const total = count('hit') + count('stale') + count('miss');
      this.settingsCacheHitRatio.set(total === 0 ? 0 : (count('hit') + count('stale')) / total);
    },
  });

  readonly settingsErrors = new Counter({
    name: 'portcullis_settings_errors_total',
    help: 'Settings lookups that failed (store unreachable); such decisions fail closed when a setting decides.',
    registers: [this.registry],
  });

  /** Prometheus's build_info habit: value 1, what is running in the labels. */
  readonly buildInfo = (() => {
    const gauge = new Gauge({
      name: 'portcullis_build_info',
      help: 'The running Portcullis (value 1): its version and the Node.js runtime in the labels.',
      labelNames: ['version', 'nodejs'] as const,
      registers: [this.registry],
      aggregator: 'max',
    });
    gauge.labels(PACKAGE_VERSION, process.versions.node).set(1);
    return gauge;
  })();

  // `aggregator`: how WORKERS > 1 merge a gauge (src/workers/metrics.ts); counters are summed.
  readonly bundleInfo = new Gauge({
    name: 'portcullis_bundle_info',
    help: 'The active policy bundle (value 1, revision in the label).',
    labelNames: ['revision'] as const,
    registers: [this.registry],
    aggregator: 'max',
  });

  private wasmMemory: (() => number | undefined) | undefined;

  readonly wasmMemoryBytes = new Gauge({
    name: 'portcullis_wasm_memory_bytes',
    help: "Linear memory of the active policy WASM instance (of all workers' instances together).",
    registers: [this.registry],
    collect: () => {
      const bytes = this.wasmMemory?.();
      if (bytes !== undefined) this.wasmMemoryBytes.set(bytes);
    },
  });

  /** Where the WASM memory size is read from at scrape time. */
  watchWasmMemory(bytes: () => number | undefined): void {
    this.wasmMemory = bytes;
  }

  readonly settingsStoreUp = new Gauge({
    name: 'portcullis_settings_store_up',
    help: 'Whether the settings store is connected and receiving change messages (1) or not (0); with workers, 0 when any of them is not.',
    registers: [this.registry],
    aggregator: 'min',
  });

  readonly engineRebuilds = new Counter({
    name: 'portcullis_engine_rebuilds_total',
    help: 'Policy WASM instances discarded and rebuilt from the active bundle after an evaluation aborted.',
    registers: [this.registry],
  });

  private cacheSizes: (() => Record<'orgs' | 'workspaces' | 'directory', number>) | undefined;

  readonly settingsCacheEntries = new Gauge({
    name: 'portcullis_settings_cache_entries',
    help: 'Entries in the in-process caches, by kind: orgs, workspaces ((org, workspace) pairs), directory (workspace -> org answers).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [kind, size] of Object.entries(this.cacheSizes?.() ?? {})) this.settingsCacheEntries.set({ kind }, size);
    },
  });

  /** Where the cache sizes are read from at scrape time. */
  watchCacheSizes(sizes: () => Record<'orgs' | 'workspaces' | 'directory', number>): void {
    this.cacheSizes = sizes;
  }

  readonly bundleReloads = new Counter({
    name: 'portcullis_bundle_reloads_total',
    help: 'Bundles activated after start, by source (file, url).',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly bundleReloadFailures = new Counter({
    name: 'portcullis_bundle_reload_failures_total',
    help: 'Bundles refused (corrupt, truncated, unsigned, wrong signature, not loadable) or not fetched; the previous one keeps serving.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'portcullis_' });
  }

  setBundle(revision: string): void {
    this.bundleInfo.reset();
    this.bundleInfo.set({ revision }, 1);
  }

  readonly audit = new Counter({
    name: 'portcullis_audit_records_total',
    help: 'Audit records by event: recorded (handed in by a decision), written (stored), duplicate (already stored), spilled (to the spill file), replayed (from the spill file), dropped (lost: the spill file could not be written).',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  readonly auditBuffered = new Gauge({
    name: 'portcullis_audit_buffered_records',
    help: 'Audit records waiting in memory for the audit store.',
    registers: [this.registry],
  });

  readonly auditHeldBytes = new Gauge({
    name: 'portcullis_audit_memory_bytes',
    help: "Bytes of audit records held in memory: the in-memory log's records, or those waiting for Redis (bounded by AUDIT_MEMORY_MAX_BYTES + AUDIT_UNVERIFIED_MAX_BYTES, or AUDIT_BUFFER_BYTES).",
    registers: [this.registry],
  });

  /** The audit log's counters. */
  get auditStats(): AuditStats {
    const counter = (event: string) => {
      const child = this.audit.labels(event);
      return (count: number) => child.inc(count);
    };
    const recorded = this.audit.labels('recorded');
    for (const event of ['recorded', 'written', 'duplicate', 'spilled', 'replayed', 'dropped']) this.audit.labels(event).inc(0);
    return {
      recorded: () => recorded.inc(),
      written: counter('written'),
      duplicates: counter('duplicate'),
      spilled: counter('spilled'),
      replayed: counter('replayed'),
      dropped: counter('dropped'),
      buffered: (count) => this.auditBuffered.set(count),
      heldBytes: (bytes) => this.auditHeldBytes.set(bytes),
    };
  }

  /** Hit/miss callbacks for the settings cache. */
  get cacheStats() {
    const counts = this.cacheCounts;
    return {
      onHit: () => void counts.hit++,
      onMiss: () => void counts.miss++,
      // Served from cache because Redis could not confirm it (outage), within settingsMaxStaleMs.
      onStale: () => void counts.stale++,
      onConnection: (up: boolean) => this.settingsStoreUp.set(up ? 1 : 0),
    };
  }

  readonly httpRequests = new Counter({
    name: 'portcullis_http_requests_total',
    help: 'HTTP requests answered, by route template (e.g. /v1/orgs/:orgId/settings/:family; "unmatched" for any path no route serves) and status.',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpSeconds = new Histogram({
    name: 'portcullis_http_request_duration_seconds',
    help: "Time from a request's arrival to its answer written, by route template.",
    labelNames: ['route'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  /** Label objects made once per route and status, so that counting a request allocates none. */
  private readonly httpLabels = new Map<string, { route: { route: string }; byStatus: Map<number, { route: string; status: string }> }>();

  /** Counts one answered request; `route` is a template from a fixed set, never a raw path. */
  observeHttp(route: string, status: number, seconds: number): void {
    let labels = this.httpLabels.get(route);
    if (!labels) this.httpLabels.set(route, (labels = { route: { route }, byStatus: new Map() }));
    let withStatus = labels.byStatus.get(status);
    if (!withStatus) labels.byStatus.set(status, (withStatus = { route, status: String(status) }));
    this.httpRequests.inc(withStatus);
    this.httpSeconds.observe(labels.route, seconds);
  }

  readonly callerRefusals = new Counter({
    name: 'portcullis_caller_refusals_total',
    help: 'Requests refused before any decision because of who sent them, by reason: caller_token_missing, caller_token_invalid, insufficient_scope, rate_limited, origin_not_allowed, host_not_allowed.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly gatewayRefusals = new Counter({
    name: 'portcullis_gateway_refusals_total',
    help: 'Gateway answers given before the policy was asked (no decision made, none recorded), by API and reason: missing_token, invalid_token, no_route, invalid_path, forbidden_header, request_too_large, ...',
    labelNames: ['api', 'reason'] as const,
    registers: [this.registry],
  });

  readonly traceExportFailures = new Counter({
    name: 'portcullis_trace_export_failures_total',
    help: 'OpenTelemetry span batches the collector did not accept (unreachable, refused, timed out); their spans are dropped.',
    registers: [this.registry],
  });

  readonly traceSpansDropped = new Counter({
    name: 'portcullis_trace_spans_dropped_total',
    help: 'OpenTelemetry spans lost because their export failed.',
    registers: [this.registry],
  });

  readonly decisionLogs = new Counter({
    name: 'portcullis_decision_logs_events_total',
    help: 'OPA-format decision-log events by outcome: uploaded (accepted by the service), retried (an upload failed; requeued), spilled (written to the spill file), dropped (lost, and logged: spill file unwritable or absent, or larger than the upload size limit).',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  readonly decisionLogsBuffered = new Gauge({
    name: 'portcullis_decision_logs_buffered_events',
    help: 'Decision-log events waiting in memory for upload.',
    registers: [this.registry],
  });

  readonly decisionLogsBufferedBytes = new Gauge({
    name: 'portcullis_decision_logs_buffered_bytes',
    help: 'Bytes of decision-log events waiting in memory for upload (bounded by DECISION_LOGS_BUFFER_BYTES).',
    registers: [this.registry],
  });

  /** The decision-log uploader's counters. */
  get decisionLogStats(): DecisionLogStats {
    const counter = (event: string) => {
      const child = this.decisionLogs.labels(event);
      child.inc(0);
      return (count: number) => child.inc(count);
    };
    return {
      uploaded: counter('uploaded'),
      retried: counter('retried'),
      spilled: counter('spilled'),
      dropped: counter('dropped'),
      buffered: (count) => this.decisionLogsBuffered.set(count),
      bufferedBytes: (bytes) => this.decisionLogsBufferedBytes.set(bytes),
    };
  }
}
