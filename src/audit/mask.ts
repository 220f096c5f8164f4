// Secrets never reach the audit store. Two rules, applied to a copy of every record
// before it is stored or spilled to disk:
// - anywhere in the record, a field named like a credential (authorization, cookie,
//   token, api key, password, ...) is removed, and a string value that looks like one
//   ("Bearer ...", "Basic ...", a JWT) is replaced — so request headers or claims that an
//   API adds to the input later are covered without a change here;
// - the configured input paths (dotted, `*` matches any one key) are replaced by
//   "[masked]", both under `input` and in the top-level copies of principal/resource.
// The paths that were masked are listed in the record's `masked`, as OPA's decision log does.
import type { DecisionRecord } from '../decision/record.ts';

export const MASKED = '[masked]';
export const REDACTED = '[redacted]';

const SECRET_KEY =
  /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api[-_]?key|x-portkey-api-key|(access|id|refresh|bearer|auth|session)?[-_]?token|secret|client[-_]?secret|password|passwd|jwt|credentials?)$/i;
const SECRET_VALUE = /^(bearer|basic|token)\s+\S+|^eyJ[\w-]*\.[\w-]+\.[\w-]*$/i;

export type Masker = (record: DecisionRecord) => DecisionRecord;

export function parseMaskPaths(spec: string): string[][] {
  return spec
    .split(',')
    .map((path) => path.trim())
    .filter((path) => path.length > 0)
    .map((path) => path.split('.'));
}

export function createMasker(paths: string[][]): Masker {
  return (record) => {
    // Most records hold no secret and need no masking: store them as they are, uncopied.
    if (paths.length === 0 && isCleanRecord(record)) return record;
    const copy = scrub(record) as DecisionRecord;
    const masked = new Set<string>();
    for (const path of paths) {
      maskPath(copy.input, path, 0, [], masked);
      maskPath(copy, path, 0, [], new Set());
    }
    if (masked.size > 0) copy.masked = [...masked].sort();
    return copy;
  };
}

// workspaceRoles maps workspace ids to roles: its keys are data chosen by callers, not
// field names, and its values are role names, so it is kept whole (a workspace called
// "token" must not vanish from the record of the decision it decided).
const DATA_KEYED = 'workspaceRoles';

// Records repeat the same few keys; remembering the verdict per key spares a regex run
// per key per record. Bounded, since workspace ids are keys too.
const keyVerdicts = new Map<string, boolean>();
function isSecretKey(key: string): boolean {
  let secret = keyVerdicts.get(key);
  if (secret === undefined) {
    secret = SECRET_KEY.test(key);
    if (keyVerdicts.size >= 10_000) keyVerdicts.clear();
    keyVerdicts.set(key, secret);
  }
  return secret;
}

/**
 * isClean for a decision record, without looking twice at its principal and resource when
 * they are its input's own objects (as the decider makes them): half the walk, per decision.
 */
function isCleanRecord(record: DecisionRecord): boolean {
  for (const key of Object.keys(record)) {
    const field = record[key as keyof DecisionRecord];
    if ((key === 'principal' || key === 'resource') && field === record.input?.[key]) continue;
    if (isSecretKey(key) || !isClean(field)) return false;
  }
  return true;
}

/** True when scrub would change nothing: no credential-named field, no credential-looking string. */
function isClean(value: unknown): boolean {
  if (typeof value === 'string') return !SECRET_VALUE.test(value);
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) return value.every(isClean);
  for (const key of Object.keys(value)) {
    const field = (value as Record<string, unknown>)[key];
    if (key === DATA_KEYED) continue;
    if (isSecretKey(key) || !isClean(field)) return false;
  }
  return true;
}

/** A deep copy without credential-named fields and with credential-looking strings replaced. */
function scrub(value: unknown): unknown {
  if (typeof value === 'string') return SECRET_VALUE.test(value) ? REDACTED : value;
  if (Array.isArray(value)) return value.map(scrub);
  if (typeof value !== 'object' || value === null) return value;
  // Null prototype: a "__proto__" key (a workspace id, say) stays a key.
  const copy: Record<string, unknown> = Object.create(null);
  for (const [key, field] of Object.entries(value)) {
    if (key === DATA_KEYED) copy[key] = field;
    else if (!isSecretKey(key)) copy[key] = scrub(field);
  }
  return copy;
}

function maskPath(node: unknown, path: string[], at: number, trail: string[], masked: Set<string>): void {
  if (typeof node !== 'object' || node === null) return;
  const target = node as Record<string, unknown>;
  const segment = path[at]!;
  const keys = segment === '*' ? Object.keys(target) : Object.hasOwn(target, segment) ? [segment] : [];
  for (const key of keys) {
    if (at === path.length - 1) {
      target[key] = MASKED;
      masked.add([...trail, key].join('.'));
    } else {
      maskPath(target[key], path, at + 1, [...trail, key], masked);
    }
  }
}
