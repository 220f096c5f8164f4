// How to reach the configured Redis: one node (REDIS_URL) or a Redis Cluster
// (REDIS_CLUSTER_NODES), with the same ACL user and TLS either way, read from the config;
// and the options every connection to a node shares.
import { readFileSync } from 'node:fs';
import type { RedisOptions } from 'ioredis';
import { parseClusterNodes, withoutPassword, type Config } from '../config.ts';

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
export function nodeOptions(options: RedisConnectionOptions): RedisOptions {
  const tls = options.tlsCaFile ? { ca: readFileSync(options.tlsCaFile) } : options.tls || options.url?.startsWith('rediss://') ? {} : undefined;
  return {
    ...(options.username ? { username: options.username } : {}),
    ...(options.password ? { password: options.password } : {}),
    ...(tls ? { tls } : {}),
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: 1,
  };
}

export function hostAndPort(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':');
  return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
}

/** A redis:// or rediss:// URL as connection options (host, port, user, db; TLS comes from nodeOptions). */
export function urlOptions(url: string): RedisOptions {
  const parsed = new URL(url);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
  };
}
