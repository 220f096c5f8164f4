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
      paths: ['adminToken', '*.adminToken', 'headers.authorization', '*.headers.authorization', 'authorization', '*.authorization', 'token', '*.token'],
      censor: '[redacted]',
    },
    ...(format === 'pretty' ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } } : {}),
  });
}
