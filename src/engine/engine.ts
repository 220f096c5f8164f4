// The compiled policy, instantiated with @open-policy-agent/opa-wasm. One engine per
// bundle: a new bundle makes a new engine, so an engine never changes under a caller.
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { BundleError, type Bundle } from './bundle.ts';

export const DECISION_ENTRYPOINT = 'portkey/authz/decision';

export type SettingSource = 'workspace' | 'org' | 'default';

/** The `decision` document of policies/authz.rego. */
export interface PolicyDecision {
  allow: boolean;
  reason: string;
  message: string;
  setting?: string;
  source?: SettingSource;
}

export class PolicyEngine {
  private constructor(
    private readonly policy: LoadedPolicy,
    readonly revision: string,
    readonly entrypoints: readonly string[],
  ) {}

  static async load(bundle: Bundle): Promise<PolicyEngine> {
    let policy: LoadedPolicy;
    try {
      policy = await loadPolicy(bundle.wasm);
      policy.setData(bundle.data);
    } catch (error) {
      // opa-wasm throws plain strings as well as Errors.
      throw new BundleError(`policy.wasm does not load: ${error instanceof Error ? error.message : String(error)}`);
    }
    const entrypoints = Object.keys(policy.entrypoints as Record<string, number>);
    if (!entrypoints.includes(DECISION_ENTRYPOINT)) {
      throw new BundleError(`policy.wasm has no ${DECISION_ENTRYPOINT} entrypoint (has: ${entrypoints.join(', ')})`);
    }
    const engine = new PolicyEngine(policy, bundle.manifest.revision, entrypoints);
    engine.decide({}); // a bundle that cannot evaluate is refused at load, not on the first request
    return engine;
  }

  /** Evaluates the decision entrypoint. Throws if the policy yields no decision. */
  decide(input: object): PolicyDecision {
    const result = this.evaluate(DECISION_ENTRYPOINT, input);
    if (!isDecision(result)) throw new BundleError(`${DECISION_ENTRYPOINT} returned ${JSON.stringify(result)}`);
    return result;
  }

  /** The value of an entrypoint for this input; undefined when the rule is undefined. */
  evaluate(entrypoint: string, input: object): unknown {
    let resultSet: Array<{ result: unknown }>;
    try {
      resultSet = this.policy.evaluate(input, entrypoint);
    } catch (error) {
      throw new Error(`policy evaluation failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    return resultSet[0]?.result;
  }

  /** Bytes of WASM linear memory, watched for heap growth. */
  get memoryBytes(): number {
    return this.policy.mem.buffer.byteLength;
  }
}

function isDecision(value: unknown): value is PolicyDecision {
  const d = value as PolicyDecision | undefined;
  return typeof d === 'object' && d !== null && typeof d.allow === 'boolean' && typeof d.reason === 'string';
}
