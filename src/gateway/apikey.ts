// Who is asking, when the request presents an API key: the product's key header,
// x-portkey-api-key, resolved by the key registry to the key principal of the decision
// request (its id, never the key). The key itself goes nowhere else: not into the decision
// request, the audit record (its headers are an allow-list without it), a log line or a
// trace. A key beside a session (a bearer token, or the trusted identity headers) is refused
// as ambiguous rather than one of them chosen: a client that added a key to a browser session,
// or a gateway that set a session for a key request, would otherwise act as the one it did not mean.
import type { Logger } from 'pino';
import { KeyRefusedError, keyPrincipal, type KeyRefusal, type KeyRegistry } from '../apikeys/registry.ts';
import { ApiError, CODE, type ErrorCode } from '../errors.ts';
import { errorSummary } from '../log.ts';
import { PRINCIPAL_FIELDS, TRUSTED_HEADERS, type Claimed, type Headers } from './identity.ts';

export const API_KEY_HEADER = 'x-portkey-api-key';

const SESSION_HEADERS = ['authorization', ...Object.values(TRUSTED_HEADERS)];

const REFUSALS: Record<KeyRefusal, { code: ErrorCode; message: string }> = {
  malformed: { code: CODE.malformed_api_key, message: `the ${API_KEY_HEADER} header is not an API key this sidecar issued (<key id>.<secret>)` },
  unknown: { code: CODE.unknown_api_key, message: 'the API key is not registered (or was rotated)' },
  revoked: { code: CODE.revoked_api_key, message: 'the API key was revoked' },
};

/** Whether the request presents an API key (then keyIdentity decides who asks). */
export function presentsKey(headers: Headers): boolean {
  return headers[API_KEY_HEADER] !== undefined;
}

/**
 * The key principal of a request that presents a key; a 401 (503 when the registry cannot
 * answer) with a reason otherwise, never a decision. Ambiguous is a 401 too, not a 400: nginx's
 * auth_request turns any status but 2xx, 401 and 403 into a 500.
 */
export async function keyIdentity(keys: KeyRegistry, headers: Headers, log: Logger): Promise<Claimed> {
  const session = SESSION_HEADERS.filter((name) => headers[name] !== undefined);
  if (session.length > 0) {
    throw new ApiError(401, CODE.ambiguous_identity, `the request carries an API key and ${session.join(', ')}: send one identity, not both`);
  }
  let apiKey: Awaited<ReturnType<KeyRegistry['resolve']>>;
  try {
    // Only the spaces and tabs HTTP allows around a value; any other character is the key's own, and refused.
    apiKey = await keys.resolve(headers[API_KEY_HEADER]!.replace(/^[ \t]+|[ \t]+$/g, ''));
  } catch (error) {
    if (error instanceof KeyRefusedError) {
      const { code, message } = REFUSALS[error.refusal];
      throw new ApiError(401, code, message);
    }
    // Whatever kept the registry from answering, the key is refused (fail closed).
    log.warn({ err: errorSummary(error) }, 'API-key registry could not be read: the key is refused');
    throw new ApiError(503, CODE.api_keys_unavailable, 'the API-key registry cannot be read now; retry');
  }
  const name = `API key ${apiKey.id}`;
  return { principal: { ...keyPrincipal(apiKey) }, names: Object.fromEntries(PRINCIPAL_FIELDS.map((field) => [field, name])) as Claimed['names'] };
}
