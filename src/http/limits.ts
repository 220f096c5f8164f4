// Limits on what one request may cost, so that a hostile or broken client cannot exhaust
// the process that guards every write: the size of the request head (Node refuses a
// larger one with 431 before any route runs), the time to receive a request (408), and
// the nesting depth of a JSON body. The body size limit is express.json's (bodyLimit).
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { RequestHandler } from 'express';
import { invalidInput } from '../errors.ts';

export interface ServerLimits {
  maxHeaderBytes: number;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
}

/** The HTTP server for an app, with the limits applied; HTTPS when a certificate and key are given. */
export function createLimitedServer(app: Parameters<typeof createServer>[1], limits: ServerLimits, tls?: { cert: Buffer; key: Buffer }): Server {
  const options = {
    maxHeaderSize: limits.maxHeaderBytes,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    // Timeouts are only enforced when connections are checked (every 30 s by default).
    connectionsCheckingInterval: Math.max(250, Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4),
  };
  // An https.Server is an http.Server to everything that closes or drains it.
  return tls ? (createTlsServer({ ...options, ...tls }, app) as unknown as Server) : createServer(options, app);
}

/**
 * Refuses a parsed body nested deeper than maxDepth (400). Walked iteratively, so a deep
 * body costs a loop, not the stack; no request the APIs take nests more than a few levels.
 */
export function jsonDepthLimit(maxDepth: number): RequestHandler {
  return (req, _res, next) => {
    if (depthExceeds(req.body, maxDepth)) {
      next(invalidInput([{ field: 'body', message: `is nested deeper than ${maxDepth} levels` }]));
      return;
    }
    next();
  };
}

export function depthExceeds(value: unknown, maxDepth: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > maxDepth) return true;
    for (const child of Object.values(current)) pending.push([child, depth + 1]);
  }
  return false;
}
