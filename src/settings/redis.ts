// The settings store of record: Redis (admin.ts, directory.ts), with an in-process cache
// in front of it kept coherent by the change messages (changes.ts) under the rules of
// coherence.ts. This file reads Redis for decisions: it shares one round trip among the
// requests asking the same question, and waits for a version a request asks for.
//
// Outage: when Redis cannot be asked, an entry confirmed less than `maxStaleMs` ago is
// still served (counted as `stale`); anything older, or not cached, makes snapshot()
// throw, and the Decider fails closed on a decision a setting decides.
import { connectRedis, openRedis, type RedisClient } from '../redis/clients.ts';
import type { RedisConnectionOptions } from '../redis/options.ts';
import { RedisSettingsAdmin, type DurabilityOptions } from './admin.ts';
import { ChangeListener, type Change } from './changes.ts';
import { CacheCoherence, type CachedOrg, type CoherenceOptions } from './coherence.ts';
import { orgField, parseStored, settingsKey, workspaceField } from './keys.ts';
import {
  flattenOrg,
  flattenWorkspace,
  SettingsStaleError,
  type FamilyDocument,
  type SettingValues,
  type SettingsSnapshot,
  type SettingsStore,
  type Versioned,
  type WorkspacePage,
} from './types.ts';

/** Round trips on their way for one organization: its version check and its fetches by workspace. */
interface OrgInFlight {
  confirm?: Promise<boolean>;
  fetches: Map<string, Promise<SettingsSnapshot>>;
}

export interface CacheStats {
  onHit(): void;
  onMiss(): void;
  /** Served from cache because Redis could not be asked. */
  onStale?(): void;
  /** The store became able (true) or unable (false) to answer and hear changes. */
  onConnection?(up: boolean): void;
}

/** Where Redis is, how durable a write must be, and the cache's bounds (coherence.ts). */
export interface RedisStoreOptions extends DurabilityOptions, Omit<CoherenceOptions, 'now'> {
  connection: RedisConnectionOptions;
  /** How long a snapshot asked for at least a version keeps reading Redis for it before SettingsStaleError (default: no wait, one read). */
  minVersionWaitMs?: number;
  /** The active bundle's family names: the fields a snapshot reads. A new array means new families (the cache is dropped). */
  familyNames: () => readonly string[];
  stats?: CacheStats;
  now?: () => number;
}

/** The shortest time between two reads of one organization's version by waiting snapshots. */
const VERSION_POLL_MS = 25;

interface VersionPoll {
  /** Increasing: a poll numbered above the count when an asker asked left after it asked. */
  number: number;
  read: Promise<number>;
  /** Settles VERSION_POLL_MS after the read did; until then no new read of this organization leaves. */
  done: Promise<unknown>;
}

export class SettingsUnavailableError extends Error {
  override name = 'SettingsUnavailableError';
}

export class RedisSettingsStore implements SettingsStore {
  readonly redis: RedisClient;
  private readonly admin: RedisSettingsAdmin;
  private readonly changes: ChangeListener;
  private readonly coherence: CacheCoherence;
  private readonly now: () => number;
  private lastReported: boolean | undefined;
  private readonly inFlight = new Map<string, OrgInFlight>();
  private readonly ownerLookups = new Map<string, Promise<string | null>>();
  /** Organization -> the read of its version that snapshots waiting for a version share (atLeast). */
  private readonly versionPolls = new Map<string, VersionPoll>();
  private versionPollCount = 0;

  constructor(private readonly options: RedisStoreOptions) {
    // Fail fast while disconnected: a decision must not wait on a queue for Redis to return.
    this.redis = openRedis(options.connection, { offlineQueue: false });
    this.now = options.now ?? Date.now;
    this.coherence = new CacheCoherence({ ...options, now: this.now });
    this.admin = new RedisSettingsAdmin(this.redis, options, this.coherence);
    this.changes = new ChangeListener(this.redis, options.connection, {
      change: (change) => this.onChange(change),
      up: () => {
        this.coherence.onSubscribed();
        this.report();
      },
      down: () => {
        this.coherence.onBreak();
        this.report();
      },
      topology: () => this.coherence.onTopologyChange(),
    });
    this.redis.on('ready', () => this.report());
    this.redis.on('close', () => this.report());
    this.redis.on('error', () => undefined);
  }

  async connect(): Promise<void> {
    try {
      // The cluster's nodes first: the subscription picks one of them.
      await connectRedis(this.redis);
      await this.changes.start();
    } catch (error) {
      this.redis.disconnect();
      this.changes.close();
      throw error;
    }
  }

  /** snapshot()'s answer when it is a trusted cached snapshot (the same tests, in the same order); undefined otherwise. */
  peekSnapshot(orgId: string, workspaceId: string, minVersion?: number): SettingsSnapshot | undefined {
    if (minVersion !== undefined && (this.coherence.version(orgId) ?? -1) < minVersion) return undefined;
    this.coherence.useFamilies(this.options.familyNames());
    const cached = this.coherence.lookup(orgId, workspaceId);
    if (cached?.check !== 'trusted') return undefined;
    this.options.stats?.onHit();
    return cached.snapshot;
  }

  async snapshot(orgId: string, workspaceId: string, minVersion?: number): Promise<SettingsSnapshot> {
    if (minVersion !== undefined && (this.coherence.version(orgId) ?? -1) < minVersion) return this.atLeast(orgId, workspaceId, minVersion);
    this.coherence.useFamilies(this.options.familyNames());
    const cached = this.coherence.lookup(orgId, workspaceId);
    if (cached) {
      const { entry, snapshot, check } = cached;
      if (check === 'trusted') {
        this.options.stats?.onHit();
        return snapshot;
      }
      if (check === 'whole') {
        this.options.stats?.onMiss();
        try {
          return await this.fetchOnce(orgId, workspaceId);
        } catch (error) {
          return this.stale(entry, snapshot, error);
        }
      }
      let current: boolean;
      try {
        current = await this.confirmOnce(orgId, entry);
      } catch (error) {
        return this.stale(entry, snapshot, error);
      }
      if (current) {
        this.options.stats?.onHit();
        return snapshot;
      }
    }
    this.options.stats?.onMiss();
    return this.fetchOnce(orgId, workspaceId);
  }

  /**
   * A snapshot at `minVersion` or newer, read from Redis past the cache (a cached entry may
   * be older: this instance need not have heard the write yet). A replica-lagged or not yet
   * visible write is read again, until minVersionWaitMs has passed; never an older answer.
   * Redis unreachable is the ordinary error (the decision fails closed); cached entries do
   * not stand in for it, being older than asked.
   *
   * The waiting is shared per organization: every snapshot waiting for a version of it reads
   * the organization's version through one read at a time (pollVersion), at most one every
   * VERSION_POLL_MS, so that many requests or batch items asking for a version that never
   * comes cost Redis a few reads per organization, not a few per request.
   */
  private async atLeast(orgId: string, workspaceId: string, minVersion: number): Promise<SettingsSnapshot> {
    const deadline = this.now() + (this.options.minVersionWaitMs ?? 0);
    // Only a read that left after this was asked can show a write the asker has seen answered.
    const asked = this.versionPollCount;
    for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
      const version = await this.pollVersion(orgId, asked);
      if (version >= minVersion) {
        // A shared read of the snapshot may have left before the write: then one of its own.
        const shared = await this.fetchOnce(orgId, workspaceId);
        const snapshot = shared.version >= minVersion ? shared : await this.fetch(orgId, workspaceId);
        if (snapshot.version >= minVersion) return snapshot;
      }
      if (this.now() >= deadline) throw new SettingsStaleError(orgId, minVersion, version);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /**
   * The organization's version as Redis holds it, from a read numbered above `after` (one
   * that left after the asker asked): the one on its way when there is one, else a new one
   * once the previous has settled and VERSION_POLL_MS has passed since it left.
   */
  private async pollVersion(orgId: string, after: number): Promise<number> {
    for (;;) {
      const current = this.versionPolls.get(orgId);
      if (current && current.number > after) return current.read;
      if (current) {
        await current.done;
        continue;
      }
      this.requireConnection();
      const number = ++this.versionPollCount;
      const read = this.redis.hget(settingsKey(orgId), 'version').then((version) => Number(version ?? 0));
      const poll: VersionPoll = {
        number,
        read,
        done: read
          .then(
            () => undefined,
            () => undefined,
          )
          .then(() => new Promise<void>((resolve) => setTimeout(resolve, VERSION_POLL_MS)))
          .finally(() => {
            if (this.versionPolls.get(orgId) === poll) this.versionPolls.delete(orgId);
          }),
      };
      this.versionPolls.set(orgId, poll);
      return read;
    }
  }

  readOrg(orgId: string, family: string): Promise<Versioned<FamilyDocument>> {
    return this.admin.readOrg(orgId, family);
  }

  readWorkspace(orgId: string, workspaceId: string, family: string): Promise<Versioned<SettingValues>> {
    return this.admin.readWorkspace(orgId, workspaceId, family);
  }

  putOrg(orgId: string, family: string, settings: FamilyDocument, ifVersion?: number): Promise<number> {
    return this.admin.putOrg(orgId, family, settings, ifVersion);
  }

  deleteOrg(orgId: string, family: string, ifVersion?: number): Promise<boolean> {
    return this.admin.deleteOrg(orgId, family, ifVersion);
  }

  putWorkspace(orgId: string, workspaceId: string, family: string, settings: SettingValues, ifVersion?: number): Promise<number> {
    return this.admin.putWorkspace(orgId, workspaceId, family, settings, ifVersion);
  }

  deleteWorkspace(orgId: string, workspaceId: string, family: string, ifVersion?: number): Promise<number | null> {
    return this.admin.deleteWorkspace(orgId, workspaceId, family, ifVersion);
  }

  /** workspaceOrg()'s answer when it is a trusted cached one; undefined otherwise. */
  peekWorkspaceOrg(workspaceId: string): string | null | undefined {
    const cached = this.coherence.owner(workspaceId);
    return cached?.trusted ? cached.entry.orgId : undefined;
  }

  async workspaceOrg(workspaceId: string): Promise<string | null> {
    const cached = this.coherence.owner(workspaceId);
    if (cached?.trusted) return cached.entry.orgId;
    let lookup = this.ownerLookups.get(workspaceId);
    if (!lookup) {
      const asked = this.lookUpOwner(workspaceId).finally(() => {
        if (this.ownerLookups.get(workspaceId) === asked) this.ownerLookups.delete(workspaceId);
      });
      this.ownerLookups.set(workspaceId, asked);
      lookup = asked;
    }
    try {
      return await lookup;
    } catch (error) {
      if (!cached || !this.coherence.servableStale(cached.entry)) throw error;
      return cached.entry.orgId;
    }
  }

  registerWorkspace(orgId: string, workspaceId: string): Promise<{ created: boolean }> {
    return this.admin.registerWorkspace(orgId, workspaceId);
  }

  unregisterWorkspace(orgId: string, workspaceId: string): Promise<boolean> {
    return this.admin.unregisterWorkspace(orgId, workspaceId);
  }

  listWorkspaces(orgId: string, page: WorkspacePage): Promise<{ workspaces: string[]; next: string | null }> {
    return this.admin.listWorkspaces(orgId, page);
  }

  cacheSizes(): { orgs: number; workspaces: number; directory: number } {
    return this.coherence.sizes();
  }

  /** A PING within the command timeout: a paused or stalled Redis fails it. */
  async ping(): Promise<void> {
    await this.redis.ping();
  }

  /** Connected and hearing changes: only then is a cached answer as good as Redis's. */
  isReady(): boolean {
    return this.redis.status === 'ready' && this.coherence.listening;
  }

  async close(): Promise<void> {
    this.changes.close();
    await this.admin.close();
  }

  /**
   * One round trip per question at a time: the requests that arrive while it is on its way
   * share its answer, so a popular organization's expiry is one read, not one per request.
   * A change message for the org forgets its questions, so later requests ask again.
   */
  private pending(orgId: string): OrgInFlight {
    let pending = this.inFlight.get(orgId);
    if (!pending) {
      pending = { fetches: new Map() };
      this.inFlight.set(orgId, pending);
    }
    return pending;
  }

  /** Forgets the org's questions once none is on its way (and only if a change message has not already). */
  private settle(orgId: string, pending: OrgInFlight): void {
    if (this.inFlight.get(orgId) === pending && pending.confirm === undefined && pending.fetches.size === 0) this.inFlight.delete(orgId);
  }

  private confirmOnce(orgId: string, cached: CachedOrg): Promise<boolean> {
    const pending = this.pending(orgId);
    if (!pending.confirm) {
      const asked = this.confirm(orgId, cached).finally(() => {
        if (pending.confirm === asked) pending.confirm = undefined;
        this.settle(orgId, pending);
      });
      pending.confirm = asked;
    }
    return pending.confirm;
  }

  private fetchOnce(orgId: string, workspaceId: string): Promise<SettingsSnapshot> {
    const pending = this.pending(orgId);
    let fetch = pending.fetches.get(workspaceId);
    if (!fetch) {
      const asked = this.fetch(orgId, workspaceId).finally(() => {
        if (pending.fetches.get(workspaceId) === asked) pending.fetches.delete(workspaceId);
        this.settle(orgId, pending);
      });
      pending.fetches.set(workspaceId, asked);
      fetch = asked;
    }
    return fetch;
  }

  /** True when Redis still holds the cached version (and marks it confirmed); throws when Redis cannot be asked. */
  private async confirm(orgId: string, cached: CachedOrg): Promise<boolean> {
    this.requireConnection();
    const ticket = this.coherence.ticket();
    const version = Number((await this.redis.hget(settingsKey(orgId), 'version')) ?? 0);
    return this.coherence.confirm(cached, ticket, version);
  }

  private async fetch(orgId: string, workspaceId: string): Promise<SettingsSnapshot> {
    this.requireConnection();
    const ticket = this.coherence.ticket();
    const families = this.options.familyNames();
    const [version, ...documents] = await this.redis.hmget(
      settingsKey(orgId),
      'version',
      ...families.map(orgField),
      ...families.map((family) => workspaceField(workspaceId, family)),
    );
    const orgDocuments: Array<[string, FamilyDocument]> = [];
    families.forEach((family, i) => {
      const document = parseStored<FamilyDocument>(documents[i]);
      if (document) orgDocuments.push([family, document]);
    });
    const workspaceDocuments = families.map((_, i) => parseStored<SettingValues>(documents[families.length + i])).filter((document) => document !== null);
    const snapshot: SettingsSnapshot = { org: flattenOrg(orgDocuments), workspace: flattenWorkspace(workspaceDocuments), version: Number(version ?? 0) };
    this.coherence.remember(orgId, workspaceId, snapshot, ticket);
    return snapshot;
  }

  private async lookUpOwner(workspaceId: string): Promise<string | null> {
    this.requireConnection();
    const ticket = this.coherence.ticket();
    const orgId = await this.admin.workspaceOrg(workspaceId);
    this.coherence.rememberOwner(workspaceId, orgId, ticket);
    return orgId;
  }

  private stale(cached: CachedOrg, snapshot: SettingsSnapshot, error: unknown): SettingsSnapshot {
    if (!this.coherence.servableStale(cached)) throw error;
    this.options.stats?.onStale?.();
    return snapshot;
  }

  private requireConnection(): void {
    if (this.redis.status !== 'ready') throw new SettingsUnavailableError(`Redis is ${this.redis.status}`);
  }

  private onChange(change: Change): void {
    this.coherence.onChange(change);
    if (change.orgId !== undefined) this.inFlight.delete(change.orgId);
  }

  private report(): void {
    const up = this.isReady();
    if (up === this.lastReported) return;
    this.lastReported = up;
    this.options.stats?.onConnection?.(up);
  }
}
