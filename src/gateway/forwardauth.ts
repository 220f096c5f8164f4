// Which request line /ext_authz decides on. A forward-auth gateway (nginx auth_request,
// Caddy forward_auth, Traefik ForwardAuth) asks with a request of its own and names the
// original method and URI in headers it sets itself; every other header of the client goes
// through as the client sent it. So exactly one header family is read per deployment (the
// one its gateway sets, and so overwrites), and a request carrying the other family's
// method or URI headers, or describing the original request twice in ways that disagree,
// is refused: such a header can only have come from the client.
import { ConfigError, settingName } from '../config.ts';
import { ApiError, errors, CODE } from '../errors.ts';
import { quoted } from '../ids.ts';

/** The header families, named by the FORWARD_AUTH_HEADERS value that selects them. */
export const FORWARD_AUTH_FAMILIES = {
  /** nginx auth_request (proxy_set_header X-Original-Method $request_method, X-Original-URI $request_uri). */
  original: { method: 'x-original-method', uri: 'x-original-uri' },
  /** Caddy forward_auth and Traefik ForwardAuth, which also set X-Forwarded-Host and -Proto. */
  forwarded: { method: 'x-forwarded-method', uri: 'x-forwarded-uri' },
} as const;

export type ForwardAuthHeaders = keyof typeof FORWARD_AUTH_FAMILIES;

export function parseForwardAuthHeaders(value: string): ForwardAuthHeaders {
  if (value === 'original' || value === 'forwarded') return value;
  throw new ConfigError(`${settingName('forwardAuthHeaders')} must be original (nginx) or forwarded (Caddy, Traefik), got ${JSON.stringify(value)}`);
}

/**
 * The methods a forward-auth gateway asks with when the original request's method is in a
 * header (Caddy and nginx ask with GET, Traefik with GET unless preserveRequestMethod).
 * Asked with any other method, that method is the original one too, and must agree.
 */
const ASKING_METHODS = new Set(['GET', 'HEAD']);

export interface RequestLine {
  method: string;
  /** Path and query string, still percent-encoded. */
  path: string;
}

/**
 * The original request line. `asked` is the request that reached /ext_authz: its method,
 * and the target after the /ext_authz prefix ('' or '?…' when nothing follows it, the
 * forward-auth form; the original path, the Envoy path form). `entries` are its headers
 * as received (any case, every copy).
 */
export function originalRequestLine(family: ForwardAuthHeaders, asked: RequestLine, entries: readonly (readonly [string, string])[]): RequestLine & { pathForm: boolean } {
  const own = FORWARD_AUTH_FAMILIES[family];
  const other = FORWARD_AUTH_FAMILIES[family === 'original' ? 'forwarded' : 'original'];
  const copies = (name: string) => entries.filter(([n]) => n.toLowerCase() === name).map(([, value]) => value);

  for (const name of [other.method, other.uri]) {
    if (copies(name).length > 0) throw errors.forgedOriginalRequest(`header ${name} is not set by this deployment's gateway (FORWARD_AUTH_HEADERS=${family} reads ${own.method} and ${own.uri}), so a client sent it`);
  }
  const one = (name: string): string | undefined => {
    const values = copies(name);
    if (values.length > 1) throw errors.conflictingOriginalRequest(`header ${name} is sent ${values.length} times`);
    return values[0];
  };
  const method = one(own.method);
  const uri = one(own.uri);

  const pathForm = asked.path !== '' && !asked.path.startsWith('?');
  if (pathForm) {
    // Envoy asks with the original method and path. A forward-auth gateway pointed at the
    // path form (Caddy's `uri /ext_authz{uri}`) asks with GET whatever the original method
    // was: the two descriptions then disagree and neither can be trusted to be the gateway's.
    if (method !== undefined && method.toUpperCase() !== asked.method.toUpperCase()) {
      throw errors.conflictingOriginalRequest(`the request asks with ${asked.method} but ${own.method} says ${quoted(method)}`);
    }
    if (uri !== undefined && uri !== asked.path) throw errors.conflictingOriginalRequest(`the path after /ext_authz is ${quoted(asked.path)} but ${own.uri} says ${quoted(uri)}`);
    return { ...asked, pathForm };
  }
  if (method === undefined || uri === undefined) {
    throw new ApiError(400, CODE.invalid_request, `/ext_authz needs ${own.method} and ${own.uri} (FORWARD_AUTH_HEADERS=${family}), or the original path after /ext_authz/ (Envoy path_prefix)`);
  }
  if (!ASKING_METHODS.has(asked.method.toUpperCase()) && method.toUpperCase() !== asked.method.toUpperCase()) {
    throw errors.conflictingOriginalRequest(`the request asks with ${asked.method} but ${own.method} says ${quoted(method)}`);
  }
  return { method, path: uri, pathForm };
}
