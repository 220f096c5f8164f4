// The store of record: Redis, with an in-process cache in front of it.
//
// Key layout (one hash per organization; the {braces} are a cluster hash tag, so an
// organization's keys live in one slot and a write is one atomic MULTI):
//   portcullis:settings:{<orgId>}   HASH
//     org              JSON OrgSettings (only the fields an admin set)
//     ws:<workspaceId> JSON WorkspaceSettings
//     version          integer, incremented by every write to the hash
// Channel portcullis:settings:changed carries {"orgId"}, published in the write's MULTI.
//
// Cache: one entry per organization (LRU, bounded by `maxOrgs`) holding the org's
// settings, its version and the workspaces fetched so far. An entry is used without a
// round trip only while three things hold: the change subscription has been up without
// a break since the entry was confirmed (a break may have lost a message), no change
// message for the org has arrived, and it was confirmed less than `revalidateAfterMs`
// ago (the bound on staleness should a message be lost without the connection
// noticing). Otherwise its version is checked in Redis first.
//
// Outage: when Redis cannot be asked, an entry confirmed less than `maxStaleMs` ago is
// still served (counted as `stale`); anything older, or not cached, makes snapshot()
// throw, and the Decider fails closed on a decision a setting decides.
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { OrgSettings, SettingsSnapshot, SettingsStore, WorkspaceSettings } from './types.ts';

export const CHANGES_CHANNEL = 'portcullis:settings:changed';
const keyOf = (orgId: string) => `portcullis:settings:{${orgId}}`;
const workspaceField = (workspaceId: string) => `ws:${workspaceId}`;

/** The subscription was not up when the entry was confirmed: never trusted without a check. */
const UNSUBSCRIBED = -1;

interface CachedOrg {
  org: OrgSettings;
  version: number;
  workspaces: Map<string, WorkspaceSettings>;
  /** When Redis last said this version is current. */
  confirmedAt: number;
  /** The subscription epoch at confirmation; a later epoch means messages may have been lost. */
  epoch: number;
}

export interface CacheStats {
  onHit(): void;
  onMiss(): void;
  /** Served from cache because Redis could not be asked. */
  onStale?(): void;
  /** The store became able (true) or unable (false) to answer and hear changes. */
  onConnection?(up: boolean): void;
}

export interface RedisStoreOptions {
  url: string;
  maxOrgs: number;
  revalidateAfterMs: number;
  maxStaleMs: number;
  commandTimeoutMs: number;
  reconnectMaxMs: number;
  stats?: CacheStats;
  now?: () => number;
}

export class SettingsUnavailableError extends Error {
  override name = 'SettingsUnavailableError';
}

export class RedisSettingsStore implements SettingsStore {
  readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly cache: LRUCache<string, CachedOrg>;
  private readonly now: () => number;
  private subscribed = false;
  private epoch = 0;
  /** Counts change messages and subscription breaks; a fetch that overlapped one is not cached. */
  private changes = 0;
  private lastReported: boolean | undefined;
  /** Round trips on their way, by `${orgId}\0` (version check) or `${orgId}\0${workspaceId}` (fetch). */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(private readonly options: RedisStoreOptions) {
    const common = {
      lazyConnect: true,
      commandTimeout: options.commandTimeoutMs,
      maxRetriesPerRequest: 1,
      // Exponential backoff with jitter, so a fleet of sidecars does not reconnect in step.
      retryStrategy: (attempt: number) => Math.round(Math.min(50 * 2 ** Math.min(attempt, 16), options.reconnectMaxMs) * (0.5 + Math.random() / 2)),
    };
    // Fail fast while disconnected: a decision must not wait on a queue for Redis to return.
    this.redis = new Redis(options.url, { ...common, enableOfflineQueue: false });
    this.subscriber = new Redis(options.url, { ...common, enableOfflineQueue: true });
    this.cache = new LRUCache({ max: options.maxOrgs });
    this.now = options.now ?? Date.now;
    this.subscriber.on('message', (_channel: string, message: string) => this.onChange(message));
    this.subscriber.on('close', () => {
      if (this.subscribed) this.epoch++;
      this.subscribed = false;
      this.changes++;
      this.report();
    });
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(CHANGES_CHANNEL).then(
        () => this.onSubscribed(),
        () => undefined,
      );
    });
    this.redis.on('ready', () => this.report());
    this.redis.on('close', () => this.report());
    for (const connection of [this.redis, this.subscriber]) connection.on('error', () => undefined);
  }

  async connect(): Promise<void> {
    try {
      await Promise.all([this.redis.connect(), this.subscriber.connect()]);
      await this.subscriber.subscribe(CHANGES_CHANNEL);
    } catch (error) {
      this.redis.disconnect();
      this.subscriber.disconnect();
      throw error;
    }
    this.onSubscribed();
  }

  async snapshot(orgId: string, workspaceId: string): Promise<SettingsSnapshot> {
    const cached = this.cache.get(orgId);
    const workspace = cached?.workspaces.get(workspaceId);
    if (cached && workspace) {
      const snapshot = { org: cached.org, workspace, version: cached.version };
      if (this.trusted(cached)) {
        this.options.stats?.onHit();
        return snapshot;
      }
      let current: boolean;
      try {
        current = await this.confirmOnce(orgId, cached);
      } catch (error) {
        return this.stale(cached, snapshot, error);
      }
      if (current) {
        this.options.stats?.onHit();
        return snapshot;
      }
    }
    this.options.stats?.onMiss();
    return this.fetchOnce(orgId, workspaceId);
  }

  async getOrg(orgId: string): Promise<OrgSettings | null> {
    return parseJson(await this.redis.hget(keyOf(orgId), 'org'));
  }

  async putOrg(orgId: string, settings: OrgSettings): Promise<number> {
    return this.write(orgId, (tx, key) => tx.hset(key, 'org', JSON.stringify(settings)));
  }

  async getWorkspace(orgId: string, workspaceId: string): Promise<WorkspaceSettings | null> {
    return parseJson(await this.redis.hget(keyOf(orgId), workspaceField(workspaceId)));
  }

  async putWorkspace(orgId: string, workspaceId: string, settings: WorkspaceSettings): Promise<number> {
    return this.write(orgId, (tx, key) => tx.hset(key, workspaceField(workspaceId), JSON.stringify(settings)));
  }

  async deleteWorkspace(orgId: string, workspaceId: string): Promise<boolean> {
    if ((await this.redis.hexists(keyOf(orgId), workspaceField(workspaceId))) === 0) return false;
    await this.write(orgId, (tx, key) => tx.hdel(key, workspaceField(workspaceId)));
    return true;
  }

  /** Connected and hearing changes: only then is a cached answer as good as Redis's. */
  isReady(): boolean {
    return this.redis.status === 'ready' && this.subscribed;
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private trusted(cached: CachedOrg): boolean {
    return this.subscribed && cached.epoch === this.epoch && this.now() - cached.confirmedAt < this.options.revalidateAfterMs;
  }

  /**
   * One round trip per question at a time: the requests that arrive while it is on its way
   * share its answer, so a popular organization's expiry is one read, not one per request.
   * A change message for the org forgets its questions, so later requests ask again.
   */
  private once<T>(key: string, ask: () => Promise<T>): Promise<T> {
    let pending = this.inFlight.get(key) as Promise<T> | undefined;
    if (!pending) {
      const asked = ask().finally(() => {
        if (this.inFlight.get(key) === asked) this.inFlight.delete(key);
      });
      this.inFlight.set(key, asked);
      pending = asked;
    }
    return pending;
  }

  private confirmOnce(orgId: string, cached: CachedOrg): Promise<boolean> {
    return this.once(`${orgId}\0`, () => this.confirm(orgId, cached));
  }

  private fetchOnce(orgId: string, workspaceId: string): Promise<SettingsSnapshot> {
    return this.once(`${orgId}\0${workspaceId}`, () => this.fetch(orgId, workspaceId));
  }

  /** True when Redis still holds the cached version (and marks it confirmed); throws when Redis cannot be asked. */
  private async confirm(orgId: string, cached: CachedOrg): Promise<boolean> {
    this.requireConnection();
    const epoch = this.currentEpoch();
    const askedAt = this.now();
    const version = Number((await this.redis.hget(keyOf(orgId), 'version')) ?? 0);
    if (version !== cached.version) return false;
    cached.confirmedAt = askedAt;
    cached.epoch = epoch;
    return true;
  }

  private async fetch(orgId: string, workspaceId: string): Promise<SettingsSnapshot> {
    this.requireConnection();
    const changesBefore = this.changes;
    const epoch = this.currentEpoch();
    const askedAt = this.now();
    const [org, workspace, version] = await this.redis.hmget(keyOf(orgId), 'org', workspaceField(workspaceId), 'version');
    const snapshot: SettingsSnapshot = {
      org: parseJson(org) ?? {},
      workspace: parseJson(workspace) ?? {},
      version: Number(version ?? 0),
    };
    // A change that arrived while the answer was on its way may be newer than the answer:
    // use the answer for this decision but do not keep it.
    if (this.changes === changesBefore) this.remember(orgId, workspaceId, snapshot, askedAt, epoch);
    return snapshot;
  }

  private stale(cached: CachedOrg, snapshot: SettingsSnapshot, error: unknown): SettingsSnapshot {
    if (this.now() - cached.confirmedAt > this.options.maxStaleMs) throw error;
    this.options.stats?.onStale?.();
    return snapshot;
  }

  private requireConnection(): void {
    if (this.redis.status !== 'ready') throw new SettingsUnavailableError(`Redis is ${this.redis.status}`);
  }

  private currentEpoch(): number {
    return this.subscribed ? this.epoch : UNSUBSCRIBED;
  }

  private async write(orgId: string, change: (tx: ReturnType<Redis['multi']>, key: string) => unknown): Promise<number> {
    const key = keyOf(orgId);
    const tx = this.redis.multi();
    change(tx, key);
    tx.hincrby(key, 'version', 1);
    // The message is published inside the transaction, so a committed write is always
    // announced; it names no version (unknown until EXEC), and every instance drops the org.
    tx.publish(CHANGES_CHANNEL, JSON.stringify({ orgId }));
    const results = await tx.exec();
    if (!results) throw new SettingsUnavailableError('settings write was aborted');
    for (const [error] of results) if (error) throw error;
    this.cache.delete(orgId);
    return Number(results.at(-2)![1]);
  }

  private remember(orgId: string, workspaceId: string, snapshot: SettingsSnapshot, confirmedAt: number, epoch: number): void {
    const cached = this.cache.get(orgId);
    if (cached && cached.version === snapshot.version) {
      cached.workspaces.set(workspaceId, snapshot.workspace);
      cached.confirmedAt = Math.max(cached.confirmedAt, confirmedAt);
      cached.epoch = epoch;
      return;
    }
    if (cached && cached.version > snapshot.version) return;
    this.cache.set(orgId, {
      org: snapshot.org,
      version: snapshot.version,
      workspaces: new Map([[workspaceId, snapshot.workspace]]),
      confirmedAt,
      epoch,
    });
  }

  private onSubscribed(): void {
    this.subscribed = true;
    this.report();
  }

  private onChange(message: string): void {
    this.changes++;
    const change = parseJson<{ orgId?: unknown }>(message);
    if (typeof change?.orgId !== 'string') return;
    this.cache.delete(change.orgId);
    for (const key of this.inFlight.keys()) if (key.startsWith(`${change.orgId}\0`)) this.inFlight.delete(key);
  }

  private report(): void {
    const up = this.isReady();
    if (up === this.lastReported) return;
    this.lastReported = up;
    this.options.stats?.onConnection?.(up);
  }
}

function parseJson<T>(text: string | null | undefined): T | null {
  if (text == null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}
