// How every Redis user (settings store, audit log, CLI) reaches Redis: one node (REDIS_URL)
// or a Redis Cluster (REDIS_CLUSTER_NODES), with the same ACL user and TLS either way; how
// an instance hears change messages (one subscriber connection, moved to another node when
// its node dies); how it notices a topology change; and how a write is made durable
// (WAIT on the connection to the master that owns the key's slot).
import { readFileSync } from 'node:fs';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Command, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseClusterNodes, withoutPassword, type Config, type ReplicaRequirement } from '../config.ts';

export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  /** One node: redis:// or rediss:// (TLS). */
  url?: string;
  /** A cluster: seed nodes, "host:port". Exactly one of url and clusterNodes. */
  clusterNodes?: string[];
  /** ACL user; a username or password in the URL wins. */
  username?: string;
  password?: string;
  /** TLS without a rediss:// URL (a cluster has no URL). */
  tls?: boolean;
  /** PEM file of the CA that signed the servers' certificates (implies TLS). */
  tlsCaFile?: string;
  commandTimeoutMs: number;
  reconnectMaxMs: number;
}

/** The Redis a configuration names, or undefined when it names none (the in-memory stores). */
export function redisConnectionOptions(config: Config): RedisConnectionOptions | undefined {
  if (!config.redisUrl && !config.redisClusterNodes) return undefined;
  return {
    ...(config.redisUrl ? { url: config.redisUrl } : { clusterNodes: parseClusterNodes(config.redisClusterNodes) }),
    ...(config.redisUsername ? { username: config.redisUsername } : {}),
    ...(config.redisPassword ? { password: config.redisPassword } : {}),
    tls: config.redisTls,
    ...(config.redisTlsCaFile ? { tlsCaFile: config.redisTlsCaFile } : {}),
    commandTimeoutMs: config.redisCommandTimeoutMs,
    reconnectMaxMs: config.redisReconnectMaxMs,
  };
}

/** What a printed or logged description of the connection may say: no password. */
export function describeRedis(options: RedisConnectionOptions): string {
  if (options.clusterNodes) return `the Redis Cluster at ${options.clusterNodes.join(',')}`;
  return `Redis at ${withoutPassword(options.url!)}`;
}

/** Exponential backoff from 50 ms with jitter, so a fleet of sidecars does not reconnect in step. */
export function reconnectDelay(attempt: number, maxMs: number): number {
  return Math.round(Math.min(50 * 2 ** Math.min(attempt, 16), maxMs) * (0.5 + Math.random() / 2));
}

/** Options every connection to a node shares: ACL user, TLS, the command timeout. */
function nodeOptions(options: RedisConnectionOptions): RedisOptions {
  const tls = options.tlsCaFile ? { ca: readFileSync(options.tlsCaFile) } : options.tls || options.url?.startsWith('rediss://') ? {} : undefined;
  return {
    ...(options.username ? { username: options.username } : {}),
    ...(options.password ? { password: options.password } : {}),
    ...(tls ? { tls } : {}),
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: 1,
  };
}

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

function hostAndPort(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':');
  return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
}

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
 * WAIT, routed to the master that owns key's slot, for the writes made through that
 * master's connection (on a cluster, the commands the client routed to that slot).
 */
export async function waitForReplicas(client: RedisClient, key: string, replicas: number, timeoutMs: number): Promise<number> {
  return waitOn(masterConnection(client, key), replicas, timeoutMs);
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

export interface SubscriptionEvents {
  message(text: string): void;
  /** Subscribed: from now on every message published is heard. */
  up(): void;
  /** The subscription broke: messages published from now until the next up() are lost. */
  down(): void;
}

/**
 * One subscriber connection to a classic pub/sub channel. On one node: that node. On a
 * cluster: any node, since PUBLISH is broadcast to every node of the cluster; when its node
 * fails the next known node is tried (with backoff), so a dead master does not keep the
 * instance deaf until it returns. ioredis's own resubscription is not used: it leaves its
 * failure unhandled, and it does not tell when the subscription was down.
 */
export class Subscription {
  private connection: Redis | undefined;
  private attempt = 0;
  private subscribed = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly options: RedisConnectionOptions,
    private readonly channel: string,
    private readonly events: SubscriptionEvents,
  ) {}

  get up(): boolean {
    return this.subscribed;
  }

  /** The first subscription; rejects (and stops) when it cannot be made. */
  async start(): Promise<void> {
    try {
      await this.subscribeOnce();
    } catch (error) {
      this.close();
      throw error;
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.connection?.disconnect();
  }

  private async subscribeOnce(): Promise<void> {
    const connection = this.connect();
    try {
      await connection.connect();
      await connection.subscribe(this.channel);
    } catch (error) {
      connection.disconnect();
      throw error;
    }
    if (connection !== this.connection) return;
    this.attempt = 0;
    this.subscribed = true;
    this.events.up();
  }

  private connect(): Redis {
    const targets = this.targets();
    const target = targets[this.attempt % targets.length]!;
    const connection = new Redis({
      ...nodeOptions(this.options),
      ...target,
      lazyConnect: true,
      // One attempt per connection: the next attempt may go to another node (onEnd).
      retryStrategy: () => null,
      autoResubscribe: false,
      enableOfflineQueue: true,
    });
    connection.on('error', () => undefined);
    connection.on('message', (_channel: string, message: string) => this.events.message(message));
    connection.once('end', () => this.onEnd(connection));
    this.connection = connection;
    return connection;
  }

  private onEnd(connection: Redis): void {
    if (connection !== this.connection) return;
    if (this.subscribed) {
      this.subscribed = false;
      this.events.down();
    }
    if (this.closed) return;
    this.attempt++;
    this.timer = setTimeout(
      () => {
        this.subscribeOnce().catch(() => undefined);
      },
      reconnectDelay(this.attempt, this.options.reconnectMaxMs),
    );
  }

  /** Where to subscribe: the one node, or the cluster's known nodes (seeds until it knows them). */
  private targets(): RedisOptions[] {
    if (!this.options.clusterNodes) return [urlOptions(this.options.url!)];
    const known = this.client instanceof Cluster ? this.client.nodes('all').map((node) => `${node.options.host}:${node.options.port}`) : [];
    return [...new Set([...known, ...this.options.clusterNodes])].map(hostAndPort);
  }
}

/** A redis:// or rediss:// URL as connection options (host, port, user, db; TLS comes from nodeOptions). */
function urlOptions(url: string): RedisOptions {
  const parsed = new URL(url);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
  };
}
