// Logs: JSON lines for machines, or readable lines (pino-pretty) for a person at a terminal.
// Anything that could carry a credential is redacted by path, so a token can reach the
// logger and still not the log.
import { pino, type Logger } from 'pino';

export type LogFormat = 'json' | 'pretty';

export function createLogger(level: string, format: LogFormat = 'json'): Logger {
  return pino({
    level,
    base: { service: 'portcullis' },
    redact: {
      paths: [
        'adminToken',
        '*.adminToken',
        'headers.authorization',
        '*.headers.authorization',
        'authorization',
        '*.authorization',
        'token',
        '*.token',
        'headers["x-portkey-api-key"]',
        '*.headers["x-portkey-api-key"]',
      ],
      censor: '[redacted]',
    },
    ...(format === 'pretty'
      ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } }
      : {}),
  });
}

/**
 * What a warning about a failing dependency says of the error: its message and code, not
 * its stack or the client library's internals (an outage repeats the same error for every
 * request; the stack says nothing an operator can act on).
 */
export function errorSummary(error: unknown): { message: string; code?: string } {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? { message: error.message, code } : { message: error.message };
}
