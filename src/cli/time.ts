// Times on the command line: an ISO-8601 time, or a duration back from now ("90s", "15m", "1h", "7d").
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseTime(value: string, option: string, now = Date.now()): number {
  const relative = /^(\d+)([smhdw])$/.exec(value.trim());
  if (relative) return now - Number(relative[1]) * UNITS[relative[2]!]!;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new UsageError(`--${option} ${value}: expected a duration back from now (30m, 1h, 7d) or an ISO-8601 time`);
  return ms;
}
