// The admin API's tokens: who may call it, with which scopes, for which organizations.
// ADMIN_TOKENS_FILE holds named tokens as SHA-256 hashes, so the file is no secret;
// ADMIN_TOKEN (if set) is one more token, named "admin", with every scope everywhere.
// A presented token is hashed and compared with every known hash in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { load as loadYaml } from 'js-yaml';
import { ConfigError, type Config } from '../config.ts';
import { idProblem } from '../ids.ts';
import { isJsonObject } from '../json.ts';

/**
 * keys:read and keys:write: the API-key registry (list; register, rotate, revoke).
 * decide: may ask for decisions when DECIDE_AUTH=required (the decision APIs and the gateway endpoints).
 */
export const SCOPES = ['settings:read', 'settings:write', 'audit:read', 'keys:read', 'keys:write', 'decide'] as const;
export type Scope = (typeof SCOPES)[number];

/** The name ADMIN_TOKEN acts under. */
export const FULL_SCOPE_NAME = 'admin';

export interface AdminToken {
  /** The actor of every change made with the token. */
  name: string;
  scopes: ReadonlySet<Scope>;
  /** The organizations it may touch; null: every organization. */
  orgs: ReadonlySet<string> | null;
}

interface KnownToken extends AdminToken {
  sha256: Buffer;
}

const ENTRY_KEYS = ['name', 'sha256', 'scopes', 'orgs'];
const HEX_SHA256 = /^[0-9a-f]{64}$/i;

const sha256 = (token: string) => createHash('sha256').update(token).digest();

export class AdminTokens {
  constructor(private readonly known: readonly KnownToken[]) {}

  /** The tokens' names, for the start banner: never the tokens. */
  get names(): string[] {
    return this.known.map((token) => token.name);
  }

  /** The token `presented` is, or undefined. Every known hash is compared, whichever matches. */
  identify(presented: string): AdminToken | undefined {
    const hash = sha256(presented);
    let found: KnownToken | undefined;
    for (const token of this.known) if (timingSafeEqual(hash, token.sha256)) found = token;
    return found && { name: found.name, scopes: found.scopes, orgs: found.orgs };
  }
}

export function mayTouch(token: AdminToken, orgId: string): boolean {
  return token.orgs === null || token.orgs.has(orgId);
}

/**
 * Parses a tokens document (`tokens:` list of {name, sha256, scopes, orgs?}); throws one
 * ConfigError naming every bad entry. `reserved` is a token known from elsewhere (ADMIN_TOKEN)
 * whose name and hash the file must not repeat.
 */
export function parseAdminTokens(document: unknown, origin: string, reserved: KnownToken[] = []): KnownToken[] {
  if (!isJsonObject(document) || !Array.isArray(document.tokens)) throw new ConfigError(`${origin}: must be a mapping with a "tokens" list`);
  const problems: string[] = [];
  for (const key of Object.keys(document)) if (key !== 'tokens') problems.push(`"${key}" is not a setting of the file (only "tokens")`);
  if (document.tokens.length === 0) problems.push('tokens: lists no token');
  const tokens: KnownToken[] = [];
  const names = new Map(reserved.map((t) => [t.name, 'ADMIN_TOKEN']));
  const hashes = new Map(reserved.map((t) => [t.sha256.toString('hex'), 'ADMIN_TOKEN']));
  document.tokens.forEach((entry: unknown, index) => {
    const where = `tokens[${index}]${isJsonObject(entry) && typeof entry.name === 'string' ? ` (${JSON.stringify(entry.name)})` : ''}`;
    const before = problems.length;
    const bad = (message: string) => problems.push(`${where}: ${message}`);
    if (!isJsonObject(entry)) return bad('must be a mapping with name, sha256, scopes and optionally orgs');
    for (const key of Object.keys(entry)) if (!ENTRY_KEYS.includes(key)) bad(`unknown key "${key}" (known: ${ENTRY_KEYS.join(', ')})`);
    const nameProblem = idProblem(entry.name);
    if (nameProblem) bad(`name ${nameProblem}`);
    else if (names.has(entry.name as string)) bad(`name is already used by ${names.get(entry.name as string)}`);
    const hex = typeof entry.sha256 === 'string' && HEX_SHA256.test(entry.sha256) ? entry.sha256.toLowerCase() : undefined;
    if (hex === undefined) bad('sha256 must be 64 hexadecimal digits: the SHA-256 of the token (printf %s "$TOKEN" | sha256sum)');
    else if (hashes.has(hex)) bad(`sha256 is the same token as ${hashes.get(hex)}`);
    const scopes = new Set<Scope>();
    if (!Array.isArray(entry.scopes) || entry.scopes.length === 0) bad(`scopes must be a non-empty list of ${SCOPES.join(', ')}`);
    else
      for (const scope of entry.scopes) {
        if (SCOPES.includes(scope as Scope)) scopes.add(scope as Scope);
        else bad(`unknown scope ${JSON.stringify(scope)} (known: ${SCOPES.join(', ')})`);
      }
    let orgs: Set<string> | null = null;
    if (entry.orgs !== undefined) {
      if (!Array.isArray(entry.orgs) || entry.orgs.length === 0) bad('orgs must be a non-empty list of organization ids (leave it out for every organization)');
      else {
        orgs = new Set();
        for (const [i, orgId] of entry.orgs.entries()) {
          const problem = idProblem(orgId);
          if (problem) bad(`orgs[${i}] ${problem}`);
          else orgs.add(orgId as string);
        }
      }
    }
    if (typeof entry.name === 'string' && !names.has(entry.name)) names.set(entry.name, where);
    if (hex !== undefined && !hashes.has(hex)) hashes.set(hex, where);
    if (problems.length === before) tokens.push({ name: entry.name as string, sha256: Buffer.from(hex!, 'hex'), scopes, orgs });
  });
  if (problems.length > 0) throw new ConfigError(`${origin} is invalid:\n  ${problems.join('\n  ')}`);
  return tokens;
}

/** The tokens of the configuration: ADMIN_TOKEN as "admin" with every scope, and the file's. */
export function loadAdminTokens(config: Pick<Config, 'adminToken' | 'adminTokensFile'>): AdminTokens {
  const known: KnownToken[] = config.adminToken ? [{ name: FULL_SCOPE_NAME, sha256: sha256(config.adminToken), scopes: new Set(SCOPES), orgs: null }] : [];
  if (!config.adminTokensFile) return new AdminTokens(known);
  let document: unknown;
  try {
    document = loadYaml(readFileSync(config.adminTokensFile, 'utf8'));
  } catch (error) {
    throw new ConfigError(`admin tokens file ${config.adminTokensFile}: ${(error as Error).message}`);
  }
  return new AdminTokens([...known, ...parseAdminTokens(document, `admin tokens file ${config.adminTokensFile}`, known)]);
}
