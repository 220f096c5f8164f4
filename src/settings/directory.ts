// The workspace directory in Redis: which organization holds a workspace (a claim in the
// workspace's slot) and the organization's listing of its workspaces (in the
// organization's slot). Every write is durable (as admin.ts's) and announced by its script.
//
// The claim and the listing are two keys in two slots, so no script can change both. The
// steps are ordered so that a listing never names a workspace its organization does not
// hold: register claims, then lists; unregister unlists, then releases. A crash (or a 503)
// between the two leaves the workspace held but not listed — decisions are right, the
// listing lacks it — and repeating the same request completes it (both are idempotent).
import type { Redis } from 'ioredis';
import type { RedisClient } from '../redis/clients.ts';
import { CHANGES_CHANNEL, workspaceChanged } from './changes.ts';
import { CLAIM, directoryKey, LIST, RELEASE, workspacesKey } from './keys.ts';
import { WorkspaceOwnedError, type WorkspacePage } from './types.ts';

/** Makes one write to key's slot durably (admin.ts). */
export type DurableWrite = <T>(key: string, write: (redis: Redis, key: string) => Promise<T>) => Promise<T>;

export class RedisDirectory {
  constructor(
    private readonly redis: RedisClient,
    private readonly durably: DurableWrite,
    /** Told before each write of a workspace's entry, so that this instance's cache forgets it. */
    private readonly writing: (workspaceId: string) => void,
  ) {}

  /** The organization holding the workspace, as Redis says now (no cache). */
  lookUp(workspaceId: string): Promise<string | null> {
    return this.redis.get(directoryKey(workspaceId));
  }

  async register(orgId: string, workspaceId: string): Promise<{ created: boolean }> {
    const owner = await this.durably(
      directoryKey(workspaceId),
      (redis, key) => redis.eval(CLAIM, 1, key, orgId, this.message(workspaceId), CHANGES_CHANNEL) as Promise<string | null>,
    );
    if (owner !== null && owner !== orgId) throw new WorkspaceOwnedError(workspaceId);
    await this.durably(workspacesKey(orgId), (redis, key) => redis.eval(LIST, 1, key, 'add', this.message(workspaceId), CHANGES_CHANNEL, workspaceId));
    return { created: owner === null };
  }

  async unregister(orgId: string, workspaceId: string): Promise<boolean> {
    await this.durably(workspacesKey(orgId), (redis, key) => redis.eval(LIST, 1, key, 'remove', this.message(workspaceId), CHANGES_CHANNEL, workspaceId));
    const released = await this.durably(directoryKey(workspaceId), (redis, key) =>
      redis.eval(RELEASE, 1, key, orgId, this.message(workspaceId), CHANGES_CHANNEL),
    );
    return Number(released) === 1;
  }

  async list(orgId: string, page: WorkspacePage): Promise<{ workspaces: string[]; next: string | null }> {
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

  private message(workspaceId: string): string {
    this.writing(workspaceId);
    return workspaceChanged(workspaceId);
  }
}
