// The embedded audit log (no Redis, `make run`): per organization, the newest `capacity`
// decision records (and as many settings changes), none older than the retention; the
// decisions of at most `maxOrgs` organizations (the least recently recorded is forgotten
// first; settings changes are never forgotten for that). Capacity is per organization so
// that a flood of one tenant's decisions cannot evict another's. Decisions are bounded in
// bytes too: past `maxBytes` the organization that holds the most gives up its oldest, so
// a tenant only ever displaces tenants larger than itself. Records whose organization the
// workspace directory did not confirm (anyone can name any organization) never enter that
// competition: they share one bucket with its own record and byte bounds. It keeps the same
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
  /** Bytes of decision records kept across the organizations the directory confirmed; absent = bounded by records only. */
  maxBytes?: number;
  /** Records and bytes of the unverified bucket; absent = `capacity` records, bounded by records only. */
  unverifiedRecords?: number;
  unverifiedBytes?: number;
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
  /** Bytes of the live entries' fields. */
  bytes = 0;

  get size(): number {
    return this.entries.length - this.head;
  }

  append(tsMs: number, fields: Record<string, string>, decisionId?: string): string {
    const top = this.entries.length > this.head ? this.entries[this.entries.length - 1]!.id : undefined;
    const id = nextStreamId(top, tsMs);
    this.lagMs = Math.max(this.lagMs, parseStreamId(id)[0] - tsMs);
    this.entries.push(decisionId === undefined ? { id, fields } : { id, fields, decisionId });
    this.bytes += fieldBytes(fields);
    return id;
  }

  /** Drops entries beyond `capacity` or `maxBytes` and those recorded before `oldestKept`; returns them. */
  trim(capacity: number, oldestKept: number, maxBytes = Infinity): Stored[] {
    const dropped: Stored[] = [];
    for (let oldest = this.live(0); oldest && (this.size > capacity || this.bytes > maxBytes || Number(oldest.fields.ts) < oldestKept); oldest = this.live(0)) {
      dropped.push(oldest);
      this.bytes -= fieldBytes(oldest.fields);
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
  /** Where a decision id's entry is: its organization's stream, or (orgId undefined) the unverified bucket. */
  private readonly byId = new Map<string, { orgId: string | undefined; id: string }>();
  private readonly unverified = new Stream();
  /** Bytes of the decision streams of confirmed organizations. */
  private decisionBytes = 0;
  private readonly now: () => number;

  constructor(private readonly options: MemoryAuditOptions) {
    this.now = options.now ?? Date.now;
  }

  record(record: DecisionRecord): void {
    this.options.stats.recorded();
    const stored = this.options.mask(record);
    const fields = decisionFields(stored);
    if (record.orgUnverified) {
      const id = this.unverified.append(Number(fields.ts), fields, record.decisionId);
      this.trimUnverified();
      this.byId.set(record.decisionId, { orgId: undefined, id });
    } else {
      const id = this.append('decisions', record.orgId, Number(fields.ts), fields, record.decisionId);
      this.byId.set(record.decisionId, { orgId: record.orgId, id });
      this.evictPastBudget();
    }
    this.options.stats.written(1);
    this.options.stats.heldBytes(this.decisionBytes + this.unverified.bytes);
  }

  recordSettingsChange(change: SettingsChangeRecord): void {
    const fields = settingsChangeFields(change);
    this.append('settings', change.orgId, Number(fields.ts), fields);
  }

  async queryDecisions(filter: DecisionFilter, page: PageRequest): Promise<Page<DecisionRecord>> {
    const stream = filter.unverified ? this.unverifiedStream() : this.stream('decisions', filter.orgId);
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
    const stream = where.orgId === undefined ? this.unverifiedStream() : this.stream('decisions', where.orgId);
    const [entry] = (await stream?.scan({ before: nextStreamId(where.id, 0) }, 1)) ?? [];
    return entry && entry.id === where.id ? recordOf<DecisionRecord>(entry) : null;
  }

  async summary(filter: Pick<DecisionFilter, 'orgId' | 'from' | 'to'>): Promise<Summary> {
    const stream = this.stream('decisions', filter.orgId) ?? new Stream();
    return summarize(stream.scan, filter, stream.lagMs);
  }

  async querySettingsChanges(filter: Pick<DecisionFilter, 'orgId' | 'workspaceId' | 'from' | 'to'>, page: PageRequest): Promise<Page<SettingsChangeRecord>> {
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
    if (stream) this.trim(kind, stream);
    return stream;
  }

  private append(kind: Kind, orgId: string, tsMs: number, fields: Record<string, string>, decisionId?: string): string {
    const streams = this.streams[kind];
    const stream = streams.get(orgId) ?? new Stream();
    streams.delete(orgId);
    streams.set(orgId, stream);
    const before = stream.bytes;
    const id = stream.append(tsMs, fields, decisionId);
    if (kind === 'decisions') this.decisionBytes += stream.bytes - before;
    this.trim(kind, stream);
    if (kind === 'decisions' && streams.size > this.options.maxOrgs) this.forget(streams.keys().next().value!);
    return id;
  }

  private unverifiedStream(): Stream {
    this.trimUnverified();
    return this.unverified;
  }

  private trimUnverified(): void {
    const { unverifiedRecords, unverifiedBytes, capacity, retentionMs } = this.options;
    this.forgetIds(this.unverified.trim(unverifiedRecords ?? capacity, this.now() - retentionMs, unverifiedBytes));
  }

  private trim(kind: Kind, stream: Stream): void {
    const before = stream.bytes;
    this.forgetIds(stream.trim(this.options.capacity, this.now() - this.options.retentionMs));
    if (kind === 'decisions') this.decisionBytes += stream.bytes - before;
  }

  private forgetIds(dropped: Stored[]): void {
    for (const entry of dropped) if (entry.decisionId !== undefined) this.byId.delete(entry.decisionId);
  }

  /** Past the byte budget, the organization holding the most bytes gives up its oldest records. */
  private evictPastBudget(): void {
    while (this.decisionBytes > (this.options.maxBytes ?? Infinity)) {
      let largest: Stream | undefined;
      for (const stream of this.streams.decisions.values()) if (!largest || stream.bytes > largest.bytes) largest = stream;
      if (!largest || largest.size === 0) return;
      const before = largest.bytes;
      this.forgetIds(largest.trim(largest.size - 1, -Infinity));
      this.decisionBytes -= before - largest.bytes;
    }
  }

  private forget(orgId: string): void {
    const decisions = this.streams.decisions.get(orgId)!;
    this.decisionBytes -= decisions.bytes;
    this.streams.decisions.delete(orgId);
    for (let i = 0, entry = decisions.live(0); entry; entry = decisions.live(++i)) {
      if (entry.decisionId !== undefined) this.byId.delete(entry.decisionId);
    }
  }
}

/** What an entry costs: its field names and values (the record's JSON dominates). */
function fieldBytes(fields: Record<string, string>): number {
  let bytes = 0;
  for (const name in fields) bytes += name.length + Buffer.byteLength(fields[name]!);
  return bytes;
}

/** An unknown org still validates its cursor, so a bad cursor is a 400 on both logs. */
async function emptyPage<T>(cursor: string | undefined, hash: string): Promise<Page<T>> {
  return queryPage<T>(
    async () => [],
    () => false,
    1,
    cursor,
    hash,
    { lagMs: 0, maxScan: 1 },
  );
}
