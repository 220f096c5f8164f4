// Decision-log events on stdout as OPA's console decision logger prints them: one JSON
// log line per event, the event's fields at top level beside level, msg ("Decision Log"),
// time and type, keys in sorted order as OPA's logger writes them.
import type { Writable } from 'node:stream';
import type { DecisionEvent } from './event.ts';

const TYPE = 'openpolicyagent.org/decision_logs';

/** The line OPA would print for `event` at `now`. */
export function consoleLine(event: DecisionEvent, now: Date): string {
  const fields: Record<string, unknown> = {
    ...event,
    level: 'info',
    msg: 'Decision Log',
    // OPA's logger stamps its lines to the second.
    time: now.toISOString().replace(/\.\d+Z$/, 'Z'),
    type: TYPE,
  };
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(fields).sort()) sorted[key] = fields[key];
  return JSON.stringify(sorted);
}

/** Writes events to `out` (stdout by default), all the events of a batch in one write. */
export class ConsoleDecisionLogger {
  constructor(private readonly out: Writable = process.stdout) {}

  write(events: DecisionEvent[]): void {
    if (events.length === 0) return;
    const now = new Date();
    this.out.write(events.map((event) => consoleLine(event, now)).join('\n') + '\n');
  }
}
