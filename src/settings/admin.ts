// What an administrator reads and writes: the stored settings documents and the workspace
// directory, straight from Redis (no cache). The settings API goes through it (by way of the
// store, which forgets what it wrote) and the command line uses it alone: a command reads
// each thing once and needs neither a cache nor the change channel.
//
// Durability: an admin write is acknowledged only after WAIT confirmed it on
// `minReplicasAck` replicas of the master that took it; else ReplicationUnconfirmedError.
import type { Redis } from 'ioredis';
import { connectRedis, openRedis, scanKeys, type RedisClient } from '../redis/clients.ts';
import { writeDurably } from '../redis/durable.ts';
import type { RedisConnectionOptions } from '../redis/options.ts';
import type { ReplicaRequirement } from '../config.ts';
import { CHANGES_CHANNEL, orgChanged } from './changes.ts';
import { RedisDirectory } from './directory.ts';
import { ORG_KEY_PATTERNS, orgField, parseStored, settingsKey, workspaceField, WRITE } from './keys.ts';
import {
  VersionMismatchError,
  type FamilyDocument,
  type SettingsAdmin,
  type SettingsInventory,
  type SettingValues,
  type Versioned,
  type WorkspaceDirectory,
  type WorkspacePage,
} from './types.ts';

export interface DurabilityOptions {
  /** Replicas an admin write must reach before it is acknowledged (WAIT). */
  minReplicasAck: ReplicaRequirement;
  waitTimeoutMs: number;
}

/** A cache in front of this instance's writes: what it must forget (the change message tells every other instance). */
export interface LocalCache {
  /** After a write that changed the organization's settings. */
  forgetOrg(orgId: string): void;
  /** Before each write of the workspace's directory entry. */
  forgetOwner(workspaceId: string): void;
}

const NO_CACHE: LocalCache = { forgetOrg: () => undefined, forgetOwner: () => undefined };

export class RedisSettingsAdmin implements SettingsAdmin, WorkspaceDirectory, SettingsInventory {
  private readonly directory: RedisDirectory;

  constructor(
    readonly redis: RedisClient,
    private readonly options: DurabilityOptions,
    private readonly local: LocalCache = NO_CACHE,
  ) {
    this.directory = new RedisDirectory(
      redis,
      (key, write) => this.durably(key, write),
      (workspaceId) => local.forgetOwner(workspaceId),
    );
  }

  /** Connected to the Redis of `connection`; rejects when it cannot connect. */
  static async connect(connection: RedisConnectionOptions, options: DurabilityOptions): Promise<RedisSettingsAdmin> {
    // Fail fast while disconnected, as the sidecar's store does.
    const redis = openRedis(connection, { offlineQueue: false });
    redis.on('error', () => undefined);
    try {
      await connectRedis(redis);
    } catch (error) {
      redis.disconnect();
      throw error;
    }
    return new RedisSettingsAdmin(redis, options);
  }

  async readOrg(orgId: string, family: string): Promise<Versioned<FamilyDocument>> {
    const [org, version] = await this.redis.hmget(settingsKey(orgId), orgField(family), 'version');
    return { settings: parseStored(org), version: Number(version ?? 0) };
  }

  async readWorkspace(orgId: string, workspaceId: string, family: string): Promise<Versioned<SettingValues>> {
    const [workspace, version] = await this.redis.hmget(settingsKey(orgId), workspaceField(workspaceId, family), 'version');
    return { settings: parseStored(workspace), version: Number(version ?? 0) };
  }

  async putOrg(orgId: string, family: string, settings: FamilyDocument, ifVersion?: number): Promise<number> {
    return (await this.write(orgId, orgField(family), JSON.stringify(settings), ifVersion)).version;
  }

  async deleteOrg(orgId: string, family: string, ifVersion?: number): Promise<boolean> {
    return (await this.write(orgId, orgField(family), null, ifVersion)).written;
  }

  async putWorkspace(orgId: string, workspaceId: string, family: string, settings: SettingValues, ifVersion?: number): Promise<number> {
    return (await this.write(orgId, workspaceField(workspaceId, family), JSON.stringify(settings), ifVersion)).version;
  }

  async deleteWorkspace(orgId: string, workspaceId: string, family: string, ifVersion?: number): Promise<number | null> {
    const { written, version } = await this.write(orgId, workspaceField(workspaceId, family), null, ifVersion);
    return written ? version : null;
  }

  /** Every organization with a settings hash or a listing (a SCAN: for the command line, not the request path). */
  async orgIds(): Promise<string[]> {
    const ids = new Set<string>();
    for (const pattern of ORG_KEY_PATTERNS) {
      for await (const keys of scanKeys(this.redis, pattern)) {
        for (const key of keys) ids.add(key.slice(key.indexOf('{') + 1, -1));
      }
    }
    return [...ids];
  }

  /** The workspaces of the organization with stored settings of any of the families (for the command line). */
  async workspaceSettingsIds(orgId: string, families: readonly string[]): Promise<string[]> {
    const prefixes = families.map((family) => workspaceField('', family));
    const ids = new Set<string>();
    for (const field of await this.redis.hkeys(settingsKey(orgId))) {
      const prefix = prefixes.find((p) => field.startsWith(p));
      if (prefix !== undefined) ids.add(field.slice(prefix.length));
    }
    return [...ids];
  }

  /** The organization of a workspace as Redis holds it now (uncached). */
  workspaceOrg(workspaceId: string): Promise<string | null> {
    return this.directory.lookUp(workspaceId);
  }

  registerWorkspace(orgId: string, workspaceId: string): Promise<{ created: boolean }> {
    return this.directory.register(orgId, workspaceId);
  }

  unregisterWorkspace(orgId: string, workspaceId: string): Promise<boolean> {
    return this.directory.unregister(orgId, workspaceId);
  }

  listWorkspaces(orgId: string, page: WorkspacePage): Promise<{ workspaces: string[]; next: string | null }> {
    return this.directory.list(orgId, page);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** Sets (value) or deletes (null) one field of the org hash with the WRITE script. */
  private async write(orgId: string, field: string, value: string | null, ifVersion?: number): Promise<{ written: boolean; version: number }> {
    // The message is published inside the script, so a committed write is always
    // announced; it names no version, and every instance drops the org.
    const [status, version] = await this.durably(settingsKey(orgId), async (redis, key) => {
      const reply = (await redis.eval(
        WRITE,
        1,
        key,
        ifVersion === undefined ? '' : String(ifVersion),
        value === null ? 'del' : 'set',
        field,
        value ?? '',
        CHANGES_CHANNEL,
        orgChanged(orgId),
      )) as [number, number];
      // A version mismatch wrote nothing: no replica need confirm it.
      if (reply[0] === 0) throw new VersionMismatchError(reply[1]);
      return reply;
    });
    if (status === 1) this.local.forgetOrg(orgId);
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
}
