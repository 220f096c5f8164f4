// Envoy's HTTP ext_authz service and the forward-auth gateways, on the sidecar's HTTP port.
//   Envoy (path_prefix: /ext_authz): the original `POST /v1/mcp-servers?x=1` arrives as
//     `POST /ext_authz/v1/mcp-servers?x=1`, with the allowed headers and, when Envoy is
//     configured with with_request_body, the body.
//   nginx auth_request, Caddy forward_auth, Traefik ForwardAuth: a bodiless request to
//     exactly /ext_authz with the original method and URI in headers the gateway sets
//     (forwardauth.ts says which, and what it refuses).
// Headers are taken as received (req.rawHeaders: every copy, any case) and go through
// the gateway's one header rule (headers.ts) before anything reads them, except the
// caller token the gateway adds for itself (x-portcullis-caller-token), which is taken out first.
import express, { Router, type Request } from 'express';
import { CALLER_TOKEN_HEADER } from '../access/callers.ts';
import type { Gateway, GatewayRequest } from './gateway.ts';
import { originalRequestLine } from './forwardauth.ts';
import { mergeHeaders } from './headers.ts';

export const EXT_AUTHZ_PREFIX = '/ext_authz';

export function extAuthzRoutes(gateway: Gateway, bodyLimit: string): Router {
  const router = Router();
  // The original body, unparsed: a route may read a field of it, and a body that is not
  // JSON must reach the gateway (to be refused there) rather than fail the parser.
  router.use(express.raw({ type: () => true, limit: bodyLimit }));
  router.use(async (req, res) => {
    // The gateway's own credential, checked by gateway.check: not part of the original request, never recorded.
    const tokens: string[] = [];
    const entries: [string, string][] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const [name, value] = [req.rawHeaders[i]!, req.rawHeaders[i + 1]!];
      if (name.toLowerCase() === CALLER_TOKEN_HEADER) tokens.push(value);
      else entries.push([name, value]);
    }
    const answer = await gateway.check(() => originalRequest(req, entries, gateway), 'ext_authz_http', {
      tokens,
      ...(req.socket.remoteAddress ? { address: req.socket.remoteAddress } : {}),
    });
    res.status(answer.status).set(answer.headers);
    if (answer.body) res.send(answer.body);
    else res.end();
  });
  return router;
}

/** `entries`: the request's headers as received, the caller token taken out. */
function originalRequest(req: Request, entries: readonly [string, string][], gateway: Gateway): GatewayRequest {
  const headers = mergeHeaders(entries, gateway.limits);
  const asked = { method: req.method, path: req.originalUrl.slice(EXT_AUTHZ_PREFIX.length) };
  const { method, path, pathForm } = originalRequestLine(gateway.forwardAuthHeaders, asked, entries);
  // Only the Envoy path form carries the original body; what a forward-auth gateway sends is not it.
  const body = pathForm && Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
  return { method, path, headers, ...(body ? { body } : {}), ...clientOf(req) };
}

/** The peer's address as host:port (as OPA's requested_by), when the socket still knows it. */
function clientOf(req: Request): { client?: string } {
  const { remoteAddress, remotePort } = req.socket;
  return remoteAddress ? { client: `${remoteAddress}:${remotePort}` } : {};
}
