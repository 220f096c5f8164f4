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

export type HeaderFamily = keyof typeof FORWARD_AUTH_FAMILIES;

/**
 * The forms of /ext_authz a deployment accepts, as FORWARD_AUTH_HEADERS names them:
 *   original   nginx auth_request: exactly /ext_authz, X-Original-Method and -URI (the default)
 *   forwarded  Caddy forward_auth, Traefik ForwardAuth: exactly /ext_authz, X-Forwarded-Method and -Uri
 *   envoy      Envoy's HTTP ext_authz (path_prefix): /ext_authz/<original path>, the original method
 * or envoy together with one header family, when both kinds of gateway ask the same sidecar.
 * The path form trusts the method the request asks with, which is the original one only when
 * Envoy asks: nginx and Caddy pointed at /ext_authz$request_uri ask with GET whatever the
 * original method was. So the header modes refuse the path form, and envoy the header form.
 */
export type ForwardAuthHeaders = 'original' | 'forwarded' | 'envoy' | 'envoy,original' | 'envoy,forwarded';

export function parseForwardAuthHeaders(value: string): ForwardAuthHeaders {
  const parts = value.split(',').map((part) => part.trim());
  const families = parts.filter((part) => part === 'original' || part === 'forwarded');
  const envoy = parts.filter((part) => part === 'envoy');
  if (parts.length > 0 && families.length + envoy.length === parts.length && families.length <= 1 && envoy.length <= 1) {
    return (envoy.length > 0 ? (families.length > 0 ? `envoy,${families[0]}` : 'envoy') : families[0]) as ForwardAuthHeaders;
  }
  throw new ConfigError(
    `${settingName('forwardAuthHeaders')} must be original (nginx), forwarded (Caddy, Traefik), envoy (Envoy path_prefix), or envoy with one of the other two (envoy,original), got ${JSON.stringify(value)}`,
  );
}

/** The header family a mode reads, if any. */
export function headerFamily(mode: ForwardAuthHeaders): HeaderFamily | undefined {
  return mode.endsWith('original') ? 'original' : mode.endsWith('forwarded') ? 'forwarded' : undefined;
}

/** Headers that only a forward-auth gateway (or a client) sets: never Envoy. */
const FORWARD_AUTH_SIGNS = (name: string) => name.startsWith('x-original-') || name === 'x-forwarded-method' || name === 'x-forwarded-uri';

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
export function originalRequestLine(
  mode: ForwardAuthHeaders,
  asked: RequestLine,
  entries: readonly (readonly [string, string])[],
): RequestLine & { pathForm: boolean } {
  const family = headerFamily(mode);
  const envoy = mode.startsWith('envoy');
  const pathForm = asked.path !== '' && !asked.path.startsWith('?');
  if (pathForm && !envoy) {
    throw errors.extAuthzFormRefused(
      `the original path follows /ext_authz (the Envoy path form), but FORWARD_AUTH_HEADERS=${mode} accepts only /ext_authz with the original request in headers: a forward-auth gateway asks with GET whatever the original method was, so its path form would decide a write as a read`,
    );
  }
  if (!pathForm && family === undefined) {
    throw errors.extAuthzFormRefused(
      `nothing follows /ext_authz, but FORWARD_AUTH_HEADERS=${mode} accepts only the Envoy path form (/ext_authz/<original path>, asked with the original method)`,
    );
  }
  const copies = (name: string) => entries.filter(([n]) => n.toLowerCase() === name).map(([, value]) => value);

  if (pathForm && ASKING_METHODS.has(asked.method.toUpperCase())) {
    // A GET or HEAD in the path form that carries a forward-auth gateway's headers is nginx
    // or Caddy pointed at the path form (or a client imitating one): its GET need not be the
    // original method.
    const signs = [...new Set(entries.map(([name]) => name.toLowerCase()).filter(FORWARD_AUTH_SIGNS))];
    if (signs.length > 0) {
      throw errors.extAuthzFormRefused(
        `a ${asked.method} in the Envoy path form carries ${signs.join(', ')}, which only a forward-auth gateway or a client sets; point nginx, Caddy or Traefik at exactly /ext_authz`,
      );
    }
    return { ...asked, pathForm };
  }
  if (family === undefined) return { ...asked, pathForm };

  const own = FORWARD_AUTH_FAMILIES[family];
  const other = FORWARD_AUTH_FAMILIES[family === 'original' ? 'forwarded' : 'original'];
  for (const name of [other.method, other.uri]) {
    if (copies(name).length > 0)
      throw errors.forgedOriginalRequest(
        `header ${name} is not set by this deployment's gateway (FORWARD_AUTH_HEADERS=${mode} reads ${own.method} and ${own.uri}), so a client sent it`,
      );
  }
  const one = (name: string): string | undefined => {
    const values = copies(name);
    if (values.length > 1) throw errors.conflictingOriginalRequest(`header ${name} is sent ${values.length} times`);
    return values[0];
  };
  const method = one(own.method);
  const uri = one(own.uri);

  if (pathForm) {
    // Envoy asks with the original method and path; a description in headers must agree with it.
    if (method !== undefined && method.toUpperCase() !== asked.method.toUpperCase()) {
      throw errors.conflictingOriginalRequest(`the request asks with ${asked.method} but ${own.method} says ${quoted(method)}`);
    }
    if (uri !== undefined && uri !== asked.path)
      throw errors.conflictingOriginalRequest(`the path after /ext_authz is ${quoted(asked.path)} but ${own.uri} says ${quoted(uri)}`);
    return { ...asked, pathForm };
  }
  if (method === undefined || uri === undefined) {
    throw new ApiError(
      400,
      CODE.invalid_request,
      `/ext_authz needs ${own.method} and ${own.uri} (FORWARD_AUTH_HEADERS=${mode})${envoy ? ', or the original path after /ext_authz/ (Envoy path_prefix)' : ''}`,
    );
  }
  if (!ASKING_METHODS.has(asked.method.toUpperCase()) && method.toUpperCase() !== asked.method.toUpperCase()) {
    throw errors.conflictingOriginalRequest(`the request asks with ${asked.method} but ${own.method} says ${quoted(method)}`);
  }
  return { method, path: uri, pathForm };
}
