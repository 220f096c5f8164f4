// Where the settings and the workspace directory live in Redis, and the scripts that write them.
//
// Key layout (the {braces} are a cluster hash tag: an organization's keys live in one
// slot, so a settings write is one atomic script; a workspace's directory entry lives in
// the workspace's slot, so registering a workspace is two single-slot steps, ordered as
// the directory (directory.ts) explains):
//   portcullis:settings:{<orgId>}    HASH, one field per family and level:
//     org                       JSON integration-access org document (only the fields an admin set)
//     ws:<workspaceId>          JSON integration-access workspace values
//     <family>:org              JSON the org document of any other family (e.g. prompt-access:org)
//     <family>:ws:<workspaceId> JSON a workspace's values of any other family
//     version                   integer, incremented by every write to the hash
// (integration-access keeps the fields it had before there were families, so stored data
// stays valid; a family name is never "ws", so no field of one family is another's.)
//   portcullis:directory:{<wsId>}    STRING  the organization that owns the workspace
//   portcullis:workspaces:{<orgId>}  ZSET    the organization's workspaces (score 0, listed by lex)
// Every script announces what it wrote on the change channel (changes.ts) itself, so a
// committed write is always announced.

export const settingsKey = (orgId: string) => `portcullis:settings:{${orgId}}`;
export const directoryKey = (workspaceId: string) => `portcullis:directory:{${workspaceId}}`;
export const workspacesKey = (orgId: string) => `portcullis:workspaces:{${orgId}}`;
/** The patterns of the keys that name an organization (a SCAN finds every organization with them). */
export const ORG_KEY_PATTERNS = ['portcullis:settings:{*}', 'portcullis:workspaces:{*}'] as const;
const LEGACY_FAMILY = 'integration-access';
export const orgField = (family: string) => (family === LEGACY_FAMILY ? 'org' : `${family}:org`);
export const workspaceField = (workspaceId: string, family: string) => (family === LEGACY_FAMILY ? `ws:${workspaceId}` : `${family}:ws:${workspaceId}`);

// Every directory script announces the workspace (ARGV[2] on channel ARGV[3]) even when it
// changed nothing: the message is a write the replicas receive, so the WAIT that follows
// confirms the state it answered from (an earlier, unconfirmed attempt's write included).

/** Claims a workspace for an organization unless another holds it: returns the owner before the call (or false). */
export const CLAIM = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return owner end
if not owner then redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('PUBLISH', ARGV[3], ARGV[2])
return owner or false`;
/** Deletes the claim only if the organization holds it: 1 when it did. */
export const RELEASE = `
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then released = redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[3], ARGV[2])
return released`;
/** Adds (ARGV[1] 'add') or removes the workspace ARGV[4] in the organization's listing. */
export const LIST = `
if ARGV[1] == 'add' then redis.call('ZADD', KEYS[1], 0, ARGV[4]) else redis.call('ZREM', KEYS[1], ARGV[4]) end
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1`;

/**
 * Every settings write: checks the version (ARGV[1], '' for none), sets or deletes one field
 * of the org hash, bumps the version and announces the change, atomically. Returns
 * {1, new version}; {0, current version} on a version mismatch; {2, current version} when
 * a delete found nothing (no bump; announced all the same, so that the WAIT after it
 * confirms the state it found).
 */
export const WRITE = `
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then return {0, current} end
if ARGV[2] == 'set' then
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
elseif redis.call('HDEL', KEYS[1], ARGV[3]) == 0 then
  redis.call('PUBLISH', ARGV[5], ARGV[6])
  return {2, current}
end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PUBLISH', ARGV[5], ARGV[6])
return {1, version}`;

/** A stored JSON value; null when absent or unreadable. */
export function parseStored<T>(text: string | null | undefined): T | null {
  if (text == null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}
