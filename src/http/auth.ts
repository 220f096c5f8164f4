// Bearer-token guard for the admin API. Compared in constant time; the token itself
// is never logged (the logger redacts the authorization header too).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { errors } from '../errors.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

export function requireAdminToken(adminToken: string): RequestHandler {
  const expected = digest(adminToken);
  return (req, _res, next) => {
    const header = req.get('authorization');
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) return next(errors.unauthorized('admin API needs Authorization: Bearer <ADMIN_TOKEN>'));
    if (!timingSafeEqual(digest(match[1]!), expected)) return next(errors.unauthorized('admin token is not valid'));
    next();
  };
}
