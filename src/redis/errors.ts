// Which errors mean "Redis cannot answer right now" (paused, slow, away, failing over,
// loading) rather than a bug: the HTTP layer answers those with a 503 to try again.
// ioredis and the socket under it throw plain Errors, so they are known by their messages.
const REDIS_AWAY =
  /^(Command timed out|Connection is closed|Stream isn't writeable|Reached the max retries per request limit|None of startup nodes is available|Cluster is disconnect|Cluster isn't ready|Node is disconnected|connect ETIMEDOUT)/;
const REDIS_BUSY_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|OOM)\b/;
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** True for an error that means Redis could not answer right now, not a bug. */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return REDIS_BUSY_REPLY.test(error.message);
  const code = (error as NodeJS.ErrnoException).code;
  return (code !== undefined && SOCKET_CODES.has(code)) || REDIS_AWAY.test(error.message);
}
