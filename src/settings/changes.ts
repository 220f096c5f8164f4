// The change messages: how every instance hears that the settings or the directory changed.
//
// One classic pub/sub channel, portcullis:settings:changed. The scripts that write publish
// on it themselves (keys.ts), so a committed write is always announced; a message names
// what to forget — {"orgId"} (an organization's settings) or {"workspaceId"} (a directory
// entry) — and no version, so every instance drops what it named. A cluster broadcasts a
// classic channel to every node, so an instance listens on any one node (Subscription).
// Another cache that must forget on a write publishes its own field on the same channel and
// listens here; a listener ignores the fields it does not know.
import { watchTopology, type RedisClient } from '../redis/clients.ts';
import type { RedisConnectionOptions } from '../redis/options.ts';
import { Subscription } from '../redis/subscription.ts';
import { isJsonObject } from '../json.ts';

export const CHANGES_CHANNEL = 'portcullis:settings:changed';

/** What a change message names (a field of another type, or absent, is left out). */
export interface Change {
  orgId?: string;
  workspaceId?: string;
}

/** The message that makes every instance forget an organization's settings. */
export const orgChanged = (orgId: string): string => JSON.stringify({ orgId });
/** The message that makes every instance forget a workspace's directory entry. */
export const workspaceChanged = (workspaceId: string): string => JSON.stringify({ workspaceId });

/** A message as heard; {} when it is not a JSON object. */
export function readChange(text: string): Change {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return {};
  }
  if (!isJsonObject(message)) return {};
  const change: Change = {};
  if (typeof message.orgId === 'string') change.orgId = message.orgId;
  if (typeof message.workspaceId === 'string') change.workspaceId = message.workspaceId;
  return change;
}

export interface ChangeEvents {
  /** A message arrived (every message, whatever it names). */
  change(change: Change): void;
  /** Subscribed: from now on every message published is heard. */
  up(): void;
  /** The subscription broke: messages published from now until the next up() are lost. */
  down(): void;
  /** The cluster's topology changed (a failover, a resharding, a lost node): a message may have been lost. */
  topology(): void;
}

/** Hears the change channel, and tells when what it heard can no longer be relied on. */
export class ChangeListener {
  private readonly subscription: Subscription;
  private readonly unwatchTopology: () => void;

  constructor(redis: RedisClient, connection: RedisConnectionOptions, events: ChangeEvents) {
    this.subscription = new Subscription(redis, connection, CHANGES_CHANNEL, {
      message: (text) => events.change(readChange(text)),
      up: () => events.up(),
      down: () => events.down(),
    });
    this.unwatchTopology = watchTopology(redis, () => events.topology());
  }

  /** The first subscription (connect the client first: on a cluster it picks one of its nodes); rejects when it cannot be made. */
  start(): Promise<void> {
    return this.subscription.start();
  }

  close(): void {
    this.unwatchTopology();
    this.subscription.close();
  }
}
