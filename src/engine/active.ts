// The engine currently answering. Swapping it is one assignment, so every decision is
// made wholly by the old policy or wholly by the new one, never by a half-loaded one.
import { errors } from '../errors.ts';
import type { PolicyEngine } from './engine.ts';

export class ActivePolicy {
  private engine: PolicyEngine | undefined;
  private readonly listeners: Array<(engine: PolicyEngine) => void> = [];

  get current(): PolicyEngine | undefined {
    return this.engine;
  }

  /** The engine to decide with; 503 while no bundle has been activated. */
  require(): PolicyEngine {
    if (!this.engine) throw errors.unavailable('no policy bundle is active yet');
    return this.engine;
  }

  activate(engine: PolicyEngine): void {
    this.engine = engine;
    for (const listener of this.listeners) listener(engine);
  }

  onActivate(listener: (engine: PolicyEngine) => void): void {
    this.listeners.push(listener);
  }
}
