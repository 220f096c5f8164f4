// The embedded audit log (no Redis, `make run`): the newest `capacity` decision records
// across all organizations, and none older than the retention. It keeps the same
// per-organization streams, ids and entries as the Redis log and answers queries with
// the same code (query.ts), so a query means the same thing on both.
import {
  compareStreamIds,
  decisionFields,
  decisionMatcher,
  filterHash,
  nextStreamId,
  parseStreamId,
  queryPage,
  recordOf,
  settingsChangeFields,
  settingsChangeMatcher,
  summarize,
  timeBounds,
  type ScanDescending,
  type StreamEntry,
} from './query.ts';
import type { Masker } from './mask.ts';
import type { AuditLog, DecisionFilter, DecisionRecord, Page, PageRequest, SettingsChangeRecord, Summary } from './record.ts';
import type { AuditStats } from './stats.ts';

export interface MemoryAuditOptions {
  /** Records kept across all organizations (decisions and settings changes each). */
  capacity: number;
  retentionMs: number;
  maxScan: number;
  mask: Masker;
  stats: AuditStats;
  now?: () => number;
}

class Stream {
  entries: StreamEntry[] = [];
  head = 0;
  lagMs = 0;

  append(tsMs: number, fields: Record<string, string>): string {
    const top = this.entries.length > this.head ? this.entries[this.entries.length - 1]!.id : undefined;
    const id = nextStreamId(top, tsMs);
    this.lagMs = Math.max(this.lagMs, parseStreamId(id)[0] - tsMs);
    this.entries.push({ id, fields });
    return id;
  }

  dropOldest(): StreamEntry | undefined {
    const entry = this.entries[this.head];
    if (!entry) return undefined;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  oldest(): StreamEntry | undefined {
    return this.entries[this.head];
  }

  /** Index of the first live entry with id >= `id` (binary search). */
  private lowerBound(id: string): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareStreamIds(this.entries[mid]!.id, id) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  readonly scan: ScanDescending = async ({ before, maxMs, minMs }, count) => {
    let end = this.entries.length;
    if (before !== undefined) end = Math.min(end, this.lowerBound(before));
    if (maxMs !== undefined) end = Math.min(end, this.lowerBound(`${maxMs + 1}-0`));
    const start = minMs === undefined ? this.head : this.lowerBound(`${minMs}-0`);
    const out: StreamEntry[] = [];
    for (let i = end - 1; i >= start && out.length < count; i--) out.push(this.entries[i]!);
    return out;
  };
}

type Kind = 'decisions' | 'settings';

/** A FIFO whose shift is O(1) (Array#shift moves every element). */
class Queue<T> {
  private items: T[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    const item = this.items[this.head];
    if (item === undefined) return undefined;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

export class MemoryAuditLog implements AuditLog {
  private readonly streams = new Map<string, Stream>();
  /** Insertion order across organizations, for the global capacity. */
  private readonly order: Record<Kind, Queue<{ orgId: string; tsMs: number; decisionId?: string }>> = { decisions: new Queue(), settings: new Queue() };
  private readonly byId = new Map<string, { orgId: string; id: string }>();
  private readonly now: () => number;

  constructor(private readonly options: MemoryAuditOptions) {
    this.now = options.now ?? Date.now;
  }

  record(record: DecisionRecord): void {
    this.options.stats.recorded();
    const stored = this.options.mask(record);
    const fields = decisionFields(stored);
    const id = this.append('decisions', record.orgId, Number(fields.ts), fields, record.decisionId);
    this.byId.set(record.decisionId, { orgId: record.orgId, id });
    this.options.stats.written(1);
  }

  recordSettingsChange(change: SettingsChangeRecord): void {
    const fields = settingsChangeFields(change);
    this.append('settings', change.orgId, Number(fields.ts), fields);
  }

  async queryDecisions(filter: DecisionFilter, page: PageRequest): Promise<Page<DecisionRecord>> {
    const stream = this.streams.get(key('decisions', filter.orgId));
    if (!stream) return emptyPage(page.cursor, filterHash('decisions', filter));
    return queryPage(stream.scan, decisionMatcher(filter), page.limit, page.cursor, filterHash('decisions', filter), {
      ...timeBounds(filter),
      lagMs: stream.lagMs,
      maxScan: this.options.maxScan,
    });
  }

  async getDecision(decisionId: string): Promise<DecisionRecord | null> {
    const where = this.byId.get(decisionId);
    if (!where) return null;
    const stream = this.streams.get(key('decisions', where.orgId));
    const [entry] = (await stream?.scan({ before: nextStreamId(where.id, 0) }, 1)) ?? [];
    return entry && entry.id === where.id ? recordOf<DecisionRecord>(entry) : null;
  }

  async summary(filter: Pick<DecisionFilter, 'orgId' | 'from' | 'to'>): Promise<Summary> {
    const stream = this.streams.get(key('decisions', filter.orgId)) ?? new Stream();
    return summarize(stream.scan, filter, stream.lagMs);
  }

  async querySettingsChanges(
    filter: Pick<DecisionFilter, 'orgId' | 'workspaceId' | 'from' | 'to'>,
    page: PageRequest,
  ): Promise<Page<SettingsChangeRecord>> {
    const hash = filterHash('settings', filter);
    const stream = this.streams.get(key('settings', filter.orgId));
    if (!stream) return emptyPage(page.cursor, hash);
    return queryPage(stream.scan, settingsChangeMatcher(filter), page.limit, page.cursor, hash, {
      ...timeBounds(filter),
      lagMs: stream.lagMs,
      maxScan: this.options.maxScan,
    });
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}

  private append(kind: Kind, orgId: string, tsMs: number, fields: Record<string, string>, decisionId?: string): string {
    const streamKey = key(kind, orgId);
    let stream = this.streams.get(streamKey);
    if (!stream) this.streams.set(streamKey, (stream = new Stream()));
    const id = stream.append(tsMs, fields);
    const order = this.order[kind];
    order.push(decisionId === undefined ? { orgId, tsMs } : { orgId, tsMs, decisionId });
    const oldestKept = this.now() - this.options.retentionMs;
    for (let oldest = order.peek(); oldest && (order.size > this.options.capacity || oldest.tsMs < oldestKept); oldest = order.peek()) {
      const evicted = order.shift()!;
      const from = this.streams.get(key(kind, evicted.orgId))!;
      from.dropOldest();
      if (evicted.decisionId !== undefined) this.byId.delete(evicted.decisionId);
      if (!from.oldest()) this.streams.delete(key(kind, evicted.orgId));
    }
    return id;
  }
}

const key = (kind: Kind, orgId: string) => `${kind}\u0000${orgId}`;


/** An unknown org still validates its cursor, so a bad cursor is a 400 on both logs. */
async function emptyPage<T>(cursor: string | undefined, hash: string): Promise<Page<T>> {
  return queryPage<T>(async () => [], () => false, 1, cursor, hash, { lagMs: 0, maxScan: 1 });
}
