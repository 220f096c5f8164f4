// The store of record: Redis, with an in-process cache in front of it.
//
// Key layout (one hash per organization; the {braces} are a cluster hash tag, so an
// organization's keys live in one slot and a write is one atomic MULTI):
//   portcullis:settings:{<orgId>}   HASH
//     org              JSON OrgSettings (only the fields an admin set)
//     ws:<workspaceId> JSON WorkspaceSettings
//     version          integer, incremented by every write to the hash
// Channel portcullis:settings:changed carries {"orgId", "version"} after each write.
//
// Cache: one entry per organization (LRU, bounded by `maxOrgs`) holding the org's
// settings, its version and the workspaces fetched so far. An entry is dropped when
// a change message for its org arrives, and the whole cache is dropped whenever the
// subscription was interrupted (a message may have been missed). As a last bound on
// staleness an entry older than `revalidateAfterMs` has its version checked again.
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { OrgSettings, SettingsSnapshot, SettingsStore, WorkspaceSettings } from './types.ts';

export const CHANGES_CHANNEL = 'portcullis:settings:changed';
const keyOf = (orgId: string) => `portcullis:settings:{${orgId}}`;
const workspaceField = (workspaceId: string) => `ws:${workspaceId}`;

interface CachedOrg {
  org: OrgSettings;
  version: number;
  workspaces: Map<string, WorkspaceSettings>;
  checkedAt: number;
}

export interface CacheStats {
  onHit(): void;
  onMiss(): void;
}

export interface RedisStoreOptions {
  url: string;
  maxOrgs: number;
  revalidateAfterMs: number;
  commandTimeoutMs: number;
  stats?: CacheStats;
  now?: () => number;
}

export class RedisSettingsStore implements SettingsStore {
  readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly cache: LRUCache<string, CachedOrg>;
  private readonly now: () => number;
  private subscribed = false;

  constructor(private readonly options: RedisStoreOptions) {
    const common = { lazyConnect: true, commandTimeout: options.commandTimeoutMs, maxRetriesPerRequest: 1 };
    // Fail fast while disconnected: a decision must not wait on a queue for Redis to return.
    this.redis = new Redis(options.url, { ...common, enableOfflineQueue: false });
    this.subscriber = new Redis(options.url, { ...common, enableOfflineQueue: true });
    this.cache = new LRUCache({ max: options.maxOrgs });
    this.now = options.now ?? Date.now;
    this.subscriber.on('message', (_channel: string, message: string) => this.onChange(message));
    // Messages published while the subscription was down are lost: forget everything.
    this.subscriber.on('close', () => {
      this.subscribed = false;
      this.cache.clear();
    });
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(CHANGES_CHANNEL).then(
        () => (this.subscribed = true),
        () => undefined,
      );
    });
    for (const connection of [this.redis, this.subscriber]) connection.on('error', () => undefined);
  }

  async connect(): Promise<void> {
    await Promise.all([this.redis.connect(), this.subscriber.connect()]);
    await this.subscriber.subscribe(CHANGES_CHANNEL);
    this.subscribed = true;
  }

  async snapshot(orgId: string, workspaceId: string): Promise<SettingsSnapshot> {
    const cached = this.cache.get(orgId);
    if (cached && this.subscribed && cached.workspaces.has(workspaceId)) {
      if (this.now() - cached.checkedAt < this.options.revalidateAfterMs || (await this.stillCurrent(orgId, cached))) {
        this.options.stats?.onHit();
        return { org: cached.org, workspace: cached.workspaces.get(workspaceId)!, version: cached.version };
      }
    }
    this.options.stats?.onMiss();
    const [org, workspace, version] = await this.redis.hmget(keyOf(orgId), 'org', workspaceField(workspaceId), 'version');
    const snapshot: SettingsSnapshot = {
      org: parseJson(org) ?? {},
      workspace: parseJson(workspace) ?? {},
      version: Number(version ?? 0),
    };
    if (this.subscribed) this.remember(orgId, workspaceId, snapshot);
    return snapshot;
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

  isReady(): boolean {
    return this.redis.status === 'ready';
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private async write(orgId: string, change: (tx: ReturnType<Redis['multi']>, key: string) => unknown): Promise<number> {
    const key = keyOf(orgId);
    const tx = this.redis.multi();
    change(tx, key);
    tx.hincrby(key, 'version', 1);
    const results = await tx.exec();
    const version = Number(results?.at(-1)?.[1]);
    this.cache.delete(orgId);
    await this.redis.publish(CHANGES_CHANNEL, JSON.stringify({ orgId, version }));
    return version;
  }

  private async stillCurrent(orgId: string, cached: CachedOrg): Promise<boolean> {
    const version = Number((await this.redis.hget(keyOf(orgId), 'version')) ?? 0);
    if (version !== cached.version) return false;
    cached.checkedAt = this.now();
    return true;
  }

  private remember(orgId: string, workspaceId: string, snapshot: SettingsSnapshot): void {
    const cached = this.cache.get(orgId);
    if (cached && cached.version === snapshot.version) {
      cached.workspaces.set(workspaceId, snapshot.workspace);
      return;
    }
    this.cache.set(orgId, {
      org: snapshot.org,
      version: snapshot.version,
      workspaces: new Map([[workspaceId, snapshot.workspace]]),
      checkedAt: this.now(),
    });
  }

  private onChange(message: string): void {
    const change = parseJson<{ orgId?: unknown; version?: unknown }>(message);
    if (typeof change?.orgId !== 'string') return;
    const cached = this.cache.peek(change.orgId);
    if (cached && cached.version !== change.version) this.cache.delete(change.orgId);
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
