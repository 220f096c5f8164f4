// Durable writes: a write made on the connection to the master that owns its key's slot,
// then WAIT on that same connection until enough replicas confirm it.
import calculateSlot from 'cluster-key-slot';
import { Cluster, Command, type Redis } from 'ioredis';
import type { ReplicaRequirement } from '../config.ts';
import type { RedisClient } from './clients.ts';

/**
 * The connection to the master that owns key's slot (the client itself on one node).
 * Throws "Cluster isn't ready" (a 503 at the HTTP edge) while the slot has no known master.
 */
export function masterConnection(client: RedisClient, key: string): Redis {
  if (!(client instanceof Cluster)) return client;
  const slot = calculateSlot(key);
  const owner = client.slots[slot]?.[0];
  const node = owner === undefined ? undefined : client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
  if (!node || node.status === 'end') {
    // Its master is gone (a failover): ask the cluster who serves the slot now, for the next attempt.
    client.refreshSlotsCache();
    throw new Error(`Cluster isn't ready: no live master is known for slot ${slot}`);
  }
  return node;
}

/** A write that Redis did not confirm on enough replicas in time: it may or may not survive a failover. */
export class ReplicationUnconfirmedError extends Error {
  override name = 'ReplicationUnconfirmedError';

  constructor(
    readonly wanted: number,
    readonly confirmed: number,
    readonly timeoutMs: number,
  ) {
    super(`the write reached ${confirmed} of the ${wanted} replica(s) it must reach within ${timeoutMs} ms`);
  }
}

/** One node's replica count, asked at most every few seconds (ROLE) rather than on every write. */
const ROLE_TTL_MS = 5_000;
const knownReplicas = new WeakMap<Redis, { replicas: number; at: number }>();

/** The number of replicas a write to key's slot must reach under `requirement`. */
export async function replicasRequired(client: RedisClient, key: string, requirement: ReplicaRequirement): Promise<number> {
  if (requirement !== 'auto') return requirement;
  if (client instanceof Cluster) return (client.slots[calculateSlot(key)]?.length ?? 1) > 1 ? 1 : 0;
  const known = knownReplicas.get(client);
  if (known && Date.now() - known.at < ROLE_TTL_MS) return known.replicas > 0 ? 1 : 0;
  const role = (await client.call('ROLE')) as [string, number, unknown[]?];
  const replicas = role[0] === 'master' ? (role[2]?.length ?? 0) : 0;
  knownReplicas.set(client, { replicas, at: Date.now() });
  return replicas > 0 ? 1 : 0;
}

/**
 * WAIT on `connection` (the one the write went through: WAIT confirms that connection's
 * writes) until `replicas` replicas have them; throws ReplicationUnconfirmedError when
 * fewer confirm within `timeoutMs` or the connection fails before answering.
 */
export async function waitOn(connection: Redis, replicas: number, timeoutMs: number): Promise<number> {
  if (replicas <= 0) return 0;
  const command = new Command('WAIT', [String(replicas), String(timeoutMs)], { replyEncoding: 'utf8' });
  // WAIT blocks up to timeoutMs by design: its own deadline, not the (shorter) command timeout.
  command.setTimeout(timeoutMs + 1_000);
  let confirmed: number;
  try {
    confirmed = Number(await connection.sendCommand(command));
  } catch {
    throw new ReplicationUnconfirmedError(replicas, 0, timeoutMs);
  }
  if (confirmed < replicas) throw new ReplicationUnconfirmedError(replicas, confirmed, timeoutMs);
  return confirmed;
}

/**
 * Makes a write on the connection to the master that owns key's slot, following a MOVED or
 * ASK reply there (a failover or a resharding in progress), then WAITs on that same
 * connection for `requirement` replicas: the write is acknowledged only once it would
 * survive the loss of its master. `write` sends one command (or script) on the connection
 * it is given, and should always change something (a script that has nothing to change
 * can PUBLISH), so that WAIT confirms everything the master held before it.
 */
export async function writeDurably<T>(
  client: RedisClient,
  key: string,
  requirement: ReplicaRequirement,
  timeoutMs: number,
  write: (connection: Redis) => Promise<T>,
): Promise<T> {
  try {
    return await writeOnMaster(client, key, requirement, timeoutMs, write);
  } catch (error) {
    // A dead master or a lost connection: the slot map is out of date until refreshed
    // (ioredis refreshes it only for the commands it routes itself).
    if (client instanceof Cluster && !isReplyError(error)) client.refreshSlotsCache();
    throw error;
  }
}

/** Errors Redis answered (a script's, a version check's) say nothing about the topology. */
function isReplyError(error: unknown): boolean {
  return (error as Error)?.name === 'ReplyError' && !/^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN|READONLY|MASTERDOWN)\b/.test((error as Error).message);
}

async function writeOnMaster<T>(
  client: RedisClient,
  key: string,
  requirement: ReplicaRequirement,
  timeoutMs: number,
  write: (connection: Redis) => Promise<T>,
): Promise<T> {
  const replicas = await replicasRequired(client, key, requirement);
  let connection = masterConnection(client, key);
  let asking = false;
  for (let redirects = 0; ; redirects++) {
    let result: T;
    try {
      // ASKING applies to the next command on the connection: sent in the same tick, so nothing comes between.
      if (asking) connection.asking().catch(() => undefined);
      result = await write(connection);
    } catch (error) {
      const redirect = /^(MOVED|ASK) \d+ (\S+)$/.exec((error as Error).message);
      if (!redirect || redirects >= 3 || !(client instanceof Cluster)) throw error;
      if (redirect[1] === 'MOVED') await new Promise<void>((resolve) => client.refreshSlotsCache(() => resolve()));
      connection = nodeAt(client, redirect[2]!);
      asking = redirect[1] === 'ASK';
      continue;
    }
    await waitOn(connection, replicas, timeoutMs);
    return result;
  }
}

function nodeAt(cluster: Cluster, address: string): Redis {
  const node = cluster.nodes('all').find((n) => `${n.options.host}:${n.options.port}` === address);
  if (!node) throw new Error(`Cluster isn't ready: node ${address} is not known yet`);
  return node;
}
