// Structured JSON logs. Anything that could carry a credential is redacted by path,
// so a token can reach the logger and still not the log.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'portcullis' },
    redact: {
      paths: ['adminToken', '*.adminToken', 'headers.authorization', '*.headers.authorization', 'authorization', '*.authorization', 'token', '*.token'],
      censor: '[redacted]',
    },
  });
}
