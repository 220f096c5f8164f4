// The key registry in Redis, beside the settings (on the settings store's connection).
//
// Key layout ({braces}: the cluster hash tag):
//   portcullis:apikey:{<keyId>}   STRING  the key's record as JSON, with the SHA-256 of the current key
//   portcullis:apikeys:{<orgId>}  ZSET    the organization's key ids (score 0, listed by lex)
// A record lives in its key's slot, so resolving a presented key is one GET; the listing
// lives in the organization's slot. Register lists the id first and writes the record
// second: a crash between leaves a listed id with no record (listed as nothing, and its key
// was never shown), never a working key the listing lacks.
//
// No cache: every request that presents a key reads its record (one GET, on the master of
// its slot), so a rotation or revocation acknowledged by one instance is refused by every
// instance from the next request on, and no change message is needed. When Redis cannot
// answer, the read fails and the key is refused (fail closed).
//
// Rotate and revoke change a record with a compare-and-set script (the record read, the
// record written only if it is still the one read), so two concurrent changes never lose
// one; every write waits for the replicas like a settings write (writeDurably).
import type { Redis } from 'ioredis';
import type { ReplicaRequirement } from '../config.ts';
import type { RedisClient } from '../redis/clients.ts';
import { writeDurably } from '../redis/durable.ts';
import {
  check,
  newKey,
  presentedKeyId,
  revokedKey,
  rotatedKey,
  shown,
  storedKey,
  type ApiKey,
  type IssuedKey,
  type KeyRegistry,
  type NewKey,
  type StoredKey,
} from './registry.ts';

const recordKey = (keyId: string) => `portcullis:apikey:{${keyId}}`;
const listingKey = (orgId: string) => `portcullis:apikeys:{${orgId}}`;

/** Sets KEYS[1] to ARGV[2] if it still holds ARGV[1] ('' for: does not exist): 1 when set. */
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`;

/** Tries of a compare-and-set that another writer keeps beating. */
const MAX_TRIES = 5;

export interface RedisKeyRegistryOptions {
  minReplicasAck: ReplicaRequirement;
  waitTimeoutMs: number;
}

export class RedisKeyRegistry implements KeyRegistry {
  constructor(
    private readonly redis: RedisClient,
    private readonly options: RedisKeyRegistryOptions,
  ) {}

  async register(request: NewKey, actor: string): Promise<IssuedKey> {
    const { keyId, key } = newKey();
    const stored = storedKey(keyId, key, request, actor);
    await this.durably(listingKey(request.orgId), (redis, k) => redis.zadd(k, 0, keyId));
    if (!(await this.compareAndSet(keyId, '', JSON.stringify(stored)))) throw new Error(`key id ${keyId} is taken`);
    return { key, apiKey: shown(stored) };
  }

  async get(orgId: string, keyId: string): Promise<ApiKey | null> {
    const stored = await this.read(keyId);
    return stored?.record.orgId === orgId ? shown(stored.record) : null;
  }

  async list(orgId: string, page: { limit: number; after?: string }): Promise<{ apiKeys: ApiKey[]; next: string | null }> {
    const from = page.after === undefined ? '-' : `(${page.after}`;
    const ids = await this.redis.zrangebylex(listingKey(orgId), from, '+', 'LIMIT', 0, page.limit + 1);
    const more = ids.length > page.limit;
    if (more) ids.pop();
    // One slot per record: separate reads, sent together.
    const records = await Promise.all(ids.map((id) => this.read(id)));
    const apiKeys = records.flatMap((stored) => (stored?.record.orgId === orgId ? [shown(stored.record)] : []));
    return { apiKeys, next: more ? ids.at(-1)! : null };
  }

  async rotate(orgId: string, keyId: string, actor: string): Promise<IssuedKey | null> {
    return this.change(orgId, keyId, (stored) => {
      const rotated = rotatedKey(stored, actor);
      return { stored: rotated.stored, result: { key: rotated.key, apiKey: shown(rotated.stored) } };
    });
  }

  async revoke(orgId: string, keyId: string, actor: string): Promise<{ apiKey: ApiKey; revoked: boolean } | null> {
    return this.change(orgId, keyId, (stored) => {
      const revoked = revokedKey(stored, actor);
      return { stored: revoked, result: { apiKey: shown(revoked), revoked: revoked !== stored } };
    });
  }

  async resolve(presented: string): Promise<ApiKey> {
    const keyId = presentedKeyId(presented);
    return check((await this.read(keyId))?.record ?? null, presented);
  }

  /** Reads the organization's record, applies `update` and writes it back unless another change came between (then again). */
  private async change<T>(orgId: string, keyId: string, update: (stored: StoredKey) => { stored: StoredKey; result: T }): Promise<T | null> {
    for (let tries = 1; ; tries++) {
      const current = await this.read(keyId);
      if (current?.record.orgId !== orgId) return null;
      const { stored, result } = update(current.record);
      if (stored === current.record || (await this.compareAndSet(keyId, current.text, JSON.stringify(stored)))) return result;
      if (tries >= MAX_TRIES) throw new Error(`API key ${keyId} kept changing while it was being changed`);
    }
  }

  private async read(keyId: string): Promise<{ record: StoredKey; text: string } | null> {
    const text = await this.redis.get(recordKey(keyId));
    return text === null ? null : { record: JSON.parse(text) as StoredKey, text };
  }

  private async compareAndSet(keyId: string, expected: string, value: string): Promise<boolean> {
    const set = await this.durably(recordKey(keyId), (redis, k) => redis.eval(COMPARE_AND_SET, 1, k, expected, value) as Promise<number>);
    return set === 1;
  }

  private durably<T>(key: string, write: (redis: Redis, key: string) => Promise<T>): Promise<T> {
    return writeDurably(this.redis, key, this.options.minReplicasAck, this.options.waitTimeoutMs, (redis) => write(redis, key));
  }
}
