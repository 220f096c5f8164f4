// The decision cache: the policy's answer for an input it has evaluated before, without
// evaluating it again. The key is the loaded bundle (its engine: a reload makes a new one,
// even of the same revision) and the very JSON text the policy would evaluate — principal, action, resource and the settings snapshot, whatever shape
// each has — so an entry answers only for the same bundle and the same settings, byte for
// byte: a bundle reload, a settings change (organization or workspace) or a directory answer
// that places the workspace elsewhere all make another key, and no entry needs to be found
// and dropped. That holds because the policy is a pure function of its input and the
// bundle (it calls no clock, network or random builtin). The cache sits after the
// settings and directory lookups, never before: a store that cannot vouch for its
// settings denies before the cache is asked. Bounded (LRU, by entries and by input text); 0 entries = off.
import { LRUCache } from 'lru-cache';
import type { PolicyDecision, PolicyEngine } from '../engine/engine.ts';
import { stageClock, stageEnd, stagesOn } from '../stages.ts';

export class DecisionCache {
  private readonly entries: LRUCache<string, Readonly<PolicyDecision>> | undefined;
  /** The engine the entries were evaluated by; another one empties the cache (its entries can never match again). */
  private engine: PolicyEngine | undefined;

  constructor(
    max: number,
    /** Counted per lookup (the metrics' plain counts, read at scrape time). */
    private readonly counts: { hit: number; miss: number },
  ) {
    // Bounded by bytes too: at most 1 KiB of input text per entry on average, so inputs near
    // the body limit cannot make `max` entries hundreds of megabytes.
    if (max > 0) this.entries = new LRUCache({ max, maxSize: max * 1024, sizeCalculation: (_decision, inputJson) => inputJson.length });
  }

  /** The engine's decision for `inputJson`: a copy of the cached one, or a new evaluation's (cached unless it throws). */
  decide(engine: PolicyEngine, inputJson: string): PolicyDecision {
    const entries = this.entries;
    if (!entries) return engine.decideJson(inputJson);
    if (engine !== this.engine) {
      entries.clear();
      this.engine = engine;
    }
    let clock = stagesOn ? stageClock() : 0;
    const cached = entries.get(inputJson);
    // A copy: the caller makes the decision its answer in place.
    const hit = cached ? { ...cached } : undefined;
    if (stagesOn) stageEnd('decision cache', clock);
    if (hit) {
      this.counts.hit++;
      return hit;
    }
    this.counts.miss++;
    const decision = engine.decideJson(inputJson);
    if (stagesOn) clock = stageClock();
    entries.set(inputJson, { ...decision });
    if (stagesOn) stageEnd('decision cache', clock);
    return decision;
  }
}
