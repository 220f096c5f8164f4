// What a decision record keeps, bounded in bytes before any buffer holds it: the input
// that decided (the principal's role in the requested workspace, not every workspace it
// names) and, past a byte cap, shortened free-text fields. The decision itself (outcome,
// reason, setting, source, ids, organization, workspace, action, resource type, the
// settings used) is never cut, so a trimmed record is still found by every filter and
// replays to the same answer: the policy reads only the requested workspace's role.
import type { DecisionRecord } from '../decision/record.ts';
import type { Principal, WorkspaceRole } from '../decision/request.ts';
import { encodeDecision } from './query.ts';

/** Appended to a shortened string; says how much was cut. */
export const TRUNCATED = (cut: number) => `…[truncated ${cut} chars]`;

/** The shortest a free-text string is cut to; below it the record is left over its cap (and says so). */
const MIN_KEPT = 16;

/**
 * The record to store: a copy with the principal's workspace roles reduced to the
 * requested workspace (the count of the others in `trimmed.otherWorkspaceRoles`) and, while
 * its JSON is larger than `maxBytes`, the gateway request's headers, path and route and the
 * client address shortened (`trimmed.truncated` counts the strings cut). The argument is
 * not changed: it is also the answer's and the trace's.
 */
export function trimRecord(record: DecisionRecord, maxBytes: number): DecisionRecord {
  const workspaceId = record.input.resource.workspaceId;
  const roles = rolesOf(record.input.principal);
  let others = 0;
  for (const id in roles) if (id !== workspaceId) others++;
  let out = record;
  if (others > 0) {
    const kept = Object.hasOwn(roles, workspaceId) ? { [workspaceId]: roles[workspaceId]! } : {};
    const principal = withRoles(record.input.principal, kept);
    out = { ...record, principal, input: { ...record.input, principal }, trimmed: { otherWorkspaceRoles: others } };
  }
  if (recordBytes(out) <= maxBytes) return out;
  return truncate(out, maxBytes);
}

/** The workspace roles the policy reads: a user's, or those of a workspace user key's user. */
function rolesOf(principal: Principal): Record<string, WorkspaceRole> {
  if (principal.type !== 'api_key') return principal.workspaceRoles;
  return principal.user?.workspaceRoles ?? {};
}

function withRoles(principal: Principal, workspaceRoles: Record<string, WorkspaceRole>): Principal {
  if (principal.type !== 'api_key') return { ...principal, workspaceRoles };
  return principal.user ? { ...principal, user: { ...principal.user, workspaceRoles } } : principal;
}

/** The size of a record as stored (its JSON, UTF-8), counted once, as its stream entry is encoded (encodeDecision). */
export function recordBytes(record: DecisionRecord): number {
  return encodeDecision(record).bytes;
}

/** Cuts every free-text string to a length that halves until the record fits (or reaches MIN_KEPT). */
function truncate(record: DecisionRecord, maxBytes: number): DecisionRecord {
  const longest = Math.max(MIN_KEPT, ...freeText(record).map((s) => s.length));
  for (let limit = longest; ; limit = Math.max(MIN_KEPT, limit >> 1)) {
    let cut = 0;
    const shorten = (value: string): string => {
      // A cut that saves less than its marker costs would only grow the record.
      if (value.length <= limit + TRUNCATED(value.length).length) return value;
      cut++;
      // Never split a surrogate pair: a lone half is refused wherever the record goes next.
      let end = limit;
      if (/[\ud800-\udbff]/.test(value[end - 1]!)) end--;
      return value.slice(0, end) + TRUNCATED(value.length - end);
    };
    const candidate: DecisionRecord = { ...record };
    if (record.requestedBy !== undefined) candidate.requestedBy = shorten(record.requestedBy);
    if (record.gatewayRequest) {
      const { headers, path, route, method } = record.gatewayRequest;
      const shortened: Record<string, string> = {};
      // Names are kept: shortening two alike would merge them. The request head's limit bounds them.
      for (const [name, value] of Object.entries(headers)) shortened[name] = shorten(value);
      candidate.gatewayRequest = { method: shorten(method), path: shorten(path), route: shorten(route), headers: shortened };
    }
    if (cut > 0) candidate.trimmed = { ...record.trimmed, truncated: cut };
    if (limit === MIN_KEPT || recordBytes(candidate) <= maxBytes) {
      // A new object: a record is measured and encoded once (storedJson), then never changed.
      if (recordBytes(candidate) > maxBytes) return { ...candidate, trimmed: { ...candidate.trimmed, overCap: true } };
      return candidate;
    }
  }
}

function freeText(record: DecisionRecord): string[] {
  const strings = record.requestedBy !== undefined ? [record.requestedBy] : [];
  const gateway = record.gatewayRequest;
  if (gateway) strings.push(gateway.method, gateway.path, gateway.route, ...Object.values(gateway.headers));
  return strings;
}
