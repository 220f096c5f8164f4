// The audit log in Redis Streams, written off the decision path.
//
// Key layout (the {orgId} hash tag keeps an organization's audit keys in one cluster slot):
//   portcullis:audit:{<orgId>}:decisions         STREAM  one entry per decision (fields: query.ts)
//   portcullis:audit:{<orgId>}:settings-changes  STREAM  one entry per admin-API settings change
//   portcullis:audit:{<orgId>}:<stream>:max-lag  STRING  maxLagMs of that stream (see query.ts)
//   portcullis:audit:id:<decisionId|changeId>    STRING  JSON [orgId, streamId]; the dedupe key
//                                                        and the lookup of GET /v1/audit/decisions/{id}
// Retention: every append trims its stream by age (XTRIM MINID, exact) and by size
// (XADD MAXLEN ~, per organization); id keys expire with the same age, and a stream that
// receives nothing for a whole retention period expires with them.
//
// Writing: `record` only pushes onto an in-memory queue. A pump sends the queue in
// batches (one script call per organization and batch, pipelined) every `flushIntervalMs`, or as soon as
// `batchSize` records wait. The script appends a record only if its id key does not
// exist, so a record sent twice (a batch retried, a spill file replayed again) is stored
// once. While Redis is away the queue holds up to `bufferRecords`; later records go to
// the spill file, which is replayed when Redis is back.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Masker } from './mask.ts';
import {
  compareStreamIds,
  decisionFields,
  decisionMatcher,
  filterHash,
  queryPage,
  recordOf,
  settingsChangeFields,
  settingsChangeMatcher,
  summarize,
  timeBounds,
  type ScanDescending,
  type StreamEntry,
} from './query.ts';
import type { AuditLog, DecisionFilter, DecisionRecord, Page, PageRequest, SettingsChangeRecord, Summary } from './record.ts';
import { SpillFile } from './spill.ts';
import type { AuditStats } from './stats.ts';

type Kind = 'decisions' | 'settings-changes';

export const streamKey = (orgId: string, kind: Kind) => `portcullis:audit:{${orgId}}:${kind}`;
const lagKey = (stream: string) => `${stream}:max-lag`;
const idKey = (id: string) => `portcullis:audit:id:${id}`;

/** A record ready to store: masked and flattened. This is also a spill file line. */
interface Entry {
  kind: Kind;
  orgId: string;
  id: string;
  fields: Record<string, string>;
}

type Pending = { kind: 'decisions'; record: DecisionRecord } | { kind: 'settings-changes'; change: SettingsChangeRecord };

// One call per stream and batch. KEYS: stream, its max-lag key, then one id key per record.
// ARGV: retention ms, max length, min id ms, org id, then per record: ts ms, field count, field, value, ...
// A record whose id key exists is skipped. Its stream id's ms is its own timestamp unless
// the stream already holds a later one (query.ts).
const APPEND = `
local topMs, topText = nil, nil
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if top then
  topText = string.match(top[1], '^(%d+)-')
  topMs = tonumber(topText)
end
local added, maxLag, at = 0, 0, 5
for k = 3, #KEYS do
  local ts, count = ARGV[at], tonumber(ARGV[at + 1])
  if redis.call('EXISTS', KEYS[k]) == 0 then
    local id = ts .. '-*'
    if topMs and topMs >= tonumber(ts) then
      id = topText .. '-*'
      maxLag = math.max(maxLag, topMs - tonumber(ts))
    end
    local args = {KEYS[1], 'MAXLEN', '~', ARGV[2], id}
    for f = at + 2, at + 1 + count * 2 do args[#args + 1] = ARGV[f] end
    local streamId = redis.call('XADD', unpack(args))
    topText = string.match(streamId, '^(%d+)-')
    topMs = tonumber(topText)
    redis.call('SET', KEYS[k], cjson.encode({ARGV[4], streamId}), 'PX', ARGV[1])
    added = added + 1
  end
  at = at + 2 + count * 2
end
if added > 0 then
  redis.call('XTRIM', KEYS[1], 'MINID', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  if maxLag > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], maxLag) end
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return added
`;

export interface RedisAuditOptions {
  url: string;
  retentionMs: number;
  /** Per organization and stream, approximately (MAXLEN ~). */
  maxRecordsPerOrg: number;
  batchSize: number;
  flushIntervalMs: number;
  /** Records held in memory while Redis is away before they go to the spill file. */
  bufferRecords: number;
  /** Where the spill file lives; empty = no spill file (records beyond the buffer are dropped). */
  spillDir: string;
  maxScan: number;
  commandTimeoutMs: number;
  mask: Masker;
  stats: AuditStats;
  log: Logger;
  now?: () => number;
}

interface AppendCommand {
  /** ioredis flattens the arrays into the script's arguments. */
  auditAppend(numberOfKeys: number, keys: string[], args: string[]): Promise<number>;
}

export class RedisAuditLog implements AuditLog {
  readonly redis: Redis;
  private readonly spill: SpillFile | undefined;
  private readonly now: () => number;
  private queue: Pending[] = [];
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** True while there may be closed spill files to replay (at start: files of an earlier run). */
  private spillPending = true;
  private reachable = true;
  private droppedSinceLog = 0;
  private lastDropLog = 0;

  constructor(private readonly options: RedisAuditOptions) {
    this.now = options.now ?? Date.now;
    this.redis = new Redis(options.url, {
      lazyConnect: true,
      // Never queue commands while disconnected: the pump keeps records itself.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs,
    });
    this.redis.defineCommand('auditAppend', { lua: APPEND });
    this.redis.on('error', () => undefined);
    this.redis.on('ready', () => void this.pump());
    this.spill = options.spillDir
      ? new SpillFile(options.spillDir, {
          onWritten: () => options.stats.spilled(1),
          onFailed: (error) => this.dropped(1, error),
        })
      : undefined;
  }

  async start(): Promise<void> {
    await this.spill?.ensureDirectory();
    // Redis may be away at start: records are buffered and ioredis keeps reconnecting.
    await this.redis.connect().catch(() => undefined);
    this.timer = setInterval(() => void this.pump(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  record(record: DecisionRecord): void {
    this.options.stats.recorded();
    this.enqueue({ kind: 'decisions', record });
  }

  recordSettingsChange(change: SettingsChangeRecord): void {
    this.enqueue({ kind: 'settings-changes', change });
  }

  async queryDecisions(filter: DecisionFilter, page: PageRequest): Promise<Page<DecisionRecord>> {
    const key = streamKey(filter.orgId, 'decisions');
    return queryPage(this.scanner(key), decisionMatcher(filter), page.limit, page.cursor, filterHash('decisions', filter), {
      ...timeBounds(filter),
      lagMs: await this.lagOf(key),
      maxScan: this.options.maxScan,
    });
  }

  async getDecision(decisionId: string): Promise<DecisionRecord | null> {
    const where = await this.redis.get(idKey(decisionId));
    if (!where) return null;
    const [orgId, id] = JSON.parse(where) as [string, string];
    const [entry] = await this.redis.xrange(streamKey(orgId, 'decisions'), id, id);
    return entry ? recordOf<DecisionRecord>(toStreamEntry(entry)) : null;
  }

  async summary(filter: Pick<DecisionFilter, 'orgId' | 'from' | 'to'>): Promise<Summary> {
    const key = streamKey(filter.orgId, 'decisions');
    return summarize(this.scanner(key), filter, await this.lagOf(key));
  }

  async querySettingsChanges(
    filter: Pick<DecisionFilter, 'orgId' | 'workspaceId' | 'from' | 'to'>,
    page: PageRequest,
  ): Promise<Page<SettingsChangeRecord>> {
    const key = streamKey(filter.orgId, 'settings-changes');
    return queryPage(this.scanner(key), settingsChangeMatcher(filter), page.limit, page.cursor, filterHash('settings', filter), {
      ...timeBounds(filter),
      lagMs: await this.lagOf(key),
      maxScan: this.options.maxScan,
    });
  }

  /** Stores everything recorded so far; if Redis is away, spills it so that nothing is lost. */
  async flush(): Promise<void> {
    await this.pump(); // the pump already running, if any
    await this.pump(); // a fresh one that sees every record handed in before flush()
    if (this.queue.length > 0) {
      const left = this.queue;
      this.queue = [];
      for (const pending of left) this.toSpill(toEntry(pending, this.options.mask));
      this.options.stats.buffered(0);
    }
    await this.spill?.seal();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private enqueue(pending: Pending): void {
    if (this.queue.length >= this.options.bufferRecords) {
      this.toSpill(toEntry(pending, this.options.mask));
      return;
    }
    this.queue.push(pending);
    this.options.stats.buffered(this.queue.length);
    if (this.queue.length >= this.options.batchSize && !this.running && this.redis.status === 'ready') void this.pump('full batches');
  }

  private toSpill(entry: Entry): void {
    if (!this.spill) {
      this.dropped(1, new Error('the audit buffer is full and no spill directory is configured (AUDIT_SPILL_DIR)'));
      return;
    }
    this.spillPending = true;
    this.spill.append(JSON.stringify(entry));
  }

  /** Losing audit records is an incident: say so on every occasion, at most once a second. */
  private dropped(count: number, error: Error): void {
    this.options.stats.dropped(count);
    this.droppedSinceLog += count;
    if (this.now() - this.lastDropLog < 1000) return;
    this.options.log.error(
      { err: error, dropped: this.droppedSinceLog, spillDir: this.options.spillDir },
      'AUDIT RECORDS LOST: Redis is unreachable and the spill file cannot be written',
    );
    this.droppedSinceLog = 0;
    this.lastDropLog = this.now();
  }

  /** One drain at a time; callers that arrive while it runs share it. */
  private pump(what: 'everything' | 'full batches' = 'everything'): Promise<void> {
    this.running ??= this.drain(what === 'everything' ? 1 : this.options.batchSize).finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Sends what is queued when it starts, in batches of at least `minBatch`. Records that
   * arrive meanwhile wait for the next tick or a full batch: a drain that chased every
   * record as it arrived would send them a few at a time, each costing Redis a script call.
   */
  private async drain(minBatch: number): Promise<void> {
    if (this.redis.status !== 'ready') return;
    try {
      let budget = this.queue.length;
      while (budget >= minBatch && budget > 0) {
        const batch = this.queue.slice(0, Math.min(this.options.batchSize, budget));
        await this.store(batch.map((pending) => toEntry(pending, this.options.mask)));
        this.queue.splice(0, batch.length);
        budget -= batch.length;
        this.options.stats.buffered(this.queue.length);
      }
      if (this.spillPending && this.spill) await this.replaySpill(this.spill);
      if (!this.reachable) this.options.log.info('audit store reachable again; buffered and spilled records are stored');
      this.reachable = true;
    } catch (error) {
      if (this.reachable) {
        this.options.log.warn({ err: error, buffered: this.queue.length }, 'audit store unreachable; holding records in memory, then in the spill file');
      }
      this.reachable = false;
    }
  }

  private async replaySpill(spill: SpillFile): Promise<void> {
    this.spillPending = false;
    await spill.seal();
    for (const path of await spill.files()) {
      await spill.replay(path, this.options.batchSize, async (lines) => {
        const entries: Entry[] = [];
        for (const line of lines) {
          try {
            entries.push(JSON.parse(line) as Entry);
          } catch {
            this.options.log.error({ path, line: line.slice(0, 200) }, 'audit spill file has a line that is not JSON (a write cut short by a crash?); skipped');
          }
        }
        this.options.stats.replayed(await this.store(entries));
      });
    }
  }

  /** Appends entries in one round trip; returns how many were new. Throws if Redis fails. */
  private async store(entries: Entry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const now = this.now();
    const minId = String(Math.max(0, now - this.options.retentionMs));
    const streams = new Map<string, { orgId: string; keys: string[]; args: string[] }>();
    for (const entry of entries) {
      const key = streamKey(entry.orgId, entry.kind);
      let stream = streams.get(key);
      if (!stream) {
        stream = { orgId: entry.orgId, keys: [key, lagKey(key)], args: [String(this.options.retentionMs), String(this.options.maxRecordsPerOrg), minId, entry.orgId] };
        streams.set(key, stream);
      }
      stream.keys.push(idKey(entry.id));
      const fields = Object.entries(entry.fields);
      stream.args.push(entry.fields.ts!, String(fields.length));
      for (const [field, value] of fields) stream.args.push(field, value);
    }
    const pipeline = this.redis.pipeline();
    const append = pipeline as unknown as AppendCommand;
    for (const { keys, args } of streams.values()) void append.auditAppend(keys.length, keys, args);
    const results = (await pipeline.exec()) ?? [];
    let added = 0;
    for (const [error, result] of results) {
      if (error) throw error;
      added += Number(result);
    }
    this.options.stats.written(added);
    this.options.stats.duplicates(entries.length - added);
    return added;
  }

  private async lagOf(key: string): Promise<number> {
    return Number((await this.redis.get(lagKey(key))) ?? 0);
  }

  private scanner(key: string): ScanDescending {
    return async ({ before, maxMs, minMs }, count) => {
      // Nothing precedes the first possible id, and Redis refuses "(0-0" as an interval's end.
      if (before === '0-0') return [];
      let end = maxMs === undefined ? '+' : String(maxMs);
      if (before !== undefined && (maxMs === undefined || compareStreamIds(before, `${maxMs + 1}-0`) <= 0)) end = `(${before}`;
      const start = minMs === undefined ? '-' : String(minMs);
      const entries = await this.redis.xrevrange(key, end, start, 'COUNT', count);
      return entries.map(toStreamEntry);
    };
  }
}

function toEntry(pending: Pending, mask: Masker): Entry {
  if (pending.kind === 'decisions') {
    const record = mask(pending.record);
    return { kind: 'decisions', orgId: record.orgId, id: record.decisionId, fields: decisionFields(record) };
  }
  const { change } = pending;
  return { kind: 'settings-changes', orgId: change.orgId, id: change.changeId, fields: settingsChangeFields(change) };
}

function toStreamEntry([id, flat]: [string, string[]]): StreamEntry {
  const fields: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return { id, fields };
}
