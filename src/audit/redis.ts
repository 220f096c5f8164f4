// The audit log in Redis Streams, written off the decision path.
//
// Key layout and decision ids: keys.ts (every key an append touches is in the
// organization's hash slot, so it runs unchanged on Redis Cluster).
// Retention: every append trims its stream by age (XTRIM MINID, exact) and by size
// (XTRIM MAXLEN ~, per organization); the id index expires by the hour with the same age,
// and a stream that receives nothing for a whole retention period expires with it.
//
// Writing: `record` only pushes onto an in-memory queue. A pump sends the queue in
// batches (one script call per batch on one node, per hash slot on a cluster) every `flushIntervalMs`, or as soon
// as `batchSize` records wait; it turns records into stream fields a slice at a time,
// letting the event loop run decisions between slices. The script appends a record only
// if its id is not in the id index, so a record sent twice (a batch retried, a spill file
// replayed again) is stored once. A batch counts as stored only when Redis confirms that
// `minReplicasAck` replicas have it (WAIT): otherwise it stays queued and is sent again, so
// a master lost right after a write loses nothing and the retry duplicates nothing. While
// Redis is away the queue holds up to `bufferRecords` and `bufferBytes`; later records go to
// the spill file, which is replayed when Redis is back (the buffered sink, src/sink/buffer.ts,
// which the decision-log uploader is built on too). A record Redis has not confirmed
// `spillAfterMs` after it was recorded goes to the spill file too (whether it waits in the
// queue or in a batch Redis is slow to answer): a process killed after that loses nothing
// it answered, and the id index stores a record written both ways once.
//
// Records whose organization the workspace directory did not confirm go to one capped
// stream (keys.ts, UNVERIFIED_STREAM), never to a stream of the organization they name.
import { createHash } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  HOUR_MS,
  idIndexKey,
  lagKey,
  orgSlot,
  placeOfDecisionId,
  streamKey,
  UNVERIFIED_SLOT,
  UNVERIFIED_STREAM,
  unverifiedIndexKey,
  type StreamKind,
} from './keys.ts';
import { errorSummary } from '../log.ts';
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
import type { AuditLog, DecisionFilter, DecisionRecord, Page, PageRequest, SettingsChangeRecord, Summary } from '../decision/record.ts';
import { SinkBuffer } from '../sink/buffer.ts';
import type { AuditStats } from '../stats.ts';
import { recordBytes } from './trim.ts';
import { stageClock, stageEnd, stagesOn } from '../stages.ts';
import { connectRedis, openRedis, type RedisClient } from '../redis/clients.ts';
import { replicasRequired, ReplicationUnconfirmedError, waitOn, writeDurably } from '../redis/durable.ts';
import type { RedisConnectionOptions } from '../redis/options.ts';
import type { ReplicaRequirement } from '../config.ts';

export { streamKey } from './keys.ts';

/** A record ready to store: masked and flattened. This is also a spill file line. */
interface Entry {
  kind: StreamKind;
  orgId: string;
  id: string;
  fields: Record<string, string>;
  /** A decision of the unverified bucket. */
  unverified?: true;
}

/** A record waiting for Redis: when it was recorded, its size, and whether the spill file has it already. */
type Pending = ({ kind: 'decisions'; record: DecisionRecord } | { kind: 'settings-changes'; change: SettingsChangeRecord }) & {
  at: number;
  bytes: number;
  spilled?: true;
};

/** Every entry has `ts` first; then these fields (query.ts), in this order. */
const FIELDS: Record<StreamKind, string[]> = { decisions: ['k', 'r'], 'settings-changes': ['ws', 'r'] };

/** Records turned into stream fields between two turns of the event loop. */
const SLICE = 32;

// One call per batch on a single node, per hash slot on Redis Cluster (whose scripts touch one
// slot): every stream of the call in it, so Redis pays the call's own overhead once rather
// than once per organization. Per stream, a few commands; per record, two (HSETNX into the
// id index, XADD with the id it predicted).
// KEYS: per stream, the stream, its max-lag key, then the id-index hashes its records use.
// ARGV: retention ms, min id, then per stream: its key count K (2 + its index hashes), max
// length, org id, field count F, F field names, K - 2 expiry times (ms, one per index hash),
// record count, then per record: its hash (a KEYS index within the stream's keys), id, ts,
// F values.
// A record's stream id is "<ts>-0" unless the stream already holds that ms or a later one
// (query.ts): then it is the top's ms with the next sequence number.
const APPEND = `
local retention, minId = ARGV[1], ARGV[2]
local at, base, total = 3, 0, 0
while at <= #ARGV do
  local keyCount, maxLen, org, fieldCount = tonumber(ARGV[at]), ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3])
  local names = {}
  for f = 1, fieldCount do names[f] = ARGV[at + 3 + f] end
  local expiries = at + 4 + fieldCount
  local count = tonumber(ARGV[expiries + keyCount - 2])
  at = expiries + keyCount - 1
  local stream = KEYS[base + 1]
  local topText, topMs, topSeq = nil, nil, 0
  local top = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  if top then
    local ms, seq = string.match(top[1], '^(%d+)-(%d+)$')
    topText, topMs, topSeq = ms, tonumber(ms), tonumber(seq)
  end
  local added, maxLag = 0, 0
  for r = 1, count do
    local index, id, ts = KEYS[base + tonumber(ARGV[at])], ARGV[at + 1], ARGV[at + 2]
    local tsMs = tonumber(ts)
    local streamId, lag, nextText, nextMs, nextSeq
    if topMs == nil or tsMs > topMs then
      streamId, lag, nextText, nextMs, nextSeq = ts .. '-0', 0, ts, tsMs, 0
    else
      streamId = topText .. '-' .. string.format('%.0f', topSeq + 1)
      lag, nextText, nextMs, nextSeq = topMs - tsMs, topText, topMs, topSeq + 1
    end
    if redis.call('HSETNX', index, id, streamId .. ' ' .. org) == 1 then
      local args = {stream, streamId, 'ts', ts}
      for f = 1, fieldCount do
        args[#args + 1] = names[f]
        args[#args + 1] = ARGV[at + 2 + f]
      end
      local result = redis.pcall('XADD', unpack(args))
      if type(result) == 'table' and result.err then
        -- The stream's last id is past what its entries show (everything trimmed): let Redis
        -- pick the id, or undo the index entry so that the retry stores the record.
        if top then redis.call('HDEL', index, id); return result end
        args[2] = '*'
        streamId = redis.call('XADD', unpack(args))
        redis.call('HSET', index, id, streamId .. ' ' .. org)
        local ms, seq = string.match(streamId, '^(%d+)-(%d+)$')
        nextText, nextMs, nextSeq, lag = ms, tonumber(ms), tonumber(seq), math.max(0, tonumber(ms) - tsMs)
      end
      topText, topMs, topSeq, top = nextText, nextMs, nextSeq, true
      maxLag = math.max(maxLag, lag)
      added = added + 1
    end
    at = at + 3 + fieldCount
  end
  if added > 0 then
    redis.call('XTRIM', stream, 'MINID', minId)
    redis.call('XTRIM', stream, 'MAXLEN', '~', maxLen)
    redis.call('PEXPIRE', stream, retention)
    if maxLag > 0 then
      local lagKey = KEYS[base + 2]
      if maxLag > tonumber(redis.call('GET', lagKey) or '0') then redis.call('SET', lagKey, maxLag) end
      redis.call('PEXPIRE', lagKey, retention)
    end
  end
  for k = 3, keyCount do redis.call('PEXPIREAT', KEYS[base + k], ARGV[expiries + k - 3]) end
  total = total + added
  base = base + keyCount
end
return total
`;

export interface RedisAuditOptions {
  /** One node or a cluster (src/redis/options.ts); `url` is the one-node shorthand. */
  connection?: RedisConnectionOptions;
  url?: string;
  retentionMs: number;
  /** Per organization and stream, approximately (MAXLEN ~). */
  maxRecordsPerOrg: number;
  batchSize: number;
  flushIntervalMs: number;
  /** Records held in memory while Redis is away before they go to the spill file. */
  bufferRecords: number;
  /** Bytes held in memory while Redis is away before records go to the spill file; absent = by records only. */
  bufferBytes?: number;
  /** A record not confirmed by Redis this long after it was recorded is spilled; absent or 0 = only when the buffer is full. */
  spillAfterMs?: number;
  /** The unverified bucket's length, approximately (MAXLEN ~); absent = maxRecordsPerOrg. */
  unverifiedRecords?: number;
  /** Where the spill file lives; empty = no spill file (records beyond the buffer are dropped). */
  spillDir: string;
  maxScan: number;
  commandTimeoutMs: number;
  /** Replicas that must confirm a batch (WAIT) before it counts as stored; default 0 = no WAIT. */
  minReplicasAck?: ReplicaRequirement;
  /** How long a WAIT may take before the batch counts as not stored (and is sent again). */
  waitTimeoutMs?: number;
  mask: Masker;
  stats: AuditStats;
  log: Logger;
  now?: () => number;
}

const APPEND_SHA = createHash('sha1').update(APPEND).digest('hex');

export class RedisAuditLog implements AuditLog {
  readonly redis: RedisClient;
  /** Records waiting for Redis; the batch the pump is sending stays in it until Redis confirms it. */
  private readonly buffer: SinkBuffer<Pending>;
  private readonly now: () => number;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reachable = true;

  constructor(private readonly options: RedisAuditOptions) {
    this.now = options.now ?? Date.now;
    // Never queue commands while disconnected (openRedis's default): the pump keeps records itself.
    this.redis = openRedis({
      ...(options.connection ?? { url: options.url!, reconnectMaxMs: 2_000 }),
      commandTimeoutMs: options.commandTimeoutMs,
    });
    this.redis.on('error', () => undefined);
    this.redis.on('ready', () => void this.pump());
    const { stats } = options;
    this.buffer = new SinkBuffer({
      maxItems: options.bufferRecords,
      ...(options.bufferBytes === undefined ? {} : { maxBytes: options.bufferBytes }),
      sizeOf: (pending) => pending.bytes,
      toLine: (pending) => JSON.stringify(toEntry(pending, options.mask)),
      spillDir: options.spillDir,
      noSpillDir: 'the audit buffer is full and no spill directory is configured (AUDIT_SPILL_DIR)',
      stats: { held: (records, bytes) => (stats.buffered(records), stats.heldBytes(bytes)), spilled: stats.spilled, dropped: stats.dropped },
      log: options.log,
      lost: 'AUDIT RECORDS LOST',
    });
  }

  async start(): Promise<void> {
    await this.buffer.start();
    // Redis may be away at start: records are buffered and ioredis keeps reconnecting.
    // connectRedis, not connect(): a cluster's connect() may never settle when its ready check fails.
    await connectRedis(this.redis).catch(() => undefined);
    this.timer = setInterval(() => {
      this.spillOverdue();
      void this.pump();
    }, this.options.flushIntervalMs);
    this.timer.unref();
  }

  record(record: DecisionRecord): void {
    this.options.stats.recorded();
    this.enqueue({ kind: 'decisions', record, at: this.now(), bytes: recordBytes(record) });
  }

  recordSettingsChange(change: SettingsChangeRecord): void {
    this.enqueue({ kind: 'settings-changes', change, at: this.now(), bytes: Buffer.byteLength(JSON.stringify(change)) });
  }

  async queryDecisions(filter: DecisionFilter, page: PageRequest): Promise<Page<DecisionRecord>> {
    const key = filter.unverified ? UNVERIFIED_STREAM : streamKey(filter.orgId, 'decisions');
    return queryPage(this.scanner(key), decisionMatcher(filter), page.limit, page.cursor, filterHash('decisions', filter), {
      ...timeBounds(filter),
      lagMs: await this.lagOf(key),
      maxScan: this.options.maxScan,
    });
  }

  async getDecision(decisionId: string): Promise<DecisionRecord | null> {
    const place = placeOfDecisionId(decisionId);
    if (!place) return null;
    const hour = Math.floor(place.ms / HOUR_MS);
    let where = await this.redis.hget(idIndexKey(place.slot, hour), decisionId);
    let stream: string | undefined;
    if (!where) {
      where = await this.redis.hget(unverifiedIndexKey(hour), decisionId);
      if (!where) return null;
      stream = UNVERIFIED_STREAM;
    }
    const space = where.indexOf(' ');
    const id = where.slice(0, space);
    stream ??= streamKey(where.slice(space + 1), 'decisions');
    const [entry] = await this.redis.xrange(stream, id, id);
    return entry ? recordOf<DecisionRecord>(toStreamEntry(entry)) : null;
  }

  async summary(filter: Pick<DecisionFilter, 'orgId' | 'from' | 'to'>): Promise<Summary> {
    const key = streamKey(filter.orgId, 'decisions');
    return summarize(this.scanner(key), filter, await this.lagOf(key));
  }

  async querySettingsChanges(filter: Pick<DecisionFilter, 'orgId' | 'workspaceId' | 'from' | 'to'>, page: PageRequest): Promise<Page<SettingsChangeRecord>> {
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
    for (const pending of this.buffer.removeFront(this.buffer.queued.length)) if (!pending.spilled) this.buffer.overflow(pending);
    await this.buffer.seal();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private enqueue(pending: Pending): void {
    if (!this.buffer.add(pending)) return;
    if (this.buffer.queued.length >= this.options.batchSize && !this.running && this.redis.status === 'ready') void this.pump('full batches');
  }

  /**
   * Records Redis has not confirmed within spillAfterMs go to the spill file: those still
   * queued leave memory; those in a batch being sent stay there too (the batch may yet be
   * confirmed; the id index then stores the spilled copy as a duplicate, not twice).
   */
  private spillOverdue(): void {
    const after = this.options.spillAfterMs;
    if (!after || !this.options.spillDir) return;
    const due = this.now() - after;
    for (const pending of this.buffer.inFlight) {
      if (pending.at > due) break;
      if (pending.spilled) continue;
      pending.spilled = true;
      this.buffer.overflow(pending);
    }
    const queued = this.buffer.queued;
    let overdue = 0;
    while (overdue < queued.length && queued[overdue]!.at <= due) overdue++;
    if (overdue === 0) return;
    for (const pending of this.buffer.removeFront(overdue)) if (!pending.spilled) this.buffer.overflow(pending);
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
      let budget = this.buffer.queued.length;
      while (budget >= minBatch && budget > 0 && this.buffer.queued.length > 0) {
        const batch = this.buffer.take(Math.min(this.options.batchSize, budget));
        const entries: Entry[] = [];
        try {
          for (let i = 0; i < batch.length; i++) {
            if (i > 0 && i % SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
            const clock = stagesOn ? stageClock() : 0;
            entries.push(toEntry(batch[i]!, this.options.mask));
            if (stagesOn) stageEnd('record encoding', clock);
          }
          await this.store(entries);
        } catch (error) {
          // Not stored: back to the front, but for what the spill file already holds.
          this.buffer.failed((pending) => !pending.spilled);
          throw error;
        }
        this.buffer.sent();
        budget -= batch.length;
      }
      await this.replaySpill();
      if (!this.reachable) this.options.log.info('audit store reachable again; buffered and spilled records are stored');
      this.reachable = true;
    } catch (error) {
      if (this.reachable) {
        const what = error instanceof ReplicationUnconfirmedError ? 'audit batch not confirmed by the replicas' : 'audit store unreachable';
        this.options.log.warn(
          { error: errorSummary(error), buffered: this.buffer.queued.length },
          `${what}; holding records in memory, then in the spill file, and sending them again`,
        );
      }
      this.reachable = false;
      // The script calls go to node connections directly, which tell the cluster client
      // nothing: a failover is learned here, before the next attempt.
      if (this.redis instanceof Cluster) this.redis.refreshSlotsCache();
    }
  }

  /** Stores the spill files' records; a file Redis fails on stays, to be replayed again whole (the id index stores each record once). */
  private async replaySpill(): Promise<void> {
    await this.buffer.replay(this.options.batchSize, async (lines) => {
      const entries: Entry[] = [];
      for (const line of lines) {
        try {
          entries.push(JSON.parse(line) as Entry);
        } catch {
          this.options.log.error({ line: line.slice(0, 200) }, 'audit spill file has a line that is not JSON (a write cut short by a crash?); skipped');
        }
      }
      this.options.stats.replayed(await this.store(entries));
      return lines.length;
    });
  }

  /**
   * Appends entries in one round trip (one script call, or one per hash slot on a cluster), then waits for the
   * replicas; returns how many were new. Throws if Redis fails or too few replicas confirm.
   */
  private async store(entries: Entry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const clock = stagesOn ? stageClock() : 0;
    const now = this.now();
    const { retentionMs } = this.options;
    const minId = String(Math.max(0, now - retentionMs));
    type Stream = { keys: string[]; head: string[]; expiries: string[]; records: string[]; count: number; hour: number; at: string };
    const byKind: Record<StreamKind, Map<string, Stream>> = { decisions: new Map(), 'settings-changes': new Map() };
    let bucket: Stream | undefined;
    // The script calls: one on a single node; on a cluster, one per hash slot (keys.ts puts an
    // organization's keys, and the unverified bucket's, each in one slot).
    const calls = new Map<number, { key: string; streams: Stream[] }>();
    const cluster = this.redis instanceof Cluster;
    let sent = 0;
    for (const entry of entries) {
      // The id index's hour: a decision id's own (getDecision finds it from the id alone), else the record's.
      const slot = orgSlot(entry.orgId);
      const place = entry.kind === 'decisions' ? placeOfDecisionId(entry.id) : undefined;
      // The unverified bucket's index is its own, whatever slot the id names.
      const hour = Math.floor((place && (entry.unverified || place.slot === slot) ? place.ms : Number(entry.fields.ts)) / HOUR_MS);
      const expiry = (hour + 1) * HOUR_MS + retentionMs;
      if (expiry <= now) continue; // past the retention: it would be trimmed at once
      let stream = entry.unverified ? bucket : byKind[entry.kind].get(entry.orgId);
      if (!stream) {
        const names = FIELDS[entry.kind];
        const key = entry.unverified ? UNVERIFIED_STREAM : streamKey(entry.orgId, entry.kind);
        const length = entry.unverified ? (this.options.unverifiedRecords ?? this.options.maxRecordsPerOrg) : this.options.maxRecordsPerOrg;
        const head = [String(length), entry.unverified ? '' : entry.orgId, String(names.length), ...names];
        stream = { keys: [key, lagKey(key)], head, expiries: [], records: [], count: 0, hour: -1, at: '' };
        if (entry.unverified) bucket = stream;
        else byKind[entry.kind].set(entry.orgId, stream);
        const callSlot = !cluster ? 0 : entry.unverified ? UNVERIFIED_SLOT : slot;
        const call = calls.get(callSlot);
        if (call) call.streams.push(stream);
        else calls.set(callSlot, { key, streams: [stream] });
      }
      if (hour !== stream.hour) {
        const index = entry.unverified ? unverifiedIndexKey(hour) : idIndexKey(slot, hour);
        let at = stream.keys.indexOf(index, 2);
        if (at === -1) {
          at = stream.keys.push(index) - 1;
          stream.expiries.push(String(expiry));
        }
        stream.hour = hour;
        stream.at = String(at + 1); // the script's KEYS index, within the stream's keys
      }
      const { fields } = entry;
      stream.records.push(stream.at, entry.id, fields.ts!);
      for (const name of FIELDS[entry.kind]) stream.records.push(fields[name] ?? '');
      stream.count++;
      sent++;
    }
    const requirement = this.options.minReplicasAck ?? 0;
    const waitMs = this.options.waitTimeoutMs ?? 1_000;
    // Every script call goes to its slot's master (following MOVED/ASK); then one WAIT per
    // master written, which confirms every write made through that connection before it.
    const written = new Map<Redis, number>();
    const appending = Promise.all(
      [...calls.values()].map(async ({ key, streams }) => {
        const keys: string[] = [];
        const args = [String(retentionMs), minId];
        for (const stream of streams) {
          keys.push(...stream.keys);
          args.push(String(stream.keys.length), ...stream.head, ...stream.expiries, String(stream.count), ...stream.records);
        }
        let used: Redis | undefined;
        const added = await writeDurably(this.redis, key, 0, waitMs, (connection) => {
          used = connection;
          return appendOn(connection, keys, args);
        });
        const replicas = await replicasRequired(this.redis, key, requirement);
        written.set(used!, Math.max(written.get(used!) ?? 0, replicas));
        return added;
      }),
    );
    // The script calls' arguments built and written to the connections; Redis's own work is its CPU, not this process's.
    if (stagesOn) stageEnd('Redis writes', clock);
    const results = await appending;
    const added = results.reduce((sum, n) => sum + n, 0);
    // Counted as Redis took them: a batch sent again after a failed WAIT counts its records as duplicates.
    this.options.stats.written(added);
    this.options.stats.duplicates(sent - added);
    await Promise.all([...written].map(([connection, replicas]) => waitOn(connection, replicas, waitMs)));
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
    const entry: Entry = { kind: 'decisions', orgId: record.orgId, id: record.decisionId, fields: decisionFields(record) };
    if (record.orgUnverified) entry.unverified = true;
    return entry;
  }
  const { change } = pending;
  return { kind: 'settings-changes', orgId: change.orgId, id: change.changeId, fields: settingsChangeFields(change) };
}

function toStreamEntry([id, flat]: [string, string[]]): StreamEntry {
  const fields: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return { id, fields };
}

/** The append script on one node's connection, loaded into the node's script cache on first use. */
async function appendOn(connection: Redis, keys: string[], args: string[]): Promise<number> {
  const rest = [String(keys.length)].concat(keys, args);
  try {
    return Number(await connection.call('EVALSHA', [APPEND_SHA, ...rest]));
  } catch (error) {
    if (!(error as Error).message.startsWith('NOSCRIPT')) throw error;
    return Number(await connection.call('EVAL', [APPEND, ...rest]));
  }
}
