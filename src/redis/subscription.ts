// How an instance hears messages on a classic pub/sub channel: one subscriber connection,
// moved to another node when its node dies, telling when it was down.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisClient } from './clients.ts';
import { hostAndPort, nodeOptions, reconnectDelay, urlOptions, type RedisConnectionOptions } from './options.ts';

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
