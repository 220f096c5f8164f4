// The clients every Redis user (settings store, audit log, CLI) opens: one node or a
// cluster, connected the same way; walking every master's keys; and noticing a change of
// the cluster's topology.
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { hostAndPort, nodeOptions, reconnectDelay, type RedisConnectionOptions } from './options.ts';

export type RedisClient = Redis | Cluster;

export interface OpenOptions {
  /**
   * Queue commands while disconnected (true) or fail them at once (false, the default: a
   * decision must not wait on a queue for Redis to return).
   */
  offlineQueue?: boolean;
}

/** A client for the configured Redis, not yet connected (call connect()). */
export function openRedis(options: RedisConnectionOptions, open: OpenOptions = {}): RedisClient {
  const enableOfflineQueue = open.offlineQueue ?? false;
  if (options.clusterNodes) {
    const clusterOptions: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue,
      redisOptions: nodeOptions(options),
      clusterRetryStrategy: (attempt) => reconnectDelay(attempt, options.reconnectMaxMs),
      // A failover's MOVED and "connection closed" are retried after the cluster had a
      // moment to elect; the command timeout still bounds a decision's wait.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 100,
    };
    const cluster = new Cluster(options.clusterNodes.map(hostAndPort), clusterOptions);
    // ioredis refreshes its slot map only when a command it routed meets MOVED or a dead
    // node; writes sent straight to a master (writeDurably) do not, so refresh now and then
    // too (also what lets watchTopology see a failover no routed command met). Our own
    // unref'd timer, not slotsRefreshInterval: ioredis re-arms that one when a refresh in
    // flight ends after quit(), and the process then never exits.
    const refresher = setInterval(() => {
      if (cluster.status === 'ready') cluster.refreshSlotsCache();
    }, SLOTS_REFRESH_MS).unref();
    cluster.once('end', () => clearInterval(refresher));
    return cluster;
  }
  return new Redis(options.url!, {
    ...nodeOptions(options),
    lazyConnect: true,
    enableOfflineQueue,
    retryStrategy: (attempt) => reconnectDelay(attempt, options.reconnectMaxMs),
  });
}

const SLOTS_REFRESH_MS = 2_000;

/**
 * Connects a client from openRedis: resolves once it is ready, rejects when it cannot
 * connect. Not Cluster.connect() alone: when the cluster's ready check fails (CLUSTER INFO
 * slower than the command timeout on a busy machine) ioredis reconnects on its own and the
 * promise connect() returned is never settled; its 'ready' event still comes.
 */
export function connectRedis(client: RedisClient): Promise<void> {
  if (!(client instanceof Cluster)) return client.connect();
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      client.off('ready', onReady);
      client.off('end', onEnd);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => settle();
    const onEnd = () => settle(new Error('None of startup nodes is available'));
    client.once('ready', onReady);
    client.once('end', onEnd);
    client.connect().catch((error: Error) => settle(error));
  });
}

/** Every key matching `pattern`, on every master (SCAN: for the CLI, never the request path). */
export async function* scanKeys(client: RedisClient, pattern: string): AsyncGenerator<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    yield* node.scanStream({ match: pattern, count: 500 }) as AsyncIterable<string[]>;
  }
}

/**
 * Calls `onChange` when the cluster's slot owners change (a failover, a resharding) or a
 * node connection is lost (a node restart): what the instance learned through the old
 * topology may have missed a message, or come from a master whose last writes were lost.
 * One node has no topology: its connection's own close says the same. Returns the unwatch.
 */
export function watchTopology(client: RedisClient, onChange: () => void): () => void {
  if (!(client instanceof Cluster)) return () => undefined;
  const owners = () => client.slots.map((nodes) => nodes?.[0] ?? '').join(',');
  let last = owners();
  const onRefresh = () => {
    const now = owners();
    if (now === last) return;
    last = now;
    onChange();
  };
  const onNodeLost = () => onChange();
  client.on('refresh', onRefresh);
  client.on('-node', onNodeLost);
  return () => {
    client.off('refresh', onRefresh);
    client.off('-node', onNodeLost);
  };
}
