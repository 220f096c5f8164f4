// Who may ask for decisions, how often, and from which web pages. Checked before a request
// is read or decided, so a refused request is neither decided nor recorded:
//   - Host: with ALLOWED_HOSTS, a request naming another host is refused (a DNS-rebinding
//     page reaches the sidecar under its own host name).
//   - Origin: a browser sends it with every cross-site POST, including the "simple"
//     text/plain ones that need no CORS preflight; only listed origins and the sidecar's own
//     (the console) may drive the decision and admin APIs.
//   - Token: with DECIDE_AUTH=required, a token with the decide scope (tokens.ts).
//   - Rate: a token bucket per caller (its token's name, else its address), in an LRU so
//     that callers who come and go cannot grow it.
// The presented token is only hashed and compared (tokens.ts); it is never logged or kept.
import type { IncomingHttpHeaders } from 'node:http';
import { LRUCache } from 'lru-cache';
import { ConfigError, settingName, type Config } from '../config.ts';
import { ApiError, errors, RateLimitedError, CODE } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { AdminTokens } from './tokens.ts';

/** The header a gateway sets on its check request to present its decide token (HTTP header or gRPC metadata). */
export const CALLER_TOKEN_HEADER = 'x-portcullis-caller-token';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export interface CallerStatus {
  decideAuth: 'off' | 'required';
  rateLimit: { perSecond: number; burst: number; maxCallers: number } | null;
  allowedOrigins: string[];
  allowedHosts: string[];
}

interface Bucket {
  tokens: number;
  at: number;
}

export interface CallersOptions {
  config: Pick<Config, 'decideAuth' | 'rateLimitPerSecond' | 'rateLimitBurst' | 'rateLimitMaxCallers' | 'allowedOrigins' | 'allowedHosts' | 'fromFile'>;
  tokens: AdminTokens;
  metrics: Pick<Metrics, 'callerRefusals'>;
  /** Milliseconds, monotonic; a test passes its own. */
  now?: () => number;
}

export class Callers {
  readonly status: CallerStatus;
  private readonly origins: Set<string>;
  private readonly hosts: Set<string>;
  private readonly buckets: LRUCache<string, Bucket> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: CallersOptions) {
    const { config } = options;
    this.origins = new Set(list(config.allowedOrigins).map(parseOrigin));
    this.hosts = new Set(list(config.allowedHosts).map((host) => host.toLowerCase()));
    const burst = config.rateLimitBurst || config.rateLimitPerSecond;
    if (config.rateLimitPerSecond > 0) {
      if (config.rateLimitMaxCallers === 0)
        throw new ConfigError(`${settingName('rateLimitMaxCallers', config)} must be at least 1 when ${settingName('rateLimitPerSecond', config)} is set`);
      this.buckets = new LRUCache({ max: config.rateLimitMaxCallers });
    }
    this.now = options.now ?? (() => performance.now());
    this.status = {
      decideAuth: config.decideAuth === 'required' ? 'required' : 'off',
      rateLimit: this.buckets ? { perSecond: config.rateLimitPerSecond, burst, maxCallers: config.rateLimitMaxCallers } : null,
      allowedOrigins: [...this.origins],
      allowedHosts: [...this.hosts],
    };
  }

  /**
   * The browser rules, for every API a web page could drive (the decision APIs, the admin
   * API, the console); not for the gateway endpoints, whose Host and Origin are the client's.
   */
  checkBrowser(headers: IncomingHttpHeaders): void {
    const host = headers.host?.toLowerCase();
    if (this.hosts.size > 0 && (host === undefined || !(this.hosts.has(host) || this.hosts.has(hostname(host))))) {
      throw this.refuse(
        new ApiError(
          403,
          CODE.host_not_allowed,
          `this sidecar does not answer to the host ${JSON.stringify(host ?? '')}; allowed: ${[...this.hosts].join(', ')} (ALLOWED_HOSTS)`,
        ),
      );
    }
    const origin = headers.origin;
    if (origin === undefined || this.origins.has(origin.toLowerCase()) || isOwnOrigin(origin, host)) return;
    throw this.refuse(
      new ApiError(
        403,
        CODE.origin_not_allowed,
        `requests from web pages of ${JSON.stringify(origin)} are refused: only the sidecar's own pages and the origins of ALLOWED_ORIGINS may call this API`,
      ),
    );
  }

  /** The decision APIs' caller: Authorization: Bearer, then the rate. */
  admitBearer(authorization: string | undefined, address: string | undefined): void {
    const match = authorization === undefined ? null : BEARER.exec(authorization);
    this.admit(match ? [match[1]!] : authorization === undefined ? [] : [''], address, 'Authorization: Bearer <token with the decide scope>');
  }

  /** A gateway: the copies of CALLER_TOKEN_HEADER it sent (none, or one), then the rate. */
  admitGateway(presented: readonly string[], address: string | undefined): void {
    this.admit(presented, address, `the gateway to set ${CALLER_TOKEN_HEADER} to a token with the decide scope`);
  }

  private admit(presented: readonly string[], address: string | undefined, needs: string): void {
    let caller = `address ${address ?? 'unknown'}`;
    if (this.status.decideAuth === 'required') {
      if (presented.length === 0) throw this.refuse(new ApiError(401, CODE.caller_token_missing, `deciding needs ${needs} (DECIDE_AUTH=required)`));
      if (presented.length > 1)
        throw this.refuse(
          new ApiError(
            401,
            CODE.caller_token_invalid,
            `the caller token is sent ${presented.length} times; the gateway must set it once, replacing any copy a client sent`,
          ),
        );
      const token = this.options.tokens.identify(presented[0]!);
      if (!token) throw this.refuse(new ApiError(401, CODE.caller_token_invalid, 'the caller token is not valid'));
      if (!token.scopes.has('decide')) throw this.refuse(errors.insufficientScope(token.name, 'decide'));
      caller = `token ${token.name}`;
    }
    this.take(caller);
  }

  /** One request from `caller` against its bucket; refused with the wait until the next one fits. */
  private take(caller: string): void {
    const limit = this.status.rateLimit;
    if (!limit || !this.buckets) return;
    const now = this.now();
    const bucket = this.buckets.get(caller) ?? { tokens: limit.burst, at: now };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond);
    bucket.at = now;
    this.buckets.set(caller, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    throw this.refuse(new RateLimitedError(Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond)), limit.perSecond));
  }

  private refuse<E extends ApiError>(error: E): E {
    this.options.metrics.callerRefusals.inc({ reason: error.code });
    return error;
  }
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** An allowed origin as browsers send it: scheme://host[:port], lower case, no path. */
function parseOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${settingName('allowedOrigins')}: ${JSON.stringify(text)} is not an origin such as https://console.example.com`);
  }
  if (url.origin === 'null' || `${url.origin}/` !== url.href.replace(/\/?$/, '/')) {
    throw new ConfigError(
      `${settingName('allowedOrigins')}: ${JSON.stringify(text)} must be scheme://host[:port] only, as a browser sends Origin (e.g. https://console.example.com)`,
    );
  }
  return url.origin;
}

/** The host of a Host header without its port ("[::1]:8181" -> "[::1]"). */
function hostname(host: string): string {
  return host.replace(/:\d+$/, '');
}

/**
 * The sidecar's own pages: the Origin names the host the request was sent to. The scheme is
 * not compared: behind a proxy that ends TLS the sidecar cannot tell it, and a page of the same
 * host is the same operator's.
 */
function isOwnOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === new URL(`${url.protocol}//${host}`).host;
  } catch {
    return false;
  }
}
