// The embedded audit log (no Redis, `make run`): per organization, the newest `capacity`
// decision records (and as many settings changes), none older than the retention; the
// decisions of at most `maxOrgs` organizations (the least recently recorded is forgotten
// first; settings changes are never forgotten for that). Capacity is per organization so
// that a flood of one tenant's decisions cannot evict another's. It keeps the same
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
import type { AuditLog, DecisionFilter, DecisionRecord, Page, PageRequest, SettingsChangeRecord, Summary } from '../decision/record.ts';
import type { AuditStats } from '../stats.ts';

export interface MemoryAuditOptions {
  /** Records kept per organization (decisions and settings changes each): one organization's volume never evicts another's. */
  capacity: number;
  /** Organizations kept; beyond it the one recorded least recently is forgotten, whole. */
  maxOrgs: number;
  retentionMs: number;
  maxScan: number;
  mask: Masker;
  stats: AuditStats;
  now?: () => number;
}

/** A stream entry, with the decision id it stores (to forget the id with the entry). */
interface Stored extends StreamEntry {
  decisionId?: string;
}

class Stream {
  entries: Stored[] = [];
  head = 0;
  lagMs = 0;

  get size(): number {
    return this.entries.length - this.head;
  }

  append(tsMs: number, fields: Record<string, string>, decisionId?: string): string {
    const top = this.entries.length > this.head ? this.entries[this.entries.length - 1]!.id : undefined;
    const id = nextStreamId(top, tsMs);
    this.lagMs = Math.max(this.lagMs, parseStreamId(id)[0] - tsMs);
    this.entries.push(decisionId === undefined ? { id, fields } : { id, fields, decisionId });
    return id;
  }

  /** Drops entries beyond `capacity` and those recorded before `oldestKept`; returns them. */
  trim(capacity: number, oldestKept: number): Stored[] {
    const dropped: Stored[] = [];
    for (let oldest = this.live(0); oldest && (this.size > capacity || Number(oldest.fields.ts) < oldestKept); oldest = this.live(0)) {
      dropped.push(oldest);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return dropped;
  }

  live(i: number): Stored | undefined {
    return this.entries[this.head + i];
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

export class MemoryAuditLog implements AuditLog {
  /**
   * Decision streams in order of last record, least recent first (a Map keeps insertion
   * order); beyond maxOrgs the least recent is forgotten. Settings changes are kept apart
   * and never forgotten for decision volume: they come only from authenticated admins,
   * while anyone who can ask for a decision can name any organization.
   */
  private readonly streams: Record<Kind, Map<string, Stream>> = { decisions: new Map(), settings: new Map() };
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
    const stream = this.stream('decisions', filter.orgId);
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
    const stream = this.stream('decisions', where.orgId);
    const [entry] = (await stream?.scan({ before: nextStreamId(where.id, 0) }, 1)) ?? [];
    return entry && entry.id === where.id ? recordOf<DecisionRecord>(entry) : null;
  }

  async summary(filter: Pick<DecisionFilter, 'orgId' | 'from' | 'to'>): Promise<Summary> {
    const stream = this.stream('decisions', filter.orgId) ?? new Stream();
    return summarize(stream.scan, filter, stream.lagMs);
  }

  async querySettingsChanges(
    filter: Pick<DecisionFilter, 'orgId' | 'workspaceId' | 'from' | 'to'>,
    page: PageRequest,
  ): Promise<Page<SettingsChangeRecord>> {
    const hash = filterHash('settings', filter);
    const stream = this.stream('settings', filter.orgId);
    if (!stream) return emptyPage(page.cursor, hash);
    return queryPage(stream.scan, settingsChangeMatcher(filter), page.limit, page.cursor, hash, {
      ...timeBounds(filter),
      lagMs: stream.lagMs,
      maxScan: this.options.maxScan,
    });
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}

  /** An organization's stream with what has outlived the retention dropped (an idle organization is trimmed when read). */
  private stream(kind: Kind, orgId: string): Stream | undefined {
    const stream = this.streams[kind].get(orgId);
    if (stream) this.trim(stream);
    return stream;
  }

  private append(kind: Kind, orgId: string, tsMs: number, fields: Record<string, string>, decisionId?: string): string {
    const streams = this.streams[kind];
    const stream = streams.get(orgId) ?? new Stream();
    streams.delete(orgId);
    streams.set(orgId, stream);
    const id = stream.append(tsMs, fields, decisionId);
    this.trim(stream);
    if (kind === 'decisions' && streams.size > this.options.maxOrgs) this.forget(streams.keys().next().value!);
    return id;
  }

  private trim(stream: Stream): void {
    for (const dropped of stream.trim(this.options.capacity, this.now() - this.options.retentionMs)) {
      if (dropped.decisionId !== undefined) this.byId.delete(dropped.decisionId);
    }
  }

  private forget(orgId: string): void {
    const decisions = this.streams.decisions.get(orgId)!;
    this.streams.decisions.delete(orgId);
    for (let i = 0, entry = decisions.live(0); entry; entry = decisions.live(++i)) {
      if (entry.decisionId !== undefined) this.byId.delete(entry.decisionId);
    }
  }
}

/** An unknown org still validates its cursor, so a bad cursor is a 400 on both logs. */
async function emptyPage<T>(cursor: string | undefined, hash: string): Promise<Page<T>> {
  return queryPage<T>(async () => [], () => false, 1, cursor, hash, { lagMs: 0, maxScan: 1 });
}
