// Data Visibility at the gateways: a read of logs, analytics or traces may be allowed with a
// limit ("own_api_keys": only what the caller's own keys produced). The upstream filters; it
// learns the limit from these headers of the allowed request. A client cannot send them: every
// x-portcullis-* header of a client is refused at the check (headers.ts), and the gateway
// configurations set them from the answer, which removes any copy when the answer has none.
import type { PolicyDecision } from '../engine/engine.ts';
import { headerValue } from './headers.ts';

export const VISIBILITY_HEADERS = {
  visibility: 'x-portcullis-visibility',
  userId: 'x-portcullis-visible-user-id',
  apiKeyIds: 'x-portcullis-visible-api-key-ids',
} as const;

const VISIBILITIES = ['all', 'own_api_keys'];

/** What the decision says of visibility (its `visibility` and `visibleTo`), as upstream headers; none when it says nothing. */
export function visibilityHeaders(answer: Pick<PolicyDecision, 'visibility' | 'visibleTo'>): Record<string, string> {
  // Read as unknown: the answer is the policy's JSON, and a header must never carry what it did not expect.
  const decision = answer as { visibility?: unknown; visibleTo?: unknown };
  if (typeof decision.visibility !== 'string' || !VISIBILITIES.includes(decision.visibility)) return {};
  const headers: Record<string, string> = { [VISIBILITY_HEADERS.visibility]: decision.visibility };
  const to = (decision.visibleTo ?? {}) as { userId?: unknown; apiKeyIds?: unknown };
  if (typeof to.userId === 'string') headers[VISIBILITY_HEADERS.userId] = headerValue(to.userId);
  // Each id percent-encoded unless printable ASCII without ",": the list stays one comma-separated
  // header. No ids, no header (an empty header is no header to nginx): own_api_keys then shows nothing.
  const ids = Array.isArray(to.apiKeyIds) ? to.apiKeyIds.filter((id): id is string => typeof id === 'string') : [];
  if (ids.length > 0) headers[VISIBILITY_HEADERS.apiKeyIds] = ids.map((id) => (id.includes(',') ? encodeURIComponent(id) : headerValue(id))).join(',');
  return headers;
}
