// The key registry of the embedded settings store: same semantics as the Redis one.
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

export class MemoryKeyRegistry implements KeyRegistry {
  private readonly keys = new Map<string, StoredKey>();

  async register(request: NewKey, actor: string): Promise<IssuedKey> {
    const { keyId, key } = newKey();
    const stored = storedKey(keyId, key, request, actor);
    this.keys.set(keyId, stored);
    return { key, apiKey: shown(stored) };
  }

  async get(orgId: string, keyId: string): Promise<ApiKey | null> {
    const stored = this.owned(orgId, keyId);
    return stored ? shown(stored) : null;
  }

  async list(orgId: string, page: { limit: number; after?: string }): Promise<{ apiKeys: ApiKey[]; next: string | null }> {
    const ids = [...this.keys.values()]
      .filter((stored) => stored.orgId === orgId && (page.after === undefined || stored.id > page.after))
      .map((stored) => stored.id)
      .sort();
    const apiKeys = ids.slice(0, page.limit).map((id) => shown(this.keys.get(id)!));
    return { apiKeys, next: ids.length > page.limit ? apiKeys.at(-1)!.id : null };
  }

  async rotate(orgId: string, keyId: string, actor: string): Promise<IssuedKey | null> {
    const stored = this.owned(orgId, keyId);
    if (!stored) return null;
    const rotated = rotatedKey(stored, actor);
    this.keys.set(keyId, rotated.stored);
    return { key: rotated.key, apiKey: shown(rotated.stored) };
  }

  async revoke(orgId: string, keyId: string, actor: string): Promise<{ apiKey: ApiKey; revoked: boolean } | null> {
    const stored = this.owned(orgId, keyId);
    if (!stored) return null;
    const revoked = revokedKey(stored, actor);
    this.keys.set(keyId, revoked);
    return { apiKey: shown(revoked), revoked: revoked !== stored };
  }

  async resolve(presented: string): Promise<ApiKey> {
    return check(this.keys.get(presentedKeyId(presented)) ?? null, presented);
  }

  private owned(orgId: string, keyId: string): StoredKey | undefined {
    const stored = this.keys.get(keyId);
    return stored?.orgId === orgId ? stored : undefined;
  }
}
