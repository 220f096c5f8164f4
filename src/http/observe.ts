// Every answered HTTP request, counted and timed per route template in /metrics and, with
// ACCESS_LOG=on, written as one access-log line. The route is a template ("/v1/orgs/:orgId",
// "unmatched"), never the raw path, so the label set stays bounded whatever clients send;
// the line carries no header, no query string and no body, so no token or secret reaches it.
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';

/** The route label of a request no route served (a 404, whatever the path). */
export const UNMATCHED = 'unmatched';

export interface RequestObserver {
  /** `startedMs` from performance.now() at the request's arrival; `bytes` of the body answered, when known. */
  answered(req: IncomingMessage, route: string, status: number, startedMs: number, bytes: number | undefined): void;
}

export function requestObserver(metrics: Metrics, accessLog: Logger | undefined): RequestObserver {
  return {
    answered(req, route, status, startedMs, bytes) {
      const ms = performance.now() - startedMs;
      metrics.observeHttp(route, status, ms / 1000);
      if (accessLog) {
        accessLog.info(
          { method: req.method, route, status, durationMs: Math.round(ms * 1000) / 1000, bytes: bytes ?? null, client: req.socket.remoteAddress ?? null },
          'request',
        );
      }
    },
  };
}

/**
 * The Express side: the matched route's template (mount path and route path); "unmatched"
 * for a 404; the mount path for what a mounted middleware served (the console's files).
 */
export function observeExpress(observer: RequestObserver) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    res.once('finish', () => {
      const template = req.route ? `${req.baseUrl}${String(req.route.path)}` : res.statusCode === 404 ? UNMATCHED : req.baseUrl || 'other';
      const length = Number(res.getHeader('content-length'));
      observer.answered(req, template, res.statusCode, started, Number.isFinite(length) ? length : undefined);
    });
    next();
  };
}
