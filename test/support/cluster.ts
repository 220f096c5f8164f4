// A real Redis Cluster for a test file: Debian's redis-server, `masters` masters with
// `replicas` replicas each on free loopback ports (client and bus), in a temporary
// directory, joined by `redis-cli --cluster create`, torn down by stop(). It can kill the
// master that owns a key's slot (SIGKILL: the replica is promoted by the cluster itself)
// and migrate a slot to another master while clients use it (the CLUSTER SETSLOT steps
// `redis-cli --cluster reshard` takes), so failover and resharding are events a test drives.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, portTaken } from './redis.ts';

const run = promisify(execFile);
const HOST = '127.0.0.1';
/** Long enough that a loaded machine does not fail over by mistake, short enough for a test. */
const NODE_TIMEOUT_MS = 2_000;

interface Node {
  port: number;
  busPort: number;
  process: ChildProcess | undefined;
}

export interface RedisCluster {
  /** Every node, "127.0.0.1:port" (seed nodes for REDIS_CLUSTER_NODES). */
  nodes: string[];
  /** The master that owns key's slot now. */
  masterFor(key: string): Promise<{ port: number }>;
  /** SIGKILLs the master that owns key's slot; its replica takes over (see waitHealthy). */
  killMaster(key: string): Promise<{ port: number }>;
  /** Starts a killed node again (empty: it rejoins as a replica of whoever took its slots). */
  restart(port: number): Promise<void>;
  /**
   * Migrates key's slot to another master (the next one), key by key, pausing `pauseMs`
   * between the steps so that clients meet the migrating slot (ASK) and the move (MOVED).
   */
  migrateSlot(key: string, options?: { pauseMs?: number }): Promise<{ from: number; to: number }>;
  /** Until every slot is served by a live master, every node agrees, and every live replica is in sync. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Two distinct free ports (client and cluster bus). */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

export async function startRedisCluster(options: { masters?: number; replicas?: number } = {}): Promise<RedisCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      // Another test file bound one of the ports between the check and the node's bind: again, on others.
      if (!portTaken(error) || attempt === 5) throw error;
    }
  }
}

async function startOnce(options: { masters?: number; replicas?: number }): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 1;
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-cluster-'));
  const ports = await freePorts(2 * masters * (1 + replicas));
  const nodes: Node[] = [];
  for (let i = 0; i < ports.length; i += 2) nodes.push({ port: ports[i]!, busPort: ports[i + 1]!, process: undefined });
  const admin = new Map<number, Redis>();

  const start = async (node: Node): Promise<void> => {
    const child = spawn(
      'redis-server',
      [
        ...['--port', String(node.port), '--cluster-port', String(node.busPort), '--bind', HOST],
        ...['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${node.port}.conf`, '--cluster-node-timeout', String(NODE_TIMEOUT_MS)],
        // A replica may always take over, however long its link was down; full syncs go over the socket.
        ...['--cluster-replica-validity-factor', '0', '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'],
        ...['--save', '', '--appendonly', 'no', '--dir', dir],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.once('error', () => undefined);
    let output = '';
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server :${node.port} exited (${code}) before it was ready:\n${output}`)));
      child.once('error', (error) => reject(new Error(`redis-server could not start: ${error.message} (is it installed?)`)));
    });
    node.process = child;
    await ready;
  };

  const client = (port: number): Redis => {
    let redis = admin.get(port);
    if (!redis) {
      redis = new Redis({ host: HOST, port, protocol: 2, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, enableOfflineQueue: true });
      redis.on('error', () => undefined);
      admin.set(port, redis);
    }
    return redis;
  };
  const ask = async (port: number, ...args: (string | number)[]): Promise<unknown> => {
    const redis = client(port);
    if (redis.status === 'end') {
      admin.delete(port);
      return ask(port, ...args);
    }
    return redis.call(String(args[0]), ...args.slice(1).map(String));
  };
  const alive = () => nodes.filter((node) => node.process && node.process.exitCode === null && node.process.signalCode === null);

  /** CLUSTER SHARDS as seen by a live node: each shard's live master port and its slots. */
  const shards = async (): Promise<Array<{ master: number | undefined; slots: Array<[number, number]>; replicas: number[] }>> => {
    const reply = (await ask(alive()[0]!.port, 'CLUSTER', 'SHARDS')) as unknown[];
    return reply.map((shard) => {
      const fields = pairs(shard as unknown[]);
      const slotList = fields.slots as number[];
      const ranges: Array<[number, number]> = [];
      for (let i = 0; i < slotList.length; i += 2) ranges.push([slotList[i]!, slotList[i + 1]!]);
      const members = (fields.nodes as unknown[][]).map((n) => pairs(n));
      const live = members.filter((n) => n.health === 'online');
      return {
        master: live.find((n) => n.role === 'master')?.port as number | undefined,
        slots: ranges,
        replicas: live.filter((n) => n.role === 'replica').map((n) => n.port as number),
      };
    });
  };
  const slotOf = async (key: string) => Number(await ask(alive()[0]!.port, 'CLUSTER', 'KEYSLOT', key));
  const masterOfSlot = async (slot: number): Promise<number> => {
    const owner = (await shards()).find((shard) => shard.master !== undefined && shard.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!owner) throw new Error(`no live master owns slot ${slot}`);
    return owner.master!;
  };
  const nodeId = async (port: number) => String(await ask(port, 'CLUSTER', 'MYID'));
  /**
   * The live nodes that say, now, that they are masters (ROLE), asked of each node itself: a
   * master restarted after a failover comes back as a replica while other nodes' views of it
   * may still lag, and SETSLOT refuses a replica.
   */
  const currentMasters = async (): Promise<number[]> => {
    const roles = await Promise.all(
      alive().map(async (node) => ({ port: node.port, role: ((await ask(node.port, 'ROLE').catch(() => ['unknown'])) as string[])[0] })),
    );
    return roles.filter((node) => node.role === 'master').map((node) => node.port);
  };

  const cluster: RedisCluster = {
    nodes: nodes.map((node) => `${HOST}:${node.port}`),

    async masterFor(key) {
      return { port: await masterOfSlot(await slotOf(key)) };
    },

    async killMaster(key) {
      const port = await masterOfSlot(await slotOf(key));
      const node = nodes.find((n) => n.port === port)!;
      const exited = once(node.process!, 'exit');
      node.process!.kill('SIGKILL');
      await exited;
      admin.get(port)?.disconnect();
      admin.delete(port);
      return { port };
    },

    async restart(port) {
      await start(nodes.find((n) => n.port === port)!);
    },

    async migrateSlot(key, { pauseMs = 0 } = {}) {
      const slot = await slotOf(key);
      // Until the nodes' view of the slot's owner agrees with what the owner says of itself.
      const deadline = Date.now() + 30_000;
      let masters = await currentMasters();
      let from = await masterOfSlot(slot);
      while (!masters.includes(from)) {
        if (Date.now() > deadline)
          throw new Error(`slot ${slot}: the cluster names ${from} its master, which says it is not one (masters now: ${masters.join(', ')})`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        [masters, from] = await Promise.all([currentMasters(), masterOfSlot(slot)]);
      }
      const to = masters.find((port) => port !== from);
      if (to === undefined) throw new Error(`slot ${slot}: no other master to move it to (masters now: ${masters.join(', ')})`);
      const [fromId, toId] = await Promise.all([nodeId(from), nodeId(to)]);
      const pause = () => new Promise((resolve) => setTimeout(resolve, pauseMs));
      await ask(to, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
      await ask(from, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
      await pause();
      for (;;) {
        const keys = (await ask(from, 'CLUSTER', 'GETKEYSINSLOT', slot, 1)) as string[];
        if (keys.length === 0) break;
        await ask(from, 'MIGRATE', HOST, to, '', 0, 5_000, 'KEYS', ...keys);
        await pause();
      }
      // The new owner first, then the old, then everyone (as redis-cli does).
      await ask(to, 'CLUSTER', 'SETSLOT', slot, 'NODE', toId);
      await ask(from, 'CLUSTER', 'SETSLOT', slot, 'NODE', toId);
      for (const node of alive()) await ask(node.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', toId).catch(() => undefined);
      return { from, to };
    },

    async waitHealthy(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let last = '';
      for (;;) {
        try {
          last = await health();
          if (last === '') return;
        } catch (error) {
          last = (error as Error).message;
        }
        if (Date.now() > deadline) throw new Error(`the cluster did not become healthy in ${timeoutMs} ms: ${last}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },

    async stop() {
      for (const redis of admin.values()) redis.disconnect();
      await Promise.all(
        nodes.map(async (node) => {
          const child = node.process;
          if (!child || child.exitCode !== null || child.signalCode !== null) return;
          const exited = once(child, 'exit');
          child.kill('SIGKILL');
          await exited;
        }),
      );
      await rm(dir, { recursive: true, force: true });
    },
  };

  /** '' when healthy, else what is not yet. */
  async function health(): Promise<string> {
    for (const node of alive()) {
      const info = String(await ask(node.port, 'CLUSTER', 'INFO'));
      if (!info.includes('cluster_state:ok')) return `node ${node.port} says the cluster is not ok`;
      const replication = String(await ask(node.port, 'INFO', 'replication'));
      if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return `replica ${node.port} is not in sync`;
    }
    const covered = (await shards())
      .filter((shard) => shard.master !== undefined)
      .flatMap((shard) => shard.slots)
      .reduce((sum, [from, to]) => sum + to - from + 1, 0);
    if (covered !== 16_384) return `${covered} of 16384 slots have a live master`;
    return '';
  }

  try {
    await Promise.all(nodes.map(start));
    await run('redis-cli', ['--cluster', 'create', ...cluster.nodes, '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 60_000 });
    await cluster.waitHealthy();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** A RESP map sent as a flat [name, value, ...] array (CLUSTER SHARDS under RESP2) as an object. */
function pairs(list: unknown[]): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (let i = 0; i + 1 < list.length; i += 2) result[String(list[i])] = list[i + 1];
  return result;
}
