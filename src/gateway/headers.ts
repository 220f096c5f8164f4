// The one rule for the headers of an original request, whichever front end described it
// (Envoy HTTP service, nginx auth_request, Envoy gRPC `headers` or `header_map`). The
// limits are checked on the entries as received, before anything is merged, so a
// hostile list costs a count, not a merge; then names no client may send, and identity
// headers sent more than once, are refused; then repeats are joined with "," as HTTP does.
import { ApiError, CODE } from '../errors.ts';
import { API_KEY_HEADER } from './apikey.ts';
import { TRUSTED_HEADERS, type Headers } from './identity.ts';

/**
 * Envoy refuses a request with more than 100 headers (its default max_headers_count); the
 * headers Envoy and nginx add to the check (pseudo-headers, x-forwarded-*, x-request-id,
 * x-envoy-*, x-original-*) get the rest. Node's own HTTP limit (2000) is far above this, so
 * this one applies to HTTP and gRPC alike.
 */
export const MAX_HEADER_COUNT = 128;

/** The sidecar's own answer headers: a client's copy could pass for the sidecar's answer upstream. */
export const OWN_HEADER_PREFIX = 'x-portcullis-';

/**
 * Method overrides: frameworks that honour them act on another method than the one decided
 * on (a POST that an upstream runs as a DELETE).
 */
const METHOD_OVERRIDES = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

/**
 * Who the caller is. A second copy means a client's copy was appended to the gateway's
 * instead of replaced, and front ends disagree on which one wins (Node keeps the first
 * Authorization, Envoy joins the rest): refused rather than merged.
 */
const IDENTITY_HEADERS = new Set(['authorization', API_KEY_HEADER, ...Object.values(TRUSTED_HEADERS)]);

export interface HeaderLimits {
  /** The HTTP server's limit on a request head (MAX_HEADER_BYTES); each entry counts as `name: value\r\n`. */
  maxHeaderBytes: number;
}

/** Checks `entries` (names in any case, repeats allowed) and merges them into lower-case names. */
export function mergeHeaders(entries: readonly (readonly [string, string])[], limits: HeaderLimits): Headers {
  if (entries.length > MAX_HEADER_COUNT)
    throw new ApiError(431, CODE.headers_too_large, `the request has ${entries.length} headers; at most ${MAX_HEADER_COUNT} are accepted`);
  let bytes = 0;
  for (const [name, value] of entries) bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 4;
  if (bytes > limits.maxHeaderBytes) throw new ApiError(431, CODE.headers_too_large, `request headers exceed ${limits.maxHeaderBytes} bytes`);

  const headers: Headers = Object.create(null);
  for (const [rawName, value] of entries) {
    const name = rawName.toLowerCase();
    // Envoy, Caddy and Traefik pass x_portcullis_visibility through, and upstreams that read
    // headers CGI-style (Django, PHP, Rack) take it for x-portcullis-visibility: a name is
    // checked with its underscores read as dashes.
    const dashed = name.replaceAll('_', '-');
    if (dashed.startsWith(OWN_HEADER_PREFIX)) {
      throw new ApiError(403, CODE.forbidden_header, `header ${name} is set by this sidecar only; a request may not carry it`);
    }
    if (METHOD_OVERRIDES.has(dashed)) {
      throw new ApiError(403, CODE.forbidden_header, `header ${name} would make an upstream act on another method than the one decided on`);
    }
    if (dashed !== name && IDENTITY_HEADERS.has(dashed)) {
      throw new ApiError(403, CODE.forbidden_header, `header ${name} spells the identity header ${dashed} with underscores; send it as ${dashed}`);
    }
    const earlier = headers[name];
    if (earlier !== undefined && IDENTITY_HEADERS.has(name)) {
      throw new ApiError(401, CODE.duplicate_identity_header, `header ${name} appears more than once`);
    }
    headers[name] = earlier === undefined ? value : `${earlier},${value}`;
  }
  return headers;
}

/** An id as a header value: as it is when it is printable ASCII, else percent-encoded. */
export function headerValue(id: string): string {
  return /^[\x21-\x7e]*$/.test(id) ? id : encodeURIComponent(id);
}
