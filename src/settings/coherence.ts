// The cache-coherence protocol of the settings store: when a cached answer may be used
// without a round trip, when it must be checked or fetched again, when it may stand in for
// Redis, and what a change message or a broken subscription makes it forget. Pure: it asks
// nothing of Redis and keeps no timers; the store (redis.ts) reads Redis and tells it what
// it heard, and the clock is passed in.
//
// One entry per organization (LRU, bounded by `maxOrgs`) holding the org's settings, its
// version and the workspaces fetched so far (LRU within the organization, bounded by
// `maxWorkspacesPerOrg`; all organizations' workspaces together bounded by
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
// write whose version number a later write reuses for other settings. Directory answers
// (known and unknown workspaces) are cached under the same rules, bounded by `maxDirectory`.
//
// Outage: when Redis cannot be asked, an entry confirmed less than `maxStaleMs` ago may
// still be served; anything older may not.
import { LRUCache } from 'lru-cache';
import type { Change } from './changes.ts';
import type { OrgSettings, SettingsSnapshot, WorkspaceSettings } from './types.ts';

/** The subscription was not up when the entry was confirmed: never trusted without a check. */
const UNSUBSCRIBED = -1;

interface Confirmed {
  /** When Redis last said this is current. */
  confirmedAt: number;
  /** The subscription epoch at confirmation; a later epoch means messages may have been lost. */
  epoch: number;
}

export interface CachedOrg extends Confirmed {
  /** The generation (topology changes and subscription breaks) at confirmation; after either the entry is fetched again whole. */
  topology: number;
  org: OrgSettings;
  version: number;
  workspaces: LRUCache<string, WorkspaceSettings>;
}

export interface CachedOwner extends Confirmed {
  /** null: the directory does not know the workspace. */
  orgId: string | null;
}

/** The protocol's state when a read of Redis left, for judging its answer when it comes. */
export interface ReadTicket {
  askedAt: number;
  epoch: number;
  topology: number;
  changes: number;
}

/**
 * What a cached snapshot needs before it is used: nothing (`trusted`), a check of the
 * organization's version (`version`), or a fetch of the whole entry (`whole`: the version
 * alone cannot tell, a lost write's version number may have been reused).
 */
export type Check = 'trusted' | 'version' | 'whole';

export interface CoherenceOptions {
  maxOrgs: number;
  /** (organization, workspace) entries across all organizations. */
  maxWorkspaces: number;
  maxWorkspacesPerOrg: number;
  /** Workspace -> organization answers. */
  maxDirectory: number;
  revalidateAfterMs: number;
  maxStaleMs: number;
  now: () => number;
}

export class CacheCoherence {
  private readonly cache: LRUCache<string, CachedOrg>;
  private readonly owners: LRUCache<string, CachedOwner>;
  private subscribed = false;
  private epoch = 0;
  private topology = 0;
  /** Counts change messages and subscription breaks; a read that overlapped one is not cached. */
  private changes = 0;
  /** The family names the cached snapshots were read with. */
  private cachedFamilies: readonly string[] | undefined;

  constructor(private readonly options: CoherenceOptions) {
    // An organization counts as 1 + its cached workspaces against maxWorkspaces; its size
    // is recomputed when it is stored again after a workspace was added (remember()).
    this.cache = new LRUCache({
      max: Math.max(1, options.maxOrgs),
      maxSize: Math.max(2, options.maxWorkspaces + 1),
      sizeCalculation: (entry) => 1 + entry.workspaces.size,
    });
    this.owners = new LRUCache({ max: Math.max(1, options.maxDirectory) });
  }

  /** Subscribed, and hearing every change since. */
  get listening(): boolean {
    return this.subscribed;
  }

  /** The cached version of the organization, if any. */
  version(orgId: string): number | undefined {
    return this.cache.get(orgId)?.version;
  }

  /** The family names snapshots are read with now: a new array (a bundle with other families) drops the cache, whose snapshots lack the new fields. */
  useFamilies(families: readonly string[]): void {
    if (families === this.cachedFamilies) return;
    this.cache.clear();
    this.cachedFamilies = families;
  }

  /** The cached snapshot of (org, workspace) and what it needs before it is used; undefined when none is cached. */
  lookup(orgId: string, workspaceId: string): { entry: CachedOrg; snapshot: SettingsSnapshot; check: Check } | undefined {
    const entry = this.cache.get(orgId);
    const workspace = entry?.workspaces.get(workspaceId);
    if (!entry || !workspace) return undefined;
    const check: Check = this.trusted(entry) ? 'trusted' : entry.topology !== this.topology ? 'whole' : 'version';
    return { entry, snapshot: { org: entry.org, workspace, version: entry.version }, check };
  }

  /** The cached directory answer for the workspace, and whether it may be used without a round trip. */
  owner(workspaceId: string): { entry: CachedOwner; trusted: boolean } | undefined {
    const entry = this.owners.get(workspaceId);
    return entry && { entry, trusted: this.trusted(entry) };
  }

  /** Taken just before a read of Redis leaves. */
  ticket(): ReadTicket {
    return { askedAt: this.options.now(), epoch: this.subscribed ? this.epoch : UNSUBSCRIBED, topology: this.topology, changes: this.changes };
  }

  /** Redis answered a version check for the entry: true (and the entry confirmed as of the ticket) when it still holds the cached version. */
  confirm(entry: CachedOrg, ticket: ReadTicket, version: number): boolean {
    if (version !== entry.version) return false;
    entry.confirmedAt = ticket.askedAt;
    entry.epoch = ticket.epoch;
    return true;
  }

  /**
   * Keeps a snapshot Redis answered, unless a change message or a break arrived while the
   * answer was on its way (it may be older than the change: used for its decision, not kept).
   */
  remember(orgId: string, workspaceId: string, snapshot: SettingsSnapshot, ticket: ReadTicket): void {
    if (this.changes !== ticket.changes) return;
    const { askedAt: confirmedAt, epoch, topology } = ticket;
    const cached = this.cache.get(orgId);
    if (cached && cached.version === snapshot.version && cached.topology === topology) {
      cached.workspaces.set(workspaceId, snapshot.workspace);
      cached.confirmedAt = Math.max(cached.confirmedAt, confirmedAt);
      cached.epoch = epoch;
      // Its size changed; the cache computes a size only for a value it does not hold already.
      this.cache.delete(orgId);
      this.cache.set(orgId, cached);
      return;
    }
    if (cached && cached.version > snapshot.version && cached.topology === topology) return;
    const workspaces = new LRUCache<string, WorkspaceSettings>({ max: Math.max(1, Math.min(this.options.maxWorkspacesPerOrg, this.options.maxWorkspaces)) });
    workspaces.set(workspaceId, snapshot.workspace);
    this.cache.set(orgId, { org: snapshot.org, version: snapshot.version, workspaces, confirmedAt, epoch, topology });
  }

  /** Keeps a directory answer Redis gave, under the same rule as remember(). */
  rememberOwner(workspaceId: string, orgId: string | null, ticket: ReadTicket): void {
    if (this.changes === ticket.changes) this.owners.set(workspaceId, { orgId, confirmedAt: ticket.askedAt, epoch: ticket.epoch });
  }

  /** True while the entry may stand in for a Redis that cannot be asked. */
  servableStale(entry: Confirmed): boolean {
    return this.options.now() - entry.confirmedAt <= this.options.maxStaleMs;
  }

  /** This instance wrote the organization's settings. */
  forgetOrg(orgId: string): void {
    this.cache.delete(orgId);
  }

  /** This instance is writing the workspace's directory entry. */
  forgetOwner(workspaceId: string): void {
    this.owners.delete(workspaceId);
  }

  /** A change message arrived. */
  onChange(change: Change): void {
    this.changes++;
    if (change.workspaceId !== undefined) this.owners.delete(change.workspaceId);
    if (change.orgId !== undefined) this.cache.delete(change.orgId);
  }

  onSubscribed(): void {
    this.subscribed = true;
  }

  /** The subscription broke: a message may be lost from now until it is back. */
  onBreak(): void {
    if (this.subscribed) this.epoch++;
    this.subscribed = false;
    this.changes++;
    // The connection may have broken because Redis restarted with less than it had: its
    // version numbers may now name other settings, so a version check cannot vouch for them.
    this.topology++;
  }

  /** A failover, a resharding or a lost node: treated as a break, and cached entries are fetched again whole. */
  onTopologyChange(): void {
    this.epoch++;
    this.topology++;
    this.changes++;
  }

  sizes(): { orgs: number; workspaces: number; directory: number } {
    return { orgs: this.cache.size, workspaces: this.cache.calculatedSize - this.cache.size, directory: this.owners.size };
  }

  private trusted(entry: Confirmed): boolean {
    return this.subscribed && entry.epoch === this.epoch && this.options.now() - entry.confirmedAt < this.options.revalidateAfterMs;
  }
}
