// Where one decision's CPU time goes, stage by stage, for `make profile`: each stage of the
// decision path adds the time its synchronous code took (performance.now() before and after)
// to a running total. Off unless PROFILE_STAGES names a file (config.ts): then the sidecar
// turns the counters on at start and writes their totals to that file on SIGUSR2 (main.ts).
// Off, a stage costs one test of a module-level boolean. Time spent waiting (an await, a
// socket) is never counted: only code that runs.
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

export function enableStages(): void {
  if (stagesOn) return;
  stagesOn = true;
  // Collections are the runtime's, not a stage's: the GC's own observer counts them.
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) add('GC', entry.duration);
  }).observe({ entryTypes: ['gc'] });
}

function add(stage: Stage, ms: number): void {
  totals.set(stage, totals.get(stage)! + ms);
}

/** Adds the time since `started` (a performance.now()) to the stage; returns now, the next stage's start. */
export function stageEnd(stage: Stage, started: number): number {
  const now = performance.now();
  add(stage, now - started);
  return now;
}

/** Milliseconds each stage has taken since the counters were turned on. */
export function stageTotals(): Record<Stage, number> {
  return Object.fromEntries(totals) as Record<Stage, number>;
}
