// The store of record: Redis, with an in-process cache in front of it.
//
// Key layout (the {braces} are a cluster hash tag: an organization's keys live in one
// slot, so a settings write is one atomic script; a workspace's directory entry lives in
// the workspace's slot, so registering a workspace is two single-slot steps, ordered as
// registerWorkspace explains):
//   portcullis:settings:{<orgId>}    HASH, one field per family and level:
//     org                       JSON integration-access org document (only the fields an admin set)
//     ws:<workspaceId>          JSON integration-access workspace values
//     <family>:org              JSON the org document of any other family (e.g. prompt-access:org)
//     <family>:ws:<workspaceId> JSON a workspace's values of any other family
//     version                   integer, incremented by every write to the hash
// (integration-access keeps the fields it had before there were families, so stored data
// stays valid; a family name is never "ws", so no field of one family is another's.)
//   portcullis:directory:{<wsId>}    STRING  the organization that owns the workspace
//   portcullis:workspaces:{<orgId>}  ZSET    the organization's workspaces (score 0, listed by lex)
// Channel portcullis:settings:changed carries {"orgId"} (settings) or {"workspaceId"}
// (directory), published by the script that writes; a classic channel, which a cluster
// broadcasts to every node, so an instance listens on any one node (src/redis/connection.ts).
//
// Durability: an admin write is acknowledged only after WAIT confirmed it on
// `minReplicasAck` replicas of the master that took it; else ReplicationUnconfirmedError.
//
// Cache: one entry per organization (LRU, bounded by `maxOrgs`) holding the org's
// settings, its version and the workspaces fetched so far (LRU within the organization,
// bounded by `maxWorkspacesPerOrg`; all organizations' workspaces together bounded by
// `maxWorkspaces`), so unique workspace ids cannot grow memory without bound and one
// organization cannot push the others out. An entry is used without a round trip only
// while three things hold: the change subscription has been up without a break since
// the entry was confirmed (a break may have lost a message; a cluster topology change —
// failover, resharding, a lost node — counts as a break), no change message for the
// org has arrived, and it was confirmed less than `revalidateAfterMs` ago (the bound on
// staleness should a message be lost without the connection noticing). Otherwise its
// version is checked in Redis first; after a topology change or a subscription break the
// entry is fetched again whole, since a failed-over master, or a node that restarted with
// less than it had (no persistence, or the last second of an AOF lost), may have lost a
// write whose version number a later write reuses for other settings. Directory answers (known and unknown workspaces)
// are cached under the same rules, bounded by `maxDirectory`.
//
// Outage: when Redis cannot be asked, an entry confirmed less than `maxStaleMs` ago is
// still served (counted as `stale`); anything older, or not cached, makes snapshot()
// throw, and the Decider fails closed on a decision a setting decides.
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import {
  connectRedis,
  openRedis,
  scanKeys,
  Subscription,
  watchTopology,
  writeDurably,
  type RedisClient,
  type RedisConnectionOptions,
} from '../redis/connection.ts';
import type { ReplicaRequirement } from '../config.ts';
import {
  flattenOrg,
  flattenWorkspace,
  SettingsStaleError,
  VersionMismatchError,
  WorkspaceOwnedError,
  type FamilyDocument,
  type OrgSettings,
  type SettingValues,
  type SettingsSnapshot,
  type SettingsStore,
  type Versioned,
  type WorkspacePage,
  type WorkspaceSettings,
} from './types.ts';

export const CHANGES_CHANNEL = 'portcullis:settings:changed';
const keyOf = (orgId: string) => `portcullis:settings:{${orgId}}`;
const directoryKey = (workspaceId: string) => `portcullis:directory:{${workspaceId}}`;
const workspacesKey = (orgId: string) => `portcullis:workspaces:{${orgId}}`;
const LEGACY_FAMILY = 'integration-access';
const orgField = (family: string) => (family === LEGACY_FAMILY ? 'org' : `${family}:org`);
const workspaceField = (workspaceId: string, family: string) => (family === LEGACY_FAMILY ? `ws:${workspaceId}` : `${family}:ws:${workspaceId}`);

// Every directory script announces the workspace (ARGV[2] on channel ARGV[3]) even when it
// changed nothing: the message is a write the replicas receive, so the WAIT that follows
// confirms the state it answered from (an earlier, unconfirmed attempt's write included).

/** Claims a workspace for an organization unless another holds it: returns the owner before the call (or false). */
const CLAIM = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return owner end
if not owner then redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('PUBLISH', ARGV[3], ARGV[2])
return owner or false`;
/** Deletes the claim only if the organization holds it: 1 when it did. */
const RELEASE = `
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then released = redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[3], ARGV[2])
return released`;
/** Adds (ARGV[1] 'add') or removes the workspace ARGV[4] in the organization's listing. */
const LIST = `
if ARGV[1] == 'add' then redis.call('ZADD', KEYS[1], 0, ARGV[4]) else redis.call('ZREM', KEYS[1], ARGV[4]) end
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1`;

/**
 * Every settings write: checks the version (ARGV[1], '' for none), sets or deletes one field
 * of the org hash, bumps the version and announces the change, atomically. Returns
 * {1, new version}; {0, current version} on a version mismatch; {2, current version} when
 * a delete found nothing (no bump; announced all the same, so that the WAIT after it
 * confirms the state it found).
 */
const WRITE = `
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then return {0, current} end
if ARGV[2] == 'set' then
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
elseif redis.call('HDEL', KEYS[1], ARGV[3]) == 0 then
  redis.call('PUBLISH', ARGV[5], ARGV[6])
  return {2, current}
end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PUBLISH', ARGV[5], ARGV[6])
return {1, version}`;

/** The subscription was not up when the entry was confirmed: never trusted without a check. */
const UNSUBSCRIBED = -1;

interface Confirmed {
  /** When Redis last said this is current. */
  confirmedAt: number;
  /** The subscription epoch at confirmation; a later epoch means messages may have been lost. */
  epoch: number;
}

interface CachedOrg extends Confirmed {
  /** The generation (topology changes and subscription breaks) at confirmation; after either the entry is fetched again whole. */
  topology: number;
  org: OrgSettings;
  version: number;
  workspaces: LRUCache<string, WorkspaceSettings>;
}

interface CachedOwner extends Confirmed {
  /** null: the directory does not know the workspace. */
  orgId: string | null;
}

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

export interface RedisStoreOptions {
  connection: RedisConnectionOptions;
  /** Replicas an admin write must reach before it is acknowledged (WAIT). */
  minReplicasAck: ReplicaRequirement;
  waitTimeoutMs: number;
  maxOrgs: number;
  /** (organization, workspace) entries across all organizations. */
  maxWorkspaces: number;
  maxWorkspacesPerOrg: number;
  /** Workspace -> organization answers. */
  maxDirectory: number;
  revalidateAfterMs: number;
  maxStaleMs: number;
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
  private readonly subscription: Subscription;
  private readonly unwatchTopology: () => void;
  private readonly cache: LRUCache<string, CachedOrg>;
  private readonly owners: LRUCache<string, CachedOwner>;
  private readonly now: () => number;
  private subscribed = false;
  private epoch = 0;
  private topology = 0;
  /** Counts change messages and subscription breaks; a fetch that overlapped one is not cached. */
  private changes = 0;
  private lastReported: boolean | undefined;
  private readonly inFlight = new Map<string, OrgInFlight>();
  private readonly ownerLookups = new Map<string, Promise<string | null>>();
  /** Organization -> the read of its version that snapshots waiting for a version share (atLeast). */
  private readonly versionPolls = new Map<string, VersionPoll>();
  private versionPollCount = 0;
  /** The family names the cached snapshots were read with. */
  private cachedFamilies: readonly string[] | undefined;

  constructor(private readonly options: RedisStoreOptions) {
    // Fail fast while disconnected: a decision must not wait on a queue for Redis to return.
    this.redis = openRedis(options.connection, { offlineQueue: false });
    this.subscription = new Subscription(this.redis, options.connection, CHANGES_CHANNEL, {
      message: (message) => this.onChange(message),
      up: () => this.onSubscribed(),
      down: () => this.onBreak(),
    });
    // An organization counts as 1 + its cached workspaces against maxWorkspaces; its size
    // is recomputed whenever it is set again after a workspace was added.
    this.cache = new LRUCache({
      max: Math.max(1, options.maxOrgs),
      maxSize: Math.max(2, options.maxWorkspaces + 1),
      sizeCalculation: (entry) => 1 + entry.workspaces.size,
    });
    this.owners = new LRUCache({ max: Math.max(1, options.maxDirectory) });
    this.now = options.now ?? Date.now;
    this.redis.on('ready', () => this.report());
    this.redis.on('close', () => this.report());
    this.redis.on('error', () => undefined);
    this.unwatchTopology = watchTopology(this.redis, () => this.onTopologyChange());
  }

  async connect(): Promise<void> {
    try {
      // The cluster's nodes first: the subscription picks one of them.
      await connectRedis(this.redis);
      await this.subscription.start();
    } catch (error) {
      this.redis.disconnect();
      this.subscription.close();
      throw error;
    }
  }

  async snapshot(orgId: string, workspaceId: string, minVersion?: number): Promise<SettingsSnapshot> {
    if (minVersion !== undefined && (this.cache.get(orgId)?.version ?? -1) < minVersion) return this.atLeast(orgId, workspaceId, minVersion);
    const families = this.options.familyNames();
    if (families !== this.cachedFamilies) {
      // A bundle with other families: snapshots read for the old ones lack the new fields.
      this.cache.clear();
      this.cachedFamilies = families;
    }
    const cached = this.cache.get(orgId);
    const workspace = cached?.workspaces.get(workspaceId);
    if (cached && workspace) {
      const snapshot = { org: cached.org, workspace, version: cached.version };
      if (this.trusted(cached)) {
        this.options.stats?.onHit();
        return snapshot;
      }
      if (cached.topology !== this.topology) {
        // The version alone cannot tell: a lost write's version number may have been reused.
        this.options.stats?.onMiss();
        try {
          return await this.fetchOnce(orgId, workspaceId);
        } catch (error) {
          return this.stale(cached, snapshot, error);
        }
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
      const read = this.redis.hget(keyOf(orgId), 'version').then((version) => Number(version ?? 0));
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

  async readOrg(orgId: string, family: string): Promise<Versioned<FamilyDocument>> {
    const [org, version] = await this.redis.hmget(keyOf(orgId), orgField(family), 'version');
    return { settings: parseJson(org), version: Number(version ?? 0) };
  }

  async readWorkspace(orgId: string, workspaceId: string, family: string): Promise<Versioned<SettingValues>> {
    const [workspace, version] = await this.redis.hmget(keyOf(orgId), workspaceField(workspaceId, family), 'version');
    return { settings: parseJson(workspace), version: Number(version ?? 0) };
  }

  async putOrg(orgId: string, family: string, settings: FamilyDocument, ifVersion?: number): Promise<number> {
    return (await this.write(orgId, orgField(family), JSON.stringify(settings), ifVersion)).version;
  }

  async deleteOrg(orgId: string, family: string, ifVersion?: number): Promise<boolean> {
    return (await this.write(orgId, orgField(family), null, ifVersion)).written;
  }

  /** Every organization with a settings hash (a SCAN: for the CLI's import, not the request path). */
  async orgIds(): Promise<string[]> {
    const ids = new Set<string>();
    for (const pattern of ['portcullis:settings:{*}', 'portcullis:workspaces:{*}']) {
      for await (const keys of scanKeys(this.redis, pattern)) {
        for (const key of keys) ids.add(key.slice(key.indexOf('{') + 1, -1));
      }
    }
    return [...ids];
  }

  /** The workspaces of the organization with stored settings of any of the families (for the CLI's import). */
  async workspaceSettingsIds(orgId: string, families: readonly string[]): Promise<string[]> {
    const prefixes = families.map((family) => workspaceField('', family));
    const ids = new Set<string>();
    for (const field of await this.redis.hkeys(keyOf(orgId))) {
      const prefix = prefixes.find((p) => field.startsWith(p));
      if (prefix !== undefined) ids.add(field.slice(prefix.length));
    }
    return [...ids];
  }

  async putWorkspace(orgId: string, workspaceId: string, family: string, settings: SettingValues, ifVersion?: number): Promise<number> {
    return (await this.write(orgId, workspaceField(workspaceId, family), JSON.stringify(settings), ifVersion)).version;
  }

  async deleteWorkspace(orgId: string, workspaceId: string, family: string, ifVersion?: number): Promise<number | null> {
    const { written, version } = await this.write(orgId, workspaceField(workspaceId, family), null, ifVersion);
    return written ? version : null;
  }

  async workspaceOrg(workspaceId: string): Promise<string | null> {
    const cached = this.owners.get(workspaceId);
    if (cached && this.trusted(cached)) return cached.orgId;
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
      if (!cached || this.now() - cached.confirmedAt > this.options.maxStaleMs) throw error;
      return cached.orgId;
    }
  }

  // The claim (the workspace's slot) and the listing (the organization's slot) are two
  // keys in two slots, so no script can change both. The steps are ordered so that a
  // listing never names a workspace its organization does not hold: register claims, then
  // lists; unregister unlists, then releases. A crash (or a 503) between the two leaves the
  // workspace held but not listed — decisions are right, the listing lacks it — and
  // repeating the same request completes it (both are idempotent).

  async registerWorkspace(orgId: string, workspaceId: string): Promise<{ created: boolean }> {
    const owner = await this.durably(
      directoryKey(workspaceId),
      (redis, key) => redis.eval(CLAIM, 1, key, orgId, this.directoryMessage(workspaceId), CHANGES_CHANNEL) as Promise<string | null>,
    );
    if (owner !== null && owner !== orgId) throw new WorkspaceOwnedError(workspaceId);
    await this.durably(workspacesKey(orgId), (redis, key) => redis.eval(LIST, 1, key, 'add', this.directoryMessage(workspaceId), CHANGES_CHANNEL, workspaceId));
    return { created: owner === null };
  }

  async unregisterWorkspace(orgId: string, workspaceId: string): Promise<boolean> {
    await this.durably(workspacesKey(orgId), (redis, key) =>
      redis.eval(LIST, 1, key, 'remove', this.directoryMessage(workspaceId), CHANGES_CHANNEL, workspaceId),
    );
    const released = await this.durably(directoryKey(workspaceId), (redis, key) =>
      redis.eval(RELEASE, 1, key, orgId, this.directoryMessage(workspaceId), CHANGES_CHANNEL),
    );
    return Number(released) === 1;
  }

  async listWorkspaces(orgId: string, page: WorkspacePage): Promise<{ workspaces: string[]; next: string | null }> {
    const { prefix = '' } = page;
    // The ids with the prefix sort from the prefix itself up to the prefix followed by the
    // byte 0xff, which no UTF-8 id contains.
    const from = page.after !== undefined && page.after > prefix ? `(${page.after}` : prefix ? `[${prefix}` : '-';
    const to = prefix ? Buffer.concat([Buffer.from(`[${prefix}`), Buffer.from([0xff])]) : '+';
    const workspaces = await this.redis.zrangebylex(workspacesKey(orgId), from, to, 'LIMIT', 0, page.limit + 1);
    const more = workspaces.length > page.limit;
    if (more) workspaces.pop();
    return { workspaces, next: more ? workspaces.at(-1)! : null };
  }

  cacheSizes(): { orgs: number; workspaces: number; directory: number } {
    return { orgs: this.cache.size, workspaces: this.cache.calculatedSize - this.cache.size, directory: this.owners.size };
  }

  /** A PING within the command timeout: a paused or stalled Redis fails it. */
  async ping(): Promise<void> {
    await this.redis.ping();
  }

  /** Connected and hearing changes: only then is a cached answer as good as Redis's. */
  isReady(): boolean {
    return this.redis.status === 'ready' && this.subscribed;
  }

  async close(): Promise<void> {
    this.unwatchTopology();
    this.subscription.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private trusted(entry: Confirmed): boolean {
    return this.subscribed && entry.epoch === this.epoch && this.now() - entry.confirmedAt < this.options.revalidateAfterMs;
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
    const topology = this.topology;
    const askedAt = this.now();
    const families = this.options.familyNames();
    const [version, ...documents] = await this.redis.hmget(
      keyOf(orgId),
      'version',
      ...families.map(orgField),
      ...families.map((family) => workspaceField(workspaceId, family)),
    );
    const orgDocuments: Array<[string, FamilyDocument]> = [];
    families.forEach((family, i) => {
      const document = parseJson<FamilyDocument>(documents[i]);
      if (document) orgDocuments.push([family, document]);
    });
    const workspaceDocuments = families.map((_, i) => parseJson<SettingValues>(documents[families.length + i])).filter((document) => document !== null);
    const snapshot: SettingsSnapshot = { org: flattenOrg(orgDocuments), workspace: flattenWorkspace(workspaceDocuments), version: Number(version ?? 0) };
    // A change that arrived while the answer was on its way may be newer than the answer:
    // use the answer for this decision but do not keep it.
    if (this.changes === changesBefore) this.remember(orgId, workspaceId, snapshot, askedAt, epoch, topology);
    return snapshot;
  }

  private async lookUpOwner(workspaceId: string): Promise<string | null> {
    this.requireConnection();
    const changesBefore = this.changes;
    const epoch = this.currentEpoch();
    const askedAt = this.now();
    const orgId = await this.redis.get(directoryKey(workspaceId));
    if (this.changes === changesBefore) this.owners.set(workspaceId, { orgId, confirmedAt: askedAt, epoch });
    return orgId;
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

  /** Sets (value) or deletes (null) one field of the org hash with the WRITE script. */
  private async write(orgId: string, field: string, value: string | null, ifVersion?: number): Promise<{ written: boolean; version: number }> {
    // The message is published inside the script, so a committed write is always
    // announced; it names no version, and every instance drops the org.
    const [status, version] = await this.durably(keyOf(orgId), async (redis, key) => {
      const reply = (await redis.eval(
        WRITE,
        1,
        key,
        ifVersion === undefined ? '' : String(ifVersion),
        value === null ? 'del' : 'set',
        field,
        value ?? '',
        CHANGES_CHANNEL,
        JSON.stringify({ orgId }),
      )) as [number, number];
      // A version mismatch wrote nothing: no replica need confirm it.
      if (reply[0] === 0) throw new VersionMismatchError(reply[1]);
      return reply;
    });
    if (status === 1) this.cache.delete(orgId);
    return { written: status === 1, version };
  }

  /**
   * A write acknowledged only once the replicas confirmed it (writeDurably). When the
   * confirmation fails the write may stand all the same: the message its script published
   * still makes every instance, this one included, forget what it touched.
   */
  private durably<T>(key: string, write: (redis: Redis, key: string) => Promise<T>): Promise<T> {
    return writeDurably(this.redis, key, this.options.minReplicasAck, this.options.waitTimeoutMs, (redis) => write(redis, key));
  }

  private directoryMessage(workspaceId: string): string {
    this.owners.delete(workspaceId);
    return JSON.stringify({ workspaceId });
  }

  private remember(orgId: string, workspaceId: string, snapshot: SettingsSnapshot, confirmedAt: number, epoch: number, topology: number): void {
    const cached = this.cache.get(orgId);
    if (cached && cached.version === snapshot.version && cached.topology === topology) {
      cached.workspaces.set(workspaceId, snapshot.workspace);
      cached.confirmedAt = Math.max(cached.confirmedAt, confirmedAt);
      cached.epoch = epoch;
      this.cache.set(orgId, cached); // its size changed
      return;
    }
    if (cached && cached.version > snapshot.version && cached.topology === topology) return;
    const workspaces = new LRUCache<string, WorkspaceSettings>({ max: Math.max(1, Math.min(this.options.maxWorkspacesPerOrg, this.options.maxWorkspaces)) });
    workspaces.set(workspaceId, snapshot.workspace);
    this.cache.set(orgId, { org: snapshot.org, version: snapshot.version, workspaces, confirmedAt, epoch, topology });
  }

  private onSubscribed(): void {
    this.subscribed = true;
    this.report();
  }

  /** The subscription broke: a message may be lost from now until it is back. */
  private onBreak(): void {
    if (this.subscribed) this.epoch++;
    this.subscribed = false;
    this.changes++;
    // The connection may have broken because Redis restarted with less than it had: its
    // version numbers may now name other settings, so a version check cannot vouch for them.
    this.topology++;
    this.report();
  }

  /** A failover, a resharding or a lost node: treated as a break, and cached entries are fetched again whole. */
  private onTopologyChange(): void {
    this.epoch++;
    this.topology++;
    this.changes++;
  }

  private onChange(message: string): void {
    this.changes++;
    const change = parseJson<{ orgId?: unknown; workspaceId?: unknown }>(message);
    if (typeof change?.workspaceId === 'string') this.owners.delete(change.workspaceId);
    if (typeof change?.orgId !== 'string') return;
    this.cache.delete(change.orgId);
    this.inFlight.delete(change.orgId);
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
