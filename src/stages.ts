// Where one decision's CPU time goes, stage by stage, for `make profile`: each stage of the
// decision path adds the CPU time its synchronous code took (the process's, read before and
// after: a neighbour that takes the core mid-stage does not count) to a running total. Off
// unless PROFILE_STAGES names a file (config.ts): then the sidecar turns the counters on at
// start and writes their totals to that file on SIGUSR2 (main.ts). Off, a stage costs one
// test of a module-level boolean. Time spent waiting (an await, a socket) is never counted:
// only code that runs. On, each reading of the clock is a system call; what one costs is
// measured when the counters are turned on and taken off every stage's interval.
import { PerformanceObserver } from 'node:perf_hooks';

/** The stages, in the order a decision meets them. */
export const STAGES = [
  'body read',
  'parse',
  'validation',
  'settings + directory lookup',
  'input encoding',
  'decision cache',
  'evaluation',
  'result decoding',
  'answer',
  'metrics',
  'record building',
  'record encoding',
  'Redis writes',
  'GC',
] as const;
export type Stage = (typeof STAGES)[number];

/** True while the counters run (read it before calling stageStart/stageEnd: off, nothing else runs). */
export let stagesOn = false;
const totals = new Map<Stage, number>(STAGES.map((stage) => [stage, 0]));

/** The CPU time one stageClock() call takes, µs: an interval's two reads cost about one whole call. */
let clockCost = 0;

export function enableStages(): void {
  if (stagesOn) return;
  stagesOn = true;
  const calls = 10_000;
  const started = stageClock();
  for (let i = 0; i < calls - 1; i++) stageClock();
  clockCost = (stageClock() - started) / calls;
  // Collections are the runtime's, not a stage's: the GC's own observer counts them.
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) add('GC', entry.duration * 1000);
  }).observe({ entryTypes: ['gc'] });
}

function add(stage: Stage, us: number): void {
  totals.set(stage, totals.get(stage)! + us);
}

/** The process's CPU time so far, in µs: where a stage starts. */
export function stageClock(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Adds the CPU time since `started` (a stageClock()) to the stage; returns now, the next stage's start. */
export function stageEnd(stage: Stage, started: number): number {
  const now = stageClock();
  add(stage, Math.max(0, now - started - clockCost));
  return now;
}

/** Microseconds of CPU each stage has taken since the counters were turned on (GC: the collector's pauses). */
export function stageTotals(): Record<Stage, number> {
  return Object.fromEntries(totals) as Record<Stage, number>;
}
