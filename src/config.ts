// The one typed configuration, built once at start from an optional YAML file
// (PORTCULLIS_CONFIG) and the environment, which wins. Nothing else reads process.env.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { load as loadYaml } from 'js-yaml';
import { packagePath } from './package.ts';
import { nearest } from './suggest.ts';

type Kind = 'string' | 'integer' | 'boolean';

/** Every setting: its YAML key, its environment variable, its type and default. */
export const FIELDS = {
  host: { env: 'HOST', kind: 'string', default: '127.0.0.1', doc: 'address the HTTP API listens on' },
  port: {
    env: 'PORT',
    kind: 'integer',
    default: 8181,
    doc: 'HTTP port: decisions, OPA API, gateways and health; also the admin API, console, audit API, status and metrics unless adminPort is set',
  },
  adminPort: {
    env: 'ADMIN_PORT',
    kind: 'integer',
    default: 0,
    doc: 'a second listener (on host) for the admin API, console, audit API, /v1/status and /metrics, which then leave the decision port; 0 = everything on port',
  },
  tlsCertFile: {
    env: 'TLS_CERT_FILE',
    kind: 'string',
    default: '',
    doc: 'PEM certificate (chain) of the decision listener: set with tlsKeyFile to serve HTTPS; both files are re-read when either changes',
  },
  tlsKeyFile: { env: 'TLS_KEY_FILE', kind: 'string', default: '', doc: 'PEM private key of tlsCertFile' },
  adminTlsCertFile: {
    env: 'ADMIN_TLS_CERT_FILE',
    kind: 'string',
    default: '',
    doc: 'PEM certificate (chain) of the admin listener (adminPort), with adminTlsKeyFile; empty = plain HTTP',
  },
  adminTlsKeyFile: { env: 'ADMIN_TLS_KEY_FILE', kind: 'string', default: '', doc: 'PEM private key of adminTlsCertFile' },
  tlsReloadMs: {
    env: 'TLS_RELOAD_MS',
    kind: 'integer',
    default: 5_000,
    doc: 'how often the certificate and key files are checked for a change (a renewed certificate is served to new connections without a restart)',
  },
  profile: {
    env: 'PORTCULLIS_PROFILE',
    kind: 'string',
    default: 'development',
    doc: 'development (dangerous modes are warned) or production (the sidecar refuses to start in the demo, fail-open or dry-run modes unless allowUnsafe names them)',
  },
  allowUnsafe: {
    env: 'PORTCULLIS_ALLOW_UNSAFE',
    kind: 'string',
    default: '',
    doc: 'comma-separated modes the production profile accepts anyway: demo, fail-open, dry-run',
  },
  adminToken: {
    env: 'ADMIN_TOKEN',
    kind: 'string',
    default: '',
    doc: 'full-scope bearer token of the admin API (actor "admin"); generated and printed at start when empty and no adminTokensFile is set',
  },
  adminTokensFile: {
    env: 'ADMIN_TOKENS_FILE',
    kind: 'string',
    default: '',
    doc: 'YAML file of named admin tokens (SHA-256 hashes) with scopes settings:read, settings:write, audit:read, keys:read, keys:write, decide and optional organizations',
  },
  redisUrl: {
    env: 'REDIS_URL',
    kind: 'string',
    default: '',
    doc: 'one Redis node for settings, the workspace directory and the audit log (redis:// or rediss:// for TLS); empty (and no redisClusterNodes) = in-memory stores seeded from settingsFile',
  },
  redisClusterNodes: {
    env: 'REDIS_CLUSTER_NODES',
    kind: 'string',
    default: '',
    doc: 'a Redis Cluster instead of redisUrl: seed nodes, comma-separated host:port (set exactly one of the two)',
  },
  redisUsername: { env: 'REDIS_USERNAME', kind: 'string', default: '', doc: 'Redis ACL user (both modes); a user in REDIS_URL wins' },
  redisPassword: {
    env: 'REDIS_PASSWORD',
    kind: 'string',
    default: '',
    doc: 'password of the Redis ACL user (or of the default user); a password in REDIS_URL wins',
  },
  redisTls: {
    env: 'REDIS_TLS',
    kind: 'boolean',
    default: false,
    doc: 'connect to Redis over TLS (a rediss:// URL implies it; needed for a cluster, which has no URL)',
  },
  redisTlsCaFile: {
    env: 'REDIS_TLS_CA_FILE',
    kind: 'string',
    default: '',
    doc: "PEM file of the CA that signed the Redis servers' certificates (implies TLS); empty = the system's CAs",
  },
  redisMinReplicasAck: {
    env: 'REDIS_MIN_REPLICAS_ACK',
    kind: 'string',
    default: 'auto',
    doc: "replicas an admin write (settings, directory) or an audit batch must reach (WAIT) before it is acknowledged; auto = 1 when the key's master has replicas, else 0",
  },
  redisWaitTimeoutMs: {
    env: 'REDIS_WAIT_TIMEOUT_MS',
    kind: 'integer',
    default: 1_000,
    doc: 'how long an admin write waits for its replicas; beyond it the API answers 503 replication_unconfirmed (the write may or may not survive a failover; retrying is safe)',
  },
  settingsFile: {
    env: 'SETTINGS_FILE',
    kind: 'string',
    default: 'examples/settings.yaml',
    inPackage: true,
    doc: 'settings YAML that seeds the in-memory store (default: the demo settings shipped with the package)',
  },
  bundlePath: {
    env: 'BUNDLE_PATH',
    kind: 'string',
    default: 'bundles/portkey.tar.gz',
    inPackage: true,
    doc: 'OPA bundle (tar.gz) with policy.wasm (default: the bundle shipped with the package)',
  },
  logLevel: { env: 'LOG_LEVEL', kind: 'string', default: 'info', doc: 'pino level: fatal, error, warn, info, debug, trace, silent' },
  logFormat: {
    env: 'LOG_FORMAT',
    kind: 'string',
    default: 'auto',
    doc: 'json (one JSON object a line), pretty (readable lines), or auto: pretty when stdout is a terminal, json otherwise',
  },
  accessLog: {
    env: 'ACCESS_LOG',
    kind: 'string',
    default: 'off',
    doc: 'on: one JSON line a request on stdout (method, route template, status, durationMs, bytes, client address; never headers, tokens, cookies or the query string); off: none',
  },
  bodyLimit: { env: 'BODY_LIMIT', kind: 'string', default: '64kb', doc: 'largest request body accepted' },
  settingsCacheMaxOrgs: { env: 'SETTINGS_CACHE_MAX_ORGS', kind: 'integer', default: 10_000, doc: 'organizations kept in the in-process settings cache (LRU)' },
  settingsCacheMaxWorkspaces: {
    env: 'SETTINGS_CACHE_MAX_WORKSPACES',
    kind: 'integer',
    default: 100_000,
    doc: '(organization, workspace) entries kept in the settings cache, across all organizations (LRU)',
  },
  settingsCacheMaxWorkspacesPerOrg: {
    env: 'SETTINGS_CACHE_MAX_WORKSPACES_PER_ORG',
    kind: 'integer',
    default: 1_000,
    doc: 'workspaces of one organization kept in the settings cache (LRU within the organization), so no tenant can evict the others',
  },
  decisionCacheMax: {
    env: 'DECISION_CACHE_MAX',
    kind: 'integer',
    default: 10_000,
    doc: 'decisions kept in the in-process decision cache (LRU), keyed by the bundle revision and the whole input the policy evaluates, settings included; every decision is still recorded; 0 = off',
  },
  directoryCacheMax: {
    env: 'DIRECTORY_CACHE_MAX',
    kind: 'integer',
    default: 100_000,
    doc: 'workspace -> organization answers (known and unknown) kept in the in-process workspace directory cache (LRU)',
  },
  settingsRevalidateMs: {
    env: 'SETTINGS_REVALIDATE_MS',
    kind: 'integer',
    default: 5_000,
    doc: 'a cached entry older than this has its version checked in Redis: the bound on staleness if an invalidation message is lost',
  },
  settingsMinVersionWaitMs: {
    env: 'SETTINGS_MIN_VERSION_WAIT_MS',
    kind: 'integer',
    default: 1_000,
    doc: 'a request that asks for settings at least as new as a version (minSettingsVersion) waits this long for Redis to show it, then is answered 503 settings_stale',
  },
  redisCommandTimeoutMs: {
    env: 'REDIS_COMMAND_TIMEOUT_MS',
    kind: 'integer',
    default: 500,
    doc: 'a Redis command slower than this fails (and the decision fails closed if it needed settings)',
  },
  auditMemoryRecords: {
    env: 'AUDIT_MEMORY_RECORDS',
    kind: 'integer',
    default: 10_000,
    doc: "records kept per organization by the in-memory audit log (no Redis); one organization's volume never evicts another's records",
  },
  auditMemoryMaxOrgs: {
    env: 'AUDIT_MEMORY_MAX_ORGS',
    kind: 'integer',
    default: 1_000,
    doc: 'organizations the in-memory audit log keeps records for; beyond it the organization recorded least recently is forgotten',
  },
  auditRetentionHours: {
    env: 'AUDIT_RETENTION_HOURS',
    kind: 'integer',
    default: 720,
    doc: 'audit records older than this are trimmed (Redis: XTRIM MINID on every append; memory: on every record)',
  },
  auditMaxRecordsPerOrg: {
    env: 'AUDIT_MAX_RECORDS_PER_ORG',
    kind: 'integer',
    default: 1_000_000,
    doc: 'decision records kept per organization in Redis, approximately (XADD MAXLEN ~)',
  },
  auditBatchSize: {
    env: 'AUDIT_BATCH_SIZE',
    kind: 'integer',
    default: 100,
    doc: 'audit records sent to Redis in one pipeline (small batches keep the event loop free between them)',
  },
  auditFlushMs: { env: 'AUDIT_FLUSH_MS', kind: 'integer', default: 20, doc: 'the audit writer sends what has been recorded at least this often' },
  auditBufferRecords: {
    env: 'AUDIT_BUFFER_RECORDS',
    kind: 'integer',
    default: 50_000,
    doc: 'audit records held in memory while Redis is away before they go to the spill file',
  },
  auditBufferBytes: {
    env: 'AUDIT_BUFFER_BYTES',
    kind: 'integer',
    default: 64 * 1024 * 1024,
    doc: 'bytes of audit records held in memory while Redis is away (whichever of this and auditBufferRecords is reached first); beyond it records go to the spill file',
  },
  auditSpillAfterMs: {
    env: 'AUDIT_SPILL_AFTER_MS',
    kind: 'integer',
    default: 1_000,
    doc: 'an audit record that Redis has not confirmed this long after its decision is written to the spill file, so that a process killed later loses nothing it answered; 0 = only when the buffer is full',
  },
  auditRecordMaxBytes: {
    env: 'AUDIT_RECORD_MAX_BYTES',
    kind: 'integer',
    default: 8_192,
    doc: "largest audit record (its JSON); past it the gateway request's headers and path and the client address are shortened, never the decision; the principal's workspace roles are always reduced to the requested workspace",
  },
  auditMemoryMaxBytes: {
    env: 'AUDIT_MEMORY_MAX_BYTES',
    kind: 'integer',
    default: 256 * 1024 * 1024,
    doc: 'bytes of decision records the in-memory audit log keeps across organizations; past it the organization holding the most gives up its oldest',
  },
  auditUnverifiedRecords: {
    env: 'AUDIT_UNVERIFIED_RECORDS',
    kind: 'integer',
    default: 10_000,
    doc: 'decision records kept in the one unverified bucket (records whose organization the workspace directory did not confirm), memory and Redis (approximately, MAXLEN ~)',
  },
  auditUnverifiedMaxBytes: {
    env: 'AUDIT_UNVERIFIED_MAX_BYTES',
    kind: 'integer',
    default: 16 * 1024 * 1024,
    doc: 'bytes the in-memory audit log keeps in the unverified bucket',
  },
  auditSpillDir: {
    env: 'AUDIT_SPILL_DIR',
    kind: 'string',
    default: '.cache/audit-spill',
    doc: 'directory of the append-only audit spill file (one per instance); empty = none, records beyond the buffer are dropped',
  },
  auditMaskPaths: {
    env: 'AUDIT_MASK_PATHS',
    kind: 'string',
    default: '',
    doc: 'comma-separated input paths (dotted, * = any key) whose values are replaced by "[masked]" in audit records, e.g. principal.id,resource.id',
  },
  auditEnabled: {
    env: 'AUDIT_ENABLED',
    kind: 'boolean',
    default: true,
    doc: 'record every decision; false exists only to measure what recording costs (make bench) and is logged as a warning',
  },
  profileStages: {
    env: 'PROFILE_STAGES',
    kind: 'string',
    default: '',
    doc: 'for make profile: a file the sidecar writes the CPU time of each decision stage to on SIGUSR2 (one process only, WORKERS=1); empty = the counters are off',
  },
  auditMaxScan: {
    env: 'AUDIT_MAX_SCAN',
    kind: 'integer',
    default: 100_000,
    doc: 'records an audit query examines at most per page; a page may then be short, with a nextCursor to go on',
  },
  settingsMaxStaleMs: {
    env: 'SETTINGS_MAX_STALE_MS',
    kind: 'integer',
    default: 30_000,
    doc: 'while Redis is unreachable, cached settings last confirmed at most this long ago still decide; older or uncached ones fail closed',
  },
  settingsFailOpen: {
    env: 'SETTINGS_FAIL_OPEN',
    kind: 'boolean',
    default: false,
    doc: 'decide with the default settings (all true) instead of denying when settings cannot be read; logged at start',
  },
  redisReconnectMaxMs: {
    env: 'REDIS_RECONNECT_MAX_MS',
    kind: 'integer',
    default: 2_000,
    doc: 'longest wait between Redis reconnect attempts (exponential backoff from 50 ms, with jitter)',
  },
  bundleUrl: {
    env: 'BUNDLE_URL',
    kind: 'string',
    default: '',
    doc: 'bundle server URL polled with If-None-Match (OPA bundle service protocol); empty = watch bundlePath',
  },
  bundlePollMs: { env: 'BUNDLE_POLL_MS', kind: 'integer', default: 10_000, doc: 'how often bundleUrl is polled' },
  bundleWatch: { env: 'BUNDLE_WATCH', kind: 'boolean', default: true, doc: 'reload bundlePath when the file changes on disk' },
  bundlePersistDir: {
    env: 'BUNDLE_PERSIST_DIR',
    kind: 'string',
    default: '',
    doc: 'directory where the last good bundle is kept and loaded from at start if the source is unavailable; empty = not kept (as OPA)',
  },
  bundleVerificationKey: {
    env: 'BUNDLE_VERIFICATION_KEY',
    kind: 'string',
    default: '',
    doc: 'public key (PEM) or HMAC secret that bundles must be signed with; empty (and no key file) = signatures not required',
  },
  bundleVerificationKeyFile: {
    env: 'BUNDLE_VERIFICATION_KEY_FILE',
    kind: 'string',
    default: '',
    doc: 'file holding the verification key (PEM or secret), instead of bundleVerificationKey',
  },
  bundleVerificationAlg: {
    env: 'BUNDLE_VERIFICATION_ALG',
    kind: 'string',
    default: 'RS256',
    doc: 'JWS algorithm of .signatures.json: RS256/384/512, PS256/384/512, ES256/384/512, HS256/384/512',
  },
  bundleVerificationKeyId: {
    env: 'BUNDLE_VERIFICATION_KEY_ID',
    kind: 'string',
    default: 'default',
    doc: 'key id the signature must name (opa build signs with kid "default")',
  },
  bundleVerificationScope: { env: 'BUNDLE_VERIFICATION_SCOPE', kind: 'string', default: '', doc: 'scope the signature must carry (as opa build --scope)' },
  decideAuth: {
    env: 'DECIDE_AUTH',
    kind: 'string',
    default: 'off',
    doc: 'off, or required: the decision APIs need Authorization: Bearer <token with the decide scope>, and the gateway endpoints the same token in the x-portcullis-caller-token header (gRPC: metadata) that the gateway sets',
  },
  rateLimitPerSecond: {
    env: 'RATE_LIMIT_PER_SECOND',
    kind: 'integer',
    default: 0,
    doc: "requests per second each caller (its decide token's name, else its address) may make to the decision APIs and gateway endpoints; beyond it 429 with Retry-After (gateways: a denial); 0 = no limit",
  },
  rateLimitBurst: {
    env: 'RATE_LIMIT_BURST',
    kind: 'integer',
    default: 0,
    doc: 'requests a caller may make at once above its rate; 0 = as many as rateLimitPerSecond',
  },
  rateLimitMaxCallers: {
    env: 'RATE_LIMIT_MAX_CALLERS',
    kind: 'integer',
    default: 10_000,
    doc: 'callers whose rate is tracked at once; the least recently seen beyond it is forgotten (and starts again with a full burst)',
  },
  allowedOrigins: {
    env: 'ALLOWED_ORIGINS',
    kind: 'string',
    default: '',
    doc: "comma-separated origins (scheme://host[:port]) whose browser pages may call the decision and admin APIs; a request with any other Origin is refused 403, except the sidecar's own (the console); empty = none",
  },
  allowedHosts: {
    env: 'ALLOWED_HOSTS',
    kind: 'string',
    default: '',
    doc: 'comma-separated host names (host, or host:port) the decision and admin APIs answer to; any other Host is refused 403 (against DNS rebinding); empty = any',
  },
  maxHeaderBytes: { env: 'MAX_HEADER_BYTES', kind: 'integer', default: 16_384, doc: 'largest request head (request line and headers); larger gets 431' },
  jsonMaxDepth: { env: 'JSON_MAX_DEPTH', kind: 'integer', default: 32, doc: 'deepest nesting of arrays/objects accepted in a request body' },
  requestTimeoutMs: {
    env: 'REQUEST_TIMEOUT_MS',
    kind: 'integer',
    default: 10_000,
    doc: 'a request (head and body) not received within this is answered 408 and closed',
  },
  headersTimeoutMs: { env: 'HEADERS_TIMEOUT_MS', kind: 'integer', default: 5_000, doc: 'a request head not received within this is answered 408 and closed' },
  shutdownTimeoutMs: {
    env: 'SHUTDOWN_TIMEOUT_MS',
    kind: 'integer',
    default: 10_000,
    doc: 'on SIGTERM, in-flight requests get this long to finish before connections are cut; closing the sidecar (audit flush, Redis) then gets as long again, after which the process exits with status 1; a second SIGTERM exits at once',
  },
  workers: {
    env: 'WORKERS',
    kind: 'string',
    default: '1',
    doc: 'worker processes sharing the HTTP and gRPC ports (node:cluster), each with its own settings cache, subscription and audit writer: a number, or auto = the cores this process may use (CPU affinity, bounded by the cgroup v2 quota); 1 = one process, no primary',
  },
  grpcPort: { env: 'GRPC_PORT', kind: 'integer', default: 9191, doc: 'Envoy ext_authz gRPC port (on host); 0 = no gRPC server' },
  gatewayRoutesFile: {
    env: 'GATEWAY_ROUTES_FILE',
    kind: 'string',
    default: 'examples/routes.yaml',
    inPackage: true,
    doc: 'route table of the gateway endpoints: method + path -> action, resource type, workspace id source',
  },
  gatewayPassUnmatched: {
    env: 'GATEWAY_PASS_UNMATCHED',
    kind: 'boolean',
    default: false,
    doc: 'let requests that match no route through (reason no_route) instead of denying them',
  },
  workspaceDirectory: {
    env: 'WORKSPACE_DIRECTORY',
    kind: 'boolean',
    default: true,
    doc: "every decision (decision APIs, OPA API, gateways) takes a resource's organization from the workspace directory: an unregistered workspace is denied unknown_workspace, one the directory cannot place right now directory_unavailable; off = the request's organization is taken unchecked (for deployments without a directory), warned at start and shown in /v1/status",
  },
  forwardAuthHeaders: {
    env: 'FORWARD_AUTH_HEADERS',
    kind: 'string',
    default: 'original',
    doc: "the headers /ext_authz reads the original method and URI from, the ones the gateway in front sets itself: original (nginx auth_request: X-Original-Method, X-Original-URI) or forwarded (Caddy forward_auth, Traefik ForwardAuth: X-Forwarded-Method, X-Forwarded-Uri), which refuse the Envoy path form (/ext_authz/<path>); envoy (Envoy HTTP ext_authz, path_prefix /ext_authz), which refuses the header form; or envoy,original / envoy,forwarded for both kinds of gateway. A request with the other family's headers, two descriptions that disagree, or a path-form GET/HEAD carrying X-Original-* or X-Forwarded-Method/-Uri is refused",
  },
  gatewayDryRun: {
    env: 'GATEWAY_DRY_RUN',
    kind: 'boolean',
    default: false,
    doc: 'gateway endpoints decide, log and audit the real decision but always allow, saying so in x-portcullis-* headers',
  },
  gatewayIdentity: {
    env: 'GATEWAY_IDENTITY',
    kind: 'string',
    default: 'jwt',
    doc: 'where the gateway principal comes from: jwt (verified bearer token) or headers (x-portkey-user-id etc., set by a gateway that authenticated the caller)',
  },
  gatewayJwtSecret: {
    env: 'GATEWAY_JWT_SECRET',
    kind: 'string',
    default: '',
    doc: 'HS256 shared secret (at least 32 bytes); set exactly one of this, gatewayJwksFile, gatewayJwksUrl',
  },
  gatewayJwksFile: { env: 'GATEWAY_JWKS_FILE', kind: 'string', default: '', doc: 'JWKS file with the public keys of RS256/ES256 tokens' },
  gatewayJwksUrl: { env: 'GATEWAY_JWKS_URL', kind: 'string', default: '', doc: 'JWKS URL with the public keys of RS256/ES256 tokens (fetched and cached)' },
  gatewayJwtAlgorithms: {
    env: 'GATEWAY_JWT_ALGORITHMS',
    kind: 'string',
    default: '',
    doc: 'accepted JWS algorithms, comma-separated; empty = HS256 with a secret, RS256,ES256 with a JWKS',
  },
  gatewayJwtIssuer: { env: 'GATEWAY_JWT_ISSUER', kind: 'string', default: '', doc: 'required iss claim; empty = not checked' },
  gatewayJwtAudience: { env: 'GATEWAY_JWT_AUDIENCE', kind: 'string', default: '', doc: 'required aud claim; empty = not checked' },
  gatewayJwtClaims: {
    env: 'GATEWAY_JWT_CLAIMS',
    kind: 'string',
    default: 'id=sub,orgId=org_id,orgRole=org_role,workspaceRoles=workspace_roles',
    doc: 'principal field=claim name; fields left out keep these defaults',
  },
  decisionLogsUrl: {
    env: 'DECISION_LOGS_URL',
    kind: 'string',
    default: '',
    doc: "OPA-format decision logs: the URL the gzip-compressed JSON event arrays are POSTed to (an OPA decision-log service's url + /logs); empty = not uploaded",
  },
  decisionLogsHeaders: {
    env: 'DECISION_LOGS_HEADERS',
    kind: 'string',
    default: '',
    doc: 'extra request headers of the decision-log upload, comma-separated name=value',
  },
  decisionLogsTokenFile: {
    env: 'DECISION_LOGS_TOKEN_FILE',
    kind: 'string',
    default: '',
    doc: 'file holding a bearer token sent as Authorization with every decision-log upload (read at each upload, so it can rotate)',
  },
  decisionLogsConsole: {
    env: 'DECISION_LOGS_CONSOLE',
    kind: 'boolean',
    default: false,
    doc: 'write every decision-log event to stdout as OPA\'s console decision logger does ("msg": "Decision Log")',
  },
  decisionLogsUploadSizeLimitBytes: {
    env: 'DECISION_LOGS_UPLOAD_SIZE_LIMIT_BYTES',
    kind: 'integer',
    default: 32_768,
    doc: "largest gzip-compressed upload (OPA's upload_size_limit_bytes); an event that alone exceeds it is dropped and logged",
  },
  decisionLogsMinDelayMs: {
    env: 'DECISION_LOGS_MIN_DELAY_MS',
    kind: 'integer',
    default: 1_000,
    doc: 'upload period while the service answers; a full chunk is uploaded at once',
  },
  decisionLogsMaxDelayMs: {
    env: 'DECISION_LOGS_MAX_DELAY_MS',
    kind: 'integer',
    default: 30_000,
    doc: 'longest wait between upload attempts while the service fails (exponential backoff from the min delay, with jitter)',
  },
  decisionLogsBufferEvents: {
    env: 'DECISION_LOGS_BUFFER_EVENTS',
    kind: 'integer',
    default: 10_000,
    doc: 'decision-log events held in memory while the service is away before they go to the spill file',
  },
  decisionLogsBufferBytes: {
    env: 'DECISION_LOGS_BUFFER_BYTES',
    kind: 'integer',
    default: 32 * 1024 * 1024,
    doc: 'bytes of decision-log events held in memory (whichever of this and decisionLogsBufferEvents is reached first); beyond it events go to the spill file',
  },
  decisionLogsSpillDir: {
    env: 'DECISION_LOGS_SPILL_DIR',
    kind: 'string',
    default: '.cache/decision-log-spill',
    doc: 'directory of the append-only decision-log spill file, replayed when the service answers again; empty = none, events beyond the buffer are dropped (and logged)',
  },
  decisionLogsLabels: {
    env: 'DECISION_LOGS_LABELS',
    kind: 'string',
    default: '',
    doc: 'extra labels of every decision-log event, comma-separated name=value (id and version are always set)',
  },
  consoleEnabled: {
    env: 'CONSOLE_ENABLED',
    kind: 'boolean',
    default: true,
    doc: 'serve the web console at /console (sign-in with an admin token; it uses only the public HTTP API)',
  },
  otelExporterOtlpEndpoint: {
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    kind: 'string',
    default: '',
    doc: "OpenTelemetry traces: the collector's OTLP base URL (over HTTP spans go to <url>/v1/traces; over gRPC to the URL as is); empty (and no traces endpoint) = tracing off, at no cost",
  },
  otelExporterOtlpTracesEndpoint: {
    env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    kind: 'string',
    default: '',
    doc: 'the full OTLP traces URL, instead of otelExporterOtlpEndpoint (+ /v1/traces over HTTP)',
  },
  otelExporterOtlpProtocol: {
    env: 'OTEL_EXPORTER_OTLP_PROTOCOL',
    kind: 'string',
    default: 'http/protobuf',
    doc: "how spans are exported: http/protobuf, http/json or grpc (then the endpoint is the collector's gRPC address, e.g. http://collector:4317); OTEL_EXPORTER_OTLP_TIMEOUT, _COMPRESSION and _CERTIFICATE are read by the OpenTelemetry SDK itself",
  },
  otelExporterOtlpHeaders: {
    env: 'OTEL_EXPORTER_OTLP_HEADERS',
    kind: 'string',
    default: '',
    doc: 'headers of the OTLP export, comma-separated name=value (values percent-encoded), e.g. an API key of the collector',
  },
  otelServiceName: { env: 'OTEL_SERVICE_NAME', kind: 'string', default: 'portcullis', doc: 'service.name of the exported spans' },
  otelTracesSampler: {
    env: 'OTEL_TRACES_SAMPLER',
    kind: 'string',
    default: 'parentbased_always_on',
    doc: 'always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio',
  },
  otelTracesSamplerArg: { env: 'OTEL_TRACES_SAMPLER_ARG', kind: 'string', default: '', doc: 'the ratio (0 to 1) of the traceidratio samplers; empty = 1' },
} as const satisfies Record<string, { env: string; kind: Kind; default: string | number | boolean; inPackage?: true; doc: string }>;

type Fields = typeof FIELDS;

/** Every environment variable the configuration reads (documentation is checked against it). */
export const ENVIRONMENT_VARIABLES: readonly string[] = Object.values(FIELDS).map((field) => field.env);
type ValueOf<F extends { kind: Kind }> = F['kind'] extends 'integer' ? number : F['kind'] extends 'boolean' ? boolean : string;

export type Config = { [K in keyof Fields]: ValueOf<Fields[K]> } & {
  /** True when no ADMIN_TOKEN was configured and one was generated for this run. */
  adminTokenGenerated: boolean;
  /** bodyLimit in bytes. */
  bodyLimitBytes: number;
  /** The settings read from the PORTCULLIS_CONFIG file (the others came from the environment or their default): so that an error names what the user wrote. */
  fromFile?: { path: string; keys: readonly string[] };
};

export type FieldName = keyof Fields;

/**
 * A setting as the user wrote it, for an error message: its environment variable, or its
 * key in the PORTCULLIS_CONFIG file when it came from there (the camelCase key alone names
 * nothing a user set).
 */
export function settingName(key: FieldName, config?: Pick<Config, 'fromFile'>): string {
  const file = config?.fromFile;
  return file?.keys.includes(key) ? `${key} (in ${file.path})` : FIELDS[key].env;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function coerce(kind: Kind, raw: unknown, named: string): string | number | boolean {
  if (kind === 'string' && (typeof raw === 'string' || typeof raw === 'number')) return String(raw);
  if (kind === 'integer') {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (Number.isSafeInteger(n) && n >= 0) return n;
  }
  if (kind === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === '1' || raw === 'on') return true;
    if (raw === 'false' || raw === '0' || raw === 'off') return false;
  }
  throw new ConfigError(`${named} must be ${kind === 'integer' ? 'a non-negative integer' : `a ${kind}`}, got ${JSON.stringify(raw)}`);
}

/** A REDIS_URL that cannot name a Redis is said so at start, rather than reported later as "not reachable". */
function checkRedisUrl(raw: string, name: string): void {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  // Without an "@" there is no password to hide, and the value as typed is the clearest.
  const shown = JSON.stringify(raw.includes('@') ? withoutPassword(raw) : raw);
  if (!url || !/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    throw new ConfigError(
      `${name} must be a URL with a scheme, redis://host:port or rediss://host:port (TLS); got ${shown}${/^[^/:]+:\d+$/.test(raw) ? ` (did you mean redis://${raw}?)` : ''}`,
    );
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new ConfigError(`${name} must start with redis:// or rediss:// (TLS); got ${url.protocol}// in ${shown}`);
  if (url.hostname === '') throw new ConfigError(`${name} names no host: ${shown}`);
  if (url.pathname.length > 1 && !/^\/\d+$/.test(url.pathname))
    throw new ConfigError(`${name}'s path is the database number (e.g. /0); got ${JSON.stringify(url.pathname)} in ${shown}`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let file: Record<string, unknown> = {};
  const path = env.PORTCULLIS_CONFIG;
  if (path) {
    const parsed = loadYaml(readFileSync(path, 'utf8'));
    if (parsed !== undefined && (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))) {
      throw new ConfigError(`${path} must be a YAML mapping of setting: value`);
    }
    file = (parsed ?? {}) as Record<string, unknown>;
    const unknown = Object.keys(file).filter((k) => !(k in FIELDS));
    if (unknown.length > 0) throw new ConfigError(`${path}: ${unknown.map(unknownKey).join('; ')} (the keys are the camelCase names of docs/configuration.md)`);
  }
  // Its meaning widened with its name (every decision, not only the gateways'): a deployment
  // that still sets it is told, rather than silently getting the directory back on.
  if (env.GATEWAY_WORKSPACE_DIRECTORY !== undefined) {
    throw new ConfigError('GATEWAY_WORKSPACE_DIRECTORY is now WORKSPACE_DIRECTORY and applies to every decision API as well as the gateways: set that instead');
  }
  const config: Record<string, unknown> = {};
  const fileKeys: string[] = [];
  for (const [key, field] of Object.entries(FIELDS)) {
    const fromEnv = env[field.env];
    if (fromEnv !== undefined && fromEnv !== '') config[key] = coerce(field.kind, fromEnv, field.env);
    else if (file[key] !== undefined) {
      fileKeys.push(key);
      config[key] = coerce(field.kind, file[key], `${key} (in ${path})`);
    }
    // A default file of the package is found from the package, not the working directory;
    // a path a person gives is taken as given.
    else config[key] = 'inPackage' in field ? packagePath(field.default) : field.default;
  }
  const fromFile = path && fileKeys.length > 0 ? { path, keys: fileKeys } : undefined;
  const named = (key: FieldName) => settingName(key, { fromFile });
  if (config.redisUrl !== '' && config.redisClusterNodes !== '') throw new ConfigError('set REDIS_URL (one node) or REDIS_CLUSTER_NODES (a cluster), not both');
  if (config.redisUrl !== '') checkRedisUrl(String(config.redisUrl), named('redisUrl'));
  if (config.redisClusterNodes !== '') {
    try {
      parseClusterNodes(String(config.redisClusterNodes));
    } catch (error) {
      throw new ConfigError(`${named('redisClusterNodes')} must be comma-separated host:port: ${(error as Error).message}`);
    }
  }
  try {
    parseReplicaRequirement(String(config.redisMinReplicasAck));
  } catch (error) {
    throw new ConfigError(`${named('redisMinReplicasAck')} ${(error as Error).message}`);
  }
  if (config.decideAuth !== 'off' && config.decideAuth !== 'required')
    throw new ConfigError(`${named('decideAuth')} must be off or required, got ${JSON.stringify(config.decideAuth)}`);
  if (config.accessLog !== 'off' && config.accessLog !== 'on')
    throw new ConfigError(`${named('accessLog')} must be off or on, got ${JSON.stringify(config.accessLog)}`);
  if (config.profile !== 'development' && config.profile !== 'production')
    throw new ConfigError(`${named('profile')} must be development or production, got ${JSON.stringify(config.profile)}`);
  for (const [cert, key] of [
    ['tlsCertFile', 'tlsKeyFile'],
    ['adminTlsCertFile', 'adminTlsKeyFile'],
  ] as const) {
    if ((config[cert] === '') !== (config[key] === ''))
      throw new ConfigError(`${named(cert)} and ${named(key)} go together: set both (HTTPS) or neither (HTTP)`);
  }
  if (config.adminPort !== 0 && config.adminPort === config.port)
    throw new ConfigError(`ADMIN_PORT must differ from PORT (${config.port}); 0 keeps the admin API on PORT`);
  if (config.adminPort === 0 && config.adminTlsCertFile !== '')
    throw new ConfigError('ADMIN_TLS_CERT_FILE needs ADMIN_PORT: without it the admin API is served on PORT, with TLS_CERT_FILE');
  const generated = config.adminToken === '' && config.adminTokensFile === '';
  if (generated) config.adminToken = randomBytes(24).toString('base64url');
  const bodyLimitBytes = byteSize(String(config.bodyLimit), named('bodyLimit'));
  return {
    ...(config as Omit<Config, 'adminTokenGenerated' | 'bodyLimitBytes'>),
    adminTokenGenerated: generated,
    bodyLimitBytes,
    ...(fromFile ? { fromFile } : {}),
  };
}

/** An unknown key of the config file, with the key meant: a misspelt camelCase key, or an environment variable written as a key. */
function unknownKey(key: string): string {
  const byEnv = Object.entries(FIELDS).find(([, field]) => field.env === key)?.[0];
  const guess = byEnv ?? nearest(key, Object.keys(FIELDS));
  return `unknown setting ${key}${guess ? `; did you mean ${guess}?` : ''}`;
}

/** "64kb", "1mb", "512" (bytes) as a number of bytes, as express.json reads its limit. */
function byteSize(limit: string, named: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(limit);
  if (!match) throw new ConfigError(`${named} must be a size such as 64kb or 1mb, got ${JSON.stringify(limit)}`);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(match[2] ?? 'b').toLowerCase() as 'b' | 'kb' | 'mb' | 'gb'];
  return Math.floor(Number(match[1]) * unit);
}

/** "host:port,host:port" as a list; throws naming the first entry that is not host:port. */
export function parseClusterNodes(text: string): string[] {
  const nodes = text
    .split(',')
    .map((node) => node.trim())
    .filter((node) => node !== '');
  for (const node of nodes) {
    const match = /^(.+):(\d{1,5})$/.exec(node);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65_535) throw new Error(`"${node}" is not host:port`);
  }
  if (nodes.length === 0) throw new Error('no host:port given');
  return nodes;
}

/** How many replicas a write must reach: a number, or "auto" (1 when the master has replicas, else 0). */
export type ReplicaRequirement = number | 'auto';

/** "auto" or a non-negative integer, as REDIS_MIN_REPLICAS_ACK takes it. */
export function parseReplicaRequirement(text: string): ReplicaRequirement {
  if (text.trim() === 'auto') return 'auto';
  if (/^\d+$/.test(text.trim())) return Number(text);
  throw new Error(`must be "auto" or a non-negative integer, got ${JSON.stringify(text)}`);
}

/** A URL as it may be printed or logged: without its password. */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(a malformed URL)';
  }
}

/**
 * A listen that failed as a ConfigError naming the setting (PORT, ADMIN_PORT, GRPC_PORT, HOST)
 * and what to do, in place of Node's or grpc-js's stack; anything else is returned as it was.
 */
export function listenProblem(error: unknown, setting: string, host: string, port: number): unknown {
  const text = `${(error as { code?: string }).code ?? ''} ${(error as Error).message ?? ''}`;
  if (/EADDRINUSE|address already in use/i.test(text))
    return new ConfigError(`${setting}: port ${port} is already in use on ${host} (another process listens there): stop it or set ${setting} to a free port`);
  if (/EACCES/.test(text))
    return new ConfigError(`${setting}: not permitted to listen on ${host}:${port} (ports below 1024 need privileges): set ${setting} to a port above 1023`);
  if (/EADDRNOTAVAIL|ENOTFOUND/.test(text))
    return new ConfigError(`HOST=${host}: not an address of this machine, so ${setting} (${port}) cannot be listened on`);
  return error;
}
