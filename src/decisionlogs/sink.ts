// The decision log beside the audit: an AuditSink that turns records into OPA events for
// the console logger and the uploader. `record` only queues the record; the events are
// built and serialized a moment later, a batch at a time, off the decision's own path.
// Built only when DECISION_LOGS_URL or DECISION_LOGS_CONSOLE is set: otherwise there is no sink.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { createMasker, parseMaskPaths } from '../audit/mask.ts';
import type { AuditSink, DecisionRecord } from '../decision/record.ts';
import { ConfigError, settingName, withoutPassword, type Config, type FieldName } from '../config.ts';
import { PACKAGE_VERSION } from '../package.ts';
import { ConsoleDecisionLogger } from './console.ts';
import { createEventBuilder, undefinedQueryEvent, type DecisionEvent, type EventBuilder, type UndefinedQuery } from './event.ts';
import type { DecisionLogStats } from '../stats.ts';
import { DecisionLogUploader } from './uploader.ts';

export interface DecisionLogSink extends AuditSink {
  /** Logs a question about a data path that defines nothing (no decision, so no audit record). */
  recordUndefined(query: UndefinedQuery): void;
  /** Uploads (or spills) what is queued and stops. */
  close(): Promise<void>;
}

export class DecisionLogs implements DecisionLogSink {
  private queue: DecisionRecord[] = [];
  private scheduled = false;

  constructor(
    private readonly build: EventBuilder,
    private readonly buildUndefined: (query: UndefinedQuery) => DecisionEvent,
    private readonly console: ConsoleDecisionLogger | undefined,
    private readonly uploader: DecisionLogUploader | undefined,
    private readonly log: Logger,
  ) {}

  record(record: DecisionRecord): void {
    this.queue.push(record);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  recordUndefined(query: UndefinedQuery): void {
    const event = this.buildUndefined(query);
    this.console?.write([event]);
    this.uploader?.add([JSON.stringify(event)]);
  }

  async close(): Promise<void> {
    this.drain();
    await this.uploader?.close();
  }

  private drain(): void {
    this.scheduled = false;
    const records = this.queue;
    if (records.length === 0) return;
    this.queue = [];
    const events = [];
    for (const record of records) {
      try {
        events.push(this.build(record));
      } catch (error) {
        // Not expected (a record is plain JSON); say so rather than lose it quietly.
        this.log.error({ err: error, decisionId: record.decisionId }, 'decision-log event could not be built; DROPPED');
      }
    }
    this.console?.write(events);
    this.uploader?.add(events.map((event) => JSON.stringify(event)));
  }
}

/** The decision-log sink the config asks for, started; undefined when neither URL nor console is set. */
export async function createDecisionLogs(config: Config, stats: DecisionLogStats, log: Logger): Promise<DecisionLogSink | undefined> {
  if (!config.decisionLogsUrl && !config.decisionLogsConsole) return undefined;
  const labels = { ...parsePairs(config.decisionLogsLabels, 'decisionLogsLabels'), id: randomUUID(), version: PACKAGE_VERSION };
  const eventOptions = { labels, mask: createMasker(parseMaskPaths(config.auditMaskPaths)) };
  const build = createEventBuilder(eventOptions);
  let uploader: DecisionLogUploader | undefined;
  if (config.decisionLogsUrl) {
    uploader = new DecisionLogUploader({
      url: uploadUrl(config.decisionLogsUrl),
      headers: uploadHeaders(config),
      uploadSizeLimitBytes: positive(config.decisionLogsUploadSizeLimitBytes, 'decisionLogsUploadSizeLimitBytes'),
      minDelayMs: positive(config.decisionLogsMinDelayMs, 'decisionLogsMinDelayMs'),
      maxDelayMs: Math.max(config.decisionLogsMinDelayMs, config.decisionLogsMaxDelayMs),
      bufferEvents: positive(config.decisionLogsBufferEvents, 'decisionLogsBufferEvents'),
      bufferBytes: positive(config.decisionLogsBufferBytes, 'decisionLogsBufferBytes'),
      spillDir: config.decisionLogsSpillDir,
      stats,
      log,
    });
    await uploader.start();
    if (!config.decisionLogsSpillDir)
      log.warn('DECISION_LOGS_SPILL_DIR is empty: decision-log events beyond the in-memory buffer are dropped while the service is away');
  }
  return new DecisionLogs(
    build,
    (query) => undefinedQueryEvent(query, eventOptions),
    config.decisionLogsConsole ? new ConsoleDecisionLogger() : undefined,
    uploader,
    log,
  );
}

function uploadUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${settingName('decisionLogsUrl')} must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError(`${settingName('decisionLogsUrl')} must be an http(s) URL, got ${JSON.stringify(withoutPassword(raw))}`);
  // fetch refuses a URL with credentials, and a URL is logged: credentials go in a header.
  if (url.username || url.password) {
    throw new ConfigError(
      `${settingName('decisionLogsUrl')} must not carry a user or password: put them in DECISION_LOGS_HEADERS (Authorization=Basic …) or DECISION_LOGS_TOKEN_FILE`,
    );
  }
  return url.href;
}

function uploadHeaders(config: Config): () => Promise<Record<string, string>> {
  const fixed = parsePairs(config.decisionLogsHeaders, 'decisionLogsHeaders');
  for (const name of Object.keys(fixed)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
      throw new ConfigError(`${settingName('decisionLogsHeaders')}: ${JSON.stringify(name)} is not a header name`);
  }
  const tokenFile = config.decisionLogsTokenFile;
  if (!tokenFile) return async () => fixed;
  return async () => ({ ...fixed, Authorization: `Bearer ${(await readFile(tokenFile, 'utf8')).trim()}` });
}

/** "a=1,b=2" as {a: "1", b: "2"}. */
function parsePairs(spec: string, field: FieldName): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const item of spec.split(',')) {
    if (item.trim() === '') continue;
    const at = item.indexOf('=');
    const name = item.slice(0, at).trim();
    if (at <= 0 || name === '') throw new ConfigError(`${settingName(field)} must be comma-separated name=value pairs, got ${JSON.stringify(item)}`);
    pairs[name] = item.slice(at + 1).trim();
  }
  return pairs;
}

function positive(value: number, field: FieldName): number {
  if (value <= 0) throw new ConfigError(`${settingName(field)} must be greater than 0`);
  return value;
}
